#include <gtest/gtest.h>

#include "identity/identity.h"

namespace warden {
namespace {

TEST(Identity, Sha256MatchesKnownVector) {
  const KeyDigest d = sha256("abc");
  EXPECT_EQ(to_hex(d.data(), d.size()),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(Identity, AuthenticatesConfiguredKeysOnly) {
  KeyStore keys;
  keys.add(sha256("sk-alice"),
           Principal{"alice", "person", "research", "internal", {}, {}, {}, {}});
  keys.add(sha256("sk-bot"), Principal{"bot", "service", "", "", {}, {}, {}, {}});
  auto a = keys.authenticate("sk-alice");
  ASSERT_TRUE(a);
  EXPECT_EQ((*a)->id, "alice");
  auto b = keys.authenticate("sk-bot");
  ASSERT_TRUE(b);
  EXPECT_EQ((*b)->id, "bot");
  auto bad = keys.authenticate("sk-alicf");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, ErrorCode::kUnauthenticated);
  auto none = keys.authenticate("");
  ASSERT_FALSE(none);
  EXPECT_NE(none.error().message.find("Missing"), std::string::npos);
}

TEST(Identity, ExtractsBearerOrApiKeyHeader) {
  EXPECT_EQ(presented_key("Bearer sk-1", ""), "sk-1");
  EXPECT_EQ(presented_key("bearer  sk-1 ", ""), "sk-1");
  EXPECT_EQ(presented_key("", "sk-2"), "sk-2");
  EXPECT_EQ(presented_key("Basic abc", "sk-3"), "sk-3");
  EXPECT_EQ(presented_key("Basic abc", ""), "");
}

TEST(Identity, ParsesHexDigests) {
  KeyDigest d{};
  EXPECT_TRUE(parse_hex_digest(std::string(64, 'a'), d));
  EXPECT_EQ(d[0], 0xaa);
  EXPECT_FALSE(parse_hex_digest(std::string(63, 'a'), d));
  EXPECT_FALSE(parse_hex_digest(std::string(64, 'g'), d));
}

}  // namespace
}  // namespace warden
