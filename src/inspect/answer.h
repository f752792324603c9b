// Answers: what comes back from the model passes through inspection before the client sees it.
// Untrusted input: upstream answers (whole JSON bodies and SSE event payloads).
//
//  - transform_answer(): a whole answer — findings masked per the actions, pseudonyms restored.
//  - AnswerStream: SSE chat/completion chunks — each choice's text deltas and each tool call's
//    argument deltas run through their own TextStream; events are rewritten with the text that
//    may be released; what is held back is released in extra events before the choice finishes.
#pragma once

#include <simdjson.h>

#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "inspect/body.h"
#include "inspect/stream.h"

namespace warden::inspect {

struct AnswerOutcome {
  bool ok = true;        // false: the answer could not be inspected (fail closed)
  bool blocked = false;  // a class whose action is block appeared
  std::map<std::string, uint32_t, std::less<>> counts;  // classes found in the answer
};

// Masks findings (any action but allow) and restores pseudonyms in a whole JSON answer.
AnswerOutcome transform_answer(const Engine& engine, Scratch& scratch, const ActionTable& actions,
                               const Pseudonyms& pseudonyms, std::string& body);

class AnswerStream {
 public:
  AnswerStream(const Engine& engine, Scratch& scratch, size_t hold_back, const ActionTable& actions,
               const Pseudonyms& pseudonyms);

  // One event's data payload in; the SSE text to send instead (zero or more whole events).
  AnswerOutcome on_data(std::string_view data, std::string& out);
  // End of the stream ([DONE] or the upstream closed): releases everything still held.
  AnswerOutcome finish(std::string& out);

  const std::map<std::string, uint32_t, std::less<>>& counts() const { return counts_; }

 private:
  struct Channel {
    std::unique_ptr<TextStream> stream;
    size_t choice = 0;
    long tool_call = -1;  // -1: the choice's text
    bool finished = false;
  };
  Channel& channel(size_t choice, long tool_call);
  void count(const TextStream& s, size_t& counted);
  std::string flush_event(const Channel& c, const std::string& text) const;
  bool take(Channel& c, std::string& text, AnswerOutcome& outcome);

  const Engine& engine_;
  Scratch& scratch_;
  size_t hold_back_;
  const ActionTable& actions_;
  const Pseudonyms& pseudonyms_;
  simdjson::dom::parser parser_;
  std::map<std::pair<size_t, long>, Channel> channels_;
  std::map<std::pair<size_t, long>, size_t> counted_;
  std::map<std::string, uint32_t, std::less<>> counts_;
  std::string id_, created_, model_, object_;  // raw JSON of the last event's envelope
};

}  // namespace warden::inspect
