#include <gtest/gtest.h>
#include <simdjson.h>

#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "api/api.h"
#include "common/json_writer.h"
#include "inspect/answer.h"
#include "inspect/body.h"
#include "inspect/engine_impl.h"
#include "inspect/inspect.h"
#include "inspect/stream.h"
#include "inspect/validators.h"

namespace warden::inspect {

void PrintTo(const Finding& f, std::ostream* os) {
  *os << f.cls << "[" << f.start << "," << f.end << ")";
}

namespace {

bool for_each_sse_event_for_test(const std::string& out,
                                 std::vector<std::pair<std::string, std::string>>& events) {
  return for_each_sse_event(out, [&](std::string_view name, std::string_view data) {
    events.emplace_back(name, data);
    return true;
  });
}

const Engine& engine() {
  static const EnginePtr e = Engine::compile({{"project", {}, {"Bluebird", "Nachtfalke"}}});
  return *e;
}

std::vector<std::pair<std::string, std::string>> found(std::string_view text) {
  Scratch scratch;
  std::vector<Finding> f;
  EXPECT_TRUE(scan(engine(), scratch, text, f));
  std::vector<std::pair<std::string, std::string>> out;
  for (const Finding& x : f)
    out.emplace_back(std::string(x.cls), std::string(text.substr(x.start, x.end - x.start)));
  return out;
}

using Pairs = std::vector<std::pair<std::string, std::string>>;

// The same detectors with every pattern run over every byte: what the gates must not change.
const Engine& ungated() {
  static const EnginePtr e = Engine::compile({{"project", {}, {"Bluebird", "Nachtfalke"}}}, false);
  return *e;
}

std::vector<std::string> corpus_texts() {
  std::vector<std::string> texts;
  std::ifstream in(std::string(WARDEN_SOURCE_DIR) + "/tests/data/inspect/corpus.jsonl");
  simdjson::dom::parser parser;
  std::string line;
  while (std::getline(in, line)) {
    std::string_view text;
    if (parser.parse(line)["text"].get(text) == simdjson::SUCCESS) texts.emplace_back(text);
  }
  return texts;
}

// Texts built to stress the gates: number-like runs with every separator, letters, full-width
// digits, NBSPs, anchors and context words, cut and joined at random.
std::vector<std::string> random_texts(size_t count, unsigned seed) {
  static const std::vector<std::string> pieces = {
      "4111 1111 1111 1111",
      "4111-1111-1111-1111",
      "4111\xc2\xa0"
      "1111\xc2\xa0"
      "1111\xc2\xa0"
      "1111",
      "\xef\xbc\x94\xef\xbc\x91\xef\xbc\x91\xef\xbc\x91",
      "078-05-1120",
      "912-70-1234",
      "DE89 3704 0044 0532 0130 00",
      "GB82WEST12345698765432",
      "T22000129",
      "LZ6311T475",
      "1 85 05 2A 006 084 36",
      "185052A00608436",
      "11010519491231002X",
      "91350100M000100Y43",
      "AB 12 34 56 C",
      "192.168.10.20",
      "fe80::1ff:fe23:4567:890a",
      "::1",
      "2001:db8::",
      "+49 30 12345678",
      "(030) 1234567",
      "jane@acme.example",
      "AKIAZ3MQW7XH2LBNQR4T",
      "password: Tr0ub4dor&3x!",
      "api_key = 'q8Zr4LmN2xVt7KpW9sYb'",
      "TOP SECRET",
      "机密★",
      "ssn",
      "card",
      "iban",
      "swift DEUTDEFF",
      "tel",
      "身份证号",
      "version",
      "Steuer-ID",
      " ",
      " ",
      "-",
      ".",
      ":",
      "/",
      "(",
      ")",
      ",",
      "\n",
      "x",
      "AB",
      "e29b",
      "2024",
      "12",
      "7",
      "WEST",
      "3.14159",
      "v2",
      "ISBN 978-3-16-148410-0",
      "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0."
      "c2lnbmF0dXJlLXZhbHVlLTEyMw"};
  std::mt19937 rng(seed);
  std::vector<std::string> out;
  for (size_t i = 0; i < count; ++i) {
    std::string t;
    const size_t parts = 2 + rng() % 12;
    for (size_t k = 0; k < parts; ++k) {
      std::string piece = pieces[rng() % pieces.size()];
      if (rng() % 4 == 0) piece = piece.substr(0, rng() % (piece.size() + 1));
      t += piece;
    }
    out.push_back(t);
  }
  return out;
}

TEST(Scan, GatesFindWhatEveryPatternOnEveryByteFinds) {
  std::vector<std::string> texts = corpus_texts();
  ASSERT_GT(texts.size(), 600u);
  for (std::string& t : random_texts(20000, 7)) texts.push_back(std::move(t));
  for (const char* path : {"/usr/share/common-licenses/GPL-3", "/usr/include/c++/12/bits/chrono.h",
                           "/usr/include/c++/12/bits/regex_compiler.tcc"}) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    texts.push_back(ss.str());
  }
  Scratch a;
  Scratch b;
  size_t total = 0;
  size_t differ = 0;
  for (const std::string& t : texts) {
    std::vector<Finding> gated;
    std::vector<Finding> reference;
    ASSERT_TRUE(scan(engine(), a, t, gated));
    ASSERT_TRUE(scan(ungated(), b, t, reference));
    total += reference.size();
    if (gated == reference) continue;
    // Every byte the reference finds sensitive, the gated engine finds too. Where they differ,
    // it is in which of two readings of the same bytes wins: start-of-match tracking reports
    // only the leftmost start of a match, and the reference rejects it when that start breaks
    // the boundary ("XTOP SECRET" hides "SECRET", ":2001:db8::1" hides "2001:db8::1"), where
    // the gated engine tries the starts a boundary allows. Such differences are rare.
    auto covered = [&](uint32_t at) {
      return std::any_of(gated.begin(), gated.end(),
                         [&](const Finding& g) { return g.start <= at && at < g.end; });
    };
    for (const Finding& f : reference) {
      if (std::find(gated.begin(), gated.end(), f) != gated.end()) continue;
      ++differ;
      for (uint32_t at = f.start; at < f.end; ++at) {
        ASSERT_TRUE(covered(at)) << t << "\ngated " << ::testing::PrintToString(gated)
                                 << "\nreference " << ::testing::PrintToString(reference);
      }
    }
    for (const Finding& f : gated) {
      if (std::find(reference.begin(), reference.end(), f) == reference.end()) ++differ;
    }
  }
  EXPECT_GT(total, 1000u);  // the texts do carry findings
  EXPECT_LE(differ * 100, total) << differ << " of " << total;
}

// Context words are looked for with a nibble filter (context.cpp): it must find what a plain
// search finds, ignoring ASCII case, whole ASCII words only, at every start and window size,
// near the text's ends too; and a region's check must not drop what a start in it would find.
TEST(Engine, ContextWordsFoundAsAPlainSearchFindsThem) {
  const Engine::Impl& impl = engine().impl();
  ASSERT_GT(impl.word_lists.size(), 10u);
  auto fold = [](std::string s) {
    for (char& c : s) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c | 0x20 : c);
    return s;
  };
  auto letter = [](char c) { return (c | 0x20) >= 'a' && (c | 0x20) <= 'z'; };
  auto plain = [&](std::string_view text, int list, size_t start, size_t bytes) {
    const size_t lo = start > bytes ? start - bytes : 0;
    const std::string window = fold(std::string(text.substr(lo, start - lo)));
    for (uint16_t id : impl.word_lists[static_cast<size_t>(list)].words) {
      const ContextWord& w = impl.words[id];
      for (size_t p = window.find(w.text); p != std::string::npos; p = window.find(w.text, p + 1)) {
        const size_t at = lo + p;
        const size_t end = at + w.text.size();
        if (!w.ascii ||
            ((at == 0 || !letter(text[at - 1])) && (end == start || !letter(text[end]))))
          return true;
      }
    }
    return false;
  };
  std::vector<std::string> pieces;
  for (const ContextWord& w : impl.words) {
    pieces.push_back(w.text);
    std::string upper = w.text;
    for (char& c : upper) c = static_cast<char>(c >= 'a' && c <= 'z' ? c - 32 : c);
    pieces.push_back(upper);
  }
  for (const char* p : {" ", "x", "Ab", "9", ":", "\xc3\xa9", "\xe4\xb8\xad", "\n", "-"})
    pieces.emplace_back(p);
  std::mt19937 rng(11);
  size_t positives = 0;
  for (int round = 0; round < 400; ++round) {
    std::string text;
    const size_t parts = 1 + rng() % 40;
    for (size_t k = 0; k < parts; ++k) {
      std::string piece = pieces[rng() % pieces.size()];
      if (rng() % 5 == 0) piece = piece.substr(rng() % piece.size());
      text += piece;
    }
    // The text ends where an unreadable page starts: a read past its end crashes the test.
    const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    ASSERT_LT(text.size(), page);
    void* pages =
        mmap(nullptr, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ASSERT_NE(pages, MAP_FAILED);
    char* guard = static_cast<char*>(pages) + page;
    ASSERT_EQ(mprotect(guard, page, PROT_NONE), 0);
    std::memcpy(guard - text.size(), text.data(), text.size());
    const std::string_view view(guard - text.size(), text.size());
    struct Unmap {
      void* p;
      size_t n;
      ~Unmap() { munmap(p, n); }
    } unmap{pages, 2 * page};
    const ContextIndex context{&impl, view, 0};
    for (size_t l = 0; l < impl.word_lists.size(); ++l) {
      const int list = static_cast<int>(l);
      for (size_t start = 0; start <= view.size(); ++start) {
        for (size_t bytes : {kNotAfterBytes, kContextBytes}) {
          const bool expected = plain(view, list, start, bytes);
          positives += expected;
          ASSERT_EQ(context.any_before(list, start, bytes), expected)
              << "list " << l << " start " << start << " bytes " << bytes << " in " << text;
        }
      }
      for (size_t lo = 0; lo < view.size(); lo += 1 + rng() % 7) {
        const size_t hi = lo + 1 + rng() % 40;
        bool any = false;
        for (size_t s = lo; s < std::min(hi, view.size() + 1) && !any; ++s)
          any = plain(view, list, s, kContextBytes);
        if (any) {
          ASSERT_TRUE(context.may_precede(list, lo, hi))
              << "list " << l << " [" << lo << ", " << hi << ") in " << text;
        }
      }
    }
  }
  EXPECT_GT(positives, 1000u);
}

// Anchored detectors report an end only where a code point that may follow a finding stands
// (end_stop_class): that class is built from ASCII and the full-width forms alone.
TEST(Engine, BoundariesRejectNoCodePointOutsideAsciiAndFullWidthForms) {
  auto listed = [](uint32_t c) {
    return std::any_of(std::begin(kBoundaryCodePoints), std::end(kBoundaryCodePoints),
                       [&](const auto& r) { return c >= r.first && c <= r.second; });
  };
  for (Boundary b : {Boundary::kNumber, Boundary::kToken, Boundary::kWord}) {
    for (uint32_t c = 1; c <= 0x10FFFF; ++c) {
      if ((c >= 0xD800 && c <= 0xDFFF) || listed(c)) continue;
      ASSERT_TRUE(after_ok(b, utf8_encode(c), 0)) << "U+" << std::hex << c;
    }
  }
}

TEST(Scan, TokensEndWhereTheirBoundaryAllows) {
  // Short regions and regions past kSmallScan are scanned by different databases.
  for (const std::string token :
       {"ghp_Zq8Rk2Lm7Tx4Vb9Nc3Hd6Jf1Gs5Pw0Ya2Ue8",
        "ghp_Zq8Rk2Lm7Tx4Vb9Nc3Hd6Jf1Gs5Pw0Ya2Ue8Kp3Wd5Xm9Qr1Tz6Hb4Lc8Nf2Vg7"
        "Js0Yh5Da3Pe9Uk"}) {
    auto found = [&](const std::string& after) {
      std::vector<Finding> f;
      Scratch s;
      EXPECT_TRUE(scan(engine(), s, "key " + token + after, f));
      return f.size() == 1 && f[0].cls == "secret.github_token" && f[0].start == 4 &&
             f[0].end == 4 + token.size();
    };
    EXPECT_TRUE(found(""));
    EXPECT_TRUE(found(" and more"));
    EXPECT_TRUE(found("\xe3\x80\x82"));       // 。
    EXPECT_TRUE(found("\xc3\xa9t\xc3\xa9"));  // été: a letter, but not one the boundary knows
    EXPECT_TRUE(found("\xf0\x9f\x94\x91"));   // 🔑
    EXPECT_TRUE(found("\xff"));               // an invalid byte counts as a separator
    EXPECT_FALSE(found("\xef\xbc\x94"));      // ４: a full-width digit continues the token
    EXPECT_FALSE(found("_x"));
    EXPECT_FALSE(found("-x"));
  }
}

// Words with Latin-1 letters are found in lower case, and in capitals ("TÉL", "FÜHRERSCHEIN"),
// reported under the index they were given.
TEST(Words, Latin1LettersInCapitalsMatchTheirWord) {
  const WordFilter filter({"tél", "führerschein", "x"});
  auto first = [&](std::string_view text) {
    int got = -1;
    filter.find(text, [&](size_t, uint16_t w) {
      got = w;
      return true;
    });
    return got;
  };
  EXPECT_EQ(first("Tél: 06"), 0);
  EXPECT_EQ(first("TÉL: 06"), 0);
  EXPECT_EQ(first("Nr. FÜHRERSCHEIN"), 1);
  EXPECT_EQ(first("FüHRERSCHEIN"), 1);
  EXPECT_EQ(first("TEL: 06"), -1);     // an accent is not dropped
  EXPECT_EQ(first("T\xc3\xa0L"), -1);  // nor another letter taken for it
}

// Anchored assignment detectors are scanned only where an operator follows the key.
// The word filter (words.h) over texts of every length: every word it reports is there, and it
// misses none a plain search finds — words of one to eleven bytes, any case, at either end,
// in the copied last chunk too.
TEST(Words, FilterFindsWhatAPlainSearchFinds) {
  const std::vector<std::string> words = {"${",       "%s",     "<",     "process.env",
                                          "changeme", "todo",   "null",  "xxxx",
                                          "12345678", "qwerty", "your_", "电话"};
  const WordFilter filter(words);
  const std::vector<std::string> pieces = {"${",    "%S",       "<",    "Process.ENV", "CHANGEme",
                                           "todo",  "nul",      "XXXX", "1234567",     "qwerty",
                                           "Your_", "电话",     "a",    "Z9",          " ",
                                           "-",     "\xe7\x94", "$",    "%",           "xx"};
  std::mt19937 rng(3);
  size_t found = 0;
  for (int round = 0; round < 3000; ++round) {
    std::string text;
    const size_t parts = rng() % 24;
    for (size_t k = 0; k < parts; ++k) text += pieces[rng() % pieces.size()];
    std::string folded = text;
    for (char& c : folded) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c | 0x20 : c);
    std::vector<std::pair<size_t, uint16_t>> expected;
    for (size_t p = 0; p < text.size(); ++p) {
      for (size_t w = 0; w < words.size(); ++w) {
        if (folded.compare(p, words[w].size(), words[w]) == 0) expected.emplace_back(p, w);
      }
    }
    std::vector<std::pair<size_t, uint16_t>> got;
    const bool any = filter.find(text, [&](size_t p, uint16_t w) {
      got.emplace_back(p, w);
      return false;  // all of them
    });
    EXPECT_FALSE(any);
    std::sort(got.begin(), got.end());
    ASSERT_EQ(got, expected) << text;
    found += got.size();
    // The first one stops the search.
    ASSERT_EQ(filter.find(text, [](size_t, uint16_t) { return true; }), !expected.empty());
  }
  EXPECT_GT(found, 5000u);
}

