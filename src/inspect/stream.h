// Streamed answers: text arrives in chunks (SSE deltas); findings must be caught — and
// pseudonyms restored — even when split across chunks, without buffering the whole answer.
//
// Each channel of text (one choice's content, or one tool call's arguments) has a TextStream.
// Every chunk goes through the literal database in streaming mode and the number-cluster pass.
// Text is released up to the first byte that may still be part of a finding not decided yet:
// an undecided match (held until it is decided; a private-key block from its BEGIN line until
// its END line, at most kMaxHeld bytes), a region still open after an anchor or an assignment
// ("password="), a number cluster that may still grow, the beginning of an anchor or context
// word ("AKI"), a last word that an '@' would make an address's local part, a pseudonym token
// not closed yet. These are held at most `hold_back` bytes behind the newest byte (the longest
// value the window promises to catch across chunks); an undecided match is held whatever its
// length. A decided finding is released whole, once no finding still undecided may overlap it.
// So plain prose leaves as it arrives but its last word, a value still forming is held until it
// is decided, and output and findings do not depend on how the text was chunked.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "inspect/body.h"
#include "inspect/engine_impl.h"
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
  // Sets `blocked` when a finding whose action is block was reached. `limit`: release nothing
  // beyond this offset (the end of one text part when the next shares the stream), except a
  // finding across it, released whole (its replacement goes with the part it begins in).
  std::string take(const ActionTable& actions, const Pseudonyms* pseudonyms, bool& blocked,
                   size_t limit = SIZE_MAX);

  const std::vector<Finding>& findings() const { return findings_; }  // absolute offsets
  size_t total() const { return total_; }
  size_t released() const { return released_; }

 private:
  bool advance();
  bool decide(bool finished);
  bool settled(const RawMatch& p) const;
  size_t release_point() const;
  size_t hold_from() const;
  bool begins_literal(size_t i) const;
  std::vector<Finding>::const_iterator unreleased() const;

  const Engine& engine_;
  Scratch& scratch_;
  size_t hold_back_;
  hs_stream* stream_ = nullptr;
  std::string text_;  // bytes [base_, total_)
  size_t base_ = 0;
  size_t total_ = 0;
  size_t scanned_ = 0;              // bytes through the literal database and the cluster pass
  size_t cluster_from_ = 0;         // where the cluster pass resumes
  size_t open_cluster_ = SIZE_MAX;  // start of the cluster that reached the end last round
  size_t released_ = 0;
  bool finished_ = false;
  bool failed_ = false;
  bool scanned_since_take_ = false;
  std::vector<Region> regions_;      // regions reaching beyond the scanned text
  std::vector<Region> fresh_;        // this round's regions
  std::vector<RawMatch> pending_;    // matches not decided yet
  std::vector<Finding> findings_;    // decided, sorted by start, non-overlapping
  std::vector<Finding> candidates_;  // decided this round, before overlap resolution
};

}  // namespace warden::inspect
