// The OpenAI wire format: request bodies in, usage and SSE events out.
// Untrusted input: client request bodies (parse_call) and upstream answers (usage, SSE events).
#pragma once

#include <simdjson.h>

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "catalog/catalog.h"
#include "common/result.h"

namespace warden {

// A validated API call. Views point into the request body, which outlives the call.
struct Call {
  CallKind kind = CallKind::kChat;
  std::string_view model;   // the logical model the client named
  size_t model_offset = 0;  // byte span of the model's JSON string token (quotes included)
  size_t model_length = 0;
  bool stream = false;
  bool include_usage = false;   // stream_options.include_usage
  bool stream_options = false;  // the client sent stream_options (with or without usage)
  bool has_tools = false;
  // `store` (Responses: true when absent; chat: false when absent; other APIs keep nothing).
  bool store = false;
  // Tools the provider runs (common/tools.h), by type, and the hosts of the MCP servers named
  // (Responses' mcp tools' server_url, Anthropic's mcp_servers' url): request.server_tools and
  // request.mcp_hosts. Owned: the parser's strings are reused.
  std::vector<std::string> server_tools;
  std::vector<std::string> mcp_hosts;
  uint32_t estimated_input_tokens = 0;
  // max_completion_tokens, else max_tokens (-1: neither), times `n` choices: the answer's
  // worst case, for limits.
  int64_t max_output_tokens = -1;
};

// Parses and validates the body of a POST to the endpoint of `kind`. The body must be valid
// UTF-8 JSON; required fields must be present with the right types; unknown fields pass.
Result<Call> parse_call(CallKind kind, std::string_view body, simdjson::dom::parser& parser);

struct Usage {
  int64_t prompt_tokens = -1;  // -1: not reported
  int64_t completion_tokens = -1;
  bool reported() const { return prompt_tokens >= 0 || completion_tokens >= 0; }
};

// Reads `usage` from a completion object (a whole answer or one stream event's data).
// Returns false when `json` is not valid JSON. `usage_only`, when given, tells whether the
// object is the usage event that stream_options.include_usage adds: usage and no choices.
bool read_usage(std::string_view json, simdjson::dom::parser& parser, Usage& usage,
                bool* usage_only = nullptr);
// The same for Anthropic Messages and OpenAI Responses answers and events (input_tokens,
// output_tokens; also inside message_start's `message` and response.completed's `response`).
bool read_api_usage(std::string_view json, simdjson::dom::parser& parser, Usage& usage);

// Splits a byte stream of Server-Sent Events into whole events. Bounded: an event larger than
// `max_event_bytes` is an error (the stream is malformed or hostile).
class SseSplitter {
 public:
  explicit SseSplitter(size_t max_event_bytes = 1 << 20) : max_event_bytes_(max_event_bytes) {}

  // Appends `data`; returns the length of the prefix of the buffered text that consists of
  // whole events (each ending with a blank line; LF or CRLF line ends). -1 when an event
  // exceeds the bound.
  int64_t feed(std::string_view data);
  // The buffered text; its first feed() bytes are whole events.
  std::string_view buffered() const { return buf_; }
  // Drops the first `n` bytes (after the caller has handled them).
  void consume(size_t n) {
    buf_.erase(0, n);
    scanned_ = scanned_ > n ? scanned_ - n : 0;
  }
  bool empty() const { return buf_.empty(); }

 private:
  std::string buf_;
  size_t scanned_ = 0;
  size_t max_event_bytes_;
};

// Calls `on_data(payload)` for the data of each event in `events` (whole events, as cut by
// SseSplitter); multi-line data is joined with '\n' as the SSE specification says. Returns false
// when a line is not a valid SSE field line.
bool for_each_sse_data(std::string_view events,
                       const std::function<bool(std::string_view)>& on_data);

// Calls `on_event(name, data)` for each event with data in `events`: `name` is its `event:` field
// (empty when it has none). Anthropic's and the Responses API's events are named; Anthropic's
// SDK ignores an event without its name, so the name is kept with the rewritten data.
bool for_each_sse_event(std::string_view events,
                        const std::function<bool(std::string_view, std::string_view)>& on_event);

}  // namespace warden