// Findings are put in order by buckets of starts (crowded buckets sorted): the result must be
// what a plain stable sort and the same resolution give, however the starts are spread.
TEST(Engine, OverlapsResolvedAsAfterAPlainSort) {
  const std::string_view classes[] = {"pii.email", "id.us_ssn", "secret.jwt", "fin.iban"};
  auto reference = [](std::vector<Finding> f) {
    std::stable_sort(f.begin(), f.end(), [](const Finding& a, const Finding& b) {
      if (a.start != b.start) return a.start < b.start;
      if (a.end != b.end) return a.end > b.end;
      return a.confidence > b.confidence;
    });
    auto priority = [](std::string_view c) {
      return c.starts_with("secret.") ? 3 : c.starts_with("pii.") ? 1 : 2;
    };
    std::vector<Finding> out;
    for (const Finding& x : f) {
      if (!out.empty() && x.start < out.back().end) {
        Finding& last = out.back();
        const int px = priority(x.cls);
        const int pl = priority(last.cls);
        const uint32_t lx = x.end - x.start;
        const uint32_t ll = last.end - last.start;
        if (px > pl || (px == pl && (lx > ll || (lx == ll && x.confidence > last.confidence))))
          last = x;
        continue;
      }
      out.push_back(x);
    }
    return out;
  };
  std::mt19937 rng(5);
  for (int round = 0; round < 300; ++round) {
    std::vector<Finding> f;
    const size_t runs = 1 + rng() % 8;
    // Spread over a long text, or crowded into a short stretch of it, or both.
    const uint32_t spread = round % 3 == 0 ? 1u << 20 : 2048;
    for (size_t r = 0; r < runs; ++r) {
      const size_t count = rng() % 300;
      std::vector<Finding> run;
      for (size_t k = 0; k < count; ++k) {
        const uint32_t start = static_cast<uint32_t>(rng() % spread);
        // Every other round, spans and confidences tie often: the order of ties decides.
        const bool ties = round % 2 == 0;
        const uint32_t length =
            ties ? 4 + 4 * static_cast<uint32_t>(rng() % 2) : 1 + static_cast<uint32_t>(rng() % 40);
        run.push_back(
            {classes[rng() % 4], start, start + length, ties ? 0.5f : (rng() % 3) / 2.0f});
      }
      std::sort(run.begin(), run.end(),
                [](const Finding& a, const Finding& b) { return a.start < b.start; });
      f.insert(f.end(), run.begin(), run.end());
    }
    if (round % 3 == 1) f.push_back({classes[0], 5u << 20, (5u << 20) + 8, 0.5f});
    const std::vector<Finding> expected = reference(f);
    resolve_overlaps(f);
    ASSERT_EQ(f.size(), expected.size()) << "round " << round;
    for (size_t i = 0; i < f.size(); ++i) {
      ASSERT_EQ(f[i], expected[i]) << "round " << round << " finding " << i;
      ASSERT_EQ(f[i].confidence, expected[i].confidence) << "round " << round;
    }
  }
}

TEST(Engine, AssignmentOperatorMustFollowTheKey) {
  auto after = [](std::string_view text, std::string_view key) {
    return assignment_may_follow(text, text.find(key) + key.size());
  };
  EXPECT_TRUE(after("password=hunter22", "password"));
  EXPECT_TRUE(after("password: 'x'", "pass"));  // the rest of a longer key is skipped
  EXPECT_TRUE(after("API_KEY_PROD = abc", "API_KEY"));
  EXPECT_TRUE(after("\"secret\" : \"v\"", "secret"));
  EXPECT_TRUE(after("mot de passe : v", "mot de passe"));
  EXPECT_TRUE(
      after("\xe5\xaf\x86\xe7\xa0\x81\xef\xbc\x9av", "\xe5\xaf\x86\xe7\xa0\x81"));  // 密码：
  EXPECT_TRUE(after("token =>", "token"));
  EXPECT_TRUE(after("the password", "password"));  // the text ends: a stream may go on
  EXPECT_TRUE(after("x \xef\xbc", "x"));           // a colon still arriving
  EXPECT_FALSE(after("pass the salt", "pass"));
  EXPECT_FALSE(after("token economy: fine", "token"));
  EXPECT_FALSE(after("password\n=x", "password"));
}

TEST(Engine, DetectorCacheStaysBoundedAndKeepsWhatIsInUse) {
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("warden-cache-test-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const auto old = std::filesystem::file_time_type::clock::now() - std::chrono::hours(24);
  for (int i = 0; i < 600; ++i) {
    const auto f = dir / ("detectors-stale" + std::to_string(i) + ".hsdb");
    std::ofstream(f) << "x";
    std::filesystem::last_write_time(f, old);
  }
  std::ofstream(dir / "unrelated.txt") << "kept";
  const char* before = std::getenv("WARDEN_CACHE_DIR");
  const std::string saved = before != nullptr ? before : "";
  ::setenv("WARDEN_CACHE_DIR", dir.c_str(), 1);
  const EnginePtr e = Engine::compile();
  size_t stale = 0;
  size_t fresh = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind("detectors-stale", 0) == 0)
      ++stale;
    else if (name.rfind("detectors-", 0) == 0)
      ++fresh;
  }
  EXPECT_LE(stale + fresh, 512u);
  EXPECT_GT(fresh, 50u);  // the engine's own databases, written now, are kept
  EXPECT_LT(stale, 600u);
  EXPECT_TRUE(std::filesystem::exists(dir / "unrelated.txt"));
  // A second compile loads every database from the pruned cache.
  const EnginePtr again = Engine::compile();
  Scratch scratch;
  std::vector<Finding> f;
  ASSERT_TRUE(scan(*again, scratch, "card 4111 1111 1111 1111", f));
  EXPECT_EQ(f.size(), 1u);
  if (before != nullptr) {
    ::setenv("WARDEN_CACHE_DIR", saved.c_str(), 1);
  } else {
    ::unsetenv("WARDEN_CACHE_DIR");
  }
  std::filesystem::remove_all(dir);
}

