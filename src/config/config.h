// Configuration: one YAML file, validated up front. Every problem is reported as
// `file:line: message`; nothing half-valid is ever published. Control plane: may throw.
#pragma once

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "catalog/catalog.h"
#include "identity/identity.h"
#include "identity/jwt.h"
#include "identity/tls.h"
#include "inspect/body.h"
#include "inspect/inspect.h"
#include "limits/rules.h"
#include "policy/compiled.h"

namespace warden {

struct ListenerConfig {
  std::string host = "127.0.0.1";
  std::string port = "8080";
};

// A client listener: plain HTTP (on a loopback address only) or TLS.
struct ClientListener {
  ListenerConfig address;
  identity::TlsSettings tls_settings;  // empty cert_file: plain HTTP
  identity::ServerTlsPtr tls;          // loaded per snapshot: a reload re-reads the files
};

struct ServerConfig {
  std::vector<ClientListener> listeners;  // `listeners`, or the one `listen`; addresses: restart
  uint32_t workers = 0;                   // 0 = number of cores
  uint32_t max_header_bytes = 16 * 1024;
  uint64_t max_body_bytes = 4 * 1024 * 1024;
  uint32_t header_timeout_ms = 10'000;         // whole header must arrive within this
  uint32_t body_timeout_ms = 30'000;           // whole body must arrive within this
  uint32_t idle_timeout_ms = 60'000;           // keep-alive connection with no request
  uint32_t first_byte_timeout_ms = 5'000;      // a new connection's first byte must arrive within
  uint32_t max_connections = 10'000;           // per process
  uint32_t max_connections_per_address = 256;  // per client address and process; 0 = no limit
  std::vector<std::string> trusted_proxies;    // addresses exempt from the per-address limit
  uint32_t shutdown_grace_ms = 10'000;         // in-flight requests get this long on SIGTERM
  uint64_t max_upstream_body_bytes = 64 * 1024 * 1024;  // non-streamed answers
};

struct AdminConfig {
  bool enabled = true;
  ListenerConfig listen{"127.0.0.1", "9090"};
};

struct LogConfig {
  bool requests = true;  // one JSON line per request on stdout
};

struct InspectConfig {
  bool enabled = true;
  uint32_t hold_back_bytes = 64;  // streamed answers: bytes held back at most
  inspect::ActionTable actions;   // class prefix → block | mask | pseudonymise | allow
  std::vector<inspect::CustomDetector> custom;
  inspect::EnginePtr engine;  // compiled once per snapshot
};

struct AuditConfig {
  bool enabled = true;
  std::string path;               // SQLite file; default: warden-audit.db next to the configuration
  std::string postgres;           // libpq connection string: PostgreSQL instead of SQLite
  bool strict = false;            // durability: strict (wait for commit) or batched (≤ 100 ms)
  std::string instance;           // chain id; default: the host name
  uint32_t max_buffer = 100'000;  // records held while the store fails (batched), then 503
  // Signed checkpoints (docs/AUDIT.md); off without a key file; a reload applies new settings.
  struct Checkpoints {
    std::string key_file;           // Ed25519 private key (warden audit keygen), mode 0600
    std::string previous_key_file;  // while rotating: the next checkpoint is signed by both
    uint32_t every_records = 1000;
    uint32_t every_ms = 10'000;
    bool log = true;                     // a line on stdout per checkpoint
    std::vector<std::string> witnesses;  // http://host:port/path
    uint32_t witness_timeout_ms = 2000;
  } checkpoints;
};

struct Config {
  std::string path;
  std::string version;  // SHA-256 of the file's bytes: the policy version in audit records
  ServerConfig server;
  AdminConfig admin;
  LogConfig log;
  InspectConfig inspect;
  AuditConfig audit;
  Catalog catalog;
  KeyStore keys;
  limits::Settings limits;        // rate limits and budgets (stage 7); empty: none
  identity::JwtConfig jwt;        // token issuers (`identity.jwt`)
  identity::DeviceConfig device;  // posture tokens, forwarded client certificates
  // The key that binds Responses ids and signed model output to their deployment
  // (inspect/binding.h): `binding.key_file`, default warden-binding.key beside the configuration,
  // made at the first start. Read at start, not on reload.
  std::string binding_key_file;
  std::shared_ptr<const policy::Policy> policy;  // never null once loaded
  std::vector<std::string> warnings;             // "file:line: message", not fatal
};

using ConfigPtr = std::shared_ptr<const Config>;

struct Diagnostic {
  std::string file;
  int line = 0;
  std::string message;
  std::string str() const;  // "file:line: message"
};

class ConfigError : public std::runtime_error {
 public:
  explicit ConfigError(std::vector<Diagnostic> diags);
  const std::vector<Diagnostic>& diagnostics() const { return diags_; }

 private:
  std::vector<Diagnostic> diags_;
};

// Loads and validates `path`. Throws ConfigError listing every problem found.
ConfigPtr load_config(const std::string& path);

// Same, from text already in memory (`name` is used in diagnostics).
ConfigPtr load_config_text(const std::string& text, const std::string& name);

}  // namespace warden
