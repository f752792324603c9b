// Engine internals shared by the block scanner (engine.cpp) and the stream scanner (stream.cpp).
//
// Finding candidates costs far less than running every detector's pattern over every byte
// (Hyperscan runs the class-led number patterns at ~30 ns/byte when combined; bench/inspect_bench):
//   1. One literal database (no start-of-match tracking, block and streaming mode) holds the
//      anchors of anchored detectors, the context words of detectors that require one and,
//      whole, the custom detectors. Its hits open candidate regions.
//   2. A cluster pass (clusters.cpp) finds number-like runs; each is scanned by the number
//      detectors whose lower bounds it meets, or gives them exact candidates (runs of its
//      words that pass the detector's validator).
//   3. Each candidate region is scanned by its detector's own databases: from the anchor
//      (start-anchored), whole (exact candidates), or ends first and then the leftmost start
//      of a whole match; custom detectors with start-of-match tracking. Every match is evaluated
//      (boundaries, validator, context words looked up lazily in the bytes before it).
#pragma once

#include <hs/hs.h>

#include <algorithm>
#include <array>
#include <bitset>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "inspect/detectors.h"
#include "inspect/inspect.h"
#include "inspect/partial.h"
#include "inspect/words.h"

namespace warden::inspect {

// What a hit of one literal-database pattern means (one pattern may mean several things).
struct Role {
  enum Kind : uint8_t { kAnchor, kWord, kFull } kind;
  uint16_t index;   // spec (kAnchor, kFull) or word (kWord)
  uint16_t length;  // bytes of the literal (kAnchor, kWord)
};

struct ContextWord {
  std::string text;                   // lower-case for ASCII letters
  bool ascii = false;                 // whole-word rule applies (letters must not continue it)
  std::vector<uint16_t> required_by;  // kContext specs that scan after it
};

struct Engine::Impl {
  std::vector<DetectorSpec> specs;
  std::vector<std::vector<uint16_t>> context_ids;    // per spec: its context words
  std::vector<std::vector<uint16_t>> not_after_ids;  // per spec: its not_after words
  std::vector<ContextWord> words;
  std::vector<std::vector<Role>> roles;  // per literal-database pattern id
  // Per id: a marker of a disguised value (disguise.h): 1, or 2 for a look-alike letter, which
  // marks one only beside an ASCII letter or digit.
  std::vector<uint8_t> disguise_marker;
  // The specs gated by clusters, with what a cluster must have for each beyond its counts
  // (gates_met), side by side.
  struct ClusterGate {
    uint64_t sums;        // ClusterNeeds::sums
    uint64_t upper_runs;  // ClusterNeeds::upper_runs
    uint16_t spec;
    bool country_code;
    bool exact;   // its candidates are runs of words (exact_runs)
    bool number;  // bounded as a number
  };
  std::vector<ClusterGate> cluster_gates;
  // Per count lane (pack_counts) and value: the gates whose need in that lane it meets (bit k:
  // cluster_gates[k]); and-ed over the lanes, the gates a cluster's counts meet.
  std::array<std::array<uint32_t, 128>, 8> gates_met{};
  // A cluster with fewer letters and digits and fewer colons than these meets no detector.
  unsigned cluster_min_alnum = UINT8_MAX;
  unsigned cluster_min_colons = UINT8_MAX;
  hs_database_t* literal_db = nullptr;
  hs_database_t* literal_stream_db = nullptr;
  // The context words of a detector, and those it must not follow, each a list looked for in
  // the bytes before a candidate when it is evaluated (ContextIndex, context.cpp): context
  // words in the literal database would halve its speed.
  struct WordList {
    WordList(const std::vector<uint16_t>& ids, const std::vector<ContextWord>& all);
    std::vector<uint16_t> words;  // ids in `words`, in the order of the filter's words
    WordFilter filter;
  };
  std::vector<WordList> word_lists;
  std::vector<int> context_list;         // per spec: its context words' list, or -1
  std::vector<int> not_after_list;       // per spec: its not_after words' list, or -1
  std::vector<hs_database_t*> spec_dbs;  // kFull specs, with start-of-match tracking
  // Built-in specs (custom ones use spec_dbs): the pattern without start tracking, and anchored
  // at both ends (^…\z). Start-of-match tracking costs up to 2 µs per number (bounded repeats);
  // finding the ends, then the leftmost start from which the whole pattern matches, a tenth.
  std::vector<hs_database_t*> end_dbs;
  // Anchored specs: the pattern anchored at its start only (^…), run from the anchor: Hyperscan
  // stops where no match can continue, so a region costs the length of its match, not of the
  // region, and matches of later anchors in it are not seen again.
  std::vector<hs_database_t*> start_dbs;
  // Anchored specs whose ends must be followed by certain code points (end_stop_class):
  // pattern 0 ends one code point past an end followed by one of them, pattern 1 at the
  // region's end. One report per possible end, where the pattern alone reports every byte of a
  // token or value ("[A-Za-z0-9]{20,}"). Hyperscan's UTF-8 classes match no invalid byte: a
  // region that is not valid UTF-8 is scanned by its start_dbs database.
  std::vector<hs_database_t*> stop_dbs;
  std::vector<hs_database_t*> stop_long_dbs;  // … for regions past kSmallScan: no `\z` pattern
  std::vector<std::bitset<256>> first_bytes;  // per spec (DetectorSpec::first_bytes)
  // Streams release text up to the first byte that may begin a finding (stream.cpp). A text
  // that ends with a proper prefix of a literal of the literal database (an anchor, a context
  // word that opens regions, a custom word) is held from there: `literals`, lower-case, sorted;
  // `literal_heads` their first byte and first two bytes (lower-case; bit c and 256 + c0 * 256 +
  // c1), and the longest literal per first byte, which rule out most positions before a search.
  // A custom pattern that is not a word may still begin where `open_patterns` (PCRE2 partial
  // matching) says; one PCRE2 cannot compile anywhere in its last `open_pattern_bytes`
  // (Hyperscan reports no partial match).
  std::vector<std::string> literals;
  std::bitset<256 + 65536> literal_heads;
  std::array<uint8_t, 256> literal_longest{};
  std::array<uint16_t, 257>
      literal_from{};  // literals[literal_from[c], literal_from[c + 1]) start with c
  size_t longest_literal = 0;
  size_t open_pattern_bytes = 0;
  OpenPatterns open_patterns;
  std::vector<hs_database_t*> whole_dbs;
  ~Impl() {
    hs_free_database(literal_db);
    hs_free_database(literal_stream_db);
    for (hs_database_t* db : spec_dbs) hs_free_database(db);
    for (hs_database_t* db : end_dbs) hs_free_database(db);
    for (hs_database_t* db : whole_dbs) hs_free_database(db);
    for (hs_database_t* db : start_dbs) hs_free_database(db);
    for (hs_database_t* db : stop_dbs) hs_free_database(db);
    for (hs_database_t* db : stop_long_dbs) hs_free_database(db);
  }
};

// A stretch of text one detector's own database must scan: [lo, hi), absolute offsets; `hi` may
// lie beyond the text seen so far (streams). Matches ending at or before `done` were reported.
struct Region {
  enum Form : uint8_t {
    kRange,     // any match inside it (scan_region_by_ends); merged with overlapping ones
    kAnchored,  // starts at an anchor: scanned from it (scan_anchored_region), never merged
    kExact,     // a candidate [lo, hi) already validated: the whole pattern must match it
  };
  uint16_t spec;
  Form form;
  size_t lo;
  size_t hi;
  size_t done;
  uint16_t anchor = 0;  // kAnchored: the anchor's bytes
};

struct RawMatch {
  unsigned id;
  size_t from;
  size_t to;
  bool validated = false;  // the validator passed it already (a kExact region)
};

// Turns the literal-database hit (`id`, ending at `end`) into regions. `text` holds the bytes
// before the hit (text[0] at absolute offset `offset`).
void on_literal_hit(const Engine::Impl& impl, unsigned id, size_t end, std::string_view text,
                    size_t offset, std::vector<Region>& regions);

// Words of fewer bytes are not counted for runs of upper-case letters and digits (the cluster
// pass's common case): no cluster detector may need a shorter run (ClusterNeeds::upper_word,
// upper_runs; Engine::compile checks).
inline constexpr size_t kShortWord = 10;

// Cluster counts or needs in eight 7-bit lanes (saturated), for comparing all at once.
uint64_t pack_counts(const ClusterNeeds& n);

// Whether a cluster detector's candidates can be told in the cluster pass: a detector with a
// validator bounded as a number (a run of whole numeric words, starting with a word character)
// or as a word (ClusterNeeds::lengths). Each run of words with an allowed count of digits (or
// of letters and digits) and of words that passes the validator becomes a kExact region.
bool exact_runs(const DetectorSpec& spec);

// Adds the regions of the number clusters in the text from `from` on (absolute offsets; text[0]
// is at `offset`). Returns where the next pass resumes: the end, or with `complete` false (a
// stream) the start of what may still grow into a cluster. A cluster that reaches the end is
// scanned as it stands all the same; `open_lo` (streams) receives its start, or SIZE_MAX.
size_t add_cluster_regions(const Engine::Impl& impl, std::string_view text, size_t offset,
                           size_t from, bool complete, std::vector<Region>& regions,
                           size_t* open_lo = nullptr);

// Context-word lookups before candidates in one text (context.cpp).
struct ContextIndex {
  const Engine::Impl* impl;
  std::string_view text;  // the bytes around the candidates
  size_t offset;          // absolute offset of text[0]
  // Whether a word of word list `list` (-1: none) stands whole, ending at or before `start`
  // and starting at or after `start - bytes` (bytes <= kContextBytes).
  bool any_before(int list, size_t start, size_t bytes) const;
  // Whether a candidate starting in [lo, hi) may have a word of `list` before it (false only
  // when none can: for dropping regions of detectors that require context).
  bool may_precede(int list, size_t lo, size_t hi) const;