// The cache directory is named by WARDEN_CACHE_DIR for the test's duration.
class CacheDir {
 public:
  explicit CacheDir(const std::string& name)
      : dir_(std::filesystem::temp_directory_path() / (name + std::to_string(::getpid()))) {
    std::filesystem::remove_all(dir_);
    const char* before = std::getenv("WARDEN_CACHE_DIR");
    if (before != nullptr) saved_ = before;
    had_ = before != nullptr;
  }
  ~CacheDir() {
    if (had_) {
      ::setenv("WARDEN_CACHE_DIR", saved_.c_str(), 1);
    } else {
      ::unsetenv("WARDEN_CACHE_DIR");
    }
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  void use(const std::filesystem::path& p) { ::setenv("WARDEN_CACHE_DIR", p.c_str(), 1); }
  const std::filesystem::path& path() const { return dir_; }

 private:
  std::filesystem::path dir_;
  std::string saved_;
  bool had_ = false;
};

std::string read_all(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// What another local user able to write the cache would plant: a database of the right mode
// that matches nothing.
std::string never_matching_database(unsigned mode) {
  hs_database_t* db = nullptr;
  hs_compile_error_t* err = nullptr;
  EXPECT_EQ(hs_compile("zq7xv9-never-matches", 0, mode, nullptr, &db, &err), HS_SUCCESS);
  char* bytes = nullptr;
  size_t size = 0;
  EXPECT_EQ(hs_serialize_database(db, &bytes, &size), HS_SUCCESS);
  std::string out(bytes, size);
  std::free(bytes);
  hs_free_database(db);
  return out;
}

// Whether a cache file holds a streaming-mode database (with or without a digest before it).
bool holds_stream_database(const std::string& bytes) {
  for (size_t skip : {size_t{0}, size_t{32}}) {
    if (bytes.size() <= skip) continue;
    char* info = nullptr;
    if (hs_serialized_database_info(bytes.data() + skip, bytes.size() - skip, &info) ==
        HS_SUCCESS) {
      const bool stream = std::string(info).find("STREAM") != std::string::npos;
      std::free(info);
      return stream;
    }
  }
  return false;
}

TEST(Engine, APlantedCacheDatabaseIsRejectedAndCompiledAgain) {
  CacheDir cache("warden-cache-plant-");
  cache.use(cache.path());
  { const EnginePtr first = Engine::compile(); }
  const std::string block = never_matching_database(HS_MODE_BLOCK);
  const std::string stream = never_matching_database(HS_MODE_STREAM);
  size_t planted = 0;
  for (const auto& entry : std::filesystem::directory_iterator(cache.path())) {
    if (entry.path().extension() != ".hsdb") continue;
    const bool is_stream = holds_stream_database(read_all(entry.path()));
    std::ofstream(entry.path(), std::ios::binary | std::ios::trunc) << (is_stream ? stream : block);
    ++planted;
  }
  ASSERT_GT(planted, 50u);
  const EnginePtr again = Engine::compile();
  Scratch scratch;
  std::vector<Finding> f;
  ASSERT_TRUE(scan(*again, scratch, "mail alice@example.com, card 4111 1111 1111 1111", f));
  ASSERT_EQ(f.size(), 2u);
  EXPECT_EQ(f[0].cls, "pii.email");
  EXPECT_EQ(f[1].cls, "fin.credit_card");
  // Each planted file was replaced by the database compiled again.
  for (const auto& entry : std::filesystem::directory_iterator(cache.path())) {
    if (entry.path().extension() != ".hsdb") continue;
    const std::string bytes = read_all(entry.path());
    EXPECT_NE(bytes, block) << entry.path();
    EXPECT_NE(bytes, stream) << entry.path();
  }
}

TEST(Engine, TheDetectorCacheDirectoryIsPrivate) {
  CacheDir cache("warden-cache-private-");
  std::filesystem::create_directories(cache.path() / "open");
  std::filesystem::permissions(cache.path() / "open", std::filesystem::perms::all);
  cache.use(cache.path() / "open");
  { const EnginePtr e = Engine::compile(); }
  struct stat st {};
  ASSERT_EQ(::lstat((cache.path() / "open").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);  // the user's own directory, made private
  EXPECT_FALSE(std::filesystem::is_empty(cache.path() / "open"));
  // A link is not followed: nothing is written where it points.
  std::filesystem::create_directories(cache.path() / "elsewhere");
  std::filesystem::create_directory_symlink(cache.path() / "elsewhere", cache.path() / "link");
  cache.use(cache.path() / "link");
  const EnginePtr e = Engine::compile();
  EXPECT_TRUE(std::filesystem::is_empty(cache.path() / "elsewhere"));
  Scratch scratch;
  std::vector<Finding> f;
  ASSERT_TRUE(scan(*e, scratch, "mail alice@example.com", f));  // compiled without a cache
  EXPECT_EQ(f.size(), 1u);
}

// The inspection a request may cause is bounded by the work its text makes the detectors do;
// the count depends on the text alone.
TEST(Scratch, InspectionWorkIsBoundedAndCountedTheSameEveryTime) {
  const EnginePtr e = Engine::compile();
  std::string groups;
  while (groups.size() < 64 * 1024) groups += "1234 ";
  Scratch scratch;
  std::vector<Finding> f;
  ASSERT_TRUE(scan(*e, scratch, groups, f));  // unlimited by default
  scratch.limit_work(UINT64_MAX);
  ASSERT_TRUE(scan(*e, scratch, groups, f));
  const uint64_t work = scratch.work();
  EXPECT_GT(work, groups.size());  // number groups are candidates: more than one pass
  scratch.limit_work(UINT64_MAX);
  ASSERT_TRUE(scan(*e, scratch, groups, f));
  EXPECT_EQ(scratch.work(), work);
  scratch.limit_work(work - 1);
  EXPECT_FALSE(scan(*e, scratch, groups, f));
  EXPECT_TRUE(scratch.work_exceeded());
  scratch.limit_work(work);
  EXPECT_TRUE(scan(*e, scratch, groups, f));
  EXPECT_FALSE(scratch.work_exceeded());
}

TEST(Validators, Checksums) {
  EXPECT_TRUE(credit_card_ok("4111 1111 1111 1111"));
  EXPECT_FALSE(credit_card_ok("4111 1111 1111 1112"));  // Luhn
  EXPECT_FALSE(credit_card_ok("4111-1111 1111-1111"));  // mixed separators
  EXPECT_FALSE(credit_card_ok("9111111111111111"));     // no IIN
  EXPECT_TRUE(iban_ok("DE89 3704 0044 0532 0130 00"));
  EXPECT_FALSE(iban_ok("DE88 3704 0044 0532 0130 00"));
  EXPECT_FALSE(iban_ok("DE89 3704 0044 0532 0130 0"));  // length for DE
  EXPECT_TRUE(us_ssn_ok("536-22-1234"));
  EXPECT_FALSE(us_ssn_ok("666-22-1234"));
  EXPECT_FALSE(us_ssn_ok("536-00-1234"));
  EXPECT_FALSE(us_ssn_ok("078-05-1120"));
  EXPECT_TRUE(de_tax_id_ok("86095742719"));  // Bundeszentralamt's example number
  EXPECT_FALSE(de_tax_id_ok("86095742718"));
  EXPECT_FALSE(de_tax_id_ok("11111111111"));
  EXPECT_TRUE(fr_nir_ok("1 84 12 76 451 089 46"));
  EXPECT_FALSE(fr_nir_ok("1 84 12 76 451 089 47"));
  EXPECT_TRUE(cn_resident_id_ok("11010519491231002X"));
  EXPECT_FALSE(cn_resident_id_ok("110105194912310021"));
  EXPECT_FALSE(cn_resident_id_ok("11010519490231002X"));  // 31 February... wrong check anyway
  EXPECT_TRUE(cn_social_credit_code_ok("91350100M000100Y43"));
  EXPECT_FALSE(cn_social_credit_code_ok("91350100M000100Y44"));
  EXPECT_TRUE(uk_nino_ok("AB 12 34 56 C"));
  EXPECT_FALSE(uk_nino_ok("GB 12 34 56 C"));
  EXPECT_TRUE(de_id_card_ok("T220001293"));
  EXPECT_FALSE(de_id_card_ok("T220001294"));
  EXPECT_TRUE(ipv4_ok("192.168.1.20"));
  EXPECT_FALSE(ipv4_ok("192.168.1.256"));
  EXPECT_FALSE(ipv4_ok("3.1.2.0"));
  EXPECT_TRUE(ipv6_ok("2a00:1450:4001:f3::200e"));
  EXPECT_FALSE(ipv6_ok("2001:db8::8a2e:370:7334"));  // documentation
  EXPECT_FALSE(ipv6_ok("a::b"));
  EXPECT_TRUE(jwt_ok("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig"));
  EXPECT_FALSE(jwt_ok("eyJmb28iOiJiYXIifQ.eyJzdWIiOiIxIn0.sig"));  // header without alg
}

// The cluster pass hands the number validators their candidate's letters and digits normalised
// once per cluster: both forms must agree.
TEST(Validators, NormalisedFormsAgree) {
  // Every detector's pair, as the engine uses them (not a copy of the list).
  std::vector<std::pair<Validator, AlnumValidator>> validators;
  for (const DetectorSpec& spec : builtin_detectors()) {
    const std::pair<Validator, AlnumValidator> pair{spec.validate, spec.validate_alnum};
    if (pair.second != nullptr &&
        std::find(validators.begin(), validators.end(), pair) == validators.end())
      validators.push_back(pair);
  }
  ASSERT_GE(validators.size(), 11u);  // cards, IBAN, SSN, ITIN, tax id, ID card, NIR, CN ×3, NINO
  const char* candidates[] = {"4111 1111 1111 1111",
                              "4111-1111-1111-1111",
                              "4111 1111-1111 1111",
                              "DE89 3704 0044 0532 0130 00",
                              "DE89370400440532013001",
                              "764-69-1447",
                              "900-70-1234",
                              "75642103968",
                              "L01X00T471",
                              "1850578006048 23",
                              "2 85 12 2A 006 048 45",
                              "440305198606198637",
                              "44030519860619863X",
                              "OE 81 72 85 A",
                              "91350100M000100Y43",
                              "\xef\xbc\x94\xef\xbc\x91\xef\xbc\x91\xef\xbc\x91 1111 1111 1111",
                              "123",
                              ""};
  size_t accepted = 0;
  for (const auto& [one, two] : validators) {
    for (const char* c : candidates) {
      const Alnum a = normalize_alnum(c);
      EXPECT_EQ(one(c), two(c, a.view())) << c;
      accepted += one(c) ? 1 : 0;
    }
  }
  EXPECT_GE(accepted, 8u);  // the list holds valid identifiers, not only rejects
}

TEST(Validators, PhoneNumbersByNumberingPlan) {
  // Written in their plan's grouping: a phone number without a word saying so.
  for (const char* p :
       {"(212) 734-0987",
        "917-234-5678",
        "512.734.0987",
        "917 234 5678",
        "1-917-234-5678",
        "(512)959-2448",
        "0171/1234567",
        "(040) 1234567",
        "030-1234567",
        "0711 731 9626",
        "06 12 34 56 78",
        "06-12-34-56-78",
        "06.12.34.56.78",
        "138 1234 5678",
        "138-1234-5678",
        "07476 255028",
        "(020) 8110 4260",
        "0512-45798034",
        "0033 1 84 56 62 60",
        "0049 151 48801769",
        "0086 158 9887 6472",
        "035 395703",
        "\xef\xbc\x90\xef\xbc\x97 \xef\xbc\x93\xef\xbc\x94 \xef\xbc\x93\xef\xbc\x90 "
        "\xef\xbc\x98\xef\xbc\x93 \xef\xbc\x90\xef\xbc\x94",  // full-width FR
        "512\u2011893\u20118068",
        "06\u00a012\u00a034\u00a056\u00a078",
        "0179\u201325909430"})
    EXPECT_EQ(phone_form(p), PhoneForm::kGrouped) << p;
  // Valid in a plan but a bare run of digits: only after a context word.
  for (const char* p : {"0612345678", "13812345678", "4168570935", "07467132848", "015738020390"})
    EXPECT_EQ(phone_form(p), PhoneForm::kBare) << p;
  // Dates, versions, order numbers, ISBNs, invalid NANP area codes and exchanges.
  for (const char* p : {"12.03.1988", "2024-11-16", "10.0.19045.2965", "978-3-16-148410-0",
                        "123-456-7890", "212-111-4567", "411-234-5678", "2024 0815 4711",
                        "0000 000000", "00 12 34 56 78", "012 345678", "035 39 57 03",
                        "06 12 34 56 7", "1.2.3.4.5.6", "4711-0815-1234-5678", "0099 123 456 789"})
    EXPECT_EQ(phone_form(p), PhoneForm::kNone) << p;
}

TEST(Validators, IpAddressesByWhatTheyReveal) {
  EXPECT_EQ(ipv4_kind("23.194.212.138"), IpKind::kPublic);
  EXPECT_EQ(ipv4_kind("8.8.8.8"), IpKind::kPublic);
  for (const char* p : {"10.1.2.3", "172.16.0.9", "172.31.255.1", "192.168.1.20", "100.64.1.1"})
    EXPECT_EQ(ipv4_kind(p), IpKind::kPrivate) << p;
  for (const char* p : {"127.0.0.1", "127.0.1.1", "0.0.0.0", "255.255.255.0", "255.255.255.255",
                        "192.0.2.7", "198.51.100.1", "203.0.113.9", "3.1.2.0", "172.32.0.1x"})
    EXPECT_NE(ipv4_kind(p), IpKind::kPrivate) << p;
  for (const char* p : {"127.0.0.1", "0.0.0.0", "255.255.255.0", "192.0.2.7", "3.1.2.0"})
    EXPECT_EQ(ipv4_kind(p), IpKind::kNone) << p;
  EXPECT_EQ(ipv6_kind("2a00:1450:4001:f3::200e"), IpKind::kPublic);
  EXPECT_EQ(ipv6_kind("fe80::7e76:43db:942f:9f9e"), IpKind::kPrivate);
  EXPECT_EQ(ipv6_kind("fdee:dda:aedf:cac::ea"), IpKind::kPrivate);  // hex letters only
  for (const char* p :
       {"::1", "::", "0:0:0:0:0:0:0:1", "2001:db8::1", "::ffff:127.0.0.1", "dead::beef", "a::b"})
    EXPECT_EQ(ipv6_kind(p), IpKind::kNone) << p;
}

TEST(Validators, EntropyInBitsPerByte) {
  EXPECT_DOUBLE_EQ(shannon_entropy(""), 0);
  EXPECT_DOUBLE_EQ(shannon_entropy("aaaa"), 0);
  EXPECT_DOUBLE_EQ(shannon_entropy("aabb"), 1);
  EXPECT_DOUBLE_EQ(shannon_entropy("abcdefgh"), 3);
  // Past 255 bytes the counts no longer fit in a byte: the same value either way.
  std::string all;
  for (int i = 0; i < 256; ++i) all += static_cast<char>(i);
  EXPECT_DOUBLE_EQ(shannon_entropy(all), 8);
  EXPECT_DOUBLE_EQ(shannon_entropy(all + all), 8);
  EXPECT_NEAR(shannon_entropy(std::string(300, 'a') + std::string(300, 'b')), 1, 1e-12);
}

TEST(Validators, Placeholders) {
  for (const char* p : {"${DB_PASSWORD}", "changeme", "<YOUR_KEY>", "xxxxxxxx", "your-secret-here",
                        "{{ vault_pwd }}", "$(cat /run/secrets/db)"})
    EXPECT_TRUE(looks_like_placeholder(p)) << p;
  EXPECT_FALSE(looks_like_placeholder("Xk7#pQ2!mnZ"));
  EXPECT_FALSE(secret_token_ok("ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"));
  EXPECT_FALSE(aws_access_key_ok("AKIAIOSFODNN7EXAMPLE"));
}

TEST(Scan, FindsAcrossLanguagesWithExactSpans) {
  EXPECT_EQ(found("Mail jane.doe@acme-corp.com today"),
            (Pairs{{"pii.email", "jane.doe@acme-corp.com"}}));
  EXPECT_EQ(found("身份证号11010519491231002X请核对"),
            (Pairs{{"id.cn_resident_id", "11010519491231002X"}}));
  EXPECT_EQ(found("IBAN: DE89370400440532013000."),
            (Pairs{{"fin.iban", "DE89370400440532013000"}}));
  EXPECT_EQ(found("password = \"Xk7#pQ2!mnZ\""),
            (Pairs{{"secret.password_assignment", "Xk7#pQ2!mnZ"}}));
  EXPECT_EQ(found("CONFIDENTIAL\nQuarterly plan"),
            (Pairs{{"marker.classification", "CONFIDENTIAL"}}));
  EXPECT_EQ(found("Codename BLUEBIRD ships in May"), (Pairs{{"custom.project", "BLUEBIRD"}}));
}

TEST(Scan, FullWidthDigitsAndNoBreakSpaces) {
  const std::string wide = "身份证：１１０１０５１９４９１２３１００２Ｘ";
  const auto f = found(wide);
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0].first, "id.cn_resident_id");
  const std::string nbsp = "Karte 4111\u00a01111\u00a01111\u00a01111 bitte";
  EXPECT_EQ(found(nbsp), (Pairs{{"fin.credit_card", "4111\u00a01111\u00a01111\u00a01111"}}));
}

TEST(Scan, SeparatorsPeopleTypeBetweenGroups) {
  // No-break, narrow no-break, thin, figure and ideographic spaces; hyphens, en and em dashes,
  // the full-width hyphen; dots where the format uses them. The finding keeps the bytes.
  for (const std::string v :
       {"4111\u00a01111\u00a01111\u00a01111", "4111\u202f1111\u202f1111\u202f1111",
        "4111\u20091111\u20091111\u20091111", "4111\u20071111\u20071111\u20071111",
        "4111\u30001111\u30001111\u30001111", "4111\u20111111\u20111111\u20111111",
        "4111\u20101111\u20101111\u20101111", "4111\u20131111\u20131111\u20131111",
        "4111\u20141111\u20141111\u20141111", "4111\uff0d1111\uff0d1111\uff0d1111",
        "4111.1111.1111.1111", "3782\u2011822463\u201110005"})
    EXPECT_EQ(found("Karte " + v + " bitte"), (Pairs{{"fin.credit_card", v}})) << v;
  for (const std::string v : {"DE89-3704-0044-0532-0130-00", "DE89.3704.0044.0532.0130.00",
                              "DE89\u20113704\u20110044\u20110532\u20110130\u201100"})
    EXPECT_EQ(found("IBAN " + v), (Pairs{{"fin.iban", v}})) << v;
  EXPECT_EQ(found("SSN 536\u201322\u20131234"), (Pairs{{"id.us_ssn", "536\u201322\u20131234"}}));
  EXPECT_EQ(found("身份证号 110105\u300019491231\u3000002X"),
            (Pairs{{"id.cn_resident_id", "110105\u300019491231\u3000002X"}}));
}

TEST(Scan, IdentifiersInFieldsAndFormsPeopleUse) {
  EXPECT_EQ(found("545808,2024-06-13,Malte Jansen,6759 5879 3767 6816 555,2046.75,EUR"),
            (Pairs{{"fin.credit_card", "6759 5879 3767 6816 555"}}));
  // The Luhn-valid digits of an (invalid) IBAN are no card number.
  EXPECT_TRUE(found("Die IBAN FR95 4504 4310 4970 1519 6833 148 wird abgelehnt").empty());
  EXPECT_EQ(found("Mon numéro de sécurité sociale est le 1.84.12.76.451.089.46."),
            (Pairs{{"id.fr_nir", "1.84.12.76.451.089.46"}}));
  // An ID card serial of letters only, after a word that says what it is.
  EXPECT_EQ(found("Personalausweis XGNVPHCRK6 vorgelegt"),
            (Pairs{{"id.de_id_card", "XGNVPHCRK6"}}));
  EXPECT_TRUE(found("Build XGNVPHCRK6 failed").empty());
  const std::string wide =
      "\xef\xbc\x99\xef\xbc\x91\xef\xbc\x93\xef\xbc\x95\xef\xbc\x90\xef\xbc\x91\xef\xbc"
      "\x90\xef\xbc\x90\xef\xbc\xad\xef\xbc\x90\xef\xbc\x90\xef\xbc\x90\xef\xbc\x91\xef"
      "\xbc\x90\xef\xbc\x90\xef\xbc\xb9\xef\xbc\x94\xef\xbc\x93";  // 91350100M000100Y43
  EXPECT_EQ(found("纳税人识别号 " + wide), (Pairs{{"id.cn_social_credit_code", wide}}));
  // A tracking number that happens to pass the mod-31 check.
  EXPECT_TRUE(found("tracking YT2326974099165074 delivered").empty());
}

TEST(Scan, KeysInSubscriptsAndSecretsOfLettersAlone) {
  EXPECT_EQ(found("config['SENDGRID_API_KEY'] = 'GsWoHUYYHbaOlvzCCXMJBONq'"),
            (Pairs{{"secret.generic", "GsWoHUYYHbaOlvzCCXMJBONq"}}));
  for (const char* t : {"api_key = \"abcdefghijklmnopqrstuvw\"", "token = \"getElementById\"",
                        "secret: ExampleSecretValueHere"})
    EXPECT_TRUE(found(t).empty()) << t;
}

TEST(Scan, PhoneNumbersWithAndWithoutContext) {
  EXPECT_EQ(found("Text (613) 652-4770 that the parcel is ready."),
            (Pairs{{"pii.phone", "(613) 652-4770"}}));
  EXPECT_EQ(found("The summary is long. 917-864-1086"), (Pairs{{"pii.phone", "917-864-1086"}}));
  EXPECT_EQ(found("TÉL 0612345678"), (Pairs{{"pii.phone", "0612345678"}}));
  EXPECT_EQ(found("手机号(0755) 71052708。"), (Pairs{{"pii.phone", "(0755) 71052708"}}));
  EXPECT_EQ(found("Le client a laissé 06.96.75.71.01 sur le formulaire."),
            (Pairs{{"pii.phone", "06.96.75.71.01"}}));
  // A bare run of digits is a phone number only after a context word, in any language.
  EXPECT_EQ(found("Please ring back, call 4168570935."), (Pairs{{"pii.phone", "4168570935"}}));
  EXPECT_EQ(found("Rückruf unter 015738020390."), (Pairs{{"pii.phone", "015738020390"}}));
  EXPECT_EQ(found("Tél. 0612345678"), (Pairs{{"pii.phone", "0612345678"}}));
  for (const char* t :
       {"order 4168570935 shipped", "created_at=1623117275", "Geburtsdatum: 12.03.1988",
        "ISBN 978-3-16-148410-0", "version 10.0.19045.2965", "Bestellung 2024-0815-4711",
        "tracking 0612345678 delivered"})
    EXPECT_TRUE(found(t).empty()) << t << " -> " << (found(t).empty() ? "" : found(t)[0].second);
  // In CSV fields: a card number between commas.
  EXPECT_EQ(found("550730,2024-08-15,Camille Laurent,4437436261891796239,1988.45,EUR"),
            (Pairs{{"fin.credit_card", "4437436261891796239"}}));
}

TEST(Scan, AddressesMarkingsAndKeysAsTheyStand) {
  EXPECT_EQ(found("The dashboard at http://85.132.43.74:9090/ is down"),
            (Pairs{{"pii.ip_address", "85.132.43.74"}}));
  EXPECT_EQ(found("host,ip,role\nweb-01,121.0.188.198,frontend"),
            (Pairs{{"pii.ip_address", "121.0.188.198"}}));
  EXPECT_EQ(found("server 192.168.23.103:8080 backup;"),
            (Pairs{{"pii.ip_address.private", "192.168.23.103"}}));
  for (const char* t : {"listen 127.0.0.1:443", "bind ::1 and 0.0.0.0", "netmask 255.255.255.0",
                        "see 192.0.2.15 and 2001:db8::1", "build 6.3.9600.17", "v2.1.0.3"})
    EXPECT_TRUE(found(t).empty()) << t;
  EXPECT_EQ(found("-- SECRET//NOFORN --\nbody"),
            (Pairs{{"marker.classification", "SECRET//NOFORN"}}));
  EXPECT_EQ(found("Page 3 of 7 \u2014 STRENG VERTRAULICH"),
            (Pairs{{"marker.classification", "STRENG VERTRAULICH"}}));
  EXPECT_EQ(found("-- VS \u2013 NUR FÜR DEN DIENSTGEBRAUCH --"),
            (Pairs{{"marker.classification", "VS \u2013 NUR FÜR DEN DIENSTGEBRAUCH"}}));
  EXPECT_EQ(found("密级：机密\n正文"), (Pairs{{"marker.classification", "机密"}}));
  for (const char* t : {"Grandma's secret recipe", "Bitte vertraulich behandeln.",
                        "The SECRET ingredient is time.", "这道菜的秘密在于火候。"})
    EXPECT_TRUE(found(t).empty()) << t;
  EXPECT_TRUE(
      found("-----BEGIN RSA PRIVATE KEY-----\n<key>\n-----END RSA PRIVATE KEY-----").empty());
  EXPECT_TRUE(found("git remote add origin git@gitlab.com:acme/web.git").empty());
  EXPECT_TRUE(found("icon@2x.png and logo@3x.png").empty());
  // IPv6 addresses without a decimal digit: the pass starts at a hex group before a colon.
  EXPECT_EQ(found("peer fdfc:b:ffee:cf::eecb is up"),
            (Pairs{{"pii.ip_address.private", "fdfc:b:ffee:cf::eecb"}}));
  EXPECT_EQ(found("link FEAB:C:DD::CD on eth0"),
            (Pairs{{"pii.ip_address.private", "FEAB:C:DD::CD"}}));
  for (const char* t : {"std::vector<std::string> a::b", "Note: fd, cafe:bad and Feb: ok",
                        "ratio CF::num / CF::den", "{\"fd\":\"fe\"}", "see abcdef:ab:cd:ee::cd"})
    EXPECT_TRUE(found(t).empty()) << t;
}

// Disguised values (disguise.h): invisible characters inside, digits of other scripts, an
// encoded or spelled-out '@'. The finding covers the original bytes, invisible ones included.
TEST(Scan, DisguisedValuesAreFoundOnTheirOriginalBytes) {
  const std::string zw = "\xe2\x80\x8b";  // U+200B zero-width space
  EXPECT_EQ(found("card 4111" + zw + "1111" + zw + "1111" + zw + "1111 ok"),
            (Pairs{{"fin.credit_card", "4111" + zw + "1111" + zw + "1111" + zw + "1111"}}));
  EXPECT_EQ(found("key AKIA\xc2\xadZ3MQW7XH2LBNQR4T."),
            (Pairs{{"secret.aws_access_key", "AKIA\xc2\xadZ3MQW7XH2LBNQR4T"}}));
  // Arabic-Indic digits: ٤١١١١١١١١١١١١١١١
  EXPECT_EQ(
      found("card \xd9\xa4\xd9\xa1\xd9\xa1\xd9\xa1\xd9\xa1\xd9\xa1\xd9\xa1\xd9\xa1\xd9\xa1\xd9"
            "\xa1\xd9\xa1\xd9\xa1\xd9\xa1\xd9\xa1\xd9\xa1\xd9\xa1 ok")
          .size(),
      1u);
  EXPECT_EQ(found("mail jane.doe&#64;acme.com now"),
            (Pairs{{"pii.email", "jane.doe&#64;acme.com"}}));
  EXPECT_EQ(found("mail jane.doe%40acme.com now"), (Pairs{{"pii.email", "jane.doe%40acme.com"}}));
  EXPECT_EQ(found("mail jane.doe [at] acme [dot] com now"),
            (Pairs{{"pii.email", "jane.doe [at] acme [dot] com"}}));
  EXPECT_EQ(found("ssn 536\xe2\x80\x92"
                  "22\xe2\x80\x92"
                  "8372"),
            (Pairs{{"id.us_ssn",
                    "536\xe2\x80\x92"
                    "22\xe2\x80\x92"
                    "8372"}}));
  // A marker alone changes nothing; a value found plainly is found once.
  for (const char* t : {"see [at] the top (dot) com", "100%40 off",
                        "a\xe2\x80\x8b"
                        "b"})
    EXPECT_TRUE(found(t).empty()) << t;
  EXPECT_EQ(found("jane@acme.com and 4111" + zw + "1111" + zw + "1111" + zw + "1111").size(), 2u);
}

// Disguises a person pasting or a model emitting uses for every validated financial, secret and
// e-mail class: other group separators ('_', '/', '.'), every digit spaced, full-width letters
// and digits, Cyrillic and Greek letters that look Latin inside a token, a full-width '@' or '.'.
// Each is found once, and the finding covers the whole disguised value.
TEST(Scan, DisguisedValuesOfEveryValidatedClassAreFoundWhole) {
  struct Case {
    const char* cls;
    std::string value;
  };
  const std::string fw_at = "\xef\xbc\xa0";   // U+FF20 full-width '@'
  const std::string fw_dot = "\xef\xbc\x8e";  // U+FF0E full-width '.'
  const std::vector<Case> cases = {
      {"fin.credit_card", "4111_1111_1111_1111"},
      {"fin.credit_card", "4111.1111.1111.1111"},
      {"fin.credit_card", "4111/1111/1111/1111"},
      {"fin.credit_card", "4 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1"},
      {"fin.credit_card", "5 5 5 5 5 5 5 5 5 5 5 5 4 4 4 4"},
      // ４１１１-１１１１-１１１１-１１１１ with full-width digits and hyphens
      {"fin.credit_card",
       "\xef\xbc\x94\xef\xbc\x91\xef\xbc\x91\xef\xbc\x91\xef\xbc\x8d\xef\xbc\x91\xef\xbc\x91\xef"
       "\xbc\x91\xef\xbc\x91\xef\xbc\x8d\xef\xbc\x91\xef\xbc\x91\xef\xbc\x91\xef\xbc\x91\xef\xbc"
       "\x8d\xef\xbc\x91\xef\xbc\x91\xef\xbc\x91\xef\xbc\x91"},
      {"fin.iban", "DE89_3704_0044_0532_0130_00"},
      {"fin.iban", "DE89.3704.0044.0532.0130.00"},
      {"fin.iban", "DE89/3704/0044/0532/0130/00"},
      // ＤＥ８９３７０４００４４０５３２０１３０００: full-width letters and digits
      {"fin.iban",
       "\xef\xbc\xa4\xef\xbc\xa5\xef\xbc\x98\xef\xbc\x99\xef\xbc\x93\xef\xbc\x97\xef\xbc\x90\xef"
       "\xbc\x94\xef\xbc\x90\xef\xbc\x90\xef\xbc\x94\xef\xbc\x94\xef\xbc\x90\xef\xbc\x95\xef\xbc"
       "\x93\xef\xbc\x92\xef\xbc\x90\xef\xbc\x91\xef\xbc\x93\xef\xbc\x90\xef\xbc\x90\xef\xbc\x90"},
      // ＤＥ89 3704 0044 0532 0130 00: a full-width country code before ASCII digits
      {"fin.iban",
       "\xef\xbc\xa4\xef\xbc\xa5"
       "89 3704 0044 0532 0130 00"},
      // Cyrillic А and Н (U+0410, U+041D) in an AWS key
      {"secret.aws_access_key",
       "\xd0\x90KIAZ3MQW7X\xd0\x9d"
       "2LBNQR4T"},
      // Greek Κ (U+039A)
      {"secret.aws_access_key", "A\xce\x9aIAZ3MQW7XH2LBNQR4T"},
      // Cyrillic ѕ (U+0455) in "sk-"; Cyrillic Н (U+041D) and, beside it, о (U+043E) inside
      {"secret.openai_key", "\xd1\x95k-proj-Zq8Rk2Lm7Tx4Vb9Nc3Hd6Jf1Gs5Pw0Ya2Ue8"},
      {"secret.openai_key",
       "sk-proj-Zq8Rk2Lm7Tx4Vb9Nc3\xd0\x9d\xd0\xbe"
       "d6Jf1Gs5Pw0Ya2Ue8"},
      // Cyrillic р (U+0440) in "ghp_", with Cyrillic Т (U+0422) inside
      {"secret.github_token", "gh\xd1\x80_Zq8Rk2Lm7\xd0\xa2x4Vb9Nc3Hd6Jf1Gs5Pw0Ya2Ue8"},
      // ＡＫＩＡ…: the whole key in full-width letters and digits
      {"secret.aws_access_key",
       "\xef\xbc\xa1\xef\xbc\xab\xef\xbc\xa9\xef\xbc\xa1\xef\xbc\xba\xef\xbc\x93\xef\xbc\xad\xef"
       "\xbc\xb1\xef\xbc\xb7\xef\xbc\x97\xef\xbc\xb8\xef\xbc\xa8\xef\xbc\x92\xef\xbc\xac\xef\xbc"
       "\xa2\xef\xbc\xae\xef\xbc\xb1\xef\xbc\xb2\xef\xbc\x94\xef\xbc\xb4"},
      {"pii.email", "jane.doe" + fw_at + "acme.com"},
      {"pii.email", "jane.doe@acme" + fw_dot + "com"},
      {"pii.email", "jane.doe" + fw_at + "acme" + fw_dot + "com"},
      // ｊａｎｅ＠ａｃｍｅ．ｃｏｍ
      {"pii.email", "\xef\xbd\x8a\xef\xbd\x81\xef\xbd\x8e\xef\xbd\x85" + fw_at +
                        "\xef\xbd\x81\xef\xbd\x83\xef\xbd\x8d\xef\xbd\x85" + fw_dot +
                        "\xef\xbd\x83\xef\xbd\x8f\xef\xbd\x8d"},
      // Cyrillic А (U+0410) in the local part, and а, е (U+0430, U+0435) with it
      {"pii.email", "J\xd0\x90\xd0\xb0ne.doe@acm\xd0\xb5.com"},
  };
  for (const Case& c : cases) {
    for (const std::string& around : {std::string("value %s ok"), std::string("%s")}) {
      const size_t at = around.find("%s");
      const std::string text = around.substr(0, at) + c.value + around.substr(at + 2);
      EXPECT_EQ(found(text), (Pairs{{c.cls, c.value}})) << text;
    }
  }
  // Text in those scripts and forms with no value inside stays without findings.
  for (
      const char* t : {
          "snake_case_2024_05_06 and build_1_2_3_4_5_6_7_8_9_10_11_12",
          "1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16",
          "4 1 1 1 1 1 1 1 1 1 1 1 1 1 1 2",
          "\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82, \xd0\xbc\xd0\xb8\xd1\x80 (ok) "
          "\xd0\x90\xd0\x92\xd0\x95 2024",  // Привет, мир (ok) АВЕ 2024
          "\xce\x91\xce\xb8\xce\xae\xce\xbd\xce\xb1 API \xce\x9a\xce\x95\xce\xa1",  // Αθήνα API ΚΕΡ
          "\xef\xbc\xa1\xef\xbc\xa2\xef\xbc\xa3\xe5\x85\xac\xe5\x8f\xb8\xef\xbc\x88\xef\xbc\x91\xef"
          "\xbc\x92\xef\xbc\x93\xef\xbc\x89\xef\xbc\x8c\xe7\x94\xb5\xe8\xaf\x9d",  // ＡＢＣ公司（１２３），电话
          "user\xef\xbc\xa0localhost and a\xef\xbc\x8e"
          "b",
      })
    EXPECT_TRUE(found(t).empty()) << t << " -> " << (found(t).empty() ? "" : found(t)[0].first);
}

TEST(Scan, HardNegatives) {
  for (const char* t :
       {"card 4111 1111 1111 1112", "run 41111111111111111 and more", "AKIAIOSFODNN7EXAMPLE",
        "Please keep this confidential.", "password: ${DB_PASSWORD}", "version 10.0.19045.2965",
        "commit 3f2a9c0d5e8b7a6f4e3d2c1b0a9f8e7d6c5b4a39", "ISBN 978-3-16-148410-0",
        "这个秘密我只告诉你", "std::vector<int>", "x 110105194912310021 y",
        "the invoice 4111111111111111111111 total"}) {
    EXPECT_TRUE(found(t).empty()) << t << " -> " << (found(t).empty() ? "" : found(t)[0].first);
  }
}

std::string repeat(std::string_view piece, size_t bytes) {
  std::string out;
  while (out.size() < bytes) out.append(piece);
  out.resize(bytes);
  return out;
}

TEST(Scan, PathologicalInputsStayBounded) {
  // Long runs for every gate: digits, letters, number groups, anchors repeated back to back
  // (each would open a region reaching far), separators, full-width digits. Their time is in
  // bench/inspect_bench (BM_ScanPathological); here: they scan, and find nothing false.
  for (const std::string& t :
       {std::string(1 << 20, '7'), std::string(1 << 20, 'A'),
        std::string(200000, '+') + std::string(200000, '1'),
        std::string("password=") + std::string(500000, 'x'), repeat("1234 ", 1 << 20),
        repeat("1.2.", 1 << 20), repeat("a:", 1 << 20), repeat("sk-", 1 << 20),
        repeat("eyJ", 1 << 20), repeat("a@b.", 1 << 20), repeat("DE89 3704 ", 1 << 20),
        repeat("+1 ", 1 << 20), repeat("\xef\xbc\x91", 1 << 20)}) {
    Scratch scratch;
    std::vector<Finding> f;
    EXPECT_TRUE(scan(engine(), scratch, t, f));
    EXPECT_TRUE(f.empty()) << t.substr(0, 16);
  }
  std::string invalid = "abc \xff\xfe 4111 1111 1111 1111 \xc3";
  EXPECT_EQ(found(invalid).size(), 1u);
}

TEST(Body, ScansEveryStringValueExceptStructuralOnes) {
  const std::string body =
      R"({"model":"jane@acme.com","messages":[{"role":"user","content":"mail bob@acme.com"},)"
      R"({"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function",)"
      R"("function":{"name":"send","arguments":"{\"to\":\"eve@acme.com\"}"}}]},)"
      R"({"role":"tool","tool_call_id":"c1","content":[{"type":"text","text":"ok \u0061lice@acme.com"}]}],)"
      R"("user":"carol@acme.com","metadata":{"x":"dan@acme.com"},"unknown_field":{"deep":["frank@acme.com"]}})";
  Scratch scratch;
  BodyScan scan;
  ASSERT_EQ(scan_body(engine(), scratch, body, scan), BodyScanStatus::kOk);
  std::vector<std::string> values;
  for (const auto& s : scan.strings)
    for (const auto& f : s.findings) values.push_back(s.text.substr(f.start, f.end - f.start));
  EXPECT_EQ(values, (std::vector<std::string>{"bob@acme.com", "eve@acme.com", "alice@acme.com",
                                              "carol@acme.com", "dan@acme.com", "frank@acme.com"}));
  EXPECT_EQ(scan.counts.at("pii.email"), 6u);
}

