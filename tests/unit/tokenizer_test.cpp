#include "tokenizer/tokenizer.h"

#include <gtest/gtest.h>
#include <simdjson.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace warden::tokenizer {
namespace {

// tests/data/tokenizer/fixture.json: js-tiktoken's own encode and decode (src/tokenizer/gen/
// fixture.mjs), one entry per encoding.
struct Case {
  std::string text;
  std::vector<uint32_t> ids;
};
struct Expected {
  std::map<std::string, uint32_t> special_tokens;
  uint32_t ranks = 0;
  std::vector<Case> texts;
  std::vector<Case> specials;
  struct Token {
    uint32_t id;
    std::string bytes;
    bool partial;  // not UTF-8 on its own (js-tiktoken's TextDecoder says)
  };
  std::vector<Token> tokens;
};

std::vector<Case> read_cases(simdjson::dom::array list) {
  std::vector<Case> out;
  for (simdjson::dom::object c : list) {
    Case k;
    k.text = std::string(std::string_view(c["text"]));
    for (uint64_t id : simdjson::dom::array(c["ids"])) k.ids.push_back(static_cast<uint32_t>(id));
    out.push_back(std::move(k));
  }
  return out;
}

std::string unhex(std::string_view hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2)
    out.push_back(static_cast<char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
  return out;
}

const std::map<std::string, Expected>& fixture() {
  static const std::map<std::string, Expected> all = [] {
    std::map<std::string, Expected> out;
    simdjson::dom::parser parser;
    simdjson::dom::element doc =
        parser.load(std::string(WARDEN_SOURCE_DIR) + "/tests/data/tokenizer/fixture.json");
    for (auto [name, e] : simdjson::dom::object(doc["encodings"])) {
      Expected x;
      for (auto [text, id] : simdjson::dom::object(e["special_tokens"]))
        x.special_tokens[std::string(text)] = static_cast<uint32_t>(uint64_t(id));
      x.ranks = static_cast<uint32_t>(uint64_t(e["ranks"]));
      x.texts = read_cases(e["texts"]);
      x.specials = read_cases(e["specials"]);
      for (simdjson::dom::object t : simdjson::dom::array(e["tokens"]))
        x.tokens.push_back({static_cast<uint32_t>(uint64_t(t["id"])),
                            unhex(std::string_view(t["hex"])), bool(t["partial"])});
      out[std::string(name)] = std::move(x);
    }
    return out;
  }();
  return all;
}

class TokenizerTest : public ::testing::TestWithParam<std::string> {
 protected:
  const Tokenizer& tok() const {
    const Tokenizer* t = find(GetParam());
    EXPECT_NE(t, nullptr);
    return *t;
  }
  const Expected& expected() const { return fixture().at(GetParam()); }
};

TEST(TokenizerFind, KnowsBothEncodingsByTheirExactNameOnly) {
  ASSERT_NE(find("o200k_base"), nullptr);
  ASSERT_NE(find("cl100k_base"), nullptr);
  EXPECT_EQ(find("o200k_base")->name(), "o200k_base");
  EXPECT_EQ(find("cl100k_base")->name(), "cl100k_base");
  EXPECT_EQ(find("o200k_base"), find(std::string("o200k_base")));  // one instance
  EXPECT_EQ(find(""), nullptr);
  EXPECT_EQ(find("O200K_BASE"), nullptr);
  EXPECT_EQ(find("p50k_base"), nullptr);
  EXPECT_EQ(find("cl100k_base "), nullptr);
}

TEST(TokenizerFixture, CoversBothEncodingsAndEveryLanguage) {
  ASSERT_EQ(fixture().size(), 2u);
  for (const auto& [name, e] : fixture()) {
    EXPECT_GE(e.texts.size(), 40u) << name;
    EXPECT_FALSE(e.specials.empty()) << name;
    EXPECT_GE(e.tokens.size(), 100u) << name;
  }
}

TEST_P(TokenizerTest, VocabSizeIsTheHighestSpecialTokenPlusOne) {
  uint32_t highest = 0;
  for (const auto& [text, id] : expected().special_tokens) highest = std::max(highest, id);
  EXPECT_EQ(tok().vocab_size(), highest + 1);
}

TEST_P(TokenizerTest, DecodesWhatJsTiktokenEncoded) {
  for (const Case& c : expected().texts) {
    std::string out;
    ASSERT_TRUE(tok().decode(c.ids, out)) << c.text;
    EXPECT_EQ(out, c.text);
  }
}

TEST_P(TokenizerTest, DecodeAppendsToWhatIsThere) {
  const Case& c = expected().texts.front();
  std::string out = "kept:";
  ASSERT_TRUE(tok().decode(c.ids, out));
  EXPECT_EQ(out, "kept:" + c.text);
}

TEST_P(TokenizerTest, SingleIdsDecodeToTheirBytesEvenPartsOfACharacter) {
  int partial = 0;
  for (const auto& [id, bytes, part] : expected().tokens) {
    std::string out;
    const uint32_t one[] = {id};
    ASSERT_TRUE(tok().decode(one, out)) << id;
    EXPECT_EQ(out, bytes) << id;
    partial += part;
  }
  EXPECT_GT(partial, 0);
}

TEST_P(TokenizerTest, SpecialTokensDecodeToTheirLiteralText) {
  for (const Case& c : expected().specials) {
    std::string out;
    ASSERT_TRUE(tok().decode(c.ids, out)) << c.text;
    EXPECT_EQ(out, c.text);
  }
  for (const auto& [text, id] : expected().special_tokens) {
    std::string out;
    const uint32_t one[] = {id};
    ASSERT_TRUE(tok().decode(one, out)) << text;
    EXPECT_EQ(out, text);
  }
}

TEST_P(TokenizerTest, EmptyInputDecodesToNothing) {
  std::string out = "x";
  EXPECT_TRUE(tok().decode({}, out));
  EXPECT_EQ(out, "x");
}

TEST_P(TokenizerTest, AnIdThatIsNoTokenFailsTheWholeDecode) {
  const auto vocab = static_cast<uint32_t>(tok().vocab_size());
  std::vector<uint32_t> unknown = {vocab, vocab + 1, 1u << 18, UINT32_MAX};
  // The gaps between the last rank and the special tokens, and between special tokens.
  for (uint32_t id = expected().ranks; id < vocab; ++id) {
    bool special = false;
    for (const auto& [text, sid] : expected().special_tokens) special |= sid == id;
    if (!special) unknown.push_back(id);
  }
  ASSERT_GT(unknown.size(), 4u);
  const Case& c = expected().texts.front();
  for (const uint32_t id : unknown) {
    std::vector<uint32_t> ids = c.ids;
    ids.insert(ids.begin() + static_cast<ptrdiff_t>(ids.size() / 2), id);
    std::string out;
    EXPECT_FALSE(tok().decode(ids, out)) << id;
    const uint32_t one[] = {id};
    EXPECT_FALSE(tok().decode(one, out)) << id;
  }
  // The last rank is a token; the one after it is not (checked above unless it is special).
  std::string out;
  const uint32_t last[] = {expected().ranks - 1};
  EXPECT_TRUE(tok().decode(last, out));
}

TEST_P(TokenizerTest, CountsAsManyTokensAsJsTiktokenEncodes) {
  for (const Case& c : expected().texts)
    EXPECT_EQ(tok().count(c.text), c.ids.size()) << "text: " << c.text;
}

TEST_P(TokenizerTest, CountsSpecialTokenTextAsOrdinaryText) {
  for (const Case& c : expected().specials) EXPECT_GT(tok().count(c.text), c.ids.size());
}

TEST_P(TokenizerTest, InvalidUtf8CountsOneTokenPerByteFromTheFirstBadByte) {
  const std::string valid = "Hello, world";
  EXPECT_EQ(tok().count(valid + "\xff\xfe"), tok().count(valid) + 2);
  EXPECT_EQ(tok().count(valid + "\xe4\xb8"), tok().count(valid) + 2);  // a cut character
  EXPECT_EQ(tok().count("\x80"), 1u);
}

TEST_P(TokenizerTest, LongRunsAreCountedWhole) {
  // One pre-tokenizer piece of 256 KiB (letters) and white-space runs as long: the merge is
  // O(n log n) and the matcher does not run out of stack. Every token holds at most 128 bytes
  // (the longest token) and at least one, so the count lies between.
  for (const std::string& s : {std::string(1 << 18, 'a'), std::string(1 << 18, ' ') + "x",
                               std::string(1 << 18, '\n'), std::string(1 << 18, '7')}) {
    const size_t n = tok().count(s);
    EXPECT_GE(n, s.size() / 128) << s.substr(0, 1);
    EXPECT_LT(n, s.size()) << s.substr(0, 1);
  }
}

INSTANTIATE_TEST_SUITE_P(Encodings, TokenizerTest, ::testing::Values("o200k_base", "cl100k_base"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace warden::tokenizer
