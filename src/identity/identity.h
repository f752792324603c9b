// Identity: who is calling. API keys are configured as SHA-256 digests; a presented key is hashed
// and compared in constant time. Untrusted input: the Authorization / api-key header values.
#pragma once

#include <array>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "common/sha256.h"

namespace warden {

struct Principal {
  std::string id;
  std::string kind = "person";  // person, service, device
  std::string team;
  std::string clearance;
  std::map<std::string, std::string> labels;
  std::string issuer;               // a token's `iss`; empty for an API key
  std::vector<std::string> groups;  // a token's group and role claims (principal.groups)
  std::string device_id;            // a token's device claim (binds a posture token)
};

using KeyDigest = Digest;

class KeyStore {
 public:
  void add(const KeyDigest& digest, Principal principal);
  size_t size() const { return entries_.size(); }

  // Checks the bearer token or api-key value. Every configured digest is compared (constant
  // time per comparison, no early exit), so timing does not tell which key was close.
  Result<const Principal*> authenticate(std::string_view presented_key) const;

 private:
  struct Entry {
    KeyDigest digest;
    Principal principal;
  };
  std::vector<Entry> entries_;
};

// Extracts the key from "Authorization: Bearer <key>" or the key header ("api-key: <key>", or
// Anthropic's "x-api-key: <key>"); empty if neither.
std::string_view presented_key(std::string_view authorization, std::string_view api_key_header);

}  // namespace warden
