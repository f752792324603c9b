#include "cli/audit_command.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <deque>
#include <iostream>
#include <map>

#include "audit/audit.h"
#include "config/config.h"
#include "policy/plan.h"
#include "policy/policy.h"

namespace warden::cli {

namespace {

// The SQLite file the options name.
std::string db_path(const AuditOptions& o) {
  if (!o.db.empty()) return o.db;
  if (!o.config.empty()) return load_config(o.config)->audit.path;
  throw std::runtime_error("give --db FILE or --config FILE");
}

struct Filter {
  int64_t since = -1, until = -1;
  const AuditOptions& o;
  bool accept(const audit::Record& r) const {
    if (since >= 0 && r.ts_ms < since) return false;
    if (until >= 0 && r.ts_ms >= until) return false;
    if (!o.principal.empty() && r.principal_id != o.principal) return false;
    if (!o.model.empty() && r.model != o.model) return false;
    if (!o.decision.empty() && r.decision != o.decision) return false;
    if (!o.jurisdiction.empty()) {
      bool match = false;
      for (const auto& d : r.candidates)
        match = match || (d.name == r.deployment && d.jurisdiction == o.jurisdiction);
      if (!match) return false;
    }
    if (!o.cls.empty()) {
      bool match = false;
      for (const auto* m : {&r.request_classes, &r.answer_classes})
        for (const auto& [c, n] : *m) match = match || inspect::class_matches(c, o.cls);
      if (!match) return false;
    }
    return true;
  }
};

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

std::string classes_str(const std::map<std::string, int64_t>& m) {
  std::string out;
  for (const auto& [c, n] : m) out += (out.empty() ? "" : " ") + c + ":" + std::to_string(n);
  return out;
}

}  // namespace

int64_t parse_audit_time(const std::string& s) {
  if (s.empty()) return -1;
  if (s.find('-') == std::string::npos) return std::stoll(s);
  std::tm tm{};
  if (strptime(s.c_str(), "%Y-%m-%dT%H:%M:%S", &tm) == nullptr &&
      strptime(s.c_str(), "%Y-%m-%d", &tm) == nullptr)
    throw std::runtime_error("cannot read the time '" + s + "'");
  return static_cast<int64_t>(timegm(&tm)) * 1000;
}

std::unique_ptr<audit::Store> open_audit_store(const AuditOptions& o) {
  std::unique_ptr<audit::Store> store;
  if (o.db.rfind("postgres:", 0) == 0) {
    store = audit::open_postgres(o.db.substr(9));
  } else if (o.db.empty() && !o.config.empty() && !load_config(o.config)->audit.postgres.empty()) {
    store = audit::open_postgres(load_config(o.config)->audit.postgres);
  } else {
    store = audit::open_sqlite(db_path(o), false, true);
  }
  std::string error;
  if (!store->open(error)) throw std::runtime_error("audit store: " + error);
  return store;
}

namespace {

int export_rows(const AuditOptions& o, bool tail_only) {
  auto store = open_audit_store(o);
  Filter f{parse_audit_time(o.since), parse_audit_time(o.until), o};
  std::deque<std::string> last;
  const bool csv = o.format == "csv";
  if (csv && !tail_only)
    std::cout << "ts_ms,request_id,chain,seq,principal,model,deployment,decision,status,rules,"
                 "request_classes,answer_classes,prompt_tokens,completion_tokens,cost,latency_ms,"
                 "policy_version\n";
  std::string error;
  audit::Expander expand(*store);
  std::string record, why;
  const bool ok = store->scan(
      [&](const audit::StoredRow& row) {
        audit::Record r;
        // Shown whole: the attribute sets a compact record refers to are put back in.
        if (!expand(row.record, record, why)) record = row.record;
        if (!audit::parse_record(record, r) || !f.accept(r)) return true;
        std::string line;
        if (csv) {
          std::string rules;
          for (const auto& x : r.rules) rules += (rules.empty() ? "" : " ") + x;
          line = std::to_string(r.ts_ms) + "," + csv_field(r.request_id) + "," +
                 csv_field(row.chain) + "," + std::to_string(row.seq) + "," +
                 csv_field(r.principal_id) + "," + csv_field(r.model) + "," +
                 csv_field(r.deployment) + "," + r.decision + "," + std::to_string(r.status) + "," +
                 csv_field(rules) + "," + csv_field(classes_str(r.request_classes)) + "," +
                 csv_field(classes_str(r.answer_classes)) + "," + std::to_string(r.prompt_tokens) +
                 "," + std::to_string(r.completion_tokens) + "," + std::to_string(r.cost) + "," +
                 std::to_string(r.latency_ms) + "," + r.policy_version;
        } else {
          line = "{\"chain\":\"" + row.chain + "\",\"seq\":" + std::to_string(row.seq) +
                 ",\"hash\":\"" + row.hash + "\",\"record\":" + record + "}";
        }
        if (tail_only) {
          last.push_back(std::move(line));
          if (last.size() > o.limit) last.pop_front();
        } else {
          std::cout << line << "\n";
        }
        return true;
      },
      error);
  for (const auto& l : last) std::cout << l << "\n";
  if (!ok) {
    std::cerr << "cannot read the audit store: " << error << "\n";
    return 2;
  }
  return 0;
}

}  // namespace

int run_audit_tail(const AuditOptions& o) {
  try {
    return export_rows(o, true);
  } catch (const std::exception& e) {
    std::cerr << "warden audit tail: " << e.what() << "\n";
    return 2;
  }
}

int run_audit_export(const AuditOptions& o) {
  try {
    return export_rows(o, false);
  } catch (const std::exception& e) {
    std::cerr << "warden audit export: " << e.what() << "\n";
    return 2;
  }
}

int run_replay(const AuditOptions& o) {
  try {
    const ConfigPtr candidate = load_config(o.policy);
    auto store = open_audit_store(o);
    Filter f{parse_audit_time(o.since), parse_audit_time(o.until), o};
    const bool tty = isatty(STDERR_FILENO) != 0;
    uint64_t total = 0, replayed = 0, to_deny = 0, to_permit = 0, moved = 0, same = 0;
    std::map<std::string, uint64_t> responsible;  // rule (or reason) → records that changed
    std::vector<std::string> samples_deny, samples_permit, samples_moved;
    const auto t0 = std::chrono::steady_clock::now();
    std::string error;
    audit::Record r;
    audit::Expander expand(*store);
    std::string record, why;
    const bool ok = store->scan(
        [&](const audit::StoredRow& row) {
          ++total;
          if (tty && total % 20000 == 0) {
            std::fprintf(stderr, "\r  replayed %llu records …",
                         static_cast<unsigned long long>(total));
          }
          r = audit::Record{};
          if (!expand(row.record, record, why) || !audit::parse_record(record, r) || !f.accept(r))
            return true;
          if (r.decision != "permit" && r.decision != "deny") return true;  // never decided
          ++replayed;
          // The attributes decide() read, as recorded.
          // v3 attributes (issuer, groups, device, methods): an older record has none of them
          // (absent, read as not satisfied).
          Principal p{
              r.principal_id,     r.principal_kind,   r.principal_team,   r.principal_clearance,
              r.principal_labels, r.principal_issuer, r.principal_groups, {}};
          policy::Device device;
          device.present = r.device_present;
          device.bound = r.device.bound;
          device.id = r.device.id;
          device.managed = r.device.managed;
          device.compliant = r.device.compliant;
          device.os = r.device.os;
          device.os_version = r.device.os_version;
          device.disk_encrypted = r.device.disk_encrypted;
          device.patch_age_days = r.device.patch_age_days;
          device.posture_age_s = r.device.posture_age_s;
          device.labels = r.device.labels;
          uint8_t methods = 0;
          for (const std::string& m : r.auth_methods) {
            methods |= m == "api_key" ? policy::kAuthApiKey
                       : m == "jwt"   ? policy::kAuthJwt
                       : m == "mtls"  ? policy::kAuthMtls
                                      : 0;
          }
          Model m;
          m.name = r.model;
          m.developer = r.model_developer;
          m.origin = r.model_origin;
          m.license = r.model_license;
          m.open_weights = r.model_open_weights;
          std::vector<Provider> providers(r.candidates.size());
          std::vector<Deployment> deps(r.candidates.size());
          for (size_t i = 0; i < r.candidates.size(); ++i) {
            providers[i].name = r.candidates[i].provider;
            deps[i].name = r.candidates[i].name;
            deps[i].provider = &providers[i];
            deps[i].operator_name = r.candidates[i].operator_name;
            deps[i].jurisdiction = r.candidates[i].jurisdiction;
            deps[i].region = r.candidates[i].region;
            deps[i].retention_days = static_cast<int>(r.candidates[i].retention_days);
            deps[i].trains_on_inputs = r.candidates[i].trains_on_inputs;
            deps[i].hardware = r.candidates[i].hardware;
            deps[i].grid_region = r.candidates[i].grid_region;
            deps[i].has_energy = r.candidates[i].has_energy;
            deps[i].energy = {r.candidates[i].wh_per_mtok_in, r.candidates[i].wh_per_mtok_out};
          }
          policy::Attributes a;
          a.principal = &p;
          a.device = &device;
          a.auth_methods = methods;
          a.model = &m;
          if (!call_kind_from_name(r.request_kind, a.request.kind))
            a.request.kind = CallKind::kChat;
          a.request.stream = r.stream;
          a.request.estimated_tokens = static_cast<uint32_t>(r.estimated_tokens);
          a.request.has_tools = r.has_tools;
          // Absent from records written before version 4: a rule on them is not satisfied.
          a.request.store = r.request_store;
          a.request.store_known = r.v >= 4;
          a.request.server_tools = r.request_server_tools;
          a.request.mcp_hosts = r.request_mcp_hosts;
          a.hour = static_cast<int>(r.hour);
          a.weekday = static_cast<int>(r.weekday);
          for (const auto& [c, n] : r.request_classes) a.classes.push_back(c);
          std::string chosen;
          std::vector<std::string_view> deny_rules;
          std::string deny_reason;
          // The gateway's own plan for the recorded attributes (the candidate's policy and
          // inspection actions; where the classes sat in the body is not recorded).
          std::vector<const Deployment*> dps;
          for (const Deployment& d : deps) dps.push_back(&d);
          std::map<std::string, uint32_t, std::less<>> counts(r.request_classes.begin(),
                                                              r.request_classes.end());
          const policy::RequestPlan plan =
              policy::plan(*candidate->policy,
                           candidate->inspect.enabled ? &candidate->inspect.actions : nullptr, a,
                           dps, {&counts, nullptr});
          for (const policy::DeploymentPlan& p : plan.deployments) {
            if (p.permit) {
              chosen = p.deployment->name;
              break;
            }
            if (deny_rules.empty()) deny_rules = p.decision.rules;
            if (deny_reason.empty())
              deny_reason = p.why_not.empty() ? policy::reason(p.decision) : p.why_not;
          }
          const bool was_permit = r.decision == "permit";
          auto sample = [&](std::vector<std::string>& v) {
            if (v.size() < 5) v.push_back(r.request_id);
          };
          if (was_permit && chosen.empty()) {
            ++to_deny;
            sample(samples_deny);
            if (deny_rules.empty()) ++responsible["(no permit rule matches)"];
            for (std::string_view rule : deny_rules) ++responsible[std::string(rule)];
          } else if (!was_permit && !chosen.empty()) {
            ++to_permit;
            sample(samples_permit);
            ++responsible["(now permitted via " + chosen + ")"];
          } else if (was_permit && chosen != r.deployment && !r.deployment.empty()) {
            ++moved;
            sample(samples_moved);
          } else {
            ++same;
          }
          return true;
        },
        error);
    if (tty) std::fprintf(stderr, "\r%60s\r", "");
    if (!ok) {
      std::cerr << "warden replay: cannot read the audit store: " << error << "\n";
      return 2;
    }
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    auto join = [](const std::vector<std::string>& v) {
      std::string s;
      for (const auto& x : v) s += (s.empty() ? "" : ", ") + x;
      return s.empty() ? "-" : s;
    };
    std::cout << "replayed " << replayed << " decisions (" << total << " records) in " << secs
              << " s under " << o.policy << "\n"
              << "  unchanged:          " << same << "\n"
              << "  permit -> deny:     " << to_deny << "   e.g. " << join(samples_deny) << "\n"
              << "  deny -> permit:     " << to_permit << "   e.g. " << join(samples_permit) << "\n"
              << "  other deployment:   " << moved << "   e.g. " << join(samples_moved) << "\n";
    if (!responsible.empty()) {
      std::cout << "  rules responsible:\n";
      for (const auto& [rule, n] : responsible) std::cout << "    " << rule << ": " << n << "\n";
    }
    return o.fail_on == "deny" && to_deny > 0 ? 1 : 0;
  } catch (const ConfigError& e) {
    for (const auto& d : e.diagnostics()) std::cerr << d.str() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "warden replay: " << e.what() << "\n";
    return 2;
  }
}

}  // namespace warden::cli
