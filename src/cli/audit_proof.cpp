// `warden audit verify | prove | archive | keygen`: what an outsider checks (docs/AUDIT.md).
#include <simdjson.h>
#include <zlib.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <numeric>
#include <set>

#include "audit/audit.h"
#include "cli/audit_command.h"
#include "common/json_writer.h"

namespace warden::cli {

namespace {

using audit::Checkpoint;
using audit::merkle::Frontier;

// A checkpoint with where it came from ("store", or the file it was read from).
struct Cp {
  Checkpoint c;
  std::string source;
};

std::string describe(const Cp& cp) {
  return "checkpoint at seq " + std::to_string(cp.c.seq) + " (" + cp.source + ")";
}

// The public keys an auditor trusts, by fingerprint.
struct Keys {
  std::map<std::string, audit::Key> by_fp;
  bool any() const { return !by_fp.empty(); }
  // "" when the signatures hold; else why not. Every signature by a given key must hold, and at
  // least one given key must have signed.
  std::string check(const Checkpoint& c) const {
    int trusted = 0;
    for (const auto& s : c.signatures) {
      const auto it = by_fp.find(s.key);
      if (it == by_fp.end()) continue;
      if (!it->second.verify(c.body, s.sig)) return "bad signature by key " + s.key.substr(0, 16);
      ++trusted;
    }
    if (trusted == 0) return "signed by no given key (key " + c.key.substr(0, 16) + ")";
    return "";
  }
};

Keys load_keys(const std::vector<std::string>& files) {
  Keys k;
  for (const auto& f : files) {
    audit::Key key = audit::Key::load_public(f);
    k.by_fp.emplace(key.fingerprint(), std::move(key));
  }
  return k;
}

// Lines of checkpoints: as served by /audit/checkpoint (with the older countersigned copies it
// lists under "countersigned") and kept by witnesses, or the gateway's log
// ({"audit_checkpoint":…} lines; other lines are skipped).
std::vector<Cp> read_checkpoint_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::vector<Cp> out;
  std::string line;
  simdjson::dom::parser parser;
  while (std::getline(in, line)) {
    const std::string prefix = "{\"audit_checkpoint\":";
    if (line.rfind(prefix, 0) == 0)
      line = line.substr(prefix.size(), line.size() - prefix.size() - 1);
    auto c = audit::parse_checkpoint(line);
    if (!c) continue;
    out.push_back({std::move(*c), path});
    simdjson::dom::element doc;
    simdjson::dom::array older;
    if (parser.parse(line).get(doc) != simdjson::SUCCESS ||
        doc["countersigned"].get(older) != simdjson::SUCCESS)
      continue;
    for (simdjson::dom::element e : older)
      if (auto copy = audit::parse_checkpoint(simdjson::minify(e)))
        out.push_back({std::move(*copy), path + ", countersigned"});
  }
  return out;
}

// Follows one chain from a trusted start: links, hashes, the Merkle tree, and every checkpoint
// met on the way.
struct ChainCheck {
  std::string chain;
  Frontier frontier;
  std::string prev = std::string(64, '0');
  int64_t first_ts = -1, last_ts = -1;  // of records after the newest checkpoint
  std::multimap<int64_t, const Cp*> cps;
  std::string failure;
  int64_t matched = 0;
  // The attribute sets a compact (v6) record refers to: each must be there and match its hash.
  std::function<bool(std::string_view, std::string&, std::string&)> expand;

  bool fail(int64_t seq, const std::string& why) {
    failure = "chain " + chain + ": first bad record at seq " + std::to_string(seq) + ": " + why;
    return false;
  }

