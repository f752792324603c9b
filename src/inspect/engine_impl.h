// Engine internals shared by the block scanner (engine.cpp) and the stream scanner (stream.cpp).
#pragma once

#include <hs/hs.h>

#include <string_view>
#include <vector>

#include "inspect/detectors.h"
#include "inspect/inspect.h"

namespace warden::inspect {

struct Engine::Impl {
  std::vector<DetectorSpec> specs;  // pattern id = index
  // Block mode runs in two stages: every pattern without start-of-match tracking (twice as fast)
  // finds where matches end; then only the windows around those ends are scanned again, each by
  // its pattern alone with start tracking, to learn where the matches begin.
  hs_database_t* prefilter_db = nullptr;
  hs_database_t* stream_prefilter_db = nullptr;  // streaming mode, no start tracking
  std::vector<hs_database_t*> window_dbs;        // one per spec
  ~Impl() {
    hs_free_database(prefilter_db);
    hs_free_database(stream_prefilter_db);
    for (hs_database_t* db : window_dbs) hs_free_database(db);
  }
};

struct RawMatch {
  unsigned id;
  size_t from;
  size_t to;
};

// Turns one raw pattern match into a finding, if it is one. `text` must hold every byte from
// at least 64 bytes before `from` (context) up to the match's end plus one code point.
// `text_offset` is the absolute offset of text[0]; match offsets are absolute.
bool evaluate(const DetectorSpec& spec, std::string_view text, size_t text_offset,
              const RawMatch& m, bool text_complete, Finding& out);

// Sorts findings by start and resolves overlaps (the longer, then the more confident, wins).
void resolve_overlaps(std::vector<Finding>& findings);

constexpr size_t kContextBytes = 64;  // how far before a candidate context words are looked for

}  // namespace warden::inspect
