// Callers signed in through an identity provider: a Bearer value that is a compact JWS is a
// token, verified against the issuers in the configuration (public keys from a JWKS document:
// a file, a jwks_uri, or the provider's OIDC discovery document). Only asymmetric signatures
// (RS256, PS256, ES256, EdDSA) are accepted: `none` and HS* would let anyone who can read the
// configuration, or no one at all, mint tokens. Pure verification and the key set live here
// (OpenSSL, simdjson); fetching keys is the server's (server/jwks.h), off the workers' loops.
#pragma once

#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/result.h"
#include "common/sha256.h"
#include "identity/identity.h"

typedef struct evp_pkey_st EVP_PKEY;  // NOLINT: OpenSSL's own spelling

namespace warden::identity {

enum class JwsAlg : uint8_t { kRS256, kPS256, kES256, kEdDSA };
constexpr uint8_t kAllAlgs = 0b1111;  // bit (1 << alg)

// The public keys of one JSON Web Key Set, by `kid`.
class KeySet {
 public:
  // Keys of a kind that is not supported (symmetric `oct`, other curves, private members) are
  // skipped; `error` is set and null returned when the document is not a JWKS or holds no key
  // that can be used.
  static std::shared_ptr<const KeySet> parse(std::string_view json, std::string& error);

  struct Key {
    std::string kid;
    uint8_t algs = 0;  // which algorithms the key may verify (its kty/crv, and `alg` if stated)
    std::shared_ptr<EVP_PKEY> pkey;
  };
  // The key named `kid`; with an empty `kid`, the only key (null when there are several).
  const Key* find(std::string_view kid) const;
  size_t size() const { return keys_.size(); }

 private:
  std::vector<Key> keys_;
};
using KeySetPtr = std::shared_ptr<const KeySet>;

// Which claims become which principal attributes (Microsoft Entra ID: id: oid, groups: [groups,
// roles], labels: {tenant: tid, device: deviceid, data_location: xms_pdl}).
struct ClaimMapping {
  std::string id = "sub";
  std::vector<std::string> groups{"groups", "roles"};  // string or array-of-strings claims
  std::string team;                                    // claim name; empty: none
  std::string clearance;
  std::string kind = "person";                // fixed kind of these principals
  std::string device_id;                      // claim naming the caller's device
  std::map<std::string, std::string> labels;  // label → claim
};

struct IssuerConfig {
  std::string issuer;                  // `iss` must equal it
  std::vector<std::string> audiences;  // `aud` must hold one of them
  std::string jwks_file;
  std::string jwks_uri;
  bool discovery = false;                // jwks_uri from <issuer>/.well-known/openid-configuration
  std::string ca_file;                   // trusted besides the system store when fetching
  uint32_t clock_skew_s = 60;            // for exp and nbf
  uint32_t refresh_interval_s = 300;     // fetched keys are kept this long
  uint32_t min_refresh_interval_s = 30;  // an unknown kid fetches at most this often
  uint32_t fetch_timeout_ms = 5000;
  uint8_t algs = kAllAlgs;
  ClaimMapping claims;
  KeySetPtr file_keys;  // jwks_file, read at load (a reload re-reads it)
};

struct JwtConfig {
  std::vector<IssuerConfig> issuers;
  uint32_t cache_entries = 10'000;  // verified tokens kept per worker
  const IssuerConfig* find(std::string_view iss) const;
};

// Signed device posture (header x-device-posture): a short-lived JWT from the organisation's
// device-management service, verified with its keys.
struct PostureConfig {
  KeySetPtr keys;  // from jwks_file
  std::string jwks_file;
  // Keys fetched from a jwks_uri by the issuers' fetcher (its ca_file, refresh and timeout
  // settings; `source.issuer` names the fetch, "posture"). Neither file nor uri: posture tokens
  // are not accepted.
  IssuerConfig source;
  std::string issuer;        // when set, `iss` must equal it
  uint32_t max_age_s = 900;  // older (by `iat`) is treated as absent
  uint32_t clock_skew_s = 60;
  uint8_t algs = kAllAlgs;
  std::map<std::string, std::string> labels;  // device.labels.<k> → claim (bound tokens only)
  bool accepted() const { return keys != nullptr || !source.jwks_uri.empty(); }
};

struct DeviceConfig {
  PostureConfig posture;
  // device.labels.<k> → an attribute of the client certificate's subject (O, OU, C, …), from
  // mTLS or a believed X-Forwarded-Client-Cert's Subject.
  std::map<std::string, std::string> certificate_labels;
  // Peers whose X-Forwarded-Client-Cert is believed (a fronting proxy that terminated mTLS); the
  // header from any other address is refused.
  std::vector<std::string> forwarded_cert_from;
};

// What a posture token says about a device.
struct Posture {
  std::string device_id;
  bool managed = false, compliant = false, disk_encrypted = false;
  std::string os, os_version;
  int64_t patch_age_days = -1;
  int64_t age_s = 0;                          // now − iat
  std::map<std::string, std::string> labels;  // the configured label claims it holds
};

// A compact JWS split and decoded; views into `token` except the decoded parts.
struct ParsedToken {
  std::string_view signing_input;  // header.payload as sent
  std::string header_json;
  std::string payload_json;
  std::string signature;
  std::string alg;
  std::string kid;
  std::string iss;  // unverified: chooses the issuer whose keys verify it
};

// Three dot-separated parts whose first decodes to a JSON object naming an `alg`: a token.
// Anything else is an API key. Cheap for an API key (no dot: one scan).
bool looks_like_jws(std::string_view bearer);

Result<ParsedToken> parse_jws(std::string_view token);

struct VerifiedToken {
  std::shared_ptr<const Principal> principal;
  int64_t exp = 0;  // seconds since the epoch
};

// Checks the signature with `keys` and the claims (iss, aud, exp, nbf with the issuer's skew),
// then maps the claims. `now`: seconds since the epoch. A failure names the check, never the
// token or a claim's value.
Result<VerifiedToken> verify(const ParsedToken& token, const IssuerConfig& issuer,
                             const KeySet& keys, int64_t now);

// Verifies a posture token's signature with `keys`, `iss` (when configured), `exp` (when present)
// and `iat`. A token older than max_age_s gives nullopt: treated as absent, not as an error.
Result<std::optional<Posture>> verify_posture(const ParsedToken& token, const PostureConfig& config,
                                              const KeySet& keys, int64_t now);

// Verified tokens of one worker by their digest, each kept until its `exp` (so a repeated token
// costs a hash and a lookup, not a signature check). Cleared when a new snapshot is seen (the
// claim mapping may have changed); at capacity, entries past their exp go first, then all.
class TokenCache {
 public:
  const VerifiedToken* find(const Digest& digest, int64_t now);
  void insert(const Digest& digest, VerifiedToken token, int64_t now, size_t capacity);
  void clear() { entries_.clear(); }
  size_t size() const { return entries_.size(); }

 private:
  struct Hash {
    size_t operator()(const Digest& d) const {
      size_t h;
      std::memcpy(&h, d.data(), sizeof h);
      return h;
    }
  };
  std::unordered_map<Digest, VerifiedToken, Hash> entries_;
};

// Whether keys may be fetched from `url`: https://, or http:// to a loopback address only (a key
// set read in the clear could be replaced by anyone on the path).
bool key_url_allowed(const std::string& url);

// Base64url without padding (RFC 7515 §2); false on any other byte.
bool base64url_decode(std::string_view in, std::string& out);

}  // namespace warden::identity