  bool feed(const audit::StoredRow& row) {
    const int64_t expected = frontier.size() + 1;
    if (row.seq > expected)
      return fail(expected, "missing (deleted), next present is seq " + std::to_string(row.seq));
    if (row.seq < expected) return fail(row.seq, "out of order or duplicated");
    if (row.prev_hash != prev)
      return fail(row.seq, "does not link to the previous record (inserted or reordered)");
    if (audit::sha256_hex(row.prev_hash, row.record) != row.hash)
      return fail(row.seq, "content does not match its hash (modified)");
    std::string full = row.record, why;
    if (expand && !expand(row.record, full, why)) return fail(row.seq, why);
    audit::Record rec;
    if (!audit::parse_record(full, rec)) return fail(row.seq, "not a valid record");
    prev = row.hash;
    frontier.append(audit::merkle::leaf_hash(row.record));
    if (first_ts < 0) first_ts = rec.ts_ms;
    last_ts = rec.ts_ms;
    auto [lo, hi] = cps.equal_range(row.seq);
    if (lo != hi) first_ts = -1;  // covered up to here
    for (auto it = lo; it != hi; ++it) {
      const Checkpoint& c = it->second->c;
      if (c.hash != row.hash || c.root != to_hex(frontier.root())) {
        failure = "chain " + chain + ": " + describe(*it->second) +
                  " does not match the records (rewritten)";
        return false;
      }
      ++matched;
    }
    return true;
  }
};

// Where a chain's verification starts: an archive's anchor, or (with --since) the newest signed
// checkpoint before the window, whose frontier from the store must give its signed root.
bool start_from(ChainCheck& cc, const Checkpoint& c, std::vector<audit::merkle::Node> frontier,
                std::string& why) {
  Frontier f;
  if (!f.assign(c.seq, std::move(frontier)) || to_hex(f.root()) != c.root) {
    why = "the Merkle frontier at seq " + std::to_string(c.seq) + " does not give its signed root";
    return false;
  }
  cc.frontier = std::move(f);
  cc.prev = c.hash;
  return true;
}

// Witnesses' countersignatures (given --witness-key): every one by a given key must hold; per
// chain, the newest checkpoint each witness countersigned.
struct Witnessed {
  std::map<std::string, int64_t> newest;  // witness fingerprint -> seq
  std::vector<std::string> failures;
  void check(const Keys& witnesses, const Cp& cp) {
    for (const auto& w : cp.c.cosignatures) {
      const auto it = witnesses.by_fp.find(w.key);
      if (it == witnesses.by_fp.end()) continue;
      if (!it->second.verify(cp.c.body, w.sig)) {
        failures.push_back("chain " + cp.c.chain + ": " + describe(cp) +
                           ": bad countersignature by witness " + w.key.substr(0, 16));
        continue;
      }
      int64_t& n = newest[w.key];
      n = std::max(n, cp.c.seq);
    }
  }
};

int verify_store(const AuditOptions& o) {
  auto store = open_audit_store(o);
  const Keys keys = load_keys(o.pubkeys);
  const Keys witnesses = load_keys(o.witness_keys);
  const int64_t since = parse_audit_time(o.since);
  std::vector<Cp> all;
  std::string error;
  // The store's checkpoints, then the copies witnesses countersigned (kept apart: each holds the
  // body its witness signed, which a later rewrite of the checkpoint does not change).
  size_t cosigned = 0;
  const bool read = store->checkpoints(
                        "",
                        [&](const std::string& t) {
                          if (auto c = audit::parse_checkpoint(t))
                            all.push_back({std::move(*c), "store"});
                        },
                        error) &&
                    store->cosignatures(
                        "",
                        [&](const std::string& t) {
                          auto c = audit::parse_checkpoint(t);
                          if (!c || c->cosignatures.empty()) return;
                          ++cosigned;
                          const std::string by = c->cosignatures.front().key.substr(0, 16);
                          all.push_back({std::move(*c), "store, countersigned by witness " + by});
                        },
                        error);
  if (!read) {
    std::cerr << "warden audit verify: cannot read the audit store: " << error << "\n";
    return 2;
  }
  const size_t stored = all.size();
  for (const auto& f : o.checkpoint_files)
    for (Cp& cp : read_checkpoint_file(f)) all.push_back(std::move(cp));
  std::set<std::string> chains;
  for (const auto& c : store->chains()) chains.insert(c);
  for (const Cp& cp : all) chains.insert(cp.c.chain);

  std::vector<std::string> failures, notes;
  // Signatures first: a checkpoint whose signature fails proves nothing (and says so).
  if (keys.any()) {
    for (const Cp& cp : all) {
      const std::string why = keys.check(cp.c);
      if (!why.empty())
        failures.push_back("chain " + cp.c.chain + ": " + describe(cp) + ": " + why);
    }
  } else if (!all.empty()) {
    notes.push_back("signatures not checked: give --pubkey (the checkpoints' roots were)");
  }
  if (!witnesses.any() && cosigned > 0)
    notes.push_back(std::to_string(cosigned) +
                    " countersigned checkpoints in the store, countersignatures not checked: give "
                    "--witness-key (a witness's public key)");
  bool witness_checked = false;
  bool any_checkpoint = false;
  audit::Expander expander(*store);
  for (const std::string& chain : chains) {
    ChainCheck cc;
    cc.chain = chain;
    cc.expand = [&](std::string_view stored, std::string& out, std::string& why) {
      return expander(stored, out, why);
    };
    std::vector<const Cp*> mine;
    Witnessed witnessed;
    for (const Cp& cp : all)
      if (cp.c.chain == chain) {
        mine.push_back(&cp);
        witnessed.check(witnesses, cp);
      }
    const auto anchor = store->anchor(chain);
    if (anchor)
      if (auto c = audit::parse_checkpoint(anchor->checkpoint))
        witnessed.check(witnesses, Cp{std::move(*c), "archive anchor"});
    for (auto& f : witnessed.failures) failures.push_back(std::move(f));
    // Every given witness must have countersigned one of the chain's checkpoints: otherwise its
    // countersignatures were removed (or it never accepted one), and nothing in the store binds
    // the records to what left the host.
    std::string witnessed_text;
    const int64_t newest_cp =
        std::accumulate(mine.begin(), mine.end(), anchor ? anchor->seq : int64_t{0},
                        [](int64_t m, const Cp* cp) { return std::max(m, cp->c.seq); });
    any_checkpoint = any_checkpoint || newest_cp > 0;
    for (const auto& [fp, key] : witnesses.by_fp) {
      const auto it = witnessed.newest.find(fp);
      if (it == witnessed.newest.end()) {
        if (newest_cp > 0)
          failures.push_back("chain " + chain + ": no checkpoint countersigned by witness " +
                             fp.substr(0, 16) +
                             " (its countersignatures were removed, or it never accepted one)");
        continue;
      }
      witness_checked = true;
      witnessed_text += "; countersigned by witness " + fp.substr(0, 16) + " up to seq " +
                        std::to_string(it->second);
      if (it->second < newest_cp)
        notes.push_back("chain " + chain + ": checkpoints after seq " + std::to_string(it->second) +
                        " carry no countersignature by witness " + fp.substr(0, 16) +
                        ": a rewrite after it, re-signed with the gateway's key, is caught only "
                        "by that witness's own copy (--checkpoint FILE)");
    }
    // The start: the archive anchor, or a signed checkpoint before --since.
    std::string why;
    if (const auto& a = anchor) {
      auto c = audit::parse_checkpoint(a->checkpoint);
      const std::string sig = !c ? "unreadable" : keys.any() ? keys.check(*c) : "";
      if (!c || !sig.empty() || !start_from(cc, *c, a->frontier, why)) {
        failures.push_back("chain " + chain + ": the archive anchor does not hold: " +
                           (!c             ? "unreadable"
                            : !sig.empty() ? sig
                                           : why));
        continue;
      }
      notes.push_back("chain " + chain + ": records 1.." + std::to_string(a->seq) +
                      " archived; verified from the signed checkpoint at the cut" +
                      (keys.any() ? "" : " (its signature not checked: no --pubkey)"));
    }
    if (since >= 0) {
      const Cp* best = nullptr;
      for (const Cp* cp : mine)
        if (cp->source == "store" && cp->c.ts_ms < since && cp->c.seq > cc.frontier.size() &&
            (!best || cp->c.seq > best->c.seq))
          best = cp;
      if (best && keys.any() && keys.check(best->c).empty()) {
        auto f = audit::load_frontier(*store, chain, best->c.seq);
        auto row = store->row(chain, best->c.seq);
        if (f && row && row->hash == best->c.hash && start_from(cc, best->c, f->nodes(), why)) {
          notes.push_back("chain " + chain + ": verified from the signed " + describe(*best) +
                          " (--since); earlier records not read");
        } else {
          failures.push_back("chain " + chain + ": the store does not match the signed " +
                             describe(*best) + (why.empty() ? "" : ": " + why));
          continue;
        }
      } else {
        notes.push_back("chain " + chain +
                        ": --since needs --pubkey and a signed checkpoint before it to start "
                        "there; verified from the first record");
      }
    }
    for (const Cp* cp : mine) {
      if (cp->c.seq > cc.frontier.size()) cc.cps.emplace(cp->c.seq, cp);
    }
    const int64_t start = cc.frontier.size();
    const bool ok = store->scan_chain(
        chain, start + 1, [&](const audit::StoredRow& row) { return cc.feed(row); }, error);
    if (!ok) {
      std::cerr << "warden audit verify: cannot read the audit store: " << error << "\n";
      return 2;
    }
    if (!cc.failure.empty()) {
      failures.push_back(cc.failure);
      continue;
    }
    const int64_t last = cc.frontier.size();
    int64_t newest = 0;
    std::string truncated;
    for (const Cp* cp : mine) {
      newest = std::max(newest, cp->c.seq);
      if (cp->c.seq > last && truncated.empty())
        truncated = "chain " + chain + ": truncated: the store ends at seq " +
                    std::to_string(last) + ", but the " + describe(*cp) + " was signed at " +
                    std::to_string(cp->c.ts_ms);
    }
    if (!truncated.empty()) {
      failures.push_back(truncated);
      continue;
    }
    std::cout << "ok   chain " << chain << ": " << last - start << " records, whole";
    if (!mine.empty())
      std::cout << "; " << cc.matched << " checkpoints match, newest at seq " << newest;
    std::cout << witnessed_text << "\n";
    if (last > newest) {
      notes.push_back("chain " + chain + ": records " + std::to_string(newest + 1) + ".." +
                      std::to_string(last) + " (" + std::to_string(last - newest) + ", ts_ms " +
                      std::to_string(cc.first_ts) + ".." + std::to_string(cc.last_ts) +
                      ") are after the newest checkpoint: not covered, they could be cut "
                      "without trace");
    }
  }
  if (chains.empty()) std::cout << "ok   no records\n";
  if (!any_checkpoint)
    for (const auto& [fp, key] : witnesses.by_fp)
      failures.push_back("no checkpoint countersigned by witness " + fp.substr(0, 16) +
                         " (its countersignatures were removed, or it never accepted one)");
  if (stored == all.size() && !all.empty() && !witness_checked)
    notes.push_back(
        "only the store's own checkpoints were given: a rewrite re-signed with the gateway's key "
        "is caught only by a witness's countersignature (--witness-key KEY) or its copy "
        "(--checkpoint FILE)");
  notes.push_back(
      "not checked: the stored Merkle subtrees (proofs built from them verify on "
      "their own against a checkpoint)");
  for (const auto& n : notes) std::cout << "note " << n << "\n";
  for (const auto& f : failures) std::cout << "FAIL " << f << "\n";
  return failures.empty() ? 0 : 1;
}

// ---- archives: gzip'd lines (header, start, rows, end) ----

class GzLines {
 public:
  explicit GzLines(const std::string& path) : f_(gzopen(path.c_str(), "rb")) {
    if (f_ == nullptr) throw std::runtime_error("cannot read " + path);
  }
  ~GzLines() { gzclose(f_); }
  GzLines(const GzLines&) = delete;
  GzLines& operator=(const GzLines&) = delete;
  bool next(std::string& line) {
    line.clear();
    for (;;) {
      const size_t nl = buf_.find('\n', pos_);
      if (nl != std::string::npos) {
        line.assign(buf_, pos_, nl - pos_);
        pos_ = nl + 1;
        return true;
      }
      buf_.erase(0, pos_);
      pos_ = 0;
      char chunk[65536];
      const int n = gzread(f_, chunk, sizeof chunk);
      if (n <= 0) {
        if (buf_.empty()) return false;
        line.swap(buf_);
        return true;
      }
      buf_.append(chunk, static_cast<size_t>(n));
    }
  }

