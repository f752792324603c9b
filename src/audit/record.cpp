#include "audit/record.h"

#include <simdjson.h>

#include <cstdio>

#include "common/json_writer.h"
#include "common/sha256.h"

namespace warden::audit {

namespace {

// Fixed-order object writer: keys are emitted in the order the caller gives, which is sorted.
class Obj {
 public:
  explicit Obj(std::string& out) : out_(out) { out_.push_back('{'); }
  ~Obj() { out_.push_back('}'); }
  Obj(const Obj&) = delete;
  Obj& operator=(const Obj&) = delete;
  void key(std::string_view k) {
    if (!first_) out_.push_back(',');
    first_ = false;
    append_json_string(out_, k);
    out_.push_back(':');
  }
  void str(std::string_view k, std::string_view v) {
    key(k);
    append_json_string(out_, v);
  }
  void num(std::string_view k, int64_t v) {
    key(k);
    out_ += std::to_string(v);
  }
  void real(std::string_view k, double v) {
    key(k);
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.6f", v);  // fixed precision: canonical
    out_ += buf;
  }
  void boolean(std::string_view k, bool v) {
    key(k);
    out_ += v ? "true" : "false";
  }
  void strings(std::string_view k, const std::vector<std::string>& v) {
    key(k);
    out_.push_back('[');
    for (size_t i = 0; i < v.size(); ++i) {
      if (i) out_.push_back(',');
      append_json_string(out_, v[i]);
    }
    out_.push_back(']');
  }
  template <typename V>
  void map(std::string_view k, const std::map<std::string, V>& m) {
    key(k);
    Obj o(out_);
    for (const auto& [mk, mv] : m) {
      if constexpr (std::is_same_v<V, std::string>)
        o.str(mk, mv);
      else
        o.num(mk, mv);
    }
  }
  std::string& out() { return out_; }
  // Members already encoded ("k":v,…), in their sorted place.
  void members(std::string_view encoded) {
    if (encoded.empty()) return;
    if (!first_) out_.push_back(',');
    first_ = false;
    out_ += encoded;
  }