TEST(Body, MasksAndPseudonymisesWithValidJsonOut) {
  const std::string body =
      R"({"model":"m","messages":[{"role":"user","content":"a \"q\" bob@acme.com, again bob@acme.com, and AKIAZ3MQW7XH2LBNQR4T"}]})";
  Scratch scratch;
  BodyScan scan;
  ASSERT_EQ(scan_body(engine(), scratch, body, scan), BodyScanStatus::kOk);
  ActionTable actions;
  actions.set("pii", Action::kPseudonymise);
  actions.set("secret", Action::kMask);
  Pseudonyms p;
  const std::string out = apply_splices(body, plan_transform(scan, actions, p));
  EXPECT_EQ(out,
            "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"a \\\"q\\\" "
            "\xe2\x9f\xa8"
            "EMAIL_1\xe2\x9f\xa9, again \xe2\x9f\xa8"
            "EMAIL_1\xe2\x9f\xa9, and "
            "[AWS_ACCESS_KEY]\"}]}");
  EXPECT_EQ(p.restore("Hi \xe2\x9f\xa8"
                      "EMAIL_1\xe2\x9f\xa9!",
                      false),
            "Hi bob@acme.com!");
}

TEST(Body, SplicesMergeAnExtraAndSortWhatIsOutOfOrder) {
  const std::string body = "0123456789";
  const std::vector<Splice> in_order{{1, 2, "a"}, {6, 8, "bb"}};
  const Splice extra{3, 4, "X"};
  EXPECT_EQ(apply_splices(body, in_order, &extra), "0a2X45bb89");
  const std::vector<Splice> reversed{{6, 8, "bb"}, {1, 2, "a"}};
  EXPECT_EQ(apply_splices(body, reversed, &extra), "0a2X45bb89");
  const Splice last{9, 10, "Z"};
  EXPECT_EQ(apply_splices(body, {}, &last), "012345678Z");
}

TEST(Body, DeepNestingIsRefused) {
  std::string body =
      "{\"model\":\"m\",\"x\":" + std::string(100, '[') + std::string(100, ']') + "}";
  Scratch scratch;
  BodyScan scan;
  EXPECT_EQ(scan_body(engine(), scratch, body, scan), BodyScanStatus::kTooDeep);
}

// The values found in a body, in document order, with where they sat.
std::vector<std::string> body_values(const std::string& body, BodyScan& scan,
                                     const BodyScanOptions& o = {}) {
  Scratch scratch;
  EXPECT_EQ(scan_body(engine(), scratch, body, scan, o), BodyScanStatus::kOk);
  std::vector<std::string> values;
  for (const auto& s : scan.strings)
    for (const auto& f : s.findings) values.push_back(s.text.substr(f.start, f.end - f.start));
  return values;
}

