// Streamed answers: text arrives in chunks (SSE deltas); findings must be caught — and
// pseudonyms restored — even when split across chunks, without buffering the whole answer.
//
// Each channel of text (one choice's content, or one tool call's arguments) has a TextStream.
// Chunks go through a Hyperscan stream; text is released to the client only up to a point that
// no undecided candidate and no partial pseudonym token reaches, and at least `hold_back` bytes
// behind the newest byte. So a finding or pseudonym no longer than the window is transformed
// before any byte of it is sent, and the findings do not depend on how the text was chunked.
// A private-key block is held from its BEGIN line until its END line (at most kMaxHeld bytes).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "inspect/body.h"
#include "inspect/inspect.h"

struct hs_stream;

namespace warden::inspect {

class TextStream {
 public:
  static constexpr size_t kMaxHeld = 64 * 1024;

  TextStream(const Engine& engine, Scratch& scratch, size_t hold_back);
  ~TextStream();
  TextStream(const TextStream&) = delete;
  TextStream& operator=(const TextStream&) = delete;

  // Scans `chunk`. Returns false when the scan failed (the caller ends the stream: fail closed).
  bool feed(std::string_view chunk);
  // No more text: everything becomes decidable and releasable.
  bool finish();

  // The text that may be sent now, with findings replaced per `actions` ("[EMAIL]"; block and
  // pseudonymise also mask in answers) and pseudonym tokens restored from `pseudonyms`.
  // Sets `blocked` when a finding whose action is block was reached.
  std::string take(const ActionTable& actions, const Pseudonyms* pseudonyms, bool& blocked);

  const std::vector<Finding>& findings() const { return findings_; }  // absolute offsets
  size_t total() const { return total_; }
  size_t released() const { return released_; }

 private:
  bool decide(bool finished);
  size_t release_point() const;

  const Engine& engine_;
  Scratch& scratch_;
  size_t hold_back_;
  hs_stream* stream_ = nullptr;
  std::string text_;  // bytes [base_, total_)
  size_t base_ = 0;
  size_t total_ = 0;
  size_t released_ = 0;
  bool finished_ = false;
  bool failed_ = false;
  struct Pending {
    unsigned id;
    size_t from;
    size_t to;
  };
  std::vector<Pending> pending_;
  struct End {
    unsigned id;
    size_t to;
  };
  std::vector<End> ends_;            // this chunk's match ends (stage 1)
  std::vector<size_t> last_end_;     // per pattern: the last end already turned into a match
  std::vector<Finding> findings_;    // decided, sorted by start, non-overlapping
  std::vector<Finding> candidates_;  // decided this round, before overlap resolution
};

}  // namespace warden::inspect
