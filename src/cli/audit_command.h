// `warden audit verify|prove|archive|keygen|tail|export` and `warden replay`: reading, proving
// and archiving the audit trail (control plane).
#pragma once

#include <memory>
#include <string>
#include <vector>

namespace warden::audit {
class Store;
}

namespace warden::cli {

struct AuditOptions {
  std::string db;  // SQLite file (or taken from --config)
  std::string config;
  std::string format = "jsonl";
  std::string since, until;  // ISO 8601 date/time (UTC) or epoch milliseconds
  std::string principal, model, jurisdiction, decision, cls;
  size_t limit = 20;    // tail
  std::string policy;   // replay: candidate configuration
  std::string fail_on;  // replay: "deny"
  // verify, prove, archive, keygen
  std::vector<std::string> pubkeys;           // trusted public keys (PEM)
  std::vector<std::string> checkpoint_files;  // checkpoints kept outside the store (witnesses)
  std::vector<std::string> witness_keys;      // witnesses' public keys (their countersignatures)
  std::string archive;                        // verify: an archive file instead of the store
  std::string request_id;                     // prove: inclusion of this request's record
  std::string from, to;                       // prove: consistency between two checkpoints
  std::string chain;                          // prove/archive: which chain (when several)
  std::string before;                         // archive: records before this time
  std::string out;                            // archive/keygen: file to write
};

// The store the options name (--db FILE | postgres:CONNINFO, or --config); it must exist.
std::unique_ptr<audit::Store> open_audit_store(const AuditOptions& o);
// "2026-11-01", "2026-11-01T12:00:00Z" or epoch milliseconds; -1 when empty.
int64_t parse_audit_time(const std::string& s);

int run_audit_verify(const AuditOptions& o);
int run_audit_prove(const AuditOptions& o);
int run_audit_archive(const AuditOptions& o);
int run_audit_keygen(const AuditOptions& o);
int run_audit_tail(const AuditOptions& o);
int run_audit_export(const AuditOptions& o);
int run_replay(const AuditOptions& o);

}  // namespace warden::cli