TEST(Body, KeysAndNumbersAreScannedWithWhereTheySat) {
  const std::string body =
      R"({"model":"m","messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function",)"
      R"("function":{"name":"f","parameters":{"properties":{"jane@acme.com":{"enum":[4111111111111111]}}}}}]})";
  BodyScan scan;
  EXPECT_EQ(body_values(body, scan),
            (std::vector<std::string>{"jane@acme.com", "4111111111111111"}));
  EXPECT_EQ(scan.places.at("pii.email"), place_bit(Place::kKey));
  EXPECT_EQ(scan.places.at("fin.credit_card"), place_bit(Place::kNumber));
  // A key is pseudonymised in place; a number cannot be masked (the plan denies it first).
  ActionTable actions;
  actions.set("pii", Action::kPseudonymise);
  actions.set("fin", Action::kMask);
  Pseudonyms p;
  bool unmaskable = false;
  const std::string out = apply_splices(body, plan_transform(scan, actions, p, &unmaskable));
  EXPECT_TRUE(unmaskable);
  EXPECT_EQ(out.find("jane@acme.com"), std::string::npos);
  EXPECT_NE(out.find("\"\xe2\x9f\xa8"
                     "EMAIL_1\xe2\x9f\xa9\":{"),
            std::string::npos);
}

TEST(Body, AllowListedFieldsAreSkippedOnlyWhenTheirValueChecksOut) {
  BodyScan scan;
  // A seed is an integer setting, not a card number; the same digits elsewhere are a finding.
  EXPECT_TRUE(
      body_values(R"({"model":"m","seed":4111111111111111,"temperature":0.2,"messages":[]})", scan)
          .empty());
  BodyScan scan2;
  EXPECT_EQ(
      body_values(R"({"model":"m","temperature":4111111111111111,"messages":[]})", scan2).size(),
      1u);
  // An enumeration with a value outside its set, an id that is not an id: scanned.
  BodyScan scan3;
  EXPECT_EQ(body_values(R"({"model":"m","tool_choice":"mail jane@acme.com","messages":[)"
                        R"({"role":"tool","tool_call_id":"bob@acme.com","content":"x"},)"
                        R"({"role":"tool","tool_call_id":"call_Ab12","content":"y"}]})",
                        scan3),
            (std::vector<std::string>{"jane@acme.com", "bob@acme.com"}));
}

TEST(Body, JsonInsideAStringIsReadWithItsOwnEscapes) {
  const std::string body =
      R"({"model":"m","messages":[{"role":"assistant","content":null,"tool_calls":[{"id":"call_1",)"
      R"("type":"function","function":{"name":"send","arguments":"{\"to\":\"eve\\u0040acme.com\"}"}}]}]})";
  BodyScan scan;
  EXPECT_EQ(body_values(body, scan), (std::vector<std::string>{"eve@acme.com"}));
  ActionTable actions;
  actions.set("pii", Action::kMask);
  Pseudonyms p;
  const std::string out = apply_splices(body, plan_transform(scan, actions, p));
  EXPECT_NE(out.find(R"("arguments":"{\"to\":\"[EMAIL]\"}")"), std::string::npos) << out;
  std::string decoded;
  EXPECT_FALSE(decode_nested_escapes("plain", decoded));
  EXPECT_TRUE(decode_nested_escapes(R"(a\u0040b \" \\ \n \u0022 \ud83d\ude00 \/)", decoded));
  EXPECT_EQ(decoded, "a@b \\\" \\\\ \\n \\u0022 \xf0\x9f\x98\x80 /");
}

TEST(Body, AReplacementKeepsTheRestOfTheStringAsWrittenWhenItHeldNestedEscapes) {
  // The text is scanned with "\/" and "\u0041" (written inside the string) decoded; what is not
  // replaced goes upstream as the client wrote it, not decoded (a backslash was lost before).
  const std::string body =
      R"({"model":"m","messages":[{"role":"user","content":"path a\\/b \\u0041 )"
      R"(mail jane\\u0040example.com and bob@example.org \\/ end"}]})";
  BodyScan scan;
  EXPECT_EQ(body_values(body, scan),
            (std::vector<std::string>{"jane@example.com", "bob@example.org"}));
  ActionTable actions;
  actions.set("pii", Action::kMask);
  Pseudonyms p;
  const std::string out = apply_splices(body, plan_transform(scan, actions, p));
  EXPECT_NE(out.find(R"("content":"path a\\/b \\u0041 mail [EMAIL] and [EMAIL] \\/ end")"),
            std::string::npos)
      << out;
  std::string decoded;
  std::vector<uint32_t> at;
  ASSERT_TRUE(decode_nested_escapes(R"(a\/b\u00e9c)", decoded, &at));
  EXPECT_EQ(decoded,
            "a/b\xc3\xa9"
            "c");
  EXPECT_EQ(at, (std::vector<uint32_t>{0, 1, 3, 4, 4, 10, 11}));
}

TEST(Body, AValueSplitAcrossMessagesIsFoundAndMaskedInBoth) {
  const std::string body =
      R"({"model":"m","messages":[{"role":"user","content":"my card is 4111 1111"},)"
      R"({"role":"user","content":"1111 1111 thanks"}]})";
  BodyScan scan;
  body_values(body, scan);
  EXPECT_EQ(scan.counts.at("fin.credit_card"), 1u);
  ActionTable actions;
  actions.set("fin", Action::kMask);
  Pseudonyms p;
  const std::string out = apply_splices(body, plan_transform(scan, actions, p));
  EXPECT_EQ(out, R"({"model":"m","messages":[{"role":"user","content":"my card is [CREDIT_CARD]"},)"
                 R"({"role":"user","content":" thanks"}]})");
  // Pseudonymised: one token for the whole value, restored whole.
  ActionTable pseudo;
  pseudo.set("fin", Action::kPseudonymise);
  Pseudonyms q;
  const std::string out2 = apply_splices(body, plan_transform(scan, pseudo, q));
  EXPECT_EQ(
      q.restore(out2, true),
      R"({"model":"m","messages":[{"role":"user","content":"my card is 4111 1111 1111 1111"},)"
      R"({"role":"user","content":" thanks"}]})");
  // Numbers that only look alike on each side are left alone.
  BodyScan benign;
  EXPECT_TRUE(body_values(R"({"model":"m","messages":[{"role":"user","content":"order 2024"},)"
                          R"({"role":"user","content":"12 items"}]})",
                          benign)
                  .empty());
}

TEST(Body, TokenIdsAreReadWhenTheTokenizerIsKnownElseUninspectable) {
  const std::string body = R"({"model":"m","prompt":[[1,2,3],[4]]})";
  BodyScan unknown;
  body_values(body, unknown);
  EXPECT_EQ(unknown.counts.at("uninspectable.tokens"), 2u);
  const TokenDecoder decode = [](std::span<const uint32_t> ids, std::string& text) {
    text.clear();
    for (uint32_t id : ids)
      text += id == 1 ? "mail " : id == 2 ? "jane@" : id == 3 ? "acme.com" : "!";
    return true;
  };
  BodyScanOptions o;
  o.decode_tokens = &decode;
  BodyScan known;
  EXPECT_EQ(body_values(body, known, o), (std::vector<std::string>{"jane@acme.com"}));
  EXPECT_EQ(known.places.at("pii.email"), place_bit(Place::kTokens));
  EXPECT_EQ(known.counts.count("uninspectable.tokens"), 0u);
}

TEST(Body, ImagesAudioAndFilesAreUninspectable) {
  BodyScan scan;
  const auto values = body_values(
      R"({"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":)"
      R"({"url":"https://x.example/a.png?u=jane@acme.com"}},{"type":"image_url","image_url":{"url":"data:image/png;base64,AAAA"}},)"
      R"({"type":"input_audio","input_audio":{"data":"AAAA","format":"wav"}}]}]})",
      scan);
  EXPECT_EQ(scan.counts.at("uninspectable.image"), 2u);
  EXPECT_EQ(scan.counts.at("uninspectable.audio"), 1u);
  EXPECT_EQ(values, (std::vector<std::string>{"jane@acme.com"}));  // an address is still text
}

TEST(Body, SignedOutputSourcesAndProviderToolsOfMessagesAndResponsesAreUninspectable) {
  BodyScan messages;
  const auto values = body_values(
      R"({"model":"m","max_tokens":8,"mcp_servers":[{"type":"url","url":"https://mcp.example"}],)"
      R"("tools":[{"name":"f","input_schema":{}},{"type":"bash_20250124","name":"bash"},)"
      R"({"type":"web_search_20250305","name":"web_search"}],"messages":[{"role":"assistant","content":[)"
      R"({"type":"thinking","thinking":"hm","signature":"EqQBCgIYAhIM"},)"
      R"({"type":"redacted_thinking","data":"EmwKAhgBEgy3va3pzix"}]},{"role":"user","content":[)"
      R"({"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBORw0KGgoAAAANSUhEUg"}},)"
      R"({"type":"document","source":{"type":"url","url":"https://x.example/a.pdf"}},)"
      R"({"type":"document","source":{"type":"text","media_type":"text/plain","data":"to jane@acme.com"}},)"
      R"({"type":"tool_result","tool_use_id":"toolu_1","content":[{"type":"image","source":)"
      R"({"type":"base64","media_type":"application/pdf","data":"JVBERi0xLjcKJcfs"}}]}]}]})",
      messages);
  EXPECT_EQ(messages.counts.at("uninspectable.signed"), 2u);
  EXPECT_EQ(messages.counts.at("uninspectable.image"), 1u);
  EXPECT_EQ(messages.counts.at("uninspectable.file"), 2u);
  EXPECT_EQ(messages.counts.at("uninspectable.server_tools"), 2u);  // web_search, mcp_servers
  EXPECT_EQ(values, (std::vector<std::string>{"jane@acme.com"}));   // a text document is text
  BodyScan responses;
  body_values(
      R"({"model":"m","tools":[{"type":"function","name":"f"},{"type":"mcp","server_url":"https://m"}],)"
      R"("input":[{"type":"reasoning","id":"rs_1","summary":[],"encrypted_content":"gAAAAB"},)"
      R"({"role":"user","content":[{"type":"input_image","image_url":"data:image/png;base64,AA"},)"
      R"({"type":"input_file","file_url":"https://x.example/a.pdf"}]}]})",
      responses);
  EXPECT_EQ(responses.counts.at("uninspectable.signed"), 1u);
  EXPECT_EQ(responses.counts.at("uninspectable.image"), 1u);
  EXPECT_EQ(responses.counts.at("uninspectable.file"), 1u);
  EXPECT_EQ(responses.counts.at("uninspectable.server_tools"), 1u);
}

TEST(Body, TheStrictestActionWinsAcrossSources) {
  ActionTable t;
  t.set("pii", Action::kAllow);
  t.set("pii.email", Action::kPseudonymise);
  t.set("pii", Action::kMask, ActionTable::kPolicy);
  EXPECT_EQ(t.action_for("pii.email"), Action::kMask);
  EXPECT_EQ(t.action_for("pii.phone"), Action::kMask);
  EXPECT_EQ(t.action_for("fin.iban"), Action::kAllow);
  t.set("fin", Action::kBlock);
  t.set("fin", Action::kPseudonymise, ActionTable::kPolicy);
  EXPECT_EQ(t.action_for("fin.iban"), Action::kBlock);
}

TEST(Answer, EveryTextFieldIsMaskedAndLogprobsOfAMaskedChoiceGo) {
  std::string body =
      R"({"id":"c","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant",)"
      R"("content":"ok","refusal":"mail jane@acme.com","reasoning_content":"card 4111 1111 1111 1111",)"
      R"("audio":{"transcript":"bob@acme.com"},"tool_calls":[{"id":"call_1","type":"function",)"
      R"("function":{"name":"f","arguments":"{\"to\":\"eve\\u0040acme.com\"}"}}]},)"
      R"("logprobs":{"content":[{"token":"4111","bytes":[52,49,49,49],"logprob":0,"top_logprobs":[]}]}},)"
      R"({"index":1,"message":{"role":"assistant","content":"dan@acme.com"},"logprobs":null}]})";
  ActionTable actions;
  actions.set("pii", Action::kMask);
  actions.set("fin", Action::kMask);
  Scratch scratch;
  Pseudonyms p;
  const AnswerOutcome o = transform_answer(engine(), scratch, actions, p, body);
  ASSERT_TRUE(o.ok);
  for (const char* leak : {"jane@", "4111", "bob@", "eve", "dan@"})
    EXPECT_EQ(body.find(leak), std::string::npos) << leak << " in " << body;
  EXPECT_NE(body.find(R"("logprobs":null)"), std::string::npos);
  // Not JSON (an error page): one text.
  std::string page = "<html>no such user jane@acme.com</html>";
  transform_answer(engine(), scratch, actions, p, page, false);
  EXPECT_EQ(page, "<html>no such user [EMAIL]</html>");
}

// Calls fn(choice) for each choice of each event an AnswerStream sent.
template <typename F>
void for_each_choice(const std::string& sent, F&& fn) {
  simdjson::dom::parser parser;
  for (size_t pos = 0; (pos = sent.find("data: {", pos)) != std::string::npos;) {
    const size_t end = sent.find("\n\n", pos);
    simdjson::dom::element e = parser.parse(sent.substr(pos + 6, end - pos - 6)).value();
    for (simdjson::dom::element ch : e["choices"].get_array()) fn(ch);
    pos = end;
  }
}

// The content a client reads from the events an AnswerStream sent.
std::string streamed_content(const std::string& sent) {
  std::string content;
  for_each_choice(sent, [&](simdjson::dom::element ch) {
    std::string_view t;
    if (ch["delta"]["content"].get_string().get(t) == simdjson::SUCCESS) content += t;
  });
  return content;
}

TEST(AnswerStream, AStringScannedWholeIsMaskedAndKeepsTheRestAsWritten) {
  ActionTable actions;
  actions.set("pii", Action::kMask);
  Scratch scratch;
  Pseudonyms p;
  AnswerStream s(engine(), scratch, 64, actions, p);
  std::string out;
  // A field outside the text channels is scanned whole, its nested escapes decoded: the address
  // written with \u0040 is masked, the "\/" beside it goes to the client as written.
  const AnswerOutcome o =
      s.on_data(R"({"id":"x","object":"chat.completion.chunk","created":1,"model":"m",)"
                R"("x_note":"path a\\/b mail jane\\u0040example.com","choices":[]})",
                out);
  EXPECT_TRUE(o.ok);
  for (const char* leak : {"jane@", "jane\\\\u0040", "example.com"})
    EXPECT_EQ(out.find(leak), std::string::npos) << leak << " in " << out;
  EXPECT_NE(out.find(R"("x_note":"path a\\/b mail [EMAIL]")"), std::string::npos) << out;
}

