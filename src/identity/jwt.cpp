#include "identity/jwt.h"

#include "identity/tls.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>
#include <simdjson.h>

#include <algorithm>
#include <array>

namespace warden::identity {

namespace {

// 0–63 for the base64url alphabet, 0xff for anything else.
constexpr std::array<uint8_t, 256> kB64 = [] {
  std::array<uint8_t, 256> t{};
  t.fill(0xff);
  const char* alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  for (uint8_t i = 0; i < 64; ++i) t[static_cast<uint8_t>(alphabet[i])] = i;
  return t;
}();

GatewayError unauthenticated(std::string message) {
  return GatewayError{ErrorCode::kUnauthenticated, std::move(message)};
}

// JSON values are read with simdjson's DOM: headers and payloads are small, and read only when
// a token is not in the worker's cache.
bool parse_json(simdjson::dom::parser& parser, const std::string& text,
                simdjson::dom::object& out) {
  simdjson::dom::element doc;
  if (parser.parse(text).get(doc) != simdjson::SUCCESS) return false;
  return doc.get_object().get(out) == simdjson::SUCCESS;
}

std::string_view string_member(const simdjson::dom::object& o, std::string_view key) {
  std::string_view v;
  if (o[key].get_string().get(v) != simdjson::SUCCESS) return {};
  return v;
}

// A string, integer or boolean claim as text ("" when absent or of another type): device
// management services write fleet names as strings and tiers as numbers.
std::string scalar_claim(const simdjson::dom::object& o, std::string_view key) {
  simdjson::dom::element e;
  if (o[key].get(e) != simdjson::SUCCESS) return {};
  if (std::string_view s; e.get_string().get(s) == simdjson::SUCCESS) return std::string(s);
  if (int64_t n; e.get_int64().get(n) == simdjson::SUCCESS) return std::to_string(n);
  if (bool b; e.get_bool().get(b) == simdjson::SUCCESS) return b ? "true" : "false";
  return {};
}

bool alg_from_name(std::string_view name, JwsAlg& out) {
  if (name == "RS256")
    out = JwsAlg::kRS256;
  else if (name == "PS256")
    out = JwsAlg::kPS256;
  else if (name == "ES256")
    out = JwsAlg::kES256;
  else if (name == "EdDSA")
    out = JwsAlg::kEdDSA;
  else
    return false;
  return true;
}

uint8_t bit(JwsAlg a) {
  return static_cast<uint8_t>(1u << static_cast<unsigned>(a));
}

std::shared_ptr<EVP_PKEY> own(EVP_PKEY* k) {
  return std::shared_ptr<EVP_PKEY>(k, EVP_PKEY_free);
}

// A public key from its JWK members (OpenSSL 3's parameter builder); null when unusable.
std::shared_ptr<EVP_PKEY> rsa_key(const std::string& n, const std::string& e) {
  // Below 2048 bits RSA is factorable by a motivated party (NIST SP 800-131A).
  if (n.size() < 256 || e.empty() || e.size() > 8) return nullptr;
  BIGNUM* bn_n = BN_bin2bn(reinterpret_cast<const unsigned char*>(n.data()),
                           static_cast<int>(n.size()), nullptr);
  BIGNUM* bn_e = BN_bin2bn(reinterpret_cast<const unsigned char*>(e.data()),
                           static_cast<int>(e.size()), nullptr);
  OSSL_PARAM_BLD* bld = OSSL_PARAM_BLD_new();
  OSSL_PARAM* params = nullptr;
  EVP_PKEY* pkey = nullptr;
  if (bn_n && bn_e && bld && OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn_n) &&
      OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, bn_e) &&
      (params = OSSL_PARAM_BLD_to_param(bld)) != nullptr) {
    EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_from_name(nullptr, "RSA", nullptr);
    if (ctx && EVP_PKEY_fromdata_init(ctx) == 1)
      EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params);
    EVP_PKEY_CTX_free(ctx);
  }
  OSSL_PARAM_free(params);
  OSSL_PARAM_BLD_free(bld);
  BN_free(bn_n);
  BN_free(bn_e);
  return pkey ? own(pkey) : nullptr;
}

