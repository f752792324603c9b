#include "inspect/answer.h"

#include <string.h>

#include <algorithm>

#include "common/json_writer.h"
#include "inspect/validators.h"

namespace warden::inspect {

namespace {

using Field = AnswerStream::Field;
using Segment = JsonToken::Segment;

// Is this string a text-bearing field of a choice? Sets the choice's position k, the field, and
// the tool call's position j in its array (kToolArguments).
bool text_field(std::span<const Segment> p, size_t& k, Field& field, size_t& j) {
  if (p.size() < 3 || !p[0].is("choices") || !p[1].is_index) return false;
  k = p[1].index;
  if (p.size() == 3) {
    if (!p[2].is("text")) return false;
    field = Field::kText;
    return true;
  }
  if (!(p[2].is("delta") || p[2].is("message"))) return false;
  if (p.size() == 4) {
    if (p[3].is("content")) {
      field = Field::kContent;
    } else if (p[3].is("refusal")) {
      field = Field::kRefusal;
    } else if (p[3].is("reasoning_content")) {
      field = Field::kReasoningContent;
    } else if (p[3].is("reasoning")) {
      field = Field::kReasoning;
    } else {
      return false;
    }
    return true;
  }
  if (p.size() == 5 && p[3].is("function_call") && p[4].is("arguments")) {
    field = Field::kFunctionArguments;
    return true;
  }
  if (p.size() == 5 && p[3].is("audio") && p[4].is("transcript")) {
    field = Field::kAudioTranscript;
    return true;
  }
  if (p.size() == 7 && p[3].is("tool_calls") && p[4].is_index && p[5].is("function") &&
      p[6].is("arguments")) {
    field = Field::kToolArguments;
    j = p[4].index;
    return true;
  }
  return false;
}

// Envelope fields whose values are one of a fixed set: not text.
bool enumerated(std::span<const Segment> p, std::string_view raw) {
  if (p.size() == 1 && p[0].is("object"))
    return raw == "\"chat.completion.chunk\"" || raw == "\"chat.completion\"" ||
           raw == "\"text_completion\"";
  if (p.size() == 3 && p[0].is("choices") && p[2].is("finish_reason"))
    return raw == "\"stop\"" || raw == "\"length\"" || raw == "\"tool_calls\"" ||
           raw == "\"content_filter\"" || raw == "\"function_call\"";
  if (p.size() == 4 && p[0].is("choices") && p[3].is("role")) return raw == "\"assistant\"";
  if (p.size() == 6 && p[0].is("choices") && p[3].is("tool_calls") && p[5].is("type"))
    return raw == "\"function\"";
  return false;
}

// Each choice's `logprobs` value and the span of the choice's element. A choice: an element of
// chat's `choices`, or a content part of a Responses `output` item (`output_text` has logprobs).
struct ChoiceSpans {
  std::pair<size_t, size_t> key{SIZE_MAX, SIZE_MAX};
  size_t first = SIZE_MAX;  // the choice's first and last token
  size_t last = 0;
  size_t logprobs_begin = 0;  // the value of "logprobs" (0: none)
  size_t logprobs_end = 0;
};

void note_choice(std::vector<ChoiceSpans>& spans, const JsonToken& t, std::string_view doc) {
  const auto p = t.path;
  std::pair<size_t, size_t> key;
  size_t depth = 0;
  if (p.size() >= 2 && p[0].is("choices") && p[1].is_index) {
    key = {p[1].index, SIZE_MAX};
    depth = 2;
  } else if (p.size() >= 4 && p[0].is("output") && p[1].is_index && p[2].is("content") &&
             p[3].is_index) {
    key = {p[1].index, p[3].index};
    depth = 4;
  } else {
    return;
  }
  auto at =
      std::find_if(spans.begin(), spans.end(), [&](const ChoiceSpans& c) { return c.key == key; });
  if (at == spans.end()) at = spans.insert(spans.end(), ChoiceSpans{key});
  ChoiceSpans& c = *at;
  c.first = std::min(c.first, t.offset);
  c.last = std::max(c.last, t.offset + t.raw.size());
  if (t.kind == JsonToken::kKey && p.size() == depth && t.raw == "\"logprobs\"") {
    size_t v = t.offset + t.raw.size();
    while (v < doc.size() && doc[v] != ':') ++v;
    const size_t end = json_value_end(doc, v + 1);
    if (end == std::string_view::npos) return;
    size_t b = v + 1;
    while (b < end && (doc[b] == ' ' || doc[b] == '\n' || doc[b] == '\r' || doc[b] == '\t')) ++b;
    if (doc.substr(b, end - b) == "null") return;
    c.logprobs_begin = b;
    c.logprobs_end = end;
  }
}

// Replaces the logprobs of the choices in `drop` by null (or an empty list), dropping the splices
// inside them.
void drop_logprobs(const std::vector<ChoiceSpans>& spans, const std::vector<bool>& drop,
                   std::vector<Splice>& splices) {
  bool any = false;
  for (size_t k = 0; k < spans.size() && k < drop.size(); ++k)
    any = any || (drop[k] && spans[k].logprobs_begin != 0);
  if (!any) return;
  for (size_t k = 0; k < spans.size() && k < drop.size(); ++k) {
    const ChoiceSpans& c = spans[k];
    if (!drop[k] || c.logprobs_begin == 0) continue;
    std::erase_if(splices, [&](const Splice& s) {
      return s.begin >= c.logprobs_begin && s.end <= c.logprobs_end;
    });
    // Responses' parts carry an array (its SDKs iterate it); chat's choices take null.
    splices.push_back({static_cast<uint32_t>(c.logprobs_begin),
                       static_cast<uint32_t>(c.logprobs_end),
                       c.key.second == SIZE_MAX ? "null" : "[]"});
  }
  std::sort(splices.begin(), splices.end(),
            [](const Splice& a, const Splice& b) { return a.begin < b.begin; });
}

}  // namespace

AnswerOutcome transform_answer(const Engine& engine, Scratch& scratch, const ActionTable& actions,
                               const Pseudonyms& pseudonyms, std::string& body, bool json) {
  AnswerOutcome outcome;
  if (!json) {
    // Not JSON (an error page): one text, masked where it must be.
    std::vector<Finding> findings;
    if (!scan(engine, scratch, body, findings)) {
      outcome.ok = false;
      return outcome;
    }
    BodyScan scan;
    for (const Finding& f : findings) ++outcome.counts[std::string(f.cls)];
    if (!findings.empty()) {
      scan.strings.push_back(
          {0, static_cast<uint32_t>(body.size()), body, findings, Place::kValue, {}, {}, {}});
      std::vector<Splice> splices = plan_splices(scan, actions, nullptr, &outcome.blocked);
      if (!splices.empty()) {
        // The splice is a JSON string token; the body is text: unquote what it replaces.
        std::string text;
        decode_json_string(
            std::string_view(splices[0].replacement).substr(1, splices[0].replacement.size() - 2),
            text);
        body = std::move(text);
      }
    }
    if (!pseudonyms.empty()) body = pseudonyms.restore(body, false);
    return outcome;
  }
  BodyScan scan;
  BodyScanOptions o;
  o.mode = BodyScanOptions::kAnswer;
  if (scan_body(engine, scratch, body, scan, o) != BodyScanStatus::kOk) {
    outcome.ok = false;
    return outcome;
  }
  outcome.counts = scan.counts;
  bool unmaskable = false;
  std::vector<Splice> splices = plan_splices(scan, actions, nullptr, &outcome.blocked, &unmaskable);
  // A value in a number, a key or deeper-nested JSON cannot be masked in place: the answer is
  // not sent (as for a class whose action is block).
  if (unmaskable) outcome.blocked = true;
  if (!splices.empty()) {
    // A choice whose text changed keeps no logprobs: they would spell what was masked.
    std::vector<ChoiceSpans> spans;
    walk_json(body, o.max_depth, [&](const JsonToken& t) {
      note_choice(spans, t, body);
      return true;
    });
    std::vector<bool> drop(spans.size(), false);
    for (const Splice& s : splices) {
      for (size_t k = 0; k < spans.size(); ++k) {
        if (s.begin >= spans[k].first && s.end <= spans[k].last) drop[k] = true;
      }
    }
    drop_logprobs(spans, drop, splices);
    body = apply_splices(body, std::move(splices));
  }
  if (!pseudonyms.empty()) body = pseudonyms.restore(body, true);
  return outcome;
}

AnswerStream::AnswerStream(const Engine& engine, Scratch& scratch, size_t hold_back,
                           const ActionTable& actions, const Pseudonyms& pseudonyms,
                           Dialect dialect)
    : engine_(engine),
      scratch_(scratch),
      hold_back_(hold_back),
      actions_(actions),
      pseudonyms_(pseudonyms),
      dialect_(dialect) {}

AnswerStream::Channel& AnswerStream::channel(size_t choice, Field field, long tool_call) {
  auto [it, inserted] = channels_.try_emplace({choice, field, tool_call});
  if (inserted) {
    it->second.stream = std::make_unique<TextStream>(engine_, scratch_, hold_back_);
    it->second.choice = choice;
    it->second.field = field;
    it->second.tool_call = tool_call;
  }
  return it->second;
}

void AnswerStream::take(Channel& c, std::string& text, AnswerOutcome& outcome, size_t limit) {
  bool blocked = false;
  text = c.stream->take(actions_, &pseudonyms_, blocked, limit);
  outcome.blocked = outcome.blocked || blocked;
  const auto& f = c.stream->findings();
  for (; c.counted < f.size(); ++c.counted) ++counts_[std::string(f[c.counted].cls)];
}

// An extra event that carries text released at the end of a channel.
std::string AnswerStream::flush_event(const Channel& c, const std::string& text) const {
  if (dialect_ != Dialect::kChat) return api_flush_event(c, text);
  std::string e = "data: {\"id\":" + (id_.empty() ? "\"\"" : id_) +
                  ",\"object\":" + (object_.empty() ? "\"chat.completion.chunk\"" : object_) +
                  ",\"created\":" + (created_.empty() ? "0" : created_) +
                  ",\"model\":" + (model_.empty() ? "\"\"" : model_) +
                  ",\"choices\":[{\"index\":" + std::to_string(c.choice) + ",";
  const std::string v = json_string(text);
  switch (c.field) {
    case Field::kText:
      e += "\"text\":" + v;
      break;
    case Field::kContent:
      e += "\"delta\":{\"content\":" + v + "}";
      break;
    case Field::kRefusal:
      e += "\"delta\":{\"refusal\":" + v + "}";
      break;
    case Field::kReasoningContent:
      e += "\"delta\":{\"reasoning_content\":" + v + "}";
      break;
    case Field::kReasoning:
      e += "\"delta\":{\"reasoning\":" + v + "}";
      break;
    case Field::kFunctionArguments:
      e += "\"delta\":{\"function_call\":{\"arguments\":" + v + "}}";
      break;
    case Field::kAudioTranscript:
      e += "\"delta\":{\"audio\":{\"transcript\":" + v + "}}";
      break;
    case Field::kToolArguments:
      e += "\"delta\":{\"tool_calls\":[{\"index\":" + std::to_string(c.tool_call) +
           ",\"function\":{\"arguments\":" + v + "}}]}";
      break;
  }
  e += ",\"finish_reason\":null}]}\n\n";
  return e;
}

bool AnswerStream::finish_channel(Channel& c, std::string& out, AnswerOutcome& outcome,
                                  bool may_wait) {
  if (c.finished) return true;
  c.finished = true;
  if (may_wait && tail_ == nullptr && chained(c) && c.stream->released() < c.stream->total()) {
    // What it still holds may begin a value the next text part ends: it waits for that part.
    tail_ = &c;
    joined_ = nullptr;
    boundary_ = c.stream->total();
    tail_text_.clear();
    return true;
  }
  if (!c.number.empty()) {
    if (!read_number(c.number, outcome) || !c.stream->feed(c.number)) return false;
    c.number.clear();
  }
  if (!c.escape.empty() && !c.stream->feed(c.escape)) return false;
  c.escape.clear();
  if (!c.stream->finish()) return false;
  std::string released;
  take(c, released, outcome);
  note_shown(c, released);
  if (!released.empty()) out += flush_event(c, released);
  return true;
}

// A string outside the text channels (ids, names, unknown fields): scanned whole, masked where
// it must be. Strings seen before without a finding (the envelope repeats in every event) are
// not scanned again. `replacement` is set (a JSON string token) when the string changes.
bool AnswerStream::scan_whole(std::string_view raw, std::string& replacement,
                              AnswerOutcome& outcome) {
  replacement.clear();
  if (std::find(clean_.begin(), clean_.end(), raw) != clean_.end()) return true;
  std::string text;
  decode_json_string(raw.substr(1, raw.size() - 2), text);
  // Scanned with nested escapes decoded; changed, it keeps the rest as written (plan_splices).
  std::string written;
  std::vector<uint32_t> written_at;
  if (text.find('\\') != std::string::npos) {
    written = text;
    if (!decode_nested_escapes(written, text, &written_at)) written.clear();
  }
  if (!scan(engine_, scratch_, text, findings_)) return false;
  if (findings_.empty()) {
    if (raw.size() <= 256) {
      if (clean_.size() >= 32) clean_.erase(clean_.begin());
      clean_.emplace_back(raw);
    }
    const std::string& as_written = written_at.empty() ? text : written;
    if (!pseudonyms_.empty() && as_written.find("\xe2\x9f\xa8") != std::string::npos)
      replacement = json_string(pseudonyms_.restore(as_written, false));
    return true;
  }
  BodyScan one;
  for (const Finding& f : findings_) ++counts_[std::string(f.cls)];
  one.strings.push_back(
      {0, 0, text, findings_, Place::kValue, {}, std::move(written), std::move(written_at)});
  bool blocked = false;
  const std::vector<Splice> s = plan_splices(one, actions_, nullptr, &blocked);
  outcome.blocked = outcome.blocked || blocked;
  if (!s.empty()) {
    std::string masked;
    decode_json_string(std::string_view(s[0].replacement).substr(1, s[0].replacement.size() - 2),
                       masked);
    text = std::move(masked);
  } else if (!one.strings[0].written_at.empty()) {
    text = one.strings[0].written;  // nothing replaced: as written
  }
  replacement = json_string(pseudonyms_.empty() ? text : pseudonyms_.restore(text, false));
  return true;
}

namespace {

// JSON text (arguments) may end a delta inside an escape ("\u00"): that part waits for the
// next delta, so its escapes are decoded whole. Returns the length that can be decoded now.
size_t complete_escapes(std::string_view s) {
  size_t i = 0;
  while ((i = s.find('\\', i)) != std::string_view::npos) {
    if (i + 1 >= s.size()) return i;
    if (s[i + 1] != 'u') {
      i += 2;
      continue;
    }
    if (i + 6 > s.size()) return i;
    // A high surrogate waits for its low half.
    const std::string_view hex = s.substr(i + 2, 4);
    const bool high =
        (hex[0] == 'd' || hex[0] == 'D') && (hex[1] == '8' || hex[1] == '9' || hex[1] == 'a' ||
                                             hex[1] == 'A' || hex[1] == 'b' || hex[1] == 'B');
    if (high && i + 12 > s.size()) return i;
    i += 6;
  }
  return s.size();
}

}  // namespace

bool AnswerStream::feed(Channel& c, std::string_view raw, std::string& released,
                        AnswerOutcome& outcome) {
  std::string& decoded = decoded_;
  decode_json_string(raw.substr(1, raw.size() - 2), decoded);
  if (c.field == Field::kToolArguments || c.field == Field::kFunctionArguments) {
    // Arguments are JSON text: their own escapes decoded before they are scanned.
    c.escape += decoded;
    const size_t n = complete_escapes(c.escape);
    decoded.assign(c.escape, 0, n);
    c.escape.erase(0, n);
    if (!hold_number(c, decoded, outcome)) return false;
    decode_nested_escapes(decoded, decoded);
  }
  if (!c.stream->feed(decoded)) return false;
  if (&c == joined_) return take_joined(c, released, outcome);
  take(c, released, outcome);
  return true;
}

namespace {

bool number_char(char ch) {
  return (ch >= '0' && ch <= '9') || ch == '.' || ch == 'e' || ch == 'E' || ch == '+' || ch == '-';
}

}  // namespace

// JSON text streamed (arguments): a number literal is held until the byte after it has arrived,
// then read whole. Its digits as written go to the text stream with it; in another notation
// (5.555555555554444e15) it is also read as the integer a parser sees.
bool AnswerStream::hold_number(Channel& c, std::string& text, AnswerOutcome& outcome) {
  // A literal longer than any identifier's digits is not held further.
  constexpr size_t kMaxNumber = 128;
  std::string& out = number_text_;
  out.clear();
  for (const char ch : text) {
    if (!c.number.empty()) {
      if (number_char(ch) && c.number.size() < kMaxNumber) {
        c.number += ch;
        continue;
      }
      if (!read_number(c.number, outcome)) return false;
      out += c.number;
      c.number.clear();
    }
    if (c.in_string) {
      if (c.escaped) {
        c.escaped = false;
      } else if (ch == '\\') {
        c.escaped = true;
      } else if (ch == '"') {
        c.in_string = false;
      }
    } else if (ch == '"') {
      c.in_string = true;
    } else if (ch == '-' || (ch >= '0' && ch <= '9')) {
      c.number = ch;
      continue;
    }
    out += ch;
  }
  text.swap(out);
  return true;
}

// A number cannot be masked without changing its type: a finding in one ends the answer, as in a
// whole answer (the literal is not released: the stream ends with this event).
bool AnswerStream::read_number(const std::string& literal, AnswerOutcome& outcome) {
  std::string digits;
  if (!number_integer_digits(literal, digits)) return true;
  if (!scan(engine_, scratch_, digits, findings_)) return false;
  for (const Finding& f : findings_) {
    ++counts_[std::string(f.cls)];
    if (actions_.action_for(f.cls) != Action::kAllow) outcome.blocked = true;
  }
  return true;
}

namespace {

// Does a `"logprobs"` key of `data` hold anything but an empty list or null?
bool holds_logprobs(std::string_view data) {
  constexpr std::string_view kKey = "\"logprobs\"";
  auto skip = [&](size_t i) {
    while (i < data.size() &&
           (data[i] == ' ' || data[i] == '\n' || data[i] == '\r' || data[i] == '\t'))
      ++i;
    return i;
  };
  // memmem: string_view::find stops at every quote (memchr on the needle's first byte), and
  // an event is mostly quotes.
  auto find = [&](size_t from) -> size_t {
    const void* at = ::memmem(data.data() + from, data.size() - from, kKey.data(), kKey.size());
    return at == nullptr ? std::string_view::npos
                         : static_cast<size_t>(static_cast<const char*>(at) - data.data());
  };
  for (size_t at = find(0); at != std::string_view::npos; at = find(at + kKey.size())) {
    size_t v = skip(at + kKey.size());
    if (v >= data.size() || data[v] != ':') continue;  // a string value, not a key
    v = skip(v + 1);
    if (data.substr(v, 4) == "null") continue;
    if (v < data.size() && data[v] == '[' && skip(v + 1) < data.size() && data[skip(v + 1)] == ']')
      continue;
    return true;
  }
  return false;
}

// Stands for the text of the part that waits in the events kept back with it (the text is known
// once the wait ends). Control bytes cannot appear raw in the JSON an upstream sends.
constexpr std::string_view kWaitingText = "\x01waiting\x01";

}  // namespace

void AnswerStream::note_shown(Channel& c, std::string_view text) {
  if (dialect_ == Dialect::kResponses && c.field == Field::kText) c.shown.append(text);
}

void AnswerStream::fill_waiting(std::string& events, const Channel& c) const {
  size_t at = events.find(kWaitingText);
  if (at == std::string::npos) return;
  const std::string v = json_string(c.shown);
  for (; at != std::string::npos; at = events.find(kWaitingText, at + v.size()))
    events.replace(at, kWaitingText.size(), v);
}

bool AnswerStream::chained(const Channel& c) const {
  return dialect_ != Dialect::kChat && c.field == Field::kText;
}

void AnswerStream::emit(std::string_view s) {
  sink_->insert(mark_, s);
  mark_ += s.size();
}

// The next text part's text went into the stream of the part that waits: what is released up
// to the boundary is the waiting part's. Once all of it is released, it goes out in that part's
// own delta, then the events that waited; the rest is this part's.
bool AnswerStream::take_joined(Channel& b, std::string& text, AnswerOutcome& outcome) {
  std::string share;
  take(b, share, outcome, boundary_);
  tail_text_ += share;
  text.clear();
  if (b.stream->released() < boundary_) return true;
  note_shown(*tail_, tail_text_);
  if (!tail_text_.empty()) emit(flush_event(*tail_, tail_text_));
  fill_waiting(deferred_, *tail_);
  last_tail_ = tail_;
  emit(deferred_);
  deferred_.clear();
  tail_text_.clear();
  tail_ = nullptr;
  joined_ = nullptr;
  take(b, text, outcome);
  return true;
}

// Ends the wait without the next part deciding: the stream is finished and each part gets its
// share (the next part, if one joined, is finished with it).
bool AnswerStream::end_wait(std::string& out, AnswerOutcome& outcome) {
  if (tail_ == nullptr) return true;
  sink_ = &out;
  Channel& owner = joined_ != nullptr ? *joined_ : *tail_;
  if (!owner.stream->finish()) return false;
  std::string text;
  take(owner, text, outcome, boundary_);
  tail_text_ += text;
  note_shown(*tail_, tail_text_);
  if (!tail_text_.empty()) emit(flush_event(*tail_, tail_text_));
  fill_waiting(deferred_, *tail_);
  last_tail_ = tail_;
  emit(deferred_);
  Channel* b = joined_;
  tail_ = nullptr;
  joined_ = nullptr;
  deferred_.clear();
  tail_text_.clear();
  if (b != nullptr) {
    b->finished = true;
    take(*b, text, outcome);
    note_shown(*b, text);
    if (!text.empty()) emit(flush_event(*b, text));
  }
  return true;
}

namespace {

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// Messages and Responses: is this string of an event of `type` a channel's text, and which?
bool api_text_field(AnswerStream::Dialect d, std::span<const Segment> p, std::string_view type,
                    Field& field) {
  if (d == AnswerStream::Dialect::kMessages) {
    if (p.size() != 2) return false;
    const bool delta = type == "content_block_delta" && p[0].is("delta");
    const bool start = type == "content_block_start" && p[0].is("content_block");
    if (!delta && !start) return false;
    if (p[1].is("text")) {
      field = Field::kText;
    } else if (p[1].is("thinking")) {
      field = Field::kReasoning;
    } else if (delta && p[1].is("partial_json")) {
      field = Field::kToolArguments;  // JSON text
    } else {
      return false;
    }
    return true;
  }
  // Responses: the `delta` of every `*.delta` event, those Warden does not know too.
  if (p.size() != 1 || !p[0].is("delta") || !ends_with(type, ".delta")) return false;
  if (type == "response.output_text.delta") {
    field = Field::kText;
  } else if (type == "response.refusal.delta") {
    field = Field::kRefusal;
  } else if (type == "response.function_call_arguments.delta" ||
             type == "response.mcp_call_arguments.delta") {
    field = Field::kToolArguments;  // JSON text
  } else if (type == "response.reasoning_summary_text.delta") {
    field = Field::kReasoning;
  } else if (type == "response.reasoning_text.delta") {
    field = Field::kReasoningContent;
  } else if (type == "response.audio.transcript.delta") {
    field = Field::kAudioTranscript;
  } else {
    field = Field::kContent;
  }
  return true;
}

// Values of type tags and states in Messages and Responses events: a fixed set, not text. Any
// other value of these fields is scanned.
bool api_enumerated(std::span<const Segment> p, std::string_view raw) {
  static constexpr std::string_view kValues[] = {
      "assistant",
      "completed",
      "content_block_delta",
      "content_block_start",
      "content_block_stop",
      "end_turn",
      "error",
      "function_call",
      "in_progress",
      "incomplete",
      "input_json_delta",
      "max_tokens",
      "message",
      "message_delta",
      "message_start",
      "message_stop",
      "output_text",
      "ping",
      "reasoning",
      "redacted_thinking",
      "response",
      "response.completed",
      "response.content_part.added",
      "response.content_part.done",
      "response.created",
      "response.function_call_arguments.delta",
      "response.function_call_arguments.done",
      "response.in_progress",
      "response.output_item.added",
      "response.output_item.done",
      "response.output_text.delta",
      "response.output_text.done",
      "response.reasoning_summary_part.added",
      "response.reasoning_summary_part.done",
      "response.reasoning_summary_text.delta",
      "response.reasoning_summary_text.done",
      "signature_delta",
      "stop_sequence",
      "summary_text",
      "text",
      "text_delta",
      "thinking",
      "thinking_delta",
      "tool_use",
      "user",
  };
  if (p.empty() || p.back().is_index) return false;
  const std::string_view k = p.back().key;
  if (k != "type" && k != "role" && k != "status" && k != "object" && k != "stop_reason")
    return false;
  const std::string_view v = raw.substr(1, raw.size() - 2);
  return std::binary_search(std::begin(kValues), std::end(kValues), v);
}

}  // namespace

// While a closed text part waits: does this event show that no text part follows it (or, once
// one joined, that the joined part ends)? Then the wait ends before the event.
bool AnswerStream::ends_wait(simdjson::dom::element root, std::string_view type) const {
  // The events that wait are those between two parts (a few): more is not a stream of text.
  constexpr size_t kMaxDeferred = 64 * 1024;
  if (deferred_.size() > kMaxDeferred) return true;
  std::string_view t;
  uint64_t index = 0;
  if (dialect_ == Dialect::kMessages) {
    if (type == "message_delta" || type == "message_stop" || type == "error") return true;
    if (type == "content_block_start")
      return joined_ != nullptr ||
             root["content_block"]["type"].get_string().get(t) != simdjson::SUCCESS || t != "text";
    if (type == "content_block_stop" && joined_ != nullptr)
      return root["index"].get_uint64().get(index) != simdjson::SUCCESS || index == joined_->choice;
    return false;
  }
  if (type == "response.completed" || type == "response.incomplete" || type == "response.failed" ||
      type == "error")
    return true;
  if (type == "response.output_item.added")
    return joined_ != nullptr || root["item"]["type"].get_string().get(t) != simdjson::SUCCESS ||
           t != "message";
  if (type == "response.content_part.added")
    return joined_ != nullptr || root["part"]["type"].get_string().get(t) != simdjson::SUCCESS ||
           t != "output_text";
  if (joined_ != nullptr && ends_with(type, ".done")) {
    uint64_t part = 0;
    if (root["output_index"].get_uint64().get(index) != simdjson::SUCCESS) return true;
    if (root["content_index"].get_uint64().get(part) != simdjson::SUCCESS)
      return index == joined_->choice;
    return index == joined_->choice && static_cast<long>(part) == joined_->tool_call;
  }
  return joined_ == nullptr && ends_with(type, ".delta") && type != "response.output_text.delta";
}

const AnswerStream::Channel* AnswerStream::repeated_part(
    simdjson::dom::element root, std::string_view type,
    std::span<const JsonToken::Segment> holder) const {
  const size_t n = holder.size();
  uint64_t item = 0;
  uint64_t part = 0;
  if ((type == "response.output_text.done" && n == 0) ||
      (type == "response.content_part.done" && n == 1 && holder[0].is("part"))) {
    if (root["output_index"].get_uint64().get(item) != simdjson::SUCCESS ||
        root["content_index"].get_uint64().get(part) != simdjson::SUCCESS)
      return nullptr;
  } else if (type == "response.output_item.done" && n == 3 && holder[0].is("item") &&
             holder[1].is("content") && holder[2].is_index) {
    if (root["output_index"].get_uint64().get(item) != simdjson::SUCCESS) return nullptr;
    part = holder[2].index;
  } else if ((type == "response.completed" || type == "response.incomplete" ||
              type == "response.failed") &&
             n == 5 && holder[0].is("response") && holder[1].is("output") && holder[2].is_index &&
             holder[3].is("content") && holder[4].is_index) {
    item = holder[2].index;  // output items are listed in the order of their output_index
    part = holder[4].index;
  } else {
    return nullptr;
  }
  const auto it = channels_.find(Key{item, Field::kText, static_cast<long>(part)});
  return it == channels_.end() ? nullptr : &it->second;
}

std::string AnswerStream::api_flush_event(const Channel& c, const std::string& text) const {
  const std::string v = json_string(text);
  if (dialect_ == Dialect::kMessages) {
    std::string e =
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":" +
        std::to_string(c.choice) + ",\"delta\":";
    switch (c.field) {
      case Field::kReasoning:
        e += "{\"type\":\"thinking_delta\",\"thinking\":" + v;
        break;
      case Field::kToolArguments:
        e += "{\"type\":\"input_json_delta\",\"partial_json\":" + v;
        break;
      default:
        e += "{\"type\":\"text_delta\",\"text\":" + v;
        break;
    }
    e += "}}\n\n";
    return e;
  }
  const std::string type = json_string(c.event_type);
  std::string e = "event: " + c.event_type + "\ndata: {\"type\":" + type;
  if (!c.item_id.empty()) e += ",\"item_id\":" + c.item_id;
  e += ",\"output_index\":" + std::to_string(c.choice);
  if (!c.index_key.empty())
    e += ",\"" + std::string(c.index_key) + "\":" + std::to_string(c.tool_call);
  e += ",\"delta\":" + v + "}\n\n";
  return e;
}

bool AnswerStream::finish_closed(simdjson::dom::element root, std::string_view type,
                                 std::string& out, AnswerOutcome& outcome) {
  if (channels_.empty()) return true;
  bool all = false;
  uint64_t index = 0;
  long second = -1;  // Responses: the content or summary part a `.done` event closes
  if (dialect_ == Dialect::kMessages) {
    if (type == "content_block_stop") {
      if (root["index"].get_uint64().get(index) != simdjson::SUCCESS) all = true;
    } else if (type == "message_delta" || type == "message_stop" || type == "error") {
      all = true;
    } else {
      return true;
    }
  } else {
    if (type == "response.completed" || type == "response.incomplete" ||
        type == "response.failed" || type == "error") {
      all = true;
    } else if (ends_with(type, ".done")) {
      if (root["output_index"].get_uint64().get(index) != simdjson::SUCCESS) all = true;
      uint64_t part = 0;
      if (root["content_index"].get_uint64().get(part) == simdjson::SUCCESS ||
          root["summary_index"].get_uint64().get(part) == simdjson::SUCCESS)
        second = static_cast<long>(part);
    } else {
      return true;
    }
  }
  for (auto& [key, c] : channels_) {
    if (!all && (c.choice != index || (second >= 0 && c.tool_call != second))) continue;
    if (!finish_channel(c, out, outcome, !all)) return false;
  }
  return true;
}

AnswerOutcome AnswerStream::on_event(std::string_view name, std::string_view data,
                                     std::string& out) {
  AnswerOutcome outcome;
  if (data == "[DONE]" && name.empty()) {  // some compatible servers end Responses streams so
    outcome = finish(out);
    out += "data: [DONE]\n\n";
    return outcome;
  }
  simdjson::dom::element root;
  if (parser_.parse(data.data(), data.size()).get(root) != simdjson::SUCCESS) {
    outcome.ok = false;
    return outcome;
  }
  std::string_view type = name;
  if (root["type"].get_string().get(type) != simdjson::SUCCESS) type = name;
  sink_ = &out;
  mark_ = out.size();
  if (tail_ != nullptr && ends_wait(root, type) && !end_wait(out, outcome)) {
    outcome.ok = false;
    return outcome;
  }
  mark_ = out.size();
  // Text held by the channels this event closes goes out before it (a `.done` event repeats
  // the whole text: scanned whole below).
  if (!finish_closed(root, type, out, outcome)) {
    outcome.ok = false;
    return outcome;
  }
  std::vector<Splice> splices;
  std::string released;
  std::string replacement;
  // Responses deltas may carry logprobs: their tokens spell the delta's text, so they go
  // (emptied) whenever that text did not pass as it came (held or changed), as in chat.
  // Keys are walked to find them only in events where a `logprobs` holds something (servers
  // send an empty list in every delta when none were asked for).
  const bool logprobs = dialect_ == Dialect::kResponses && holds_logprobs(data);
  size_t logprobs_begin = 0;
  size_t logprobs_end = 0;
  bool dirty = false;
  struct PartLogprobs {
    const Channel* part;
    size_t begin;
    size_t end;
  };
  std::vector<PartLogprobs> repeated_logprobs;
  std::vector<const Channel*> changed_parts;
  bool waiting = false;  // a repeated text stands for the waiting part's
  const BodyScanStatus st = walk_json(
      data, 64,
      [&](const JsonToken& t) {
        if (t.kind == JsonToken::kKey) {
          if (t.raw != "\"logprobs\"") return true;
          size_t v = t.offset + t.raw.size();
          while (v < data.size() && data[v] != ':') ++v;
          const size_t end = json_value_end(data, v + 1);
          if (end == std::string_view::npos) return true;
          if (const Channel* part = repeated_part(root, type, t.path)) {
            repeated_logprobs.push_back({part, v + 1, end});
          } else if (t.path.empty()) {
            logprobs_begin = v + 1;
            logprobs_end = end;
          }
          return true;
        }
        Field field = Field::kContent;
        if (!api_text_field(dialect_, t.path, type, field)) {
          if (api_enumerated(t.path, t.raw)) return true;
          // A text a Responses event repeats (`.done`, response.completed) is what the part's
          // deltas showed, masked and joined as they were; its logprobs go if that differs.
          if (dialect_ == Dialect::kResponses && !t.path.empty() && t.path.back().is("text")) {
            if (const Channel* part = repeated_part(root, type, t.path.first(t.path.size() - 1))) {
              decode_json_string(t.raw.substr(1, t.raw.size() - 2), decoded_);
              if (part == tail_) {
                waiting = true;
                changed_parts.push_back(part);
                splices.push_back({static_cast<uint32_t>(t.offset),
                                   static_cast<uint32_t>(t.offset + t.raw.size()),
                                   std::string(kWaitingText)});
              } else if (part->shown != decoded_) {
                changed_parts.push_back(part);
                splices.push_back({static_cast<uint32_t>(t.offset),
                                   static_cast<uint32_t>(t.offset + t.raw.size()),
                                   json_string(part->shown)});
              }
              return true;
            }
          }
          if (!scan_whole(t.raw, replacement, outcome)) return false;
          if (!replacement.empty())
            splices.push_back({static_cast<uint32_t>(t.offset),
                               static_cast<uint32_t>(t.offset + t.raw.size()), replacement});
          return true;
        }
        uint64_t index = 0;
        long second = -1;
        std::string_view index_key;
        if (dialect_ == Dialect::kMessages) {
          if (root["index"].get_uint64().get(index) != simdjson::SUCCESS) index = 0;
        } else {
          if (root["output_index"].get_uint64().get(index) != simdjson::SUCCESS) index = 0;
          uint64_t part = 0;
          if (root["content_index"].get_uint64().get(part) == simdjson::SUCCESS) {
            index_key = "content_index";
          } else if (root["summary_index"].get_uint64().get(part) == simdjson::SUCCESS) {
            index_key = "summary_index";
          }
          if (!index_key.empty()) second = static_cast<long>(part);
        }
        const auto found = channels_.find(Key{index, field, second});
        const bool fresh = found == channels_.end() || found->second.finished;
        // Responses items come one after the other: a text part of a later item, or a later
        // part of the same item, closes the text part before it (whose `.done` may not come).
        if (dialect_ == Dialect::kResponses && field == Field::kText && fresh && tail_ == nullptr &&
            last_text_ != nullptr && !last_text_->finished &&
            (index > last_text_->choice ||
             (index == last_text_->choice && second > last_text_->tool_call)) &&
            !finish_channel(*last_text_, out, outcome, true))
          return false;
        if (tail_ != nullptr && joined_ == nullptr && field == Field::kText && fresh &&
            (found == channels_.end() || &found->second != tail_)) {
          // The next text part: its text goes on in the stream of the part that waits.
          Channel& b = channel(index, field, second);
          b.stream = std::move(tail_->stream);
          b.finished = false;
          b.counted = tail_->counted;
          joined_ = &b;
        } else if (tail_ != nullptr && joined_ == nullptr) {
          if (!end_wait(out, outcome)) return false;  // what comes is not a next text part
        } else if (tail_ != nullptr && found != channels_.end() && &found->second == tail_) {
          if (!end_wait(out, outcome)) return false;
        }
        Channel& c = channel(index, field, second);
        if (c.finished) {  // a part closed before: what comes now is a new one
          c.stream = std::make_unique<TextStream>(engine_, scratch_, hold_back_);
          c.finished = false;
          c.counted = 0;
          c.escape.clear();
          c.number.clear();
          c.in_string = false;
          c.escaped = false;
        }
        if (dialect_ == Dialect::kResponses) {
          c.event_type = type;
          c.index_key = index_key;
          simdjson::dom::element id;
          if (root["item_id"].get(id) == simdjson::SUCCESS) c.item_id = simdjson::minify(id);
          if (field == Field::kText) last_text_ = &c;
        }
        if (!feed(c, t.raw, released, outcome)) return false;
        note_shown(c, released);
        dirty = dirty || released != decoded_ || c.stream->released() != c.stream->total() ||
                !c.escape.empty() || !c.number.empty() || tail_ != nullptr;
        splices.push_back({static_cast<uint32_t>(t.offset),
                           static_cast<uint32_t>(t.offset + t.raw.size()), json_string(released)});
        return true;
      },
      visit_bit(JsonToken::kString) | (logprobs ? visit_bit(JsonToken::kKey) : 0));
  if (st != BodyScanStatus::kOk) {
    outcome.ok = false;
    return outcome;
  }
  auto empty_logprobs = [&](size_t begin, size_t end) {
    std::erase_if(splices, [&](const Splice& s) { return s.begin >= begin && s.end <= end; });
    splices.push_back({static_cast<uint32_t>(begin), static_cast<uint32_t>(end), "[]"});
  };
  if (dirty && logprobs_begin != 0) empty_logprobs(logprobs_begin, logprobs_end);
  for (const PartLogprobs& l : repeated_logprobs) {
    if (std::find(changed_parts.begin(), changed_parts.end(), l.part) != changed_parts.end())
      empty_logprobs(l.begin, l.end);
  }
  if ((dirty && logprobs_begin != 0) || !repeated_logprobs.empty())
    std::sort(splices.begin(), splices.end(),
              [](const Splice& a, const Splice& b) { return a.begin < b.begin; });
  if (!name.empty()) {
    // The event's name is text from the upstream too.
    const std::string raw_name = json_string(name);
    if (!scan_whole(raw_name, replacement, outcome)) {
      outcome.ok = false;
      return outcome;
    }
    std::string shown;
    if (!replacement.empty())
      decode_json_string(replacement.substr(1, replacement.size() - 2), shown);
    out += "event: ";
    out += replacement.empty() ? name : std::string_view(shown);
    out += '\n';
  }
  out += "data: ";
  out += splices.empty() ? std::string(data) : apply_splices(data, std::move(splices));
  out += "\n\n";
  if (tail_ != nullptr) {  // this event waits with the text part before it
    deferred_.append(out, mark_);
    out.resize(mark_);
  } else if (waiting && last_tail_ != nullptr) {  // the wait ended within this event
    std::string mine = out.substr(mark_);
    fill_waiting(mine, *last_tail_);
    out.replace(mark_, std::string::npos, mine);
  }
  return outcome;
}

AnswerOutcome AnswerStream::on_data(std::string_view data, std::string& out) {
  AnswerOutcome outcome;
  if (data == "[DONE]") {
    outcome = finish(out);
    out += "data: [DONE]\n\n";
    return outcome;
  }
  simdjson::dom::element root;
  if (parser_.parse(data.data(), data.size()).get(root) != simdjson::SUCCESS) {
    outcome.ok = false;
    return outcome;
  }
  // The envelope, for events this stream has to add.
  simdjson::dom::element v;
  if (root["id"].get(v) == simdjson::SUCCESS) id_ = simdjson::minify(v);
  if (root["object"].get(v) == simdjson::SUCCESS) object_ = simdjson::minify(v);
  if (root["created"].get(v) == simdjson::SUCCESS) created_ = simdjson::minify(v);
  if (root["model"].get(v) == simdjson::SUCCESS) model_ = simdjson::minify(v);

  std::vector<Splice> splices;
  std::vector<ChoiceSpans> spans;
  std::vector<bool>& dirty = dirty_;  // by position: a choice whose text changed or is held
  dirty.clear();
  std::string& decoded = decoded_;
  std::string released;
  std::string replacement;
  // Keys are walked to find logprobs, only in events that carry them.
  const bool logprobs = data.find("\"logprobs\"") != std::string_view::npos;
  const uint8_t what = visit_bit(JsonToken::kString) | (logprobs ? visit_bit(JsonToken::kKey) : 0);
  const BodyScanStatus st = walk_json(
      data, 64,
      [&](const JsonToken& t) {
        if (logprobs) note_choice(spans, t, data);
        if (t.kind != JsonToken::kString) return true;
        size_t k = 0;
        size_t j = 0;
        Field field = Field::kContent;
        if (!text_field(t.path, k, field, j)) {
          if (enumerated(t.path, t.raw)) return true;
          if (!scan_whole(t.raw, replacement, outcome)) return false;
          if (!replacement.empty())
            splices.push_back({static_cast<uint32_t>(t.offset),
                               static_cast<uint32_t>(t.offset + t.raw.size()), replacement});
          return true;
        }
        // A choice is named by its "index", a tool call by its own "index" (not array positions).
        simdjson::dom::element choice;
        uint64_t index = k;
        if (root["choices"].at(k).get(choice) == simdjson::SUCCESS)
          if (choice["index"].get_uint64().get(index) != simdjson::SUCCESS) index = k;
        long tool = -1;
        if (field == Field::kToolArguments) {
          uint64_t ti = j;
          if (choice["delta"]["tool_calls"].at(j)["index"].get_uint64().get(ti) !=
                  simdjson::SUCCESS &&
              choice["message"]["tool_calls"].at(j)["index"].get_uint64().get(ti) !=
                  simdjson::SUCCESS)
            ti = j;
          tool = static_cast<long>(ti);
        }
        Channel& c = channel(index, field, tool);
        if (!feed(c, t.raw, released, outcome)) return false;
        if (logprobs && (released != decoded || !c.escape.empty() ||
                         c.stream->released() != c.stream->total())) {
          if (dirty.size() <= k) dirty.resize(k + 1, false);
          dirty[k] = true;
        }
        splices.push_back({static_cast<uint32_t>(t.offset),
                           static_cast<uint32_t>(t.offset + t.raw.size()), json_string(released)});
        return true;
      },
      what);
  if (st != BodyScanStatus::kOk) {
    outcome.ok = false;
    return outcome;
  }
  // Logprobs of a choice whose text did not pass as it came would spell what is held or masked.
  if (logprobs) drop_logprobs(spans, dirty, splices);
  // A choice that finishes releases what its channels still hold, just before this event.
  simdjson::dom::array choices;
  if (root["choices"].get_array().get(choices) == simdjson::SUCCESS) {
    for (simdjson::dom::element ch : choices) {
      std::string_view reason;
      uint64_t index = 0;
      if (ch["finish_reason"].get_string().get(reason) != simdjson::SUCCESS) continue;
      if (ch["index"].get_uint64().get(index) != simdjson::SUCCESS) index = 0;
      for (auto& [key, c] : channels_) {
        if (c.choice != index) continue;
        if (!finish_channel(c, out, outcome)) {
          outcome.ok = false;
          return outcome;
        }
      }
    }
  }
  out += "data: ";
  out += splices.empty() ? std::string(data) : apply_splices(data, std::move(splices));
  out += "\n\n";
  return outcome;
}

AnswerOutcome AnswerStream::finish(std::string& out) {
  AnswerOutcome outcome;
  sink_ = &out;
  mark_ = out.size();
  if (!end_wait(out, outcome)) {
    outcome.ok = false;
    return outcome;
  }
  for (auto& [key, c] : channels_) {
    if (!finish_channel(c, out, outcome)) {
      outcome.ok = false;
      return outcome;
    }
  }
  return outcome;
}

}  // namespace warden::inspect