TEST(AnswerStream, ChannelsPerFieldAndToolCallIndexAndLogprobsHeld) {
  ActionTable actions;
  actions.set("pii", Action::kMask);
  actions.set("fin", Action::kMask);
  Scratch scratch;
  Pseudonyms p;
  AnswerStream s(engine(), scratch, 64, actions, p);
  std::string out;
  auto event = [&](const std::string& data) {
    const AnswerOutcome o = s.on_data(data, out);
    EXPECT_TRUE(o.ok) << data;
  };
  const std::string env = R"("id":"x","object":"chat.completion.chunk","created":1,"model":"m")";
  // Two parallel tool calls, listed out of order: each keeps its own arguments by its index.
  event(
      "{" + env +
      R"(,"choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"function":{"arguments":"{\"a\":\"jane"}},{"index":0,"function":{"arguments":"{\"b\":\"bob\\u00"}}]}}]})");
  event(
      "{" + env +
      R"(,"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"40acme.com\"}"}},{"index":1,"function":{"arguments":"@acme.com\"}"}}]}}]})");
  event(
      "{" + env +
      R"(,"choices":[{"index":0,"delta":{"refusal":"card 4111 1111 "},"logprobs":{"content":[{"token":"4111","logprob":0}]}}]})");
  event(
      "{" + env +
      R"(,"choices":[{"index":0,"delta":{"refusal":"1111 1111"},"logprobs":{"content":[{"token":" 1111","logprob":0}]}}]})");
  event("{" + env + R"(,"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]})");
  event("[DONE]");
  for (const char* leak : {"jane@", "bob@", "bob\\\\u0040", "4111", "\" 1111\""})
    EXPECT_EQ(out.find(leak), std::string::npos) << leak << " in " << out;
  // Reassembled per channel, the masks are where the values were.
  std::string args0, args1, refusal;
  for_each_choice(out, [&](simdjson::dom::element ch) {
    std::string_view t;
    if (ch["delta"]["refusal"].get_string().get(t) == simdjson::SUCCESS) refusal += t;
    simdjson::dom::array calls;
    if (ch["delta"]["tool_calls"].get_array().get(calls) != simdjson::SUCCESS) return;
    for (auto c : calls) {
      std::string_view a;
      if (c["function"]["arguments"].get_string().get(a) != simdjson::SUCCESS) continue;
      (c["index"].get_uint64().value() == 0 ? args0 : args1) += a;
    }
  });
  EXPECT_EQ(args0, R"({"b":"[EMAIL]"})");
  EXPECT_EQ(args1, R"({"a":"[EMAIL]"})");
  EXPECT_EQ(refusal, "card [CREDIT_CARD]");
}

// The events of an SSE text: (name, data) pairs.
std::vector<std::pair<std::string, std::string>> sse_events(const std::string& out) {
  std::vector<std::pair<std::string, std::string>> events;
  EXPECT_TRUE(for_each_sse_event_for_test(out, events));
  return events;
}

TEST(AnswerStream, MessagesEventsKeepTheirNamesAndEveryBlockIsAChannel) {
  ActionTable actions;
  actions.set("pii", Action::kMask);
  actions.set("fin", Action::kMask);
  Scratch scratch;
  Pseudonyms p;
  AnswerStream s(engine(), scratch, 64, actions, p, AnswerStream::Dialect::kMessages);
  std::string out;
  auto event = [&](const std::string& name, const std::string& data) {
    const AnswerOutcome o = s.on_event(name, data, out);
    EXPECT_TRUE(o.ok) << data;
  };
  event(
      "message_start",
      R"({"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","content":[],"model":"m"}})");
  event("content_block_start",
        R"({"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}})");
  event(
      "content_block_delta",
      R"({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"mail jane@ac"}})");
  event(
      "content_block_delta",
      R"({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"me.com now"}})");
  event("content_block_stop", R"({"type":"content_block_stop","index":0})");
  event(
      "content_block_start",
      R"({"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_1","name":"f","input":{}}})");
  event(
      "content_block_delta",
      R"({"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"to\":\"bob\\u00"}})");
  event(
      "content_block_delta",
      R"({"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"40acme.com\"}"}})");
  event("content_block_stop", R"({"type":"content_block_stop","index":1})");
  // A type no version of the API defines: every string in it is scanned whole.
  event("telepathy", R"({"type":"telepathy","thought":"card 4111 1111 1111 1111"})");
  event("message_stop", R"({"type":"message_stop"})");
  for (const char* leak : {"jane@", "bob@", "bob\\\\u0040", "4111"})
    EXPECT_EQ(out.find(leak), std::string::npos) << leak << " in " << out;
  std::string text, args;
  std::vector<std::string> names;
  simdjson::dom::parser parser;
  for (const auto& [name, data] : sse_events(out)) {
    names.push_back(name);
    simdjson::dom::element e = parser.parse(data).value();
    std::string_view t;
    if (e["delta"]["text"].get_string().get(t) == simdjson::SUCCESS) text += t;
    if (e["delta"]["partial_json"].get_string().get(t) == simdjson::SUCCESS) args += t;
    // Held text is released before its block stops.
    if (name == "content_block_stop" && e["index"].get_uint64().value() == 0) {
      EXPECT_EQ(text, "mail [EMAIL] now");
    }
  }
  EXPECT_EQ(text, "mail [EMAIL] now");
  EXPECT_EQ(args, R"({"to":"[EMAIL]"})");
  EXPECT_EQ(names.front(), "message_start");
  EXPECT_EQ(names.back(), "message_stop");
  EXPECT_NE(out.find("\"card [CREDIT_CARD]\""), std::string::npos) << out;
}

TEST(AnswerStream, AResponsesStreamEndingInDoneReleasesWhatIsHeld) {
  ActionTable actions;
  actions.set("pii", Action::kMask);
  Scratch scratch;
  Pseudonyms p;
  AnswerStream s(engine(), scratch, 64, actions, p, AnswerStream::Dialect::kResponses);
  std::string out;
  ASSERT_TRUE(s.on_event("response.output_text.delta",
                         R"({"type":"response.output_text.delta","output_index":0,)"
                         R"("content_index":0,"delta":"write to jane@acme.com"})",
                         out)
                  .ok);
  ASSERT_TRUE(s.on_event("", "[DONE]", out).ok);
  EXPECT_EQ(out.find("jane@"), std::string::npos) << out;
  // "write to" leaves with its delta; the address, held while it could still grow, at [DONE].
  const size_t first = out.find(R"("delta":"write to ")");
  EXPECT_NE(first, std::string::npos) << out;
  EXPECT_NE(out.find(R"("delta":"[EMAIL]")", first), std::string::npos) << out;
  EXPECT_EQ(out.substr(out.size() - 14), "data: [DONE]\n\n");
}

TEST(AnswerStream, ResponsesDeltasAreChannelsAndDoneEventsAreScannedWhole) {
  ActionTable actions;
  actions.set("pii", Action::kMask);
  Scratch scratch;
  Pseudonyms p;
  AnswerStream s(engine(), scratch, 64, actions, p, AnswerStream::Dialect::kResponses);
  std::string out;
  auto event = [&](const std::string& type, const std::string& rest) {
    const std::string data = R"({"type":")" + type + "\"," + rest + "}";
    const AnswerOutcome o = s.on_event(type, data, out);
    EXPECT_TRUE(o.ok) << data;
  };
  const std::string at = R"("item_id":"msg_1","output_index":0,"content_index":0)";
  event("response.output_text.delta", at + R"(,"delta":"to jane@ac")");
  event("response.output_text.delta", at + R"(,"delta":"me.com")");
  event("response.output_text.done", at + R"(,"text":"to jane@acme.com")");
  event("response.function_call_arguments.delta",
        R"("item_id":"fc_1","output_index":1,"delta":"{\"to\":\"bob@")");
  event("response.function_call_arguments.delta",
        R"("item_id":"fc_1","output_index":1,"delta":"acme.com\"}")");
  event("response.function_call_arguments.done",
        R"("item_id":"fc_1","output_index":1,"arguments":"{\"to\":\"bob@acme.com\"}")");
  event("response.completed", R"("response":{"id":"resp_1","output":[]})");
  for (const char* leak : {"jane@", "bob@"})
    EXPECT_EQ(out.find(leak), std::string::npos) << leak << " in " << out;
  std::string text, args;
  simdjson::dom::parser parser;
  bool released_before_done = false;
  for (const auto& [name, data] : sse_events(out)) {
    simdjson::dom::element e = parser.parse(data).value();
    std::string_view type = e["type"].get_string().value();
    EXPECT_EQ(name, type);
    std::string_view d;
    if (type == "response.output_text.delta" &&
        e["delta"].get_string().get(d) == simdjson::SUCCESS) {
      text += d;
      EXPECT_EQ(e["item_id"].get_string().value(), "msg_1");
    }
    if (type == "response.function_call_arguments.delta") args += e["delta"].get_string().value();
    if (type == "response.output_text.done") {
      released_before_done = text == "to [EMAIL]";
      EXPECT_EQ(e["text"].get_string().value(), "to [EMAIL]");
    }
  }
  EXPECT_TRUE(released_before_done) << out;
  EXPECT_EQ(args, R"({"to":"[EMAIL]"})");
}

// Streams `text` in chunks of `chunk` bytes (0: every split position is tried by the caller).
std::pair<std::string, std::vector<Finding>> stream(const std::string& text, size_t chunk,
                                                    const ActionTable& actions,
                                                    const Pseudonyms* p = nullptr) {
  Scratch scratch;
  TextStream s(engine(), scratch, 64);
  std::string out;
  bool blocked = false;
  for (size_t i = 0; i < text.size(); i += chunk) {
    EXPECT_TRUE(s.feed(std::string_view(text).substr(i, chunk)));
    out += s.take(actions, p, blocked);
    // Nothing is released that is not at least 64 bytes old, unless it is decided.
    EXPECT_LE(s.released(), s.total());
  }
  EXPECT_TRUE(s.finish());
  out += s.take(actions, p, blocked);
  return {out, s.findings()};
}

// Streams `text` in two chunks split at every position: the output and the findings are
// `out` and `findings` each time.
void expect_same_at_every_cut(const std::string& text, const ActionTable& actions,
                              const std::string& out, const std::vector<Finding>& findings) {
  for (size_t cut = 1; cut < text.size(); ++cut) {
    Scratch scratch;
    TextStream s(engine(), scratch, 64);
    bool blocked = false;
    std::string got;
    ASSERT_TRUE(s.feed(std::string_view(text).substr(0, cut)));
    got += s.take(actions, nullptr, blocked);
    ASSERT_TRUE(s.feed(std::string_view(text).substr(cut)));
    got += s.take(actions, nullptr, blocked);
    ASSERT_TRUE(s.finish());
    got += s.take(actions, nullptr, blocked);
    ASSERT_EQ(got, out) << "cut at " << cut;
    ASSERT_EQ(s.findings(), findings) << "cut at " << cut;
  }
}

// Streamed whole, `text` gives `masked` and the findings a block scan gives (returned in
// `block`); cut in two anywhere, the same.
void expect_stream_as_block(const std::string& text, const ActionTable& actions,
                            std::string_view masked, std::vector<Finding>& block) {
  const auto whole = stream(text, text.size(), actions);
  Scratch scratch;
  ASSERT_TRUE(scan(engine(), scratch, text, block));
  EXPECT_EQ(whole.second, block);
  EXPECT_EQ(whole.first, masked);
  expect_same_at_every_cut(text, actions, whole.first, block);
}

TEST(Stream, FindingsAndOutputDoNotDependOnChunking) {
  const std::string text =
      "Sure. Write to jane.doe@acme-corp.com or call +49 30 12345678. The key is "
      "AKIAZ3MQW7XH2LBNQR4T and the card 4111 1111 1111 1111; 身份证号11010519491231002X. Done.";
  ActionTable actions;
  actions.set("pii", Action::kMask);
  actions.set("secret", Action::kMask);
  actions.set("fin", Action::kMask);
  actions.set("id", Action::kMask);
  const std::string masked =
      "Sure. Write to [EMAIL] or call [PHONE]. The key is [AWS_ACCESS_KEY] and the card "
      "[CREDIT_CARD]; 身份证号[CN_RESIDENT_ID]. Done.";
  std::vector<Finding> block;
  expect_stream_as_block(text, actions, masked, block);
  for (size_t chunk : {1u, 2u, 3u, 5u, 7u, 16u, 33u}) {
    const auto r = stream(text, chunk, actions);
    EXPECT_EQ(r.second, block) << "chunk " << chunk;
    EXPECT_EQ(r.first, masked) << "chunk " << chunk;
  }
}

// Groups joined by '_' and digits spaced one by one: a group still arriving after a '_' keeps
// the number open, so what is found does not depend on where the chunks end.
TEST(Stream, UnderscoredAndSpacedNumbersDoNotDependOnChunking) {
  const std::string text =
      "The card 4111_1111_1111_1111, the IBAN DE89_3704_0044_0532_0130_00 and "
      "5 5 5 5 5 5 5 5 5 5 5 5 4 4 4 4 with build_2024_06 and X_12.";
  ActionTable actions;
  actions.set("fin", Action::kMask);
  std::vector<Finding> block;
  expect_stream_as_block(
      text, actions,
      "The card [CREDIT_CARD], the IBAN [IBAN] and [CREDIT_CARD] with build_2024_06 and X_12.",
      block);
  EXPECT_EQ(block.size(), 3u);
}

TEST(Stream, OutputDoesNotDependOnChunkingWhereHoldsEndEarly) {
  // Prose that leaves at once between values that are held while they form: near-anchors,
  // assignments, clusters, an address cut anywhere; every split into two chunks, and words
  // as a model sends them.
  const std::string text =
      "Hi Bob, mail bob.smith@example.org. or bob@example. A password: is asked; "
      "password=Tr0ub4dor&3x said AKIB and AKIAZ3MQW7XH2LBNQR4T. IBAN DE89 3704 0044 0532 0130 "
      "00, host 10.0.0.1, tel +49 30 1234567 — card 4111 1111 1111 1111 in 2024 and -----BEGIN "
      "nothing. mot de passe : s3cr3t-Value9 fin";
  ActionTable actions;
  for (const char* c : {"pii", "secret", "fin", "id"}) actions.set(c, Action::kMask);
  Scratch scratch;
  std::vector<Finding> block;
  ASSERT_TRUE(scan(engine(), scratch, text, block));
  const auto whole = stream(text, text.size(), actions);
  EXPECT_EQ(whole.second, block);
  for (const char* leak : {"bob.smith", "Tr0ub4dor", "AKIAZ", "DE89", "4111", "1234567"})
    EXPECT_EQ(whole.first.find(leak), std::string::npos) << leak << " in " << whole.first;
  for (size_t chunk : {1u, 2u, 3u, 4u, 5u, 7u, 11u, 16u}) {
    const auto r = stream(text, chunk, actions);
    EXPECT_EQ(r.second, block) << "chunk " << chunk;
    EXPECT_EQ(r.first, whole.first) << "chunk " << chunk;
  }
  expect_same_at_every_cut(text, actions, whole.first, block);
  // Word by word, a space leading each word.
  Scratch sc;
  TextStream s(engine(), sc, 64);
  bool blocked = false;
  std::string out;
  for (size_t i = 0; i < text.size();) {
    const size_t next = text.find(' ', i + 1);
    const size_t end = next == std::string::npos ? text.size() : next;
    ASSERT_TRUE(s.feed(std::string_view(text).substr(i, end - i)));
    out += s.take(actions, nullptr, blocked);
    i = end;
  }
  ASSERT_TRUE(s.finish());
  out += s.take(actions, nullptr, blocked);
  EXPECT_EQ(out, whole.first);
}

// A placement check may read past a match (a phone number's next group, a marking's frame up to
// the end of its line): a stream decides the match only once those bytes have arrived, so text
// that continues the line changes nothing whatever the chunking.
TEST(Stream, PlacementChecksDecideOnlyOnceWhatTheyReadHasArrived) {
  ActionTable actions;
  for (const char* c : {"pii", "secret", "fin", "id", "marker"}) actions.set(c, Action::kMask);
  for (const std::string text :
       {"Ruf 030 1234567 -9 an, bitte.", "Ruf 030 1234567 \xe2\x80\x93 \xef\xbc\x99 an.",
        "Ruf 030 1234567 an.", "TOP SECRET --- draft notes follow", "TOP SECRET ---\nnotes",
        "\xe7\xbb\x9d\xe5\xaf\x86 \xe2\x98\x85 \xe6\x96\x87\xe4\xbb\xb6",
        "mail a.b@example.org:22/x", "mail a.b@example.org: yes"}) {
    Scratch scratch;
    std::vector<Finding> block;
    ASSERT_TRUE(scan(engine(), scratch, text, block));
    const auto whole = stream(text, text.size(), actions);
    ASSERT_EQ(whole.second, block) << text;
    for (size_t chunk : {1u, 2u, 3u}) {
      const auto r = stream(text, chunk, actions);
      EXPECT_EQ(r.second, block) << text << " chunk " << chunk;
      EXPECT_EQ(r.first, whole.first) << text << " chunk " << chunk;
    }
    expect_same_at_every_cut(text, actions, whole.first, block);
  }
}

// A custom pattern holds text only from where a match of it may still begin (PCRE2 partial
// matching), not its whole width: prose leaves as it arrives, "PRJ-12" waits for its digits.
TEST(Stream, CustomPatternsHoldOnlyWhereAMatchMayBegin) {
  const EnginePtr custom = Engine::compile({{"project", {"PRJ-[0-9]{6}"}, {}}});
  ActionTable actions;
  actions.set("custom", Action::kMask);
  Scratch scratch;
  TextStream s(*custom, scratch, 64);
  bool blocked = false;
  std::string out;
  for (const std::string w : {"The", " rollout", " of", " the", " billing", " service", " is",
                              " on", " track", " for", " PRJ-12"}) {
    ASSERT_TRUE(s.feed(w));
    out += s.take(actions, nullptr, blocked);
  }
  EXPECT_EQ(out, "The rollout of the billing service is on track for");  // a cluster: " PRJ-12"
  ASSERT_TRUE(s.feed("3456 today."));
  out += s.take(actions, nullptr, blocked);
  ASSERT_TRUE(s.finish());
  out += s.take(actions, nullptr, blocked);
  EXPECT_EQ(out, "The rollout of the billing service is on track for [PROJECT] today.");
  // Whatever the chunking, the same output.
  const EnginePtr behind = Engine::compile({{"ticket", {"T-[0-9]{5}", "PRJ-[0-9]{6}"}, {}}});
  const std::string text = "See T-12345 and PRJ-123456, not PRJ-12 or T-9999 here.";
  for (size_t cut = 1; cut < text.size(); ++cut) {
    Scratch sc;
    TextStream t(*behind, sc, 64);
    bool b = false;
    std::string got;
    ASSERT_TRUE(t.feed(std::string_view(text).substr(0, cut)));
    got += t.take(actions, nullptr, b);
    ASSERT_TRUE(t.feed(std::string_view(text).substr(cut)));
    got += t.take(actions, nullptr, b);
    ASSERT_TRUE(t.finish());
    got += t.take(actions, nullptr, b);
    ASSERT_EQ(got, "See [TICKET] and [TICKET], not PRJ-12 or T-9999 here.") << cut;
  }
}

TEST(Stream, PlainProseLeavesAsItArrivesButItsLastWord) {
  // The last word may still become an address's local part ("jane" + "@acme.com"), and with the
  // separators before it a number ("summary: 12"); everything before leaves at once.
  const std::vector<std::string> words = {"Sure",     ",",   " here",  " is",      " the",
                                          " summary", ":",   " the",   " billing", " migration",
                                          " is",      " on", " track", "."};
  Scratch scratch;
  TextStream s(engine(), scratch, 64);
  ActionTable none;
  bool blocked = false;
  std::string out;
  std::string before;  // the word before the last one
  for (const std::string& w : words) {
    ASSERT_TRUE(s.feed(w));
    out += s.take(none, nullptr, blocked);
    EXPECT_GE(s.released() + before.size() + w.size(), s.total()) << "after '" << w << "': " << out;
    before = w;
  }
  ASSERT_TRUE(s.finish());
  out += s.take(none, nullptr, blocked);
  EXPECT_EQ(out, "Sure, here is the summary: the billing migration is on track.");
}

TEST(Stream, HoldsWhatMayStillBeginAFinding) {
  ActionTable actions;
  for (const char* c : {"pii", "secret", "fin"}) actions.set(c, Action::kMask);
  Pseudonyms p;
  const std::string token = p.token_for("pii.email", "bob@acme.com");
  // (text so far, what is released of it, the rest, the output once the rest arrived)
  const struct {
    std::string first;
    std::string released;
    std::string rest;
    std::string out;
  } cases[] = {
      {"Write to alice", "Write to", "@acme.com now.", "Write to [EMAIL] now."},
      {"Write to alice", "Write to", " now.", "Write to alice now."},
      {"the password=", "the ", "Tr0ub4dor&3x\n", "the password=[PASSWORD_ASSIGNMENT]\n"},
      {"card 4111 1111 ", "card", "1111 1111 thanks.", "card [CREDIT_CARD] thanks."},
      {"call +\xef\xbc", "call ", "\x94\xef\xbc\x99 30 12345678.", "call [PHONE]."},
      {"the mot de pas", "the ", "se = s3cr3t-Value9 ok",
       "the mot de passe = [PASSWORD_ASSIGNMENT] ok"},
      {"the mot de pas", "the ", "sage.", "the mot de passage."},
      {"Reply to " + token.substr(0, 7), "Reply to ", token.substr(7) + " soon.",
       "Reply to bob@acme.com soon."},
  };
  for (const auto& c : cases) {
    Scratch scratch;
    TextStream s(engine(), scratch, 64);
    bool blocked = false;
    ASSERT_TRUE(s.feed(c.first));
    std::string out = s.take(actions, &p, blocked);
    EXPECT_EQ(out, c.released) << c.first;
    ASSERT_TRUE(s.feed(c.rest));
    out += s.take(actions, &p, blocked);
    ASSERT_TRUE(s.finish());
    out += s.take(actions, &p, blocked);
    EXPECT_EQ(out, c.out) << c.first;
  }
}

TEST(AnswerStream, ADecidedFindingThatALongerOneMayStillOverlapIsHeld) {
  // Found by the sse_answer fuzz target
  // (regressions/sse_answer/email-superseded-after-release.bin), as it builds its events: two
  // content deltas of choice 0, a 16-byte window. When the first delta ended,
  // "alice@example.mpme.cocustom" was decided while longer matches from the same
  // '@' were not; it was released masked, and the longer address that won later was masked
  // again ("[EMAIL][EMAIL]"), where one delta gave "[EMAIL]".
  const std::string first =
      "\x01"
      "Contac|act alice@example.mpme.cocustom.projecAILom.projecAI";
  const std::string second(
      "IAIOhone IBANe IBAN \0\0\0"
      "04\0\0\0\0\0\0\0\0",
      33);
  ActionTable actions;
  actions.set("pii", Action::kMask);
  actions.set("fin", Action::kMask);
  Pseudonyms p;
  auto relay = [&](const std::vector<std::string>& deltas) {
    Scratch scratch;
    AnswerStream s(engine(), scratch, 16, actions, p);
    std::string out;
    const std::string head =
        R"({"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,)";
    for (const std::string& d : deltas)
      EXPECT_TRUE(s.on_data(head + R"("delta":{"content":)" + json_string(d) +
                                R"(},"finish_reason":null}]})",
                            out)
                      .ok);
    EXPECT_TRUE(s.on_data(head + R"("delta":{},"finish_reason":"stop"}]})", out).ok);
    EXPECT_TRUE(s.on_data("[DONE]", out).ok);
    return streamed_content(out);
  };
  const std::string whole = relay({first + second});
  EXPECT_EQ(whole.find("alice"), std::string::npos) << whole;
  EXPECT_EQ(relay({first, second}), whole);
}