 private:
  gzFile f_;
  std::string buf_;
  size_t pos_ = 0;
};

std::string string_field(simdjson::dom::element e, const char* k) {
  std::string_view v;
  if (e[k].get_string().get(v) != simdjson::SUCCESS) throw std::runtime_error("malformed archive");
  return std::string(v);
}

int verify_archive(const AuditOptions& o) {
  const Keys keys = load_keys(o.pubkeys);
  const Keys witnesses = load_keys(o.witness_keys);
  simdjson::dom::parser parser;
  std::string line;
  std::string chain;
  ChainCheck cc;
  // The attribute sets the archived records refer to travel with them (a first pass: they may
  // follow the rows).
  std::map<std::string, std::string> sets;
  {
    GzLines first(o.archive);
    while (first.next(line)) {
      simdjson::dom::element doc, part;
      if (line.rfind("{\"attrs\":", 0) != 0 || parser.parse(line).get(doc) != simdjson::SUCCESS ||
          doc["attrs"].get(part) != simdjson::SUCCESS)
        continue;
      sets.emplace(string_field(part, "hash"), string_field(part, "attrs"));
    }
  }
  cc.expand = [&](std::string_view stored, std::string& out, std::string& why) {
    return audit::expand_record(
        stored,
        [&](const std::string& h) -> std::optional<std::string> {
          const auto it = sets.find(h);
          if (it == sets.end()) return std::nullopt;
          return it->second;
        },
        out, why);
  };
  const std::string name = "archive " + o.archive + ": ";
  std::vector<std::string> failures, notes;
  GzLines in(o.archive);
  std::optional<Checkpoint> start, end;
  int64_t rows = 0;
  bool broken = false;  // the records stopped holding: the rest are not read
  auto checkpoint_of = [&](simdjson::dom::element e) {
    auto c = audit::parse_checkpoint(string_field(e, "checkpoint"));
    if (!c) throw std::runtime_error("malformed checkpoint in the archive");
    if (keys.any()) {
      const std::string why = keys.check(*c);
      if (!why.empty())
        failures.push_back(name + "checkpoint at seq " + std::to_string(c->seq) + ": " + why);
    }
    return *c;
  };
  while (in.next(line)) {
    simdjson::dom::element doc;
    if (parser.parse(line).get(doc) != simdjson::SUCCESS)
      throw std::runtime_error("malformed archive line");
    simdjson::dom::element part;
    if (doc["archive"].get(part) == simdjson::SUCCESS) {
      cc.chain = chain = string_field(part, "chain");
    } else if (doc["start"].get(part) == simdjson::SUCCESS) {
      std::string_view cp;
      if (part["checkpoint"].get_string().get(cp) == simdjson::SUCCESS) {
        start = checkpoint_of(part);
        auto f = audit::parse_frontier(string_field(part, "frontier"));
        std::string why;
        if (!f || !start_from(cc, *start, *f, why)) {
          failures.push_back(name + "its start does not hold: " + why);
          broken = true;
        }
      }
    } else if (doc["row"].get(part) == simdjson::SUCCESS) {
      if (broken) continue;
      audit::StoredRow r;
      r.chain = chain;
      int64_t seq = 0;
      if (part["seq"].get_int64().get(seq) != simdjson::SUCCESS)
        throw std::runtime_error("malformed row");
      r.seq = seq;
      r.prev_hash = string_field(part, "prev_hash");
      r.hash = string_field(part, "hash");
      r.record = string_field(part, "record");
      if (!cc.feed(r)) {
        failures.push_back(name + cc.failure);
        broken = true;
        continue;
      }
      ++rows;
    } else if (doc["end"].get(part) == simdjson::SUCCESS) {
      end = checkpoint_of(part);
    }
  }
  if (!broken && (!end || end->seq != cc.frontier.size() || end->hash != cc.prev ||
                  end->root != to_hex(cc.frontier.root())))
    failures.push_back(name + "its records do not reach or match the signed checkpoint at its cut");
  // The countersignatures the cut (and the start) carry, as in a store: a rewrite inside the
  // archive re-signed with the gateway's own key no longer matches what a witness signed.
  Witnessed witnessed;
  size_t cosigned = 0;
  for (const auto& [cp, what] :
       {std::pair{&start, "archive start"}, std::pair{&end, "archive cut"}})
    if (*cp) {
      cosigned += (*cp)->cosignatures.size();
      witnessed.check(witnesses, Cp{**cp, what});
    }
  for (auto& f : witnessed.failures) failures.push_back(name + f);
  std::string witnessed_text;
  for (const auto& [fp, key] : witnesses.by_fp) {
    const auto it = witnessed.newest.find(fp);
    if (it == witnessed.newest.end()) {
      failures.push_back(name + "no checkpoint countersigned by witness " + fp.substr(0, 16) +
                         " (its countersignatures were removed, or it never accepted the cut)");
      continue;
    }
    witnessed_text += "; countersigned by witness " + fp.substr(0, 16) + " up to seq " +
                      std::to_string(it->second);
    if (end && it->second < end->seq)
      notes.push_back("chain " + chain + ": the cut at seq " + std::to_string(end->seq) +
                      " carries no countersignature by witness " + fp.substr(0, 16) +
                      ": a rewrite after seq " + std::to_string(it->second) +
                      ", re-signed with the gateway's key, is caught only by that witness's own "
                      "copy");
  }
  if (!witnesses.any() && cosigned > 0)
    notes.push_back(std::to_string(cosigned) +
                    " countersignatures in the archive not checked: give --witness-key (a "
                    "witness's public key)");
  else if (!witnesses.any())
    notes.push_back(
        "only the gateway's own signatures: a rewrite re-signed with its key is caught only by a "
        "witness's countersignature (--witness-key KEY)");
  if (failures.empty())
    std::cout << "ok   archive " << o.archive << ": chain " << chain << ", " << rows
              << " records up to seq " << end->seq << ", matching the signed checkpoint at the cut"
              << (keys.any() ? "" : " (signature not checked: no --pubkey)") << witnessed_text
              << "\n";
  for (const auto& n : notes) std::cout << "note " << n << "\n";
  for (const auto& f : failures) std::cout << "FAIL " << f << "\n";
  return failures.empty() ? 0 : 1;
}

}  // namespace