 private:
  bool any_in(int list, size_t lo, size_t hi, bool right) const;
};

// Turns one raw match into a finding, if it is one. `text` must hold every byte from at least
// 64 bytes before `from` (context) up to the match's end plus one code point. `text_offset` is
// the absolute offset of text[0]; match offsets are absolute.
bool evaluate(const ContextIndex& context, std::string_view text, size_t text_offset,
              const RawMatch& m, bool text_complete, Finding& out);

// Scans `regions` (sorted and merged per detector first) of `text` with each region's detector
// database; calls on_match(RawMatch) for each match ending after its region's `done`. False
// when Hyperscan failed.
template <typename F>
bool scan_regions(const Engine::Impl& impl, hs_scratch_t* scratch, std::string_view text,
                  size_t offset, std::vector<Region>& regions, F&& on_match);

// Sorts regions by detector and start, merging those that overlap or touch.
void merge_regions(std::vector<Region>& regions);

// Sorts findings by start and resolves overlaps (the longer, then the more confident, wins).
void resolve_overlaps(std::vector<Finding>& findings);

// The two halves of a boundary rule: nothing it forbids before `start` / from `end` on.
bool before_ok(Boundary b, std::string_view text, size_t start);
bool after_ok(Boundary b, std::string_view text, size_t end);

// Whether a finding of `spec` may start at text[i] (the character before does not break its
// start boundary). An e-mail address starts before its '@' anchor: always true there.
bool may_start_at(const DetectorSpec& spec, std::string_view text, size_t i);

// The first byte in text[from, to) that ends `extent`, or npos.
size_t extent_end(Extent extent, std::string_view text, size_t from, size_t to);

// Whether an assignment's operator may follow a key ending at text[i]: letters, '_' or '-' (the
// rest of a key: "api_key_prod"), a quote and spaces, then ':', '=' or a full-width colon. True
// when the text ends before that is known (a stream).
bool assignment_may_follow(std::string_view text, size_t i);

// Whether an assignment's value ("password=…") may end before `c`.
bool assignment_ends_before(char c);

// Whether a finding of `spec` may end at text[e] (the character there does not break its end
// boundary; unknown beyond the text).
bool may_end_at(const DetectorSpec& spec, std::string_view text, size_t e);

// Scans one region without start tracking: ends first, then for each end whose next character
// allows it, the leftmost start from which the whole pattern matches (what start-of-match
// tracking would report; matches start at or near their region's start, so the first tries
// succeed).
template <typename F>
bool scan_region_by_ends(const Engine::Impl& impl, hs_scratch_t* scratch, std::string_view text,
                         size_t offset, const Region& r, size_t lo, size_t hi, F& on_match) {
  struct Ends {
    std::vector<size_t> at;
  };
  thread_local Ends ends;
  ends.at.clear();
  auto on_end = [](unsigned, unsigned long long, unsigned long long to, unsigned, void* p) -> int {
    static_cast<Ends*>(p)->at.push_back(static_cast<size_t>(to));
    return 0;
  };
  const char* base = text.data() + (lo - offset);
  if (hs_scan(impl.end_dbs[r.spec], base, static_cast<unsigned>(hi - lo), 0, scratch, on_end,
              &ends) != HS_SUCCESS)
    return false;
  const DetectorSpec& spec = impl.specs[r.spec];
  bool matched = false;
  auto on_whole = [](unsigned, unsigned long long, unsigned long long, unsigned, void* p) -> int {
    *static_cast<bool*>(p) = true;
    return 1;  // one is enough
  };
  for (size_t k = 0; k < ends.at.size(); ++k) {
    const size_t end = lo + ends.at[k];
    if (end <= r.done || (k > 0 && ends.at[k] == ends.at[k - 1])) continue;
    if (!may_end_at(spec, text, end - offset)) continue;
    // A match is at most max_bytes long.
    const size_t from = std::max(lo, end > spec.max_bytes ? end - spec.max_bytes : 0);
    for (size_t s = from; s < end; ++s) {
      const auto b = static_cast<unsigned char>(text[s - offset]);
      if ((b & 0xC0) == 0x80 || !impl.first_bytes[r.spec][b]) continue;
      // A start its boundary rules out (inside a run of digits or letters) can give no finding
      // (evaluate() checks it): not tried. The leftmost start tried is then the leftmost one a
      // finding may have, and a run of number groups costs a try per group, not per digit.
      if (!may_start_at(spec, text, s - offset)) continue;
      matched = false;
      const hs_error_t rc = hs_scan(impl.whole_dbs[r.spec], text.data() + (s - offset),
                                    static_cast<unsigned>(end - s), 0, scratch, on_whole, &matched);
      if (rc != HS_SUCCESS && rc != HS_SCAN_TERMINATED) return false;
      if (matched) {
        on_match(RawMatch{r.spec, s, end});
        break;
      }
    }
  }
  return true;
}

// The only code points a boundary rule may reject next to a finding: ASCII and the full-width
// forms (end_stop_class relies on it; a unit test checks every other code point).
inline constexpr std::pair<uint32_t, uint32_t> kBoundaryCodePoints[] = {{0x01, 0x7F},
                                                                        {0xFF00, 0xFFEF}};

// The UTF-8 bytes of code point `c`.
std::string utf8_encode(uint32_t c);

// The longest anchored scan served by Hyperscan's small-block engine (blocks of up to 70 bytes,
// where the stop databases cost a tenth of what they cost on longer blocks).
constexpr size_t kSmallScan = 64;

// Whether `bytes` are valid UTF-8 (simdjson).
bool valid_utf8(std::string_view bytes);

// Scans one anchored region: the matches that start at its anchor.
template <typename F>
bool scan_anchored_region(const Engine::Impl& impl, hs_scratch_t* scratch, std::string_view text,
                          size_t offset, Region& r, size_t lo, size_t hi, F& on_match) {
  const DetectorSpec& spec = impl.specs[r.spec];
  const auto b = static_cast<unsigned char>(text[lo - offset]);
  // Inside a token ("sk-sk-sk-…") no finding can start: its boundary rules it out for good.
  if (!impl.first_bytes[r.spec][b] || !may_start_at(spec, text, lo - offset)) {
    r.hi = r.lo;
    return true;
  }
  // An assignment ("password = …", "api_key: …") has its operator right after the key: most
  // anchors in prose ("pass the salt", "token economy") end here, before any scan.
  if (spec.span == SpanRule::kAssignmentValue &&
      !assignment_may_follow(text, lo - offset + r.anchor)) {
    r.hi = r.lo;
    return true;
  }
  // No match crosses the extent's end: the region ends there for good (a stream stops
  // rescanning it).
  const size_t cut = extent_end(spec.extent, text, lo - offset, hi - offset);
  if (cut != std::string_view::npos) hi = r.hi = offset + cut;
  struct Ends {
    std::vector<size_t> at;  // relative to lo
    const unsigned char* base;
    bool stop;
  };
  thread_local Ends ends;
  ends.at.clear();
  ends.base = reinterpret_cast<const unsigned char*>(text.data() + (lo - offset));
  auto on_end = [](unsigned id, unsigned long long, unsigned long long to, unsigned,
                   void* p) -> int {
    auto* e = static_cast<Ends*>(p);
    auto at = static_cast<size_t>(to);
    // Pattern 0 of a stop database ends past the code point that follows the end.
    if (e->stop && id == 0) {
      do --at;
      while (at > 0 && (e->base[at] & 0xC0) == 0x80);
    }
    e->at.push_back(at);
    return 0;
  };
  if (hi > lo) {
    // A code point the region's end cuts through is scanned whole: it may follow an end.
    size_t to = hi;
    const size_t limit = offset + text.size();
    hs_database_t* db = impl.stop_dbs[r.spec];
    if (db != nullptr) {
      while (to < limit && (static_cast<unsigned char>(text[to - offset]) & 0xC0) == 0x80) ++to;
      if (!valid_utf8(text.substr(lo - offset, to - lo))) {
        db = nullptr;
        to = hi;
      }
    }
    ends.stop = db != nullptr;
    if (!ends.stop) db = impl.start_dbs[r.spec];
    const char* data = text.data() + (lo - offset);
    size_t length = to - lo;
    if (ends.stop && length > kSmallScan) {
      // Past Hyperscan's small-block engine the `\z` alternative costs ~700 cycles a scan: a
      // long region is scanned with a line feed appended (it may follow every finding), so
      // that the pattern followed by the stop class alone reports an end at the region's end.
      // A region cut at the end of its line has one already.
      if (to >= limit || text[to - offset] != '\n') {
        thread_local std::string copy;
        copy.assign(data, length);
        copy += '\n';
        data = copy.data();
        ends.base = reinterpret_cast<const unsigned char*>(data);
      }
      ++length;
      db = impl.stop_long_dbs[r.spec];
    }
    if (hs_scan(db, data, static_cast<unsigned>(length), 0, scratch, on_end, &ends) != HS_SUCCESS)
      return false;
  }
  std::vector<size_t>& at = ends.at;
  for (size_t k = 0; k < at.size(); ++k) {
    const size_t end = lo + at[k];
    if (end <= r.done || (k > 0 && at[k] == at[k - 1])) continue;
    if (may_end_at(spec, text, end - offset)) on_match(RawMatch{r.spec, lo, end});
  }
  return true;
}

template <typename F>
bool scan_regions(const Engine::Impl& impl, hs_scratch_t* scratch, std::string_view text,
                  size_t offset, std::vector<Region>& regions, F&& on_match) {
  struct Ctx {
    F* fn;
    unsigned id;
    size_t base;
    size_t done;
  } ctx{&on_match, 0, 0, 0};
  auto cb = [](unsigned, unsigned long long from, unsigned long long to, unsigned, void* p) -> int {
    auto* c = static_cast<Ctx*>(p);
    const size_t end = c->base + static_cast<size_t>(to);
    if (end > c->done) (*c->fn)(RawMatch{c->id, c->base + static_cast<size_t>(from), end});
    return 0;
  };
  const size_t limit = offset + text.size();
  for (Region& r : regions) {
    const size_t lo = std::max(r.lo, offset);
    size_t hi = std::min(r.hi, limit);
    if (hi <= lo) continue;
    if (r.form == Region::kExact) {
      if (hi != r.hi || r.hi <= r.done) continue;  // the whole candidate or nothing
      bool matched = false;
      auto on_whole = [](unsigned, unsigned long long, unsigned long long, unsigned,
                         void* p) -> int {
        *static_cast<bool*>(p) = true;
        return 1;
      };
      const hs_error_t rc = hs_scan(impl.whole_dbs[r.spec], text.data() + (lo - offset),
                                    static_cast<unsigned>(hi - lo), 0, scratch, on_whole, &matched);
      if (rc != HS_SUCCESS && rc != HS_SCAN_TERMINATED) return false;
      if (matched) on_match(RawMatch{r.spec, lo, hi, true});
      continue;
    }
    if (r.form == Region::kAnchored) {
      if (!scan_anchored_region(impl, scratch, text, offset, r, lo, hi, on_match)) return false;
      continue;
    }
    if (impl.end_dbs[r.spec] != nullptr) {
      if (!scan_region_by_ends(impl, scratch, text, offset, r, lo, hi, on_match)) return false;
      continue;
    }
    ctx.id = r.spec;
    ctx.base = lo;
    ctx.done = r.done;
    if (hs_scan(impl.spec_dbs[r.spec], text.data() + (lo - offset), static_cast<unsigned>(hi - lo),
                0, scratch, cb, &ctx) != HS_SUCCESS)
      return false;
  }
  return true;
}

constexpr size_t kContextBytes = 64;  // how far before a candidate context words are looked for
constexpr size_t kNotAfterBytes = 24;

}  // namespace warden::inspect