TEST(Stream, FindsWhatBlockModeFindsInEveryCorpusText) {
  ActionTable none;
  std::mt19937 rng(11);
  std::vector<std::string> texts = corpus_texts();
  for (std::string& t : random_texts(5000, 13)) texts.push_back(std::move(t));
  Scratch scratch;
  for (const std::string& t : texts) {
    std::vector<Finding> block;
    ASSERT_TRUE(scan(engine(), scratch, t, block));
    const size_t chunk = 1 + rng() % 24;
    EXPECT_EQ(stream(t, chunk, none).second, block) << "chunk " << chunk << ": " << t;
  }
}

TEST(Stream, RestoresPseudonymsSplitAcrossChunks) {
  Pseudonyms p;
  const std::string token = p.token_for("pii.email", "bob@acme.com");
  const std::string text = "Reply to " + token + " soon, and cc " + token + ".";
  ActionTable none;
  for (size_t chunk = 1; chunk <= text.size(); ++chunk) {
    EXPECT_EQ(stream(text, chunk, none, &p).first,
              "Reply to bob@acme.com soon, and cc bob@acme.com.")
        << "chunk " << chunk;
  }
}

TEST(Stream, HoldsBackAtMostTheWindowForPlainText) {
  Scratch scratch;
  TextStream s(engine(), scratch, 64);
  ActionTable none;
  bool blocked = false;
  const std::string prose(200, 'a');
  ASSERT_TRUE(s.feed(prose));
  EXPECT_EQ(s.take(none, nullptr, blocked).size(), 200u - 64u);
}

TEST(Stream, NumbersStillGrowingAreNotHeldBeyondTheWindow) {
  // Words with digits joined by spaces form one number-like cluster as long as the answer; it
  // is scanned as it grows, and text leaves as soon as the window allows.
  std::string text;
  for (int i = 10; i < 60; ++i) text += "token" + std::to_string(i) + " ";
  Scratch scratch;
  TextStream s(engine(), scratch, 64);
  ActionTable none;
  bool blocked = false;
  std::string out;
  for (size_t i = 0; i < text.size(); i += 16) {
    ASSERT_TRUE(s.feed(std::string_view(text).substr(i, 16)));
    out += s.take(none, nullptr, blocked);
    EXPECT_GE(out.size() + 64, s.total()) << "after " << s.total();
  }
  ASSERT_TRUE(s.finish());
  out += s.take(none, nullptr, blocked);
  EXPECT_EQ(out, text);
}

TEST(Stream, PrivateKeyBlockIsMaskedWhole) {
  const std::string text =
      "Here:\n-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA7\nabc\n"
      "-----END RSA PRIVATE KEY-----\nbye";
  ActionTable actions;
  actions.set("secret", Action::kMask);
  for (size_t chunk : {1u, 4u, 100u})
    EXPECT_EQ(stream(text, chunk, actions).first, "Here:\n[PRIVATE_KEY]\nbye") << chunk;
}

}  // namespace
}  // namespace warden::inspect

namespace warden::inspect {

namespace {

// Does masking `cls` leave a finding of the scan where it cannot be replaced?
bool unmaskable_under_mask(const BodyScan& scan, const char* cls) {
  ActionTable actions;
  actions.set(cls, Action::kMask);
  Pseudonyms p;
  bool unmaskable = false;
  plan_transform(scan, actions, p, &unmaskable);
  return unmaskable;
}

}  // namespace

TEST(Body, NumbersInAnyNotationAreReadAsTheIntegerAParserSees) {
  for (const char* n : {"5.555555555554444e15", "5555555555554444.0", "555555555555444.4E1",
                        "-5.555555555554444e+15"}) {
    const std::string body = std::string(R"({"model":"m","input":{"x":)") + n + "}}";
    BodyScan scan;
    EXPECT_EQ(body_values(body, scan), (std::vector<std::string>{"5555555555554444"})) << n;
    EXPECT_EQ(scan.places.at("fin.credit_card"), place_bit(Place::kNumber)) << n;
  }
  // Not integers that hold a card: a small value, an exponent beyond any identifier.
  for (const char* n : {"0.5555555555554444", "5.5e-3", "1e400"}) {
    const std::string body = std::string(R"({"model":"m","x":)") + n + "}";
    BodyScan scan;
    EXPECT_TRUE(body_values(body, scan).empty()) << n;
  }
}

TEST(Body, ValuesInJsonNestedTwoLevelsDeepAreFoundAndCannotBeMasked) {
  // arguments: a JSON string whose value is itself JSON holding an escaped address.
  const std::string body =
      R"({"model":"m","messages":[{"role":"assistant","content":"","tool_calls":[{"id":"c",)"
      R"("type":"function","function":{"name":"f","arguments":"{\"payload\":\"{\\\"to\\\":\\\"jane\\\\u0040acme.com\\\"}\"}"}}]}]})";
  BodyScan scan;
  const auto values = body_values(body, scan);
  ASSERT_EQ(values.size(), 1u);
  EXPECT_EQ(values[0], "jane@acme.com");
  EXPECT_EQ(scan.places.at("pii.email"), place_bit(Place::kNested));
  EXPECT_TRUE(unmaskable_under_mask(scan, "pii"));
  // One level deep stays maskable in place.
  const std::string one =
      R"({"model":"m","messages":[{"role":"user","content":"{\"to\":\"jane\\u0040acme.com\"}"}]})";
  BodyScan scan1;
  EXPECT_EQ(body_values(one, scan1), (std::vector<std::string>{"jane@acme.com"}));
  EXPECT_EQ(scan1.places.count("pii.email"), 0u);
}

TEST(Answer, KeysAndNumbersOfAToolInputTheModelWroteBlockTheAnswer) {
  ActionTable actions;
  actions.set("pii", Action::kMask);
  actions.set("fin", Action::kMask);
  Scratch scratch;
  Pseudonyms p;
  for (const char* input : {R"({"jane@acme.com":"x"})", R"({"card":5555555555554444})",
                            R"({"card":5.555555555554444e15})"}) {
    std::string body =
        std::string(R"({"id":"msg_1","type":"message","role":"assistant","content":[)") +
        R"({"type":"tool_use","id":"toolu_1","name":"f","input":)" + input +
        R"(}],"usage":{"input_tokens":1234567,"output_tokens":7654321}})";
    const AnswerOutcome o = transform_answer(engine(), scratch, actions, p, body);
    ASSERT_TRUE(o.ok);
    EXPECT_TRUE(o.blocked) << input;
  }
  // The API's own numbers and keys elsewhere are not read as the model's words.
  std::string body = R"({"id":"msg_1","type":"message","content":[{"type":"text","text":"ok"}],)"
                     R"("usage":{"input_tokens":5555555555554444,"output_tokens":1}})";
  const AnswerOutcome o = transform_answer(engine(), scratch, actions, p, body);
  ASSERT_TRUE(o.ok);
  EXPECT_FALSE(o.blocked);
}

TEST(Answer, LogprobsOfAResponsesPartWhoseTextWasMaskedGo) {
  std::string body =
      R"({"id":"resp_1","object":"response","output":[{"type":"message","id":"m","role":"assistant",)"
      R"("content":[{"type":"output_text","text":"card 4111 1111 1111 1111","annotations":[],)"
      R"("logprobs":[{"token":"4111","bytes":[52,49,49,49],"logprob":0,"top_logprobs":[]}]},)"
      R"({"type":"output_text","text":"fine","annotations":[],"logprobs":[{"token":"fine","logprob":0}]}]}]})";
  ActionTable actions;
  actions.set("fin", Action::kMask);
  Scratch scratch;
  Pseudonyms p;
  const AnswerOutcome o = transform_answer(engine(), scratch, actions, p, body);
  ASSERT_TRUE(o.ok);
  EXPECT_EQ(body.find("4111"), std::string::npos) << body;
  EXPECT_NE(body.find(R"("logprobs":[])"), std::string::npos) << body;
  EXPECT_NE(body.find(R"("token":"fine")"), std::string::npos)
      << body;  // an unchanged part keeps its own
}