int run_audit_verify(const AuditOptions& o) {
  try {
    return o.archive.empty() ? verify_store(o) : verify_archive(o);
  } catch (const std::exception& e) {
    std::cerr << "warden audit verify: " << e.what() << "\n";
    return 2;
  }
}

namespace {

std::string hex_list(const std::vector<Digest>& v) {
  std::string out = "[";
  for (size_t i = 0; i < v.size(); ++i) out += (i ? ",\"" : "\"") + to_hex(v[i]) + "\"";
  return out + "]";
}

// A checkpoint named on the command line: a file (its last checkpoint of the chain) or a seq of
// one of the store's checkpoints.
std::optional<Checkpoint> named_checkpoint(audit::Store& store, const std::string& chain,
                                           const std::string& what) {
  std::optional<Checkpoint> found;
  if (!what.empty() && what.find_first_not_of("0123456789") == std::string::npos) {
    std::string error;
    store.checkpoints(
        chain,
        [&](const std::string& t) {
          auto c = audit::parse_checkpoint(t);
          if (c && std::to_string(c->seq) == what) found = std::move(c);
        },
        error);
    return found;
  }
  for (Cp& cp : read_checkpoint_file(what))
    if (chain.empty() || cp.c.chain == chain) found = std::move(cp.c);
  return found;
}

std::string only_chain(audit::Store& store, const AuditOptions& o) {
  if (!o.chain.empty()) return o.chain;
  const auto chains = store.chains();
  if (chains.size() != 1) throw std::runtime_error("the store holds several chains: give --chain");
  return chains[0];
}

}  // namespace

