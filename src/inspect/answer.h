// Answers: what comes back from the model passes through inspection before the client sees it.
// Untrusted input: upstream answers (whole JSON bodies, SSE event payloads, error bodies).
//
//  - transform_answer(): a whole answer — every string scanned, findings masked per the actions,
//    pseudonyms restored; a choice whose text was masked loses its logprobs (they would spell
//    the original). A body that is not JSON (an upstream error page) is scanned as one text.
//  - AnswerStream: SSE chat/completion chunks — every text-bearing field of every choice has its
//    own channel (a TextStream) keyed by (choice index, field, tool-call index): content, text,
//    refusal, reasoning, tool-call and function-call arguments, audio transcripts. Events are
//    rewritten with the text that may be released; what is held back is released in extra events
//    before the choice finishes. Every other string of an event is scanned whole; a choice's
//    logprobs pass only in an event where its text passed unchanged and nothing was held.
//    Anthropic Messages and OpenAI Responses events (on_event) are read the same way: each
//    content block's text, thinking and tool input (Messages), each output item's text, refusal,
//    reasoning and function-call arguments, and any other `*.delta` (Responses) is a channel; an
//    event of a type Warden does not know has every string scanned whole.
#pragma once

#include <simdjson.h>

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <tuple>

#include "inspect/body.h"
#include "inspect/stream.h"

namespace warden::inspect {

struct AnswerOutcome {
  bool ok = true;        // false: the answer could not be inspected (fail closed)
  bool blocked = false;  // a class whose action is block appeared
  std::map<std::string, uint32_t, std::less<>> counts;  // classes found in the answer
};

// Masks findings (any action but allow) and restores pseudonyms in a whole answer; `json` false:
// the body is not JSON and is scanned as one text.
AnswerOutcome transform_answer(const Engine& engine, Scratch& scratch, const ActionTable& actions,
                               const Pseudonyms& pseudonyms, std::string& body, bool json = true);

class AnswerStream {
 public:
  // Which API's events the stream carries.
  enum class Dialect : uint8_t { kChat, kMessages, kResponses };

  AnswerStream(const Engine& engine, Scratch& scratch, size_t hold_back, const ActionTable& actions,
               const Pseudonyms& pseudonyms, Dialect dialect = Dialect::kChat);

  // One event's data payload in; the SSE text to send instead (zero or more whole events).
  AnswerOutcome on_data(std::string_view data, std::string& out);
  // The same for the named events of Messages and Responses: `name` is the `event:` field, kept
  // on the event sent.
  AnswerOutcome on_event(std::string_view name, std::string_view data, std::string& out);
  // End of the stream ([DONE] or the upstream closed): releases everything still held.
  AnswerOutcome finish(std::string& out);

  const std::map<std::string, uint32_t, std::less<>>& counts() const { return counts_; }

  // The text-bearing fields of a choice, each a channel of its own.
  enum class Field : uint8_t {
    kContent,
    kText,
    kRefusal,
    kReasoningContent,
    kReasoning,
    kToolArguments,
    kFunctionArguments,
    kAudioTranscript,
  };

 private:
  struct Channel {
    std::unique_ptr<TextStream> stream;
    size_t choice = 0;
    Field field = Field::kContent;
    long tool_call = -1;  // the tool call's `index` (kToolArguments)
    bool finished = false;
    size_t counted = 0;  // findings already counted
    std::string escape;  // JSON text (arguments): an escape cut at the end of a delta
    // JSON text (arguments): a number literal not ended yet, held until it is whole and read as
    // the integer a parser sees (5.555555555554444e15); where the text is inside a string.
    std::string number;
    bool in_string = false;
    bool escaped = false;
    // Responses text parts: the text their deltas showed, which the `.done` events and
    // response.completed repeat (they are made to repeat this, not the upstream's text).
    std::string shown;
    // Responses: the delta event's type, its item_id (raw JSON) and the name of its second
    // index (content_index, summary_index), for the events that release held text.
    std::string event_type;
    std::string item_id;
    std::string_view index_key;
  };
  using Key = std::tuple<size_t, Field, long>;
  Channel& channel(size_t choice, Field field, long tool_call);
  void take(Channel& c, std::string& text, AnswerOutcome& outcome, size_t limit = SIZE_MAX);
  std::string flush_event(const Channel& c, const std::string& text) const;
  std::string api_flush_event(const Channel& c, const std::string& text) const;
  // `may_wait`: a text part closing while it holds a tail may wait for the next one (tail_).
  bool finish_channel(Channel& c, std::string& out, AnswerOutcome& outcome, bool may_wait = false);
  bool hold_number(Channel& c, std::string& text, AnswerOutcome& outcome);
  bool read_number(const std::string& literal, AnswerOutcome& outcome);
  // Messages and Responses: consecutive text parts.
  bool chained(const Channel& c) const;
  bool take_joined(Channel& b, std::string& text, AnswerOutcome& outcome);
  bool end_wait(std::string& out, AnswerOutcome& outcome);
  bool ends_wait(simdjson::dom::element root, std::string_view type) const;
  void note_shown(Channel& c, std::string_view text);
  void fill_waiting(std::string& events, const Channel& c) const;
  // Responses: the text part whose text (or logprobs) a string of a repeating event at `holder`
  // (the object holding it) repeats, if its deltas were streamed.
  const Channel* repeated_part(simdjson::dom::element root, std::string_view type,
                               std::span<const JsonToken::Segment> holder) const;
  // Feeds one JSON string token of a channel's text in; `released` is what may go out now.
  bool feed(Channel& c, std::string_view raw, std::string& released, AnswerOutcome& outcome);
  // Messages and Responses: finishes the channels an event closes, releasing what they hold.
  bool finish_closed(simdjson::dom::element root, std::string_view type, std::string& out,
                     AnswerOutcome& outcome);
  bool scan_whole(std::string_view raw, std::string& replacement, AnswerOutcome& outcome);

  const Engine& engine_;
  Scratch& scratch_;
  size_t hold_back_;
  const ActionTable& actions_;
  const Pseudonyms& pseudonyms_;
  Dialect dialect_;
  simdjson::dom::parser parser_;
  std::map<Key, Channel> channels_;
  std::map<std::string, uint32_t, std::less<>> counts_;
  std::vector<std::string> clean_;  // strings seen whole without a finding (ids, names, models)
  std::vector<Finding> findings_;
  std::vector<bool> dirty_;  // per event, reused
  std::string decoded_;
  std::string id_, created_, model_, object_;  // raw JSON of the last event's envelope
  // Messages and Responses: a reader joins consecutive text parts (content blocks, output_text
  // parts of one or of consecutive items) into one text. A text part that closes while its
  // stream still holds a tail (a value may go on in the next part) waits: its closing event and
  // those after it are kept in `deferred_` until the next text part, fed into the same stream
  // (`joined_`), has decided the tail — released in the closed part's own delta, a value across
  // the boundary masked whole there — or until an event shows no text part follows.
  Channel* tail_ = nullptr;
  Channel* joined_ = nullptr;
  Channel* last_text_ = nullptr;  // Responses: the latest text part (items come one by one)
  Channel* last_tail_ = nullptr;  // the part that waited last
  size_t boundary_ = 0;           // where the closed part's text ends in its stream
  std::string tail_text_;         // the closed part's text released, not sent yet
  std::string deferred_;
  std::string* sink_ = nullptr;  // the caller's output during on_event() and finish()
  size_t mark_ = 0;              // where the current event's own output begins in it
  std::string number_text_;
  void emit(std::string_view s);
};

}  // namespace warden::inspect
