// `warden audit verify|tail|export` and `warden replay`: reading the audit trail (control plane).
#pragma once

#include <string>

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
};

int run_audit_verify(const AuditOptions& o);
int run_audit_tail(const AuditOptions& o);
int run_audit_export(const AuditOptions& o);
int run_replay(const AuditOptions& o);

}  // namespace warden::cli