std::shared_ptr<EVP_PKEY> p256_key(const std::string& x, const std::string& y) {
  if (x.size() != 32 || y.size() != 32) return nullptr;
  std::string point = "\x04" + x + y;  // uncompressed SEC1 point
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, const_cast<char*>("P-256"), 0),
      OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size()),
      OSSL_PARAM_construct_end()};
  EVP_PKEY* pkey = nullptr;
  EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr);
  // fromdata checks that the point lies on the curve.
  if (ctx && EVP_PKEY_fromdata_init(ctx) == 1)
    EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params);
  EVP_PKEY_CTX_free(ctx);
  return pkey ? own(pkey) : nullptr;
}

std::shared_ptr<EVP_PKEY> ed25519_key(const std::string& x) {
  if (x.size() != 32) return nullptr;
  EVP_PKEY* pkey = EVP_PKEY_new_raw_public_key(
      EVP_PKEY_ED25519, nullptr, reinterpret_cast<const unsigned char*>(x.data()), x.size());
  return pkey ? own(pkey) : nullptr;
}

bool member_b64(const simdjson::dom::object& o, std::string_view key, std::string& out) {
  const std::string_view v = string_member(o, key);
  return !v.empty() && base64url_decode(v, out);
}

// ES256 signatures are r‖s (RFC 7518 §3.4); OpenSSL verifies DER.
bool ecdsa_der(const std::string& raw, std::string& der) {
  if (raw.size() != 64) return false;
  ECDSA_SIG* sig = ECDSA_SIG_new();
  BIGNUM* r = BN_bin2bn(reinterpret_cast<const unsigned char*>(raw.data()), 32, nullptr);
  BIGNUM* s = BN_bin2bn(reinterpret_cast<const unsigned char*>(raw.data()) + 32, 32, nullptr);
  if (!sig || !r || !s || ECDSA_SIG_set0(sig, r, s) != 1) {
    BN_free(r);
    BN_free(s);
    ECDSA_SIG_free(sig);
    return false;
  }
  unsigned char* out = nullptr;
  const int len = i2d_ECDSA_SIG(sig, &out);
  ECDSA_SIG_free(sig);
  if (len <= 0) return false;
  der.assign(reinterpret_cast<const char*>(out), static_cast<size_t>(len));
  OPENSSL_free(out);
  return true;
}

bool signature_holds(JwsAlg alg, EVP_PKEY* key, std::string_view input,
                     const std::string& signature) {
  std::string der;
  const std::string* sig = &signature;
  if (alg == JwsAlg::kES256) {
    if (!ecdsa_der(signature, der)) return false;
    sig = &der;
  }
  EVP_MD_CTX* md = EVP_MD_CTX_new();
  EVP_PKEY_CTX* pctx = nullptr;
  bool ok = md != nullptr &&
            EVP_DigestVerifyInit(md, &pctx, alg == JwsAlg::kEdDSA ? nullptr : EVP_sha256(), nullptr,
                                 key) == 1;
  if (ok && alg == JwsAlg::kPS256) {
    // RFC 7518 §3.5: MGF1 with SHA-256, salt as long as the hash.
    ok = EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) == 1 &&
         EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) == 1 &&
         EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, EVP_sha256()) == 1;
  } else if (ok && alg == JwsAlg::kRS256) {
    ok = EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) == 1;
  }
  ok = ok &&
       EVP_DigestVerify(md, reinterpret_cast<const unsigned char*>(sig->data()), sig->size(),
                        reinterpret_cast<const unsigned char*>(input.data()), input.size()) == 1;
  EVP_MD_CTX_free(md);
  return ok;
}

// A claim that is a string or an array of strings.
void strings_of(simdjson::dom::element e, std::vector<std::string>& out) {
  std::string_view s;
  if (e.get_string().get(s) == simdjson::SUCCESS) {
    out.emplace_back(s);
    return;
  }
  simdjson::dom::array a;
  if (e.get_array().get(a) != simdjson::SUCCESS) return;
  for (simdjson::dom::element x : a) {
    if (x.get_string().get(s) == simdjson::SUCCESS) out.emplace_back(s);
  }
}

bool integer_claim(const simdjson::dom::object& o, std::string_view key, int64_t& out) {
  simdjson::dom::element e;
  if (o[key].get(e) != simdjson::SUCCESS) return false;
  double d = 0;
  if (e.get_int64().get(out) == simdjson::SUCCESS) return true;
  if (e.get_double().get(d) == simdjson::SUCCESS) {
    out = static_cast<int64_t>(d);
    return true;
  }
  return false;
}

}  // namespace

