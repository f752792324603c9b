#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <memory>

#include "identity/jwt.h"
#include "identity/tls.h"

namespace warden::identity {
namespace {

std::string b64url(std::string_view in) {
  static const char* kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (unsigned char c : in) {
    acc = (acc << 8) | c;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out.push_back(kAlphabet[(acc >> bits) & 63]);
    }
  }
  if (bits > 0) out.push_back(kAlphabet[(acc << (6 - bits)) & 63]);
  return out;
}

// An Ed25519 key pair and tokens signed with it.
struct Signer {
  std::shared_ptr<EVP_PKEY> key{EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"), EVP_PKEY_free};

  std::string jwks(std::string_view kid) const {
    unsigned char pub[32];
    size_t len = sizeof pub;
    EVP_PKEY_get_raw_public_key(key.get(), pub, &len);
    return R"({"keys":[{"kty":"OKP","crv":"Ed25519","kid":")" + std::string(kid) + R"(","x":")" +
           b64url(std::string_view(reinterpret_cast<char*>(pub), len)) + R"("}]})";
  }
  std::string token(std::string_view header, std::string_view payload) const {
    const std::string input = b64url(header) + "." + b64url(payload);
    unsigned char sig[64];
    size_t len = sizeof sig;
    EVP_MD_CTX* md = EVP_MD_CTX_new();
    EVP_DigestSignInit(md, nullptr, nullptr, nullptr, key.get());
    EVP_DigestSign(md, sig, &len, reinterpret_cast<const unsigned char*>(input.data()),
                   input.size());
    EVP_MD_CTX_free(md);
    return input + "." + b64url(std::string_view(reinterpret_cast<char*>(sig), len));
  }
};

IssuerConfig issuer() {
  IssuerConfig i;
  i.issuer = "https://idp.example";
  i.audiences = {"warden"};
  i.claims.labels = {{"tenant", "tid"}};
  i.claims.device_id = "deviceid";
  return i;
}

constexpr int64_t kNow = 1'800'000'000;
const std::string kClaims =
    R"({"iss":"https://idp.example","aud":["other","warden"],"sub":"u1","exp":1800000600,)"
    R"("groups":["a","b"],"roles":"admin","tid":"t1","deviceid":"dev-9"})";

TEST(Jwt, Base64UrlRejectsPaddingAndForeignBytes) {
  std::string out;
  EXPECT_TRUE(base64url_decode("aGk", out));
  EXPECT_EQ(out, "hi");
  EXPECT_FALSE(base64url_decode("aGk=", out));
  EXPECT_FALSE(base64url_decode("a+k", out));
  EXPECT_FALSE(base64url_decode("aGkxa", out));  // a lone 6-bit group
}

TEST(Jwt, TellsTokensFromApiKeys) {
  EXPECT_FALSE(looks_like_jws("sk-test-alice"));
  EXPECT_FALSE(looks_like_jws("a.b.c"));                                // header is not JSON
  EXPECT_FALSE(looks_like_jws(b64url(R"({"typ":"JWT"})") + ".e30.x"));  // no alg
  EXPECT_TRUE(looks_like_jws(b64url(R"({"alg":"none"})") + ".e30."));
  EXPECT_FALSE(looks_like_jws(b64url(R"({"alg":"ES256"})") + ".e30.x.y"));
}