int run_audit_prove(const AuditOptions& o) {
  try {
    auto store = open_audit_store(o);
    if (!o.request_id.empty()) {
      const auto hits = store->find(o.request_id);
      if (hits.empty()) throw std::runtime_error("no record with request id " + o.request_id);
      // Not a structured binding: the lambda below captures `seq` (clang 14 cannot capture one).
      const std::string& chain = hits.front().first;
      const int64_t seq = hits.front().second;
      // The checkpoint to prove against: the newest one covering the record.
      std::optional<Checkpoint> cp;
      if (!o.to.empty()) {
        cp = named_checkpoint(*store, chain, o.to);
      } else {
        std::string error;
        store->checkpoints(
            chain,
            [&](const std::string& t) {
              if (auto c = audit::parse_checkpoint(t); c && c->seq >= seq) cp = std::move(c);
            },
            error);
      }
      if (!cp || cp->seq < seq)
        throw std::runtime_error("record " + std::to_string(seq) +
                                 " is not covered by a checkpoint yet");
      const auto row = store->row(chain, seq);
      const auto path =
          audit::merkle::inclusion_proof(seq - 1, cp->seq, audit::node_source(*store, chain));
      if (!row || !path) throw std::runtime_error("the store cannot give the proof");
      // The attribute sets the record refers to, so that it can be read whole: each is checked
      // against the hash the record (and so the proof) commits to.
      std::string attrs = "{", expanded, why;
      const bool whole = audit::expand_record(
          row->record,
          [&](const std::string& h) -> std::optional<std::string> {
            auto body = store->attrs(h);
            if (body) {
              attrs += (attrs.size() > 1 ? ",\"" : "\"") + h + "\":";
              append_json_string(attrs, *body);
            }
            return body;
          },
          expanded, why);
      attrs += '}';
      if (!whole) throw std::runtime_error("record " + std::to_string(seq) + ": " + why);
      Digest root;
      const bool holds = parse_hex_digest(cp->root, root) &&
                         audit::merkle::verify_inclusion(
                             seq - 1, cp->seq, audit::merkle::leaf_hash(row->record), *path, root);
      std::string out = "{\"attrs\":" + attrs + ",\"chain\":";
      append_json_string(out, chain);
      out += ",\"checkpoint\":" + cp->text() + ",\"leaf_index\":" + std::to_string(seq - 1) +
             ",\"path\":" + hex_list(*path) + ",\"record\":";
      append_json_string(out, row->record);
      out += ",\"seq\":" + std::to_string(seq) + ",\"tree_size\":" + std::to_string(cp->seq) + "}";
      std::cout << out << "\n";
      if (!holds) std::cerr << "FAIL the proof does not lead to the checkpoint's root\n";
      return holds ? 0 : 1;
    }
    if (o.from.empty() || o.to.empty())
      throw std::runtime_error("give --request-id ID, or --from CP1 --to CP2");
    const std::string chain = only_chain(*store, o);
    const auto a = named_checkpoint(*store, chain, o.from);
    const auto b = named_checkpoint(*store, chain, o.to);
    if (!a || !b) throw std::runtime_error("checkpoint not found");
    if (a->seq > b->seq) throw std::runtime_error("--from must be the older checkpoint");
    const auto proof = a->seq == 0 ? std::optional<std::vector<Digest>>(std::vector<Digest>{})
                                   : audit::merkle::consistency_proof(
                                         a->seq, b->seq, audit::node_source(*store, chain));
    if (!proof) throw std::runtime_error("the store cannot give the proof");
    Digest ra, rb;
    const bool holds =
        parse_hex_digest(a->root, ra) && parse_hex_digest(b->root, rb) &&
        (a->seq == 0 || audit::merkle::verify_consistency(a->seq, b->seq, ra, rb, *proof));
    std::string out = "{\"chain\":";
    append_json_string(out, chain);
    out +=
        ",\"from\":" + a->text() + ",\"proof\":" + hex_list(*proof) + ",\"to\":" + b->text() + "}";
    std::cout << out << "\n";
    if (!holds)
      std::cerr << "FAIL the store's tree is not consistent with both checkpoints (rewritten)\n";
    return holds ? 0 : 1;
  } catch (const std::exception& e) {
    std::cerr << "warden audit prove: " << e.what() << "\n";
    return 2;
  }
}