// Anthropic and Responses requests: the model reads consecutive blocks, parts and items as one
// text, so a value split across any two of them is found and masked in both.
TEST(Body, AValueSplitAcrossBlocksPartsAndItemsIsMaskedInBoth) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {R"({"model":"m","system":[{"type":"text","text":"card 4111 1111"},{"type":"text","text":"1111 1111 ok"}]})",
       "fin"},
      {R"({"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"mail jane.doe@"},)"
       R"({"type":"text","text":"acme-corp.com ok"}]}]})",
       "pii"},
      {R"({"model":"m","messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1",)"
       R"("content":[{"type":"text","text":"card 4111 1111"},{"type":"text","text":"1111 1111 ok"}]}]}]})",
       "fin"},
      {R"({"model":"m","messages":[{"role":"assistant","content":[{"type":"text","text":"mail jane.d"},)"
       R"({"type":"tool_use","id":"toolu_1","name":"f","input":{}}]},{"role":"user","content":[)"
       R"({"type":"tool_result","tool_use_id":"toolu_1","content":"oe@acme-corp.com ok"}]}]})",
       "pii"},
      {R"({"model":"m","input":[{"role":"user","content":"card 4111 1111"},{"role":"user","content":"1111 1111 ok"}]})",
       "fin"},
      {R"({"model":"m","input":[{"role":"user","content":[{"type":"input_text","text":"card 4111 1111"},)"
       R"({"type":"input_text","text":"1111 1111 ok"}]}]})",
       "fin"},
      {R"({"model":"m","input":[{"role":"user","content":"iban DE89 3704 0044"},{"type":"function_call",)"
       R"("call_id":"call_1","name":"f","arguments":"{}"},{"type":"function_call_output","call_id":"call_1",)"
       R"("output":"0532 0130 00 ok"}]})",
       "fin"},
  };
  for (const auto& [body, cls] : cases) {
    BodyScan scan;
    body_values(body, scan);
    ActionTable actions;
    actions.set(cls, Action::kMask);
    Pseudonyms p;
    const std::string out = apply_splices(body, plan_transform(scan, actions, p));
    for (const char* leak : {"4111", "jane", "acme", "DE89", "0532"})
      EXPECT_EQ(out.find(leak), std::string::npos) << leak << " in " << out;
    EXPECT_NE(out.find("ok"), std::string::npos) << out;
  }
  // Words that only meet at the boundary are no address; prose is left alone.
  BodyScan benign;
  EXPECT_TRUE(body_values(R"({"model":"m","system":[{"type":"text","text":"see the docs at"},)"
                          R"({"type":"text","text":"example.com for more"}]})",
                          benign)
                  .empty());
}

TEST(Body, ANumberInExponentFormInsideJsonTextIsReadAsTheIntegerAndCannotBeMasked) {
  const std::string body =
      R"({"model":"m","input":[{"type":"function_call","call_id":"call_1","name":"pay",)"
      R"("arguments":"{\"card\":5.555555555554444e15,\"n\":1.5}"}]})";
  BodyScan scan;
  EXPECT_EQ(body_values(body, scan), (std::vector<std::string>{"5555555555554444"}));
  EXPECT_EQ(scan.places.at("fin.credit_card"), place_bit(Place::kNumber));
  EXPECT_TRUE(unmaskable_under_mask(scan, "fin"));
  // Text that is not JSON keeps its numbers as text.
  BodyScan prose;
  EXPECT_TRUE(body_values(R"({"model":"m","input":"ratio 5.555555555554444e15"})", prose).empty());
}

TEST(Answer, AValueSplitAcrossTextBlocksOrPartsOfAWholeAnswerIsMasked) {
  ActionTable actions;
  actions.set("fin", Action::kMask);
  Scratch scratch;
  Pseudonyms p;
  std::string messages = R"({"type":"message","content":[{"type":"text","text":"card 5555 5555"},)"
                         R"({"type":"text","text":"5555 4444 is on file"}]})";
  ASSERT_TRUE(transform_answer(engine(), scratch, actions, p, messages).ok);
  EXPECT_EQ(messages, R"({"type":"message","content":[{"type":"text","text":"card [CREDIT_CARD]"},)"
                      R"({"type":"text","text":" is on file"}]})");
  std::string responses =
      R"({"object":"response","output":[{"type":"message","content":[{"type":"output_text",)"
      R"("text":"card 5555 5555","logprobs":[{"token":"5555"}]},{"type":"output_text","text":"5555 4444 ok"}]}]})";
  ASSERT_TRUE(transform_answer(engine(), scratch, actions, p, responses).ok);
  EXPECT_EQ(responses.find("5555"), std::string::npos) << responses;
}

namespace {

// Streams `events` (name, data) through a Messages or Responses AnswerStream; the texts each
// block or part got, in order of first appearance, and the names of the events sent.
struct Streamed {
  std::vector<std::pair<std::string, std::string>> texts;  // (block or part, text)
  std::vector<std::string> names;
  std::string out;
  bool blocked = false;
};
Streamed stream_events(AnswerStream::Dialect d,
                       const std::vector<std::pair<std::string, std::string>>& events,
                       const ActionTable& actions) {
  Scratch scratch;
  Pseudonyms p;
  AnswerStream s(engine(), scratch, 64, actions, p, d);
  Streamed r;
  for (const auto& [name, data] : events) {
    const AnswerOutcome o = s.on_event(name, data, r.out);
    EXPECT_TRUE(o.ok) << data;
    r.blocked = r.blocked || o.blocked;
  }
  const AnswerOutcome o = s.finish(r.out);
  EXPECT_TRUE(o.ok);
  r.blocked = r.blocked || o.blocked;
  simdjson::dom::parser parser;
  for (const auto& [name, data] : sse_events(r.out)) {
    r.names.push_back(name);
    simdjson::dom::element e = parser.parse(data).value();
    std::string_view t;
    std::string key;
    if (e["delta"]["text"].get_string().get(t) == simdjson::SUCCESS) {
      key = "block " + std::to_string(e["index"].get_uint64().value());
    } else if (e["delta"]["partial_json"].get_string().get(t) == simdjson::SUCCESS) {
      key = "json " + std::to_string(e["index"].get_uint64().value());
    } else if (name == "response.output_text.delta" &&
               e["delta"].get_string().get(t) == simdjson::SUCCESS) {
      key = "part " + std::to_string(e["output_index"].get_uint64().value()) + "." +
            std::to_string(e["content_index"].get_uint64().value());
    } else {
      continue;
    }
    auto at = std::find_if(r.texts.begin(), r.texts.end(), [&](auto& x) { return x.first == key; });
    if (at == r.texts.end()) at = r.texts.insert(r.texts.end(), {key, ""});
    at->second += t;
  }
  return r;
}

std::pair<std::string, std::string> block_event(const std::string& type, const std::string& rest) {
  return {type, R"({"type":")" + type + "\"," + rest + "}"};
}

}  // namespace

TEST(AnswerStream, AValueAcrossTwoStreamedTextBlocksIsMaskedAndEachBlockKeepsItsText) {
  ActionTable actions;
  actions.set("fin", Action::kMask);
  const auto text = [](int i, const std::string& t) {
    return block_event("content_block_delta", R"("index":)" + std::to_string(i) +
                                                  R"(,"delta":{"type":"text_delta","text":")" + t +
                                                  "\"}");
  };
  const auto start = [](int i, const std::string& type) {
    return block_event(
        "content_block_start",
        R"("index":)" + std::to_string(i) + R"(,"content_block":{"type":")" + type +
            (type == "text" ? R"(","text":""})" : R"(","id":"toolu_1","name":"f","input":{}})"));
  };
  const auto stop = [](int i) {
    return block_event("content_block_stop", R"("index":)" + std::to_string(i));
  };
  const auto message_stop = block_event("message_stop", R"("x":1)");
  // Split in the value: masked whole in the block it begins in, each block's stop after its text.
  Streamed r = stream_events(
      AnswerStream::Dialect::kMessages,
      {start(0, "text"), text(0, "card 5555 "), text(0, "5555"), stop(0), start(1, "text"),
       text(1, " 5555 4444"), text(1, " is on file"), stop(1), message_stop},
      actions);
  EXPECT_EQ(r.out.find("5555"), std::string::npos) << r.out;
  EXPECT_EQ(r.texts,
            (decltype(r.texts){{"block 0", "card [CREDIT_CARD]"}, {"block 1", " is on file"}}));
  EXPECT_EQ(r.names, (std::vector<std::string>{
                         "content_block_start", "content_block_delta", "content_block_delta",
                         "content_block_delta", "content_block_stop", "content_block_start",
                         "content_block_delta", "content_block_delta", "content_block_delta",
                         "content_block_stop", "message_stop"}))
      << r.out;
  // Text that goes on in a tool_use block is not joined: the first block's tail goes out before
  // its stop.
  r = stream_events(AnswerStream::Dialect::kMessages,
                    {start(0, "text"), text(0, "card 5555 5555"), stop(0), start(1, "tool_use"),
                     stop(1), message_stop},
                    actions);
  EXPECT_EQ(r.texts, (decltype(r.texts){{"block 0", "card 5555 5555"}}));
  EXPECT_EQ(r.names[3], "content_block_stop") << r.out;
  // Two blocks whose words only meet: each keeps its own text.
  r = stream_events(AnswerStream::Dialect::kMessages,
                    {start(0, "text"), text(0, "order 2024"), stop(0), start(1, "text"),
                     text(1, "12 items"), stop(1), message_stop},
                    actions);
  EXPECT_EQ(r.texts, (decltype(r.texts){{"block 0", "order 2024"}, {"block 1", "12 items"}}));
}

TEST(AnswerStream, AValueAcrossTwoStreamedOutputItemsIsMasked) {
  ActionTable actions;
  actions.set("fin", Action::kMask);
  const auto delta = [](int item, const std::string& t) {
    return block_event("response.output_text.delta",
                       R"("item_id":"msg_)" + std::to_string(item) + R"(","output_index":)" +
                           std::to_string(item) + R"(,"content_index":0,"delta":")" + t + "\"");
  };
  const auto added = [](int item) {
    return block_event("response.output_item.added", R"("output_index":)" + std::to_string(item) +
                                                         R"(,"item":{"type":"message","id":"msg_)" +
                                                         std::to_string(item) +
                                                         R"(","role":"assistant","content":[]})");
  };
  // Without the items' `.done` events, and with them.
  for (bool done : {false, true}) {
    std::vector<std::pair<std::string, std::string>> events = {added(0), delta(0, "card 5555 "),
                                                               delta(0, "5555")};
    // The events that repeat a part's text (its `.done` events, response.completed) say what
    // the upstream wrote, logprobs included.
    const auto part = [](const std::string& text) {
      return R"({"type":"output_text","text":")" + text +
             R"(","annotations":[],"logprobs":[{"token":")" + text + R"(","logprob":0}]})";
    };
    const auto done_events = [&](int item, const std::string& text) {
      const std::string at = R"("item_id":"msg_)" + std::to_string(item) + R"(","output_index":)" +
                             std::to_string(item) + R"(,"content_index":0)";
      events.push_back(block_event("response.output_text.done", at + R"(,"text":")" + text +
                                                                    R"(","logprobs":[{"token":")" +
                                                                    text + R"(","logprob":0}])"));
      events.push_back(block_event("response.content_part.done", at + R"(,"part":)" + part(text)));
      events.push_back(block_event(
          "response.output_item.done",
          R"("output_index":)" + std::to_string(item) + R"(,"item":{"type":"message","id":"msg_)" +
              std::to_string(item) + R"(","content":[)" + part(text) + "]}"));
    };
    if (done) done_events(0, "card 5555 5555");
    for (const auto& e : {added(1), delta(1, " 5555 4444"), delta(1, " is on file")})
      events.push_back(e);
    if (done) done_events(1, " 5555 4444 is on file");
    events.push_back(block_event(
        "response.completed",
        R"("response":{"id":"r","output":[{"type":"message","id":"msg_0","content":[)" +
            part("card 5555 5555") + R"(]},{"type":"message","id":"msg_1","content":[)" +
            part(" 5555 4444 is on file") + "]}]}"));
    Streamed r = stream_events(AnswerStream::Dialect::kResponses, events, actions);
    EXPECT_EQ(r.out.find("5555"), std::string::npos) << r.out;
    EXPECT_EQ(r.texts,
              (decltype(r.texts){{"part 0.0", "card [CREDIT_CARD]"}, {"part 1.0", " is on file"}}))
        << r.out;
    if (done) {  // the first item's text is out before its `.done`
      EXPECT_LT(r.out.find("[CREDIT_CARD]"), r.out.find("response.output_text.done")) << r.out;
    }
    // The repeated texts are those the deltas showed; their logprobs went with what changed.
    simdjson::dom::parser parser;
    for (const auto& [name, data] : sse_events(r.out)) {
      simdjson::dom::element e = parser.parse(data).value();
      std::string_view t;
      if (name == "response.output_text.done") {
        t = e["text"].get_string().value();
        EXPECT_TRUE(t == "card [CREDIT_CARD]" || t == " is on file") << t;
        EXPECT_EQ(e["logprobs"].get_array().size(), 0u) << data;
      }
      if (name == "response.completed") {
        EXPECT_EQ(e["response"]["output"].at(0)["content"].at(0)["text"].get_string().value(),
                  "card [CREDIT_CARD]");
        EXPECT_EQ(e["response"]["output"].at(1)["content"].at(0)["text"].get_string().value(),
                  " is on file");
      }
    }
  }
}

TEST(AnswerStream, ANumberInExponentFormStreamedInToolArgumentsEndsTheAnswer) {
  ActionTable actions;
  actions.set("fin", Action::kMask);
  for (const char* json : {R"({"card":5.555555555554444e15})", R"([5555555555554444.0])"}) {
    std::vector<std::pair<std::string, std::string>> events = {block_event(
        "content_block_start",
        R"("index":0,"content_block":{"type":"tool_use","id":"toolu_1","name":"f","input":{}})")};
    const std::string j = json;
    for (size_t i = 0; i < j.size(); i += 3)
      events.push_back(block_event(
          "content_block_delta", R"("index":0,"delta":{"type":"input_json_delta","partial_json":)" +
                                     json_string(j.substr(i, 3)) + "}"));
    // The stream ends at the event that completes the number: nothing after it is sent, and
    // nothing before it holds the number's digits.
    Scratch scratch;
    Pseudonyms p;
    AnswerStream s(engine(), scratch, 64, actions, p, AnswerStream::Dialect::kMessages);
    std::string sent;
    bool blocked = false;
    for (const auto& [name, data] : events) {
      std::string out;
      const AnswerOutcome o = s.on_event(name, data, out);
      ASSERT_TRUE(o.ok);
      if (o.blocked) {
        blocked = true;
        break;
      }
      sent += out;
    }
    if (!blocked) {
      std::string out;
      blocked = s.finish(out).blocked;
    }
    EXPECT_TRUE(blocked) << json;
    std::string digits;
    for (char c : sent)
      if (c >= '0' && c <= '9') digits += c;
    EXPECT_EQ(digits.find("5555555"), std::string::npos) << sent;
  }
  // Small numbers in other notations pass as they came.
  Streamed r = stream_events(
      AnswerStream::Dialect::kMessages,
      {block_event(
           "content_block_start",
           R"("index":0,"content_block":{"type":"tool_use","id":"toolu_1","name":"f","input":{}})"),
       block_event(
           "content_block_delta",
           R"("index":0,"delta":{"type":"input_json_delta","partial_json":"{\"t\":0.7,\"n\":1e3}"})")},
      actions);
  EXPECT_FALSE(r.blocked);
  EXPECT_EQ(r.texts, (decltype(r.texts){{"json 0", R"({"t":0.7,"n":1e3})"}}));
}

TEST(AnswerStream, ResponsesLogprobsGoWhileTheirDeltaTextIsHeldOrChanged) {
  ActionTable actions;
  actions.set("fin", Action::kMask);
  std::vector<std::pair<std::string, std::string>> events;
  for (const char* t : {"card", " 5555", " 5555", " 5555", " 4444", " is on file", " today"})
    events.push_back(block_event(
        "response.output_text.delta",
        std::string(R"("item_id":"m","output_index":0,"content_index":0,"delta":)") +
            json_string(t) + R"(,"logprobs":[{"token":)" + json_string(t) +
            R"(,"logprob":0,"top_logprobs":[{"token":)" + json_string(t) + R"(,"logprob":0}]}])"));
  const Streamed r = stream_events(AnswerStream::Dialect::kResponses, events, actions);
  EXPECT_EQ(r.out.find("5555"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("4444"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(R"("logprobs":[])"), std::string::npos) << r.out;
}

}  // namespace warden::inspect