 private:
  std::string& out_;
  bool first_ = true;
};

}  // namespace

namespace {

std::string set_hash(std::string_view body) {
  return to_hex(sha256(body));
}

}  // namespace

std::string Record::canonical() const {
  return encode(nullptr);
}

std::string Record::stored(std::vector<AttrSet>& sets) const {
  return v >= 6 ? encode(&sets) : canonical();
}

// The canonical form; with `sets`, the repeating sets are given there and referred to by hash.
std::string Record::encode(std::vector<AttrSet>* sets) const {
  // The candidates' provenance: the same for every request to one model (per configuration).
  std::string cands;
  cands.push_back('[');
  for (size_t i = 0; i < candidates.size(); ++i) {
    if (i) cands.push_back(',');
    const DeploymentAttrs& d = candidates[i];
    std::string& s = cands;
    {
      Obj c(s);
      if (v >= 4 && d.has_energy) {
        c.key("energy");
        Obj e(s);
        e.real("wh_per_mtok_in", d.wh_per_mtok_in);
        e.real("wh_per_mtok_out", d.wh_per_mtok_out);
      }
      if (v >= 4) {
        c.str("grid_region", d.grid_region);
        c.str("hardware", d.hardware);
      }
      c.str("jurisdiction", d.jurisdiction);
      c.str("name", d.name);
      c.str("operator", d.operator_name);
      c.str("provider", d.provider);
      c.str("region", d.region);
      c.num("retention_days", d.retention_days);
      c.boolean("trains_on_inputs", d.trains_on_inputs);
    }
  }
  cands.push_back(']');
  // The principal's attributes: the same for every request of one principal. Their keys are
  // adjacent in the sorted order, so the set is spliced in or out whole.
  std::string who;
  {
    Obj p(who);
    p.str("principal_clearance", principal_clearance);
    if (v >= 3) p.strings("principal_groups", principal_groups);
    p.str("principal_id", principal_id);
    if (v >= 3) p.str("principal_issuer", principal_issuer);
    p.str("principal_kind", principal_kind);
    p.map("principal_labels", principal_labels);
    p.str("principal_team", principal_team);
  }
  std::string s;
  s.reserve(1024);
  {
    Obj o(s);
    o.map("answer_classes", answer_classes);
    if (v >= 3) o.strings("auth_methods", auth_methods);
    if (sets != nullptr && !candidates.empty()) {
      AttrSet& set = sets->emplace_back(AttrSet{set_hash(cands), std::move(cands)});
      o.str("candidates_ref", set.hash);
    } else {
      o.key("candidates");
      s += cands;
    }
    o.num("completion_tokens", completion_tokens);
    o.real("cost", cost);
    const bool door = v >= 5 && decision == "refused";
    if (door) o.num("count", count);
    o.str("decision", decision);
    o.str("deployment", deployment);
    if (v >= 3 && device_present) {
      o.key("device");
      Obj d(s);
      d.boolean("bound", device.bound);
      d.boolean("compliant", device.compliant);
      d.boolean("disk_encrypted", device.disk_encrypted);
      d.str("id", device.id);
      d.map("labels", device.labels);
      d.boolean("managed", device.managed);
      d.str("os", device.os);
      d.str("os_version", device.os_version);
      d.num("patch_age_days", device.patch_age_days);
      d.num("posture_age_s", device.posture_age_s);
    }
    o.boolean("device_present", device_present);
    o.str("error", error);
    o.num("estimated_tokens", estimated_tokens);
    o.boolean("has_tools", has_tools);
    o.num("hour", hour);
    o.str("instance", instance);
    o.real("latency_ms", latency_ms);
    if (v >= 4 && !limit_refused.empty()) o.str("limit_refused", limit_refused);
    if (v >= 4 && !limits.empty()) {
      o.key("limits");
      s.push_back('[');
      for (size_t i = 0; i < limits.size(); ++i) {
        if (i) s.push_back(',');
        Obj l(s);
        if (limits[i].fail_open) {
          l.boolean("fail_open", true);
          l.str("key", limits[i].key);
          l.str("rule", limits[i].rule);
          continue;
        }
        l.str("key", limits[i].key);
        l.num("remaining", limits[i].remaining);
        l.num("reserved", limits[i].reserved);
        l.str("rule", limits[i].rule);
        l.num("settled", limits[i].settled);
      }
      s.push_back(']');
    }
    o.str("model", model);
    o.str("model_developer", model_developer);
    o.str("model_license", model_license);
    o.boolean("model_open_weights", model_open_weights);
    o.str("model_origin", model_origin);
    o.str("policy_version", policy_version);
    if (sets != nullptr && !principal_id.empty()) {
      AttrSet& set = sets->emplace_back(AttrSet{set_hash(who), std::move(who)});
      o.str("principal_ref", set.hash);
    } else {
      o.members(std::string_view(who).substr(1, who.size() - 2));
    }
    o.num("prompt_tokens", prompt_tokens);
    if (door) o.str("remote_address", remote_address);
    o.map("request_classes", request_classes);
    o.str("request_id", request_id);
    o.str("request_kind", request_kind);
    if (v >= 4) {
      o.strings("request_mcp_hosts", request_mcp_hosts);
      o.strings("request_server_tools", request_server_tools);
      o.boolean("request_store", request_store);
    }
    o.str("route", route);
    o.strings("rules", rules);
    o.num("status", status);
    o.boolean("stream", stream);
    o.strings("transforms", transforms);
    o.num("ts_ms", ts_ms);
    o.num("upstream_status", upstream_status);
    if (v >= 2) o.num("v", v);  // version 1 had no `v`: re-encoding one gives the same bytes
    o.num("weekday", weekday);
  }  // the object is closed here, before it is returned
  return s;
}

bool expand_record(std::string_view stored, const AttrLookup& lookup, std::string& out,
                   std::string& error) {
  out.assign(stored);
  // A reference is found as text: every quote inside a string value is escaped, so
  // "candidates_ref":"<hex>" is a key wherever it appears. The candidates' reference is the
  // first such key (only answer_classes and auth_methods come before it), the principal's the
  // last (after it come no objects whose keys a client could choose).
  for (const bool principal : {false, true}) {
    const std::string_view key = principal ? "\"principal_ref\":\"" : "\"candidates_ref\":\"";
    const size_t at = principal ? out.rfind(key) : out.find(key);
    if (at == std::string::npos) continue;
    const size_t start = at + key.size();
    const size_t end = out.find('"', start);
    if (end == std::string::npos || end - start != 64) {
      error = "malformed attribute reference";
      return false;
    }
    const std::string hash = out.substr(start, 64);
    const auto body = lookup(hash);
    if (!body) {
      error = "attribute set " + hash.substr(0, 16) + " is missing";
      return false;
    }
    if (set_hash(*body) != hash || body->size() < 2) {
      error = "attribute set " + hash.substr(0, 16) + " does not match its hash (modified)";
      return false;
    }
    const std::string with =
        principal ? body->substr(1, body->size() - 2) : "\"candidates\":" + *body;
    out.replace(at, end + 1 - at, with);
  }
  return true;
}

std::string sha256_hex(std::string_view prev_hex, std::string_view canonical) {
  Digest prev{};  // zeros for the first record of a chain
  if (!parse_hex_digest(prev_hex, prev)) prev.fill(0);
  const Digest d = sha256(
      {std::string_view(reinterpret_cast<const char*>(prev.data()), prev.size()), canonical});
  return to_hex(d);
}

bool parse_record(std::string_view json, Record& r) {
  thread_local simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (parser.parse(json.data(), json.size()).get(doc) != simdjson::SUCCESS) return false;
  auto str = [&](const char* k, std::string& out) {
    std::string_view v;
    if (doc[k].get_string().get(v) != simdjson::SUCCESS) return false;
    out.assign(v);
    return true;
  };
  auto num = [&](const char* k, int64_t& out) {
    return doc[k].get_int64().get(out) == simdjson::SUCCESS;
  };
  auto boolean = [&](const char* k, bool& out) {
    return doc[k].get_bool().get(out) == simdjson::SUCCESS;
  };
  auto real = [&](const char* k, double& out) {
    return doc[k].get_double().get(out) == simdjson::SUCCESS;
  };
  bool ok = str("request_id", r.request_id) && str("decision", r.decision) &&
            str("deployment", r.deployment) && str("model", r.model) && num("ts_ms", r.ts_ms) &&
            str("principal_id", r.principal_id) && str("principal_kind", r.principal_kind) &&
            str("principal_team", r.principal_team) &&
            str("principal_clearance", r.principal_clearance) &&
            str("model_developer", r.model_developer) && str("model_origin", r.model_origin) &&
            str("model_license", r.model_license) &&
            boolean("model_open_weights", r.model_open_weights) &&
            boolean("device_present", r.device_present) && str("request_kind", r.request_kind) &&
            boolean("stream", r.stream) && num("estimated_tokens", r.estimated_tokens) &&
            boolean("has_tools", r.has_tools) && num("hour", r.hour) && num("weekday", r.weekday) &&
            num("status", r.status) && num("upstream_status", r.upstream_status) &&
            str("instance", r.instance) && str("route", r.route) && str("error", r.error) &&
            str("policy_version", r.policy_version) && num("prompt_tokens", r.prompt_tokens) &&
            num("completion_tokens", r.completion_tokens) && real("cost", r.cost) &&
            real("latency_ms", r.latency_ms);
  if (!ok) return false;
  if (doc["v"].get_int64().get(r.v) != simdjson::SUCCESS) r.v = 1;
  simdjson::dom::object labels, rc, ac;
  if (doc["principal_labels"].get(labels) == simdjson::SUCCESS) {
    for (auto [k, v] : labels)
      r.principal_labels[std::string(k)] = std::string(v.get_string().value_unsafe());
  }
  if (doc["request_classes"].get(rc) == simdjson::SUCCESS) {
    for (auto [k, v] : rc) r.request_classes[std::string(k)] = v.get_int64().value_unsafe();
  }
  if (doc["answer_classes"].get(ac) == simdjson::SUCCESS) {
    for (auto [k, v] : ac) r.answer_classes[std::string(k)] = v.get_int64().value_unsafe();
  }
  simdjson::dom::array arr;
  if (doc["rules"].get(arr) == simdjson::SUCCESS)
    for (auto v : arr) r.rules.emplace_back(v.get_string().value_unsafe());
  if (doc["transforms"].get(arr) == simdjson::SUCCESS)
    for (auto v : arr) r.transforms.emplace_back(v.get_string().value_unsafe());
  if (r.v >= 4) {
    if (doc["request_mcp_hosts"].get(arr) == simdjson::SUCCESS)
      for (auto v : arr) r.request_mcp_hosts.emplace_back(v.get_string().value_unsafe());
    if (doc["request_server_tools"].get(arr) == simdjson::SUCCESS)
      for (auto v : arr) r.request_server_tools.emplace_back(v.get_string().value_unsafe());
    if (doc["request_store"].get_bool().get(r.request_store) != simdjson::SUCCESS)
      r.request_store = false;
  }
  if (r.v >= 3) {
    if (doc["auth_methods"].get(arr) == simdjson::SUCCESS)
      for (auto v : arr) r.auth_methods.emplace_back(v.get_string().value_unsafe());
    if (doc["principal_groups"].get(arr) == simdjson::SUCCESS)
      for (auto v : arr) r.principal_groups.emplace_back(v.get_string().value_unsafe());
    if (!str("principal_issuer", r.principal_issuer)) r.principal_issuer.clear();
    simdjson::dom::object d;
    if (r.device_present && doc["device"].get(d) == simdjson::SUCCESS) {
      std::string_view sv;
      auto dstr = [&](const char* k, std::string& out) {
        if (d[k].get_string().get(sv) == simdjson::SUCCESS) out.assign(sv);
      };
      auto dbool = [&](const char* k, bool& out) {
        if (d[k].get_bool().get(out) != simdjson::SUCCESS) out = false;
      };
      auto dnum = [&](const char* k, int64_t& out) {
        if (d[k].get_int64().get(out) != simdjson::SUCCESS) out = -1;
      };
      dbool("bound", r.device.bound);
      dbool("managed", r.device.managed);
      dbool("compliant", r.device.compliant);
      dbool("disk_encrypted", r.device.disk_encrypted);
      dnum("patch_age_days", r.device.patch_age_days);
      dnum("posture_age_s", r.device.posture_age_s);
      dstr("id", r.device.id);
      dstr("os", r.device.os);
      dstr("os_version", r.device.os_version);
      simdjson::dom::object dl;
      if (d["labels"].get(dl) == simdjson::SUCCESS) {
        for (auto [k, v] : dl)
          r.device.labels[std::string(k)] = std::string(v.get_string().value_unsafe());
      }
    }
  }
  if (r.v >= 5 && r.decision == "refused") {
    if (!str("remote_address", r.remote_address) || !num("count", r.count)) return false;
  }
  if (r.v >= 4) {
    if (!str("limit_refused", r.limit_refused)) r.limit_refused.clear();
    if (doc["limits"].get(arr) == simdjson::SUCCESS) {
      for (auto l : arr) {
        LimitAttrs a;
        std::string_view v;
        if (l["rule"].get_string().get(v) != simdjson::SUCCESS) return false;
        a.rule = v;
        if (l["key"].get_string().get(v) != simdjson::SUCCESS) return false;
        a.key = v;
        bool open = false;
        if (l["fail_open"].get_bool().get(open) == simdjson::SUCCESS && open) {
          a.fail_open = true;
          r.limits.push_back(std::move(a));
          continue;
        }
        if (l["reserved"].get_int64().get(a.reserved) != simdjson::SUCCESS ||
            l["settled"].get_int64().get(a.settled) != simdjson::SUCCESS ||
            l["remaining"].get_int64().get(a.remaining) != simdjson::SUCCESS)
          return false;
        r.limits.push_back(std::move(a));
      }
    }
  }
  if (doc["candidates"].get(arr) == simdjson::SUCCESS) {
    for (auto c : arr) {
      DeploymentAttrs d;
      std::string_view v;
      if (c["name"].get_string().get(v) == simdjson::SUCCESS) d.name = v;
      if (c["provider"].get_string().get(v) == simdjson::SUCCESS) d.provider = v;
      if (c["operator"].get_string().get(v) == simdjson::SUCCESS) d.operator_name = v;
      if (c["jurisdiction"].get_string().get(v) == simdjson::SUCCESS) d.jurisdiction = v;
      if (c["region"].get_string().get(v) == simdjson::SUCCESS) d.region = v;
      if (c["retention_days"].get_int64().get(d.retention_days) != simdjson::SUCCESS) return false;
      if (c["trains_on_inputs"].get_bool().get(d.trains_on_inputs) != simdjson::SUCCESS)
        return false;
      if (r.v >= 4) {
        if (c["hardware"].get_string().get(v) == simdjson::SUCCESS) d.hardware = v;
        if (c["grid_region"].get_string().get(v) == simdjson::SUCCESS) d.grid_region = v;
        simdjson::dom::object e;
        if (c["energy"].get(e) == simdjson::SUCCESS) {
          d.has_energy =
              e["wh_per_mtok_in"].get_double().get(d.wh_per_mtok_in) == simdjson::SUCCESS &&
              e["wh_per_mtok_out"].get_double().get(d.wh_per_mtok_out) == simdjson::SUCCESS;
          if (!d.has_energy) return false;
        }
      }
      r.candidates.push_back(std::move(d));
    }
  }
  return true;
}

}  // namespace warden::audit