TEST(Jwt, VerifiesSignatureAndClaimsThenMapsThem) {
  Signer s;
  std::string error;
  const KeySetPtr keys = KeySet::parse(s.jwks("k1"), error);
  ASSERT_TRUE(keys) << error;
  const std::string token = s.token(R"({"alg":"EdDSA","kid":"k1"})", kClaims);
  auto parsed = parse_jws(token);  // views into `token`
  ASSERT_TRUE(parsed);
  const auto v = verify(*parsed, issuer(), *keys, kNow);
  ASSERT_TRUE(v) << v.error().message;
  EXPECT_EQ(v->principal->id, "u1");
  EXPECT_EQ(v->principal->issuer, "https://idp.example");
  EXPECT_EQ(v->principal->groups, (std::vector<std::string>{"a", "b", "admin"}));
  EXPECT_EQ(v->principal->labels.at("tenant"), "t1");
  EXPECT_EQ(v->principal->device_id, "dev-9");
  EXPECT_EQ(v->exp, 1'800'000'600);
}

TEST(Jwt, RefusesWhatMustNotPass) {
  Signer s, other;
  std::string error;
  const KeySetPtr keys = KeySet::parse(s.jwks("k1"), error);
  ASSERT_TRUE(keys);
  auto check = [&](const std::string& token, int64_t now, std::string_view why) {
    auto parsed = parse_jws(token);
    std::string message;
    if (!parsed) {
      message = parsed.error().message;
    } else {
      const auto v = verify(*parsed, issuer(), *keys, now);
      ASSERT_FALSE(v) << why;
      message = v.error().message;
    }
    EXPECT_NE(message.find(why), std::string::npos) << message;
  };
  const std::string h = R"({"alg":"EdDSA","kid":"k1"})";
  check(other.token(h, kClaims), kNow, "signature does not verify");
  check(s.token(h, kClaims), 1'800'000'600 + 60, "Expired");
  const std::string fresh = s.token(h, kClaims);
  auto within = parse_jws(fresh);
  EXPECT_TRUE(verify(*within, issuer(), *keys, 1'800'000'600 + 59)) << "within the 60 s skew";
  check(s.token(R"({"alg":"HS256","kid":"k1"})", kClaims), kNow, "algorithm not accepted");
  check(s.token(R"({"alg":"none"})", kClaims), kNow, "algorithm not accepted");
  check(s.token(R"({"alg":"EdDSA","kid":"k2"})", kClaims), kNow, "no key");
  check(s.token(h, R"({"iss":"https://idp.example","aud":"x","sub":"u","exp":1800000600})"), kNow,
        "wrong audience");
  check(s.token(h, R"({"iss":"https://idp.example","aud":"warden","sub":"u"})"), kNow, "no 'exp'");
  check(s.token(h, R"({"iss":"https://idp.example","aud":"warden","exp":1800000600})"), kNow,
        "no 'sub' claim");
}

TEST(Jwt, KeySetsSkipSymmetricAndWeakKeys) {
  std::string error;
  EXPECT_FALSE(KeySet::parse(R"({"keys":[{"kty":"oct","k":"c2VjcmV0","kid":"h"}]})", error));
  EXPECT_NE(error.find("no usable"), std::string::npos);
  EXPECT_FALSE(KeySet::parse(R"({"keys":[{"kty":"RSA","n":"AQAB","e":"AQAB"}]})", error));
  EXPECT_FALSE(KeySet::parse("[]", error));
}

TEST(Jwt, CacheNeverServesPastExpiry) {
  TokenCache cache;
  const Digest d = sha256("t");
  cache.insert(d, VerifiedToken{std::make_shared<Principal>(), 100}, 50, 10);
  EXPECT_NE(cache.find(d, 99), nullptr);
  EXPECT_EQ(cache.find(d, 100), nullptr);
  EXPECT_EQ(cache.size(), 0u);
  // At capacity, expired entries go first.
  cache.insert(sha256("a"), VerifiedToken{std::make_shared<Principal>(), 10}, 0, 2);
  cache.insert(sha256("b"), VerifiedToken{std::make_shared<Principal>(), 100}, 0, 2);
  cache.insert(sha256("c"), VerifiedToken{std::make_shared<Principal>(), 100}, 20, 2);
  EXPECT_EQ(cache.size(), 2u);
  EXPECT_NE(cache.find(sha256("b"), 20), nullptr);
}

TEST(Jwt, PostureLabelsComeFromConfiguredClaimsOfAnyScalarType) {
  Signer s;
  std::string error;
  PostureConfig config;
  config.keys = KeySet::parse(s.jwks("m1"), error);
  ASSERT_TRUE(config.keys) << error;
  config.labels = {{"fleet", "fleet"}, {"tier", "tier"}, {"kiosk", "kiosk"}, {"gone", "absent"}};
  const std::string token = s.token(
      R"({"alg":"EdDSA","kid":"m1"})",
      R"({"iat":1800000000,"device_id":"d1","fleet":"lobby","tier":2,"kiosk":true,"managed":true})");
  auto parsed = parse_jws(token);
  ASSERT_TRUE(parsed);
  auto p = verify_posture(*parsed, config, *config.keys, kNow + 10);
  ASSERT_TRUE(p) << p.error().message;
  ASSERT_TRUE(p->has_value());
  EXPECT_EQ((*p)->labels, (std::map<std::string, std::string>{
                              {"fleet", "lobby"}, {"tier", "2"}, {"kiosk", "true"}}));
  EXPECT_EQ((*p)->age_s, 10);
  // Too old: absent, not an error.
  auto old = verify_posture(*parsed, config, *config.keys, kNow + 3600);
  ASSERT_TRUE(old);
  EXPECT_FALSE(old->has_value());
}

TEST(Xfcc, ReadsTheLastElementOnly) {
  const std::string hash(64, 'A');
  const ForwardedCert fc = forwarded_cert(
      "By=spiffe://edge;URI=spiffe://x/far,By=spiffe://gw;Hash=" + hash +
      ";Subject=\"CN=near-1,OU=Kiosks\\, Lobby,O=Ex \\\"Q\\\" Corp\";URI=spiffe://x/near");
  EXPECT_EQ(fc.device_id, "spiffe://x/near");
  EXPECT_EQ(fc.hash, std::string(64, 'a'));
  EXPECT_FALSE(fc.malformed);
  EXPECT_EQ(subject_attribute(fc.subject, "OU"), "Kiosks, Lobby");
  EXPECT_EQ(subject_attribute(fc.subject, "o"), "Ex \"Q\" Corp");
  EXPECT_EQ(subject_attribute(fc.subject, "CN"), "near-1");
}

TEST(Xfcc, NamesTheDeviceByUriThenCnThenHash) {
  const std::string hash(64, 'f');
  EXPECT_EQ(forwarded_cert("Hash=" + hash + ";Subject=\"CN=d-2\"").device_id, "d-2");
  EXPECT_EQ(forwarded_cert("Hash=" + hash + ";Subject=\"O=Ex\"").device_id, "sha256:" + hash);
  EXPECT_EQ(forwarded_cert("URI=https://not-spiffe;Subject=\"O=Ex\"").device_id, "");
  EXPECT_TRUE(forwarded_cert("Hash=abc;URI=spiffe://x/y").malformed);
  EXPECT_TRUE(forwarded_cert("Hash=" + std::string(63, 'f') + "g").malformed);
}

TEST(Xfcc, SubjectAttributesUndoRfc2253Escapes) {
  const struct {
    std::string_view subject, key, value;
  } cases[] = {
      {"CN=a\\+b+OU=u,O=M\\C3\\BCller", "O", "M\xC3\xBCller"},  // multi-valued RDN, hex escapes
      {"CN=a\\+b+OU=u,O=x", "CN", "a+b"},
      {"CN=a\\+b+OU=u,O=x", "ou", "u"},  // types in any case
      {"CN=a", "OU", ""},
      {"", "OU", ""},
      {"garbage", "OU", ""},
  };
  for (const auto& c : cases)
    EXPECT_EQ(subject_attribute(c.subject, c.key), c.value) << c.subject << " " << c.key;
}

}  // namespace
}  // namespace warden::identity
