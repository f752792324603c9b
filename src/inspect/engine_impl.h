// Engine internals shared by the block scanner (engine.cpp) and the stream scanner (stream.cpp).
//
// Finding candidates costs far less than running every detector's pattern over every byte
// (Hyperscan runs the class-led number patterns at ~30 ns/byte when combined; bench/inspect_bench):
//   1. One literal database (no start-of-match tracking, block and streaming mode) holds the
//      anchors of anchored detectors, every context word and, whole, the custom detectors. Its
//      hits open candidate regions and record where context words stand.
//   2. A cluster pass (clusters.h) finds number-like runs; each is scanned by the number
//      detectors whose lower bounds it meets.
//   3. Each candidate region is scanned by its detector's own database, with start-of-match
//      tracking; every match is evaluated (boundaries, validator, context).
#pragma once

#include <hs/hs.h>

#include <algorithm>
#include <string>
#include <string_view>
#include <vector>

#include "inspect/detectors.h"
#include "inspect/inspect.h"

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
  std::vector<uint16_t> cluster_specs;   // specs gated by clusters
  size_t longest_word = 0;
  hs_database_t* literal_db = nullptr;
  hs_database_t* literal_stream_db = nullptr;
  std::vector<hs_database_t*> spec_dbs;  // one per spec, with start-of-match tracking
  ~Impl() {
    hs_free_database(literal_db);
    hs_free_database(literal_stream_db);
    for (hs_database_t* db : spec_dbs) hs_free_database(db);
  }
};

// Where a context word was found: [start, end) in absolute offsets.
struct WordHit {
  uint32_t start;
  uint32_t end;
  uint16_t word;
};

// A stretch of text one detector's own database must scan: [lo, hi), absolute offsets; `hi` may
// lie beyond the text seen so far (streams). Matches ending at or before `done` were reported.
struct Region {
  uint16_t spec;
  bool anchored;  // from one anchor: cut at the detector's extent, never merged
  size_t lo;
  size_t hi;
  size_t done;
};

struct RawMatch {
  unsigned id;
  size_t from;
  size_t to;
};

// Turns the literal-database hit (`id`, ending at `end`) into regions and word hits.
void on_literal_hit(const Engine::Impl& impl, unsigned id, size_t end, std::vector<Region>& regions,
                    std::vector<WordHit>& words);

// Adds the regions of the number clusters in the text from `from` on (absolute offsets; text[0]
// is at `offset`). Returns where the next pass resumes: the end, or with `complete` false (a
// stream) the start of what may still grow into a cluster. `held` (streams) receives the start
// of a cluster still growing, which must not be released, or the text's end.
size_t add_cluster_regions(const Engine::Impl& impl, std::string_view text, size_t offset,
                           size_t from, bool complete, std::vector<Region>& regions,
                           size_t* held = nullptr);

// Context lookups over the word hits (sorted by end) of a text.
struct ContextIndex {
  const Engine::Impl* impl;
  const std::vector<WordHit>* hits;
  std::string_view text;  // the bytes around the hits
  size_t offset;          // absolute offset of text[0]
  // Whether one of `ids` stands whole, ending at or before `start` and starting at or after
  // `start - bytes`.
  bool any_before(const std::vector<uint16_t>& ids, size_t start, size_t bytes) const;
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

// The first byte in text[from, to) that ends `extent`, or npos.
size_t extent_end(Extent extent, std::string_view text, size_t from, size_t to);

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
    if (r.anchored) {
      // No match crosses the extent's end after the anchor: the region ends there for good.
      const DetectorSpec& spec = impl.specs[r.spec];
      const size_t cut =
          extent_end(spec.extent, text, std::min(lo + spec.before, hi) - offset, hi - offset);
      if (cut != std::string_view::npos) hi = r.hi = offset + cut;
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
constexpr size_t kMaxAnchorRegion = 4096;  // longest region after an anchor with an extent

}  // namespace warden::inspect
