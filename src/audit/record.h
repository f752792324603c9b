// The audit record: one per request that reached the pipeline, permitted, denied or failed.
// Never prompt or answer text, never matched values: classes and counts only.
//
// Canonical encoding (docs/AUDIT.md): a JSON object with keys in a fixed (sorted) order, no
// insignificant whitespace, integers in decimal, strings escaped as RFC 8259 requires (control
// characters as \u00XX, everything else as UTF-8). hash = SHA-256(prev_hash ‖ canonical), with
// prev_hash as 32 raw bytes (zeros for the first record of a chain).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace warden::audit {

struct DeploymentAttrs {
  std::string name, provider, operator_name, jurisdiction, region;
  int64_t retention_days = 0;
  bool trains_on_inputs = false;
  std::string hardware{}, grid_region{};  // v4; "" not known
  bool has_energy = false;                // v4: energy figures configured
  double wh_per_mtok_in = 0, wh_per_mtok_out = 0;
};

// The device a request came from (v3; written when device_present).
struct DeviceAttrs {
  bool bound = false;
  std::string id;
  bool managed = false, compliant = false;
  std::string os, os_version;
  bool disk_encrypted = false;
  int64_t patch_age_days = -1, posture_age_s = -1;  // -1: not known
  std::map<std::string, std::string> labels;
};

// A limit the request met (v4): its rule and key, what was reserved, what was settled (-1: given
// back, or never reserved) and what the limit had left after the reservation; or, when the store
// did not answer and the rule fails open, `fail_open` and none of the three (nothing was counted).
struct LimitAttrs {
  std::string rule, key;
  int64_t reserved = 0, settled = -1, remaining = 0;
  bool fail_open = false;
};

// A set of attributes stored once (audit_attrs) and referred to by records (v6): its hash is the
// SHA-256 of `body`, its canonical JSON.
struct AttrSet {
  std::string hash, body;
};

struct Record {
  // Schema version (contract §4): 1 = records written before `v` existed (no `v` key), 2 = with
  // `v` (and covered by the Merkle tree and signed checkpoints), 3 = with auth_methods,
  // principal_issuer, principal_groups and the device's attributes (absent from older records,
  // and read back as absent), 4 = with the candidates' hardware, grid_region and energy, the
  // limits the request met (when it met any), request_store, request_server_tools and
  // request_mcp_hosts, 5 = records of refusals at the door (decision "refused", with
  // remote_address and count; see Writer::refused), 6 = stored compact: the sets of attributes
  // that repeat from request to request (the candidates' provenance, the principal's
  // attributes) are stored once and the record refers to them by hash (stored()). Every version
  // stays readable.
  static constexpr int64_t kVersion = 6;
  int64_t v = kVersion;
  int64_t ts_ms = 0;
  std::string request_id;
  std::string instance;
  std::string route;
  // who
  std::string principal_id, principal_kind, principal_team, principal_clearance;
  std::map<std::string, std::string> principal_labels;
  std::string principal_issuer;               // v3
  std::vector<std::string> principal_groups;  // v3
  std::vector<std::string> auth_methods;      // v3: api_key, jwt, mtls
  bool device_present = false;
  DeviceAttrs device;  // v3, when device_present
  // what
  std::string model, model_developer, model_origin, model_license;
  bool model_open_weights = false;
  std::vector<DeploymentAttrs> candidates;  // in preference order: what decide() read
  std::string request_kind;
  bool stream = false;
  int64_t estimated_tokens = 0;
  bool has_tools = false;
  bool request_store = false;                     // v4
  std::vector<std::string> request_server_tools;  // v4
  std::vector<std::string> request_mcp_hosts;     // v4
  int64_t hour = 0, weekday = 0;
  // decision
  std::string decision;    // permit | deny | error | refused (at the door, v5)
  std::string deployment;  // chosen, or ""
  std::vector<std::string> rules;
  std::map<std::string, int64_t> request_classes;
  std::map<std::string, int64_t> answer_classes;
  std::vector<std::string> transforms;  // "class→action"
  std::vector<LimitAttrs> limits;       // v4: in the order they were reserved
  std::string limit_refused;            // v4: the rule that refused the request (429)
  // outcome
  int64_t prompt_tokens = -1, completion_tokens = -1;
  double cost = 0;
  int64_t status = 0, upstream_status = 0;
  double latency_ms = 0;
  std::string error;
  std::string policy_version;
  // v5, decision "refused" only: the peer's address ("*": addresses beyond the per-second bound)
  // and how many refusals the record stands for.
  std::string remote_address;
  int64_t count = 0;

  // The full canonical form (what readers see; for v <= 5 also what is stored).
  std::string canonical() const;
  // What is stored and hashed into the chain: for v >= 6 the canonical form with `candidates`
  // replaced by "candidates_ref" and the principal_* keys by "principal_ref" (SHA-256 of the set's
  // canonical JSON, hex), the sets themselves added to `sets`; for older versions canonical().
  std::string stored(std::vector<AttrSet>& sets) const;

 private:
  std::string encode(std::vector<AttrSet>* sets) const;
};

// The full canonical form of a stored record: a v6 record's "candidates_ref" and
// "principal_ref" replaced by the sets `lookup` gives for them (each must hash to its reference);
// other records as they are. False, with `error`, when a set is missing or does not match.
using AttrLookup = std::function<std::optional<std::string>(const std::string& hash)>;
bool expand_record(std::string_view stored, const AttrLookup& lookup, std::string& out,
                   std::string& error);

// Parses a canonical record (as stored) back; false if it is not one.
bool parse_record(std::string_view json, Record& out);

std::string sha256_hex(std::string_view prev_hash_hex, std::string_view canonical);

}  // namespace warden::audit