bool base64url_decode(std::string_view in, std::string& out) {
  out.clear();
  out.reserve(in.size() * 3 / 4);
  uint32_t acc = 0;
  int bits = 0;
  for (const char c : in) {
    const uint8_t v = kB64[static_cast<uint8_t>(c)];
    if (v == 0xff) return false;
    acc = (acc << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  // A lone sixth-bit group cannot end a byte string (RFC 4648 §5 lengths 4k+2, 4k+3 only).
  return in.size() % 4 != 1;
}

std::shared_ptr<const KeySet> KeySet::parse(std::string_view json, std::string& error) {
  simdjson::dom::parser parser;
  simdjson::dom::object root;
  if (!parse_json(parser, std::string(json), root)) {
    error = "the key set is not a JSON object";
    return nullptr;
  }
  simdjson::dom::array keys;
  if (root["keys"].get_array().get(keys) != simdjson::SUCCESS) {
    error = "the key set has no 'keys' array";
    return nullptr;
  }
  auto set = std::make_shared<KeySet>();
  for (simdjson::dom::element e : keys) {
    simdjson::dom::object k;
    if (e.get_object().get(k) != simdjson::SUCCESS) continue;
    const std::string_view use = string_member(k, "use");
    if (!use.empty() && use != "sig") continue;
    // A JWK with private members is a mistake on the issuer's side; its public half still
    // verifies, but it is not ours to hold.
    if (!string_member(k, "d").empty()) continue;
    Key key;
    key.kid = std::string(string_member(k, "kid"));
    const std::string_view kty = string_member(k, "kty");
    std::string a, b;
    if (kty == "RSA" && member_b64(k, "n", a) && member_b64(k, "e", b)) {
      key.pkey = rsa_key(a, b);
      key.algs = bit(JwsAlg::kRS256) | bit(JwsAlg::kPS256);
    } else if (kty == "EC" && string_member(k, "crv") == "P-256" && member_b64(k, "x", a) &&
               member_b64(k, "y", b)) {
      key.pkey = p256_key(a, b);
      key.algs = bit(JwsAlg::kES256);
    } else if (kty == "OKP" && string_member(k, "crv") == "Ed25519" && member_b64(k, "x", a)) {
      key.pkey = ed25519_key(a);
      key.algs = bit(JwsAlg::kEdDSA);
    }
    if (!key.pkey) continue;
    if (const std::string_view alg = string_member(k, "alg"); !alg.empty()) {
      JwsAlg named;
      key.algs = alg_from_name(alg, named) ? key.algs & bit(named) : 0;
    }
    if (key.algs != 0) set->keys_.push_back(std::move(key));
  }
  if (set->keys_.empty()) {
    error = "the key set holds no usable signing key (RSA ≥ 2048 bits, P-256, Ed25519)";
    return nullptr;
  }
  return set;
}

const KeySet::Key* KeySet::find(std::string_view kid) const {
  if (kid.empty()) return keys_.size() == 1 ? &keys_[0] : nullptr;
  for (const Key& k : keys_) {
    if (k.kid == kid) return &k;
  }
  return nullptr;
}

const IssuerConfig* JwtConfig::find(std::string_view iss) const {
  for (const IssuerConfig& i : issuers) {
    if (i.issuer == iss) return &i;
  }
  return nullptr;
}

bool looks_like_jws(std::string_view bearer) {
  const size_t dot = bearer.find('.');
  if (dot == std::string_view::npos || dot == 0) return false;
  const size_t dot2 = bearer.find('.', dot + 1);
  if (dot2 == std::string_view::npos || bearer.find('.', dot2 + 1) != std::string_view::npos)
    return false;
  std::string header;
  if (!base64url_decode(bearer.substr(0, dot), header)) return false;
  simdjson::dom::parser parser;
  simdjson::dom::object o;
  if (!parse_json(parser, header, o)) return false;
  simdjson::dom::element alg;
  return o["alg"].get(alg) == simdjson::SUCCESS;
}

Result<ParsedToken> parse_jws(std::string_view token) {
  const size_t dot = token.find('.');
  const size_t dot2 = dot == std::string_view::npos ? dot : token.find('.', dot + 1);
  if (dot2 == std::string_view::npos) return unauthenticated("Invalid token: not a compact JWS.");
  ParsedToken t;
  t.signing_input = token.substr(0, dot2);
  if (!base64url_decode(token.substr(0, dot), t.header_json) ||
      !base64url_decode(token.substr(dot + 1, dot2 - dot - 1), t.payload_json) ||
      !base64url_decode(token.substr(dot2 + 1), t.signature)) {
    return unauthenticated("Invalid token: a part is not base64url.");
  }
  simdjson::dom::parser parser;
  simdjson::dom::object header;
  if (!parse_json(parser, t.header_json, header))
    return unauthenticated("Invalid token: the header is not a JSON object.");
  t.alg = std::string(string_member(header, "alg"));
  t.kid = std::string(string_member(header, "kid"));
  // Extensions the verifier must understand (RFC 7515 §4.1.11): none are.
  simdjson::dom::element crit;
  if (header["crit"].get(crit) == simdjson::SUCCESS)
    return unauthenticated("Invalid token: critical header extensions are not supported.");
  JwsAlg alg;
  if (!alg_from_name(t.alg, alg)) {
    return unauthenticated(
        "Invalid token: algorithm not accepted (RS256, PS256, ES256 or EdDSA only).");
  }
  simdjson::dom::object payload;
  if (!parse_json(parser, t.payload_json, payload))
    return unauthenticated("Invalid token: the payload is not a JSON object.");
  t.iss = std::string(string_member(payload, "iss"));
  return t;
}

namespace {

// The signature with the key its `kid` names, under the algorithms allowed; the error names the
// check that failed (`what`: "token", "device posture token").
std::optional<GatewayError> signature_problem(const ParsedToken& token, uint8_t algs,
                                              const KeySet& keys, std::string_view what) {
  const std::string prefix = "Invalid " + std::string(what) + ": ";
  JwsAlg alg;
  if (!alg_from_name(token.alg, alg) || (algs & bit(alg)) == 0)
    return unauthenticated(prefix + "algorithm not accepted for this issuer.");
  const KeySet::Key* key = keys.find(token.kid);
  if (key == nullptr) return unauthenticated(prefix + "no key of the issuer has its 'kid'.");
  if ((key->algs & bit(alg)) == 0)
    return unauthenticated(prefix + "its key does not sign with its algorithm.");
  if (!signature_holds(alg, key->pkey.get(), token.signing_input, token.signature))
    return unauthenticated(prefix + "the signature does not verify.");
  return std::nullopt;
}

bool bool_claim(const simdjson::dom::object& o, std::string_view key) {
  bool v = false;
  return o[key].get_bool().get(v) == simdjson::SUCCESS && v;
}

}  // namespace

Result<std::optional<Posture>> verify_posture(const ParsedToken& token, const PostureConfig& config,
                                              const KeySet& keys, int64_t now) {
  if (auto problem = signature_problem(token, config.algs, keys, "device posture token"))
    return *problem;
  simdjson::dom::parser parser;
  simdjson::dom::object claims;
  if (!parse_json(parser, token.payload_json, claims))
    return unauthenticated("Invalid device posture token: the payload is not a JSON object.");
  if (!config.issuer.empty() && string_member(claims, "iss") != config.issuer)
    return unauthenticated("Invalid device posture token: wrong issuer.");
  const int64_t skew = config.clock_skew_s;
  int64_t iat = 0, exp = 0;
  if (!integer_claim(claims, "iat", iat))
    return unauthenticated("Invalid device posture token: no 'iat' claim.");
  if (iat > now + skew)
    return unauthenticated("Invalid device posture token: issued in the future ('iat').");
  // Too old, or past its own expiry: what it says may no longer hold. Absent, not an error.
  if (now - iat > static_cast<int64_t>(config.max_age_s)) return std::optional<Posture>();
  if (integer_claim(claims, "exp", exp) && now >= exp + skew) return std::optional<Posture>();
  Posture p;
  p.device_id = std::string(string_member(claims, "device_id"));
  if (p.device_id.empty())
    return unauthenticated("Invalid device posture token: no 'device_id' claim.");
  p.managed = bool_claim(claims, "managed");
  p.compliant = bool_claim(claims, "compliant");
  p.disk_encrypted = bool_claim(claims, "disk_encrypted");
  p.os = std::string(string_member(claims, "os"));
  p.os_version = std::string(string_member(claims, "os_version"));
  if (!integer_claim(claims, "patch_age_days", p.patch_age_days) || p.patch_age_days < 0)
    p.patch_age_days = -1;
  p.age_s = std::max<int64_t>(0, now - iat);
  for (const auto& [label, claim] : config.labels) {
    if (std::string v = scalar_claim(claims, claim); !v.empty()) p.labels[label] = std::move(v);
  }
  return std::optional<Posture>(std::move(p));
}

Result<VerifiedToken> verify(const ParsedToken& token, const IssuerConfig& issuer,
                             const KeySet& keys, int64_t now) {
  if (auto problem = signature_problem(token, issuer.algs, keys, "token")) return *problem;

  simdjson::dom::parser parser;
  simdjson::dom::object claims;
  if (!parse_json(parser, token.payload_json, claims))
    return unauthenticated("Invalid token: the payload is not a JSON object.");
  if (string_member(claims, "iss") != issuer.issuer)
    return unauthenticated("Invalid token: wrong issuer.");
  std::vector<std::string> aud;
  simdjson::dom::element aud_element;
  if (claims["aud"].get(aud_element) == simdjson::SUCCESS) strings_of(aud_element, aud);
  const bool audience_ok = std::any_of(aud.begin(), aud.end(), [&](const std::string& a) {
    return std::find(issuer.audiences.begin(), issuer.audiences.end(), a) != issuer.audiences.end();
  });
  if (!audience_ok) return unauthenticated("Invalid token: wrong audience.");
  int64_t exp = 0;
  if (!integer_claim(claims, "exp", exp)) return unauthenticated("Invalid token: no 'exp' claim.");
  const int64_t skew = issuer.clock_skew_s;
  if (now >= exp + skew) return unauthenticated("Expired token.");
  int64_t nbf = 0;
  if (integer_claim(claims, "nbf", nbf) && now + skew < nbf)
    return unauthenticated("Token not valid yet ('nbf').");

  auto p = std::make_shared<Principal>();
  const ClaimMapping& m = issuer.claims;
  p->id = std::string(string_member(claims, m.id));
  if (p->id.empty())
    return unauthenticated("Invalid token: no '" + m.id + "' claim to identify the caller.");
  p->kind = m.kind;
  p->issuer = issuer.issuer;
  for (const std::string& g : m.groups) {
    simdjson::dom::element e;
    if (claims[g].get(e) == simdjson::SUCCESS) strings_of(e, p->groups);
  }
  if (!m.team.empty()) p->team = std::string(string_member(claims, m.team));
  if (!m.clearance.empty()) p->clearance = std::string(string_member(claims, m.clearance));
  if (!m.device_id.empty()) p->device_id = std::string(string_member(claims, m.device_id));
  for (const auto& [label, claim] : m.labels) {
    const std::string_view v = string_member(claims, claim);
    if (!v.empty()) p->labels[label] = std::string(v);
  }
  return VerifiedToken{std::move(p), exp};
}

const VerifiedToken* TokenCache::find(const Digest& digest, int64_t now) {
  const auto it = entries_.find(digest);
  if (it == entries_.end()) return nullptr;
  if (now >= it->second.exp) {  // never past the token's own expiry
    entries_.erase(it);
    return nullptr;
  }
  return &it->second;
}

void TokenCache::insert(const Digest& digest, VerifiedToken token, int64_t now, size_t capacity) {
  if (capacity == 0) return;
  if (entries_.size() >= capacity) {
    std::erase_if(entries_, [now](const auto& e) { return now >= e.second.exp; });
    if (entries_.size() >= capacity) entries_.clear();
  }
  entries_.insert_or_assign(digest, std::move(token));
}

bool key_url_allowed(const std::string& url) {
  if (url.rfind("https://", 0) == 0) return url.size() > 8;
  if (url.rfind("http://", 0) != 0) return false;
  std::string host = url.substr(7, url.find_first_of("/?#", 7) - 7);
  if (!host.empty() && host.front() == '[') {
    host = host.substr(1, host.find(']') - 1);
  } else if (const size_t colon = host.rfind(':'); colon != std::string::npos) {
    host = host.substr(0, colon);
  }
  return is_loopback_host(host);
}

}  // namespace warden::identity