int run_audit_archive(const AuditOptions& o) {
  try {
    auto store = open_audit_store(o);
    const std::string chain = only_chain(*store, o);
    const int64_t before = parse_audit_time(o.before);
    if (before < 0 || o.out.empty()) throw std::runtime_error("give --before T --out FILE");
    // The cut: the newest checkpoint signed before T (every record up to it is older).
    std::optional<Checkpoint> cut;
    std::string cut_text, error;
    store->checkpoints(
        chain,
        [&](const std::string& t) {
          if (auto c = audit::parse_checkpoint(t); c && c->ts_ms < before) {
            cut = std::move(c);
            cut_text = t;
          }
        },
        error);
    // The witnesses' countersignatures of the cut go with it, into the archive and the anchor.
    if (cut) {
      store->cosignatures(
          chain,
          [&](const std::string& t) {
            auto c = audit::parse_checkpoint(t);
            if (c && c->seq == cut->seq && c->body == cut->body)
              for (auto& w : c->cosignatures) cut->cosignatures.push_back(std::move(w));
          },
          error);
      cut_text = cut->text();
    }
    const auto anchor = store->anchor(chain);
    const int64_t from = anchor ? anchor->seq : 0;
    if (!cut || cut->seq <= from) {
      std::cout << "nothing to archive: no checkpoint of chain " << chain
                << " before that time beyond what is archived\n";
      return 0;
    }
    const auto frontier = audit::load_frontier(*store, chain, cut->seq);
    if (!frontier || to_hex(frontier->root()) != cut->root)
      throw std::runtime_error("the store does not match its checkpoint at seq " +
                               std::to_string(cut->seq) + ": run warden audit verify");
    const std::string tmp = o.out + ".part";
    gzFile gz = gzopen(tmp.c_str(), "wb9");
    if (gz == nullptr) throw std::runtime_error("cannot write " + tmp);
    auto put = [&](const std::string& s) {
      return gzwrite(gz, s.data(), static_cast<unsigned>(s.size())) == static_cast<int>(s.size());
    };
    bool ok = put("{\"archive\":{\"chain\":" + json_string(chain) +
                  ",\"from\":" + std::to_string(from + 1) + ",\"to\":" + std::to_string(cut->seq) +
                  ",\"v\":1}}\n");
    ok = ok &&
         put("{\"start\":" +
             (anchor ? "{\"checkpoint\":" + json_string(anchor->checkpoint) + ",\"frontier\":" +
                           json_string(audit::frontier_text(anchor->frontier)) + "}"
                     : std::string("{}")) +
             "}\n");
    int64_t rows = 0;
    // The attribute sets the archived records refer to go with them (the store keeps them too:
    // later records may share them).
    std::map<std::string, std::string> sets;
    const audit::AttrLookup remember = [&](const std::string& h) -> std::optional<std::string> {
      if (const auto it = sets.find(h); it != sets.end()) return it->second;
      auto body = store->attrs(h);
      if (body) sets.emplace(h, *body);
      return body;
    };
    std::string expanded, why;
    const bool read = store->scan_chain(
        chain, from + 1,
        [&](const audit::StoredRow& r) {
          if (r.seq > cut->seq) return false;
          if (!audit::expand_record(r.record, remember, expanded, why)) {
            error = "record " + std::to_string(r.seq) + ": " + why;
            return ok = false;
          }
          std::string line = "{\"row\":{\"hash\":\"" + r.hash + "\",\"prev_hash\":\"" +
                             r.prev_hash + "\",\"record\":";
          append_json_string(line, r.record);
          line += ",\"seq\":" + std::to_string(r.seq) + "}}\n";
          ++rows;
          return ok = put(line);
        },
        error);
    for (const auto& [h, body] : sets)
      ok = ok && put("{\"attrs\":{\"attrs\":" + json_string(body) + ",\"hash\":\"" + h + "\"}}\n");
    ok = ok && read &&
         put("{\"end\":{\"checkpoint\":" + json_string(cut_text) +
             ",\"frontier\":" + json_string(audit::frontier_text(frontier->nodes())) + "}}\n");
    ok = gzclose(gz) == Z_OK && ok;
    if (!ok || rows != cut->seq - from) {
      std::filesystem::remove(tmp);
      throw std::runtime_error("cannot write the archive" + (error.empty() ? "" : ": " + error));
    }
    std::filesystem::rename(tmp, o.out);
    // The archive must verify before anything leaves the store.
    AuditOptions check;
    check.archive = o.out;
    check.pubkeys = o.pubkeys;
    if (verify_archive(check) != 0) throw std::runtime_error("the archive written does not verify");
    if (!store->cut(chain, audit::Anchor{cut->seq, cut_text, frontier->nodes()}, error))
      throw std::runtime_error("archived to " + o.out +
                               " but not removed from the store: " + error);
    const auto size = std::filesystem::file_size(o.out);
    std::cout << "archived chain " << chain << " records " << from + 1 << ".." << cut->seq << " ("
              << rows << ") to " << o.out << ": " << size << " bytes, "
              << (rows ? static_cast<double>(size) / static_cast<double>(rows) : 0.0)
              << " bytes per record\n";
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "warden audit archive: " << e.what() << "\n";
    return 2;
  }
}

int run_audit_keygen(const AuditOptions& o) {
  try {
    if (o.out.empty()) throw std::runtime_error("give --out FILE");
    audit::Key::generate(o.out);
    const audit::Key k = audit::Key::load_public(o.out + ".pub");
    std::cout << "wrote " << o.out << " (private, mode 0600) and " << o.out << ".pub; fingerprint "
              << k.fingerprint() << "\n";
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "warden audit keygen: " << e.what() << "\n";
    return 2;
  }
}

}  // namespace warden::cli
