#include "api/api.h"

#include "common/json_scan.h"
#include "common/tools.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <optional>
#include <vector>

namespace warden {

namespace {

using simdjson::dom::element;
using simdjson::dom::element_type;

GatewayError invalid(std::string message) {
  return make_error(ErrorCode::kInvalidRequest, std::move(message));
}

const char* type_name(element_type t) {
  switch (t) {
    case element_type::ARRAY:
      return "an array";
    case element_type::OBJECT:
      return "an object";
    case element_type::INT64:
    case element_type::UINT64:
    case element_type::DOUBLE:
      return "a number";
    case element_type::STRING:
      return "a string";
    case element_type::BOOL:
      return "a boolean";
    case element_type::NULL_VALUE:
      return "null";
  }
  return "a value";
}

bool is_number(element e) {
  const auto t = e.type();
  return t == element_type::INT64 || t == element_type::UINT64 || t == element_type::DOUBLE;
}

// Optional scalar fields and the types they must have when present.
struct FieldRule {
  const char* name;
  enum { kNumber, kBool, kString, kObject, kArray, kStringOrArray } type;
};

std::optional<GatewayError> check_optional(simdjson::dom::object obj,
                                           std::initializer_list<FieldRule> rules) {
  for (const FieldRule& rule : rules) {
    element e;
    if (obj[rule.name].get(e) != simdjson::SUCCESS) continue;
    if (e.is_null()) continue;  // explicit null means "default" in OpenAI's API
    bool ok = false;
    const char* want = "";
    switch (rule.type) {
      case FieldRule::kNumber:
        ok = is_number(e);
        want = "a number";
        break;
      case FieldRule::kBool:
        ok = e.is_bool();
        want = "a boolean";
        break;
      case FieldRule::kString:
        ok = e.is_string();
        want = "a string";
        break;
      case FieldRule::kObject:
        ok = e.is_object();
        want = "an object";
        break;
      case FieldRule::kArray:
        ok = e.is_array();
        want = "an array";
        break;
      case FieldRule::kStringOrArray:
        ok = e.is_string() || e.is_array();
        want = "a string or an array";
        break;
    }
    if (!ok) {
      return invalid(std::string("'") + rule.name + "' must be " + want + ", not " +
                     type_name(e.type()) + ".");
    }
  }
  return std::nullopt;
}

// Each element of a `messages` array: an object with a string 'role'; `check` judges the rest.
template <typename Check>
std::optional<GatewayError> each_message(element messages, Check&& check) {
  simdjson::dom::array arr;
  if (messages.get_array().get(arr) != simdjson::SUCCESS)
    return invalid(std::string("'messages' must be an array, not ") + type_name(messages.type()) +
                   ".");
  if (arr.size() == 0) return invalid("'messages' must contain at least one message.");
  size_t i = 0;
  for (element m : arr) {
    const std::string where = "'messages[" + std::to_string(i++) + "]'";
    simdjson::dom::object obj;
    if (m.get_object().get(obj) != simdjson::SUCCESS) return invalid(where + " must be an object.");
    std::string_view role;
    if (obj["role"].get_string().get(role) != simdjson::SUCCESS)
      return invalid(where + " needs a string 'role'.");
    if (auto e = check(where, obj, role)) return e;
  }
  return std::nullopt;
}

// An array content: every element an object with a string 'type' (chat's parts, Anthropic's
// blocks; every one is inspected, whatever its type).
std::optional<GatewayError> check_typed(element content, const std::string& where,
                                        const char* what) {
  if (!content.is_array()) return std::nullopt;
  for (element part : content.get_array()) {
    simdjson::dom::object po;
    std::string_view type;
    if (part.get_object().get(po) != simdjson::SUCCESS ||
        po["type"].get_string().get(type) != simdjson::SUCCESS) {
      return invalid(where + ".content " + what + " must be objects with a string 'type'.");
    }
  }
  return std::nullopt;
}

std::optional<GatewayError> check_messages(element messages) {
  return each_message(
      messages,
      [](const std::string& where, simdjson::dom::object obj,
         std::string_view role) -> std::optional<GatewayError> {
        if (role != "system" && role != "user" && role != "assistant" && role != "tool" &&
            role != "developer" && role != "function") {
          return invalid(where + " has an unknown role.");
        }
        element content;
        if (obj["content"].get(content) != simdjson::SUCCESS) {
          if (role != "assistant") return invalid(where + " needs 'content'.");
          return std::nullopt;
        }
        if (!content.is_string() && !content.is_array() && !content.is_null())
          return invalid(where + ".content must be a string, an array of parts or null.");
        return check_typed(content, where, "parts");
      });
}

// Anthropic's messages: user and assistant turns whose content is a string or an array of typed
// blocks (text, image, document, tool_use, tool_result, thinking, …).
std::optional<GatewayError> check_anthropic_messages(element messages) {
  return each_message(
      messages,
      [](const std::string& where, simdjson::dom::object obj,
         std::string_view role) -> std::optional<GatewayError> {
        if (role != "user" && role != "assistant") return invalid(where + " has an unknown role.");
        element content;
        if (obj["content"].get(content) != simdjson::SUCCESS)
          return invalid(where + " needs 'content'.");
        if (!content.is_string() && !content.is_array())
          return invalid(where + ".content must be a string or an array of content blocks.");
        return check_typed(content, where, "blocks");
      });
}

// The JSON string token of the top-level "model" value, located without a second parse: the
// document is already validated, so a depth-tracking scan for the key at depth 1 is exact.
// (simdjson's DOM does not keep source offsets; its On-Demand API would need a padded copy.)
// Returns the number of top-level "model" keys found (the span is the first one's).
int locate_model_token(std::string_view body, size_t& offset, size_t& length) {
  int found = 0;
  int depth = 0;
  bool expect_key = false;
  for (size_t i = 0; i < body.size(); ++i) {
    const char c = body[i];
    if (c == '{') {
      ++depth;
      expect_key = depth == 1;
    } else if (c == '[') {
      ++depth;
    } else if (c == '}' || c == ']') {
      --depth;
    } else if (c == ',') {
      expect_key = depth == 1;
    } else if (c == '"') {
      const size_t j = json_string_close(body, i);
      if (j == std::string_view::npos) return found;
      if (expect_key) {
        // Compared after unescaping: "\u006dodel" is the key "model" to every upstream parser.
        const std::string_view raw_key = body.substr(i + 1, j - i - 1);
        bool is_model = raw_key == "model";
        if (!is_model && raw_key.find('\\') != std::string_view::npos) {
          std::string decoded;
          decode_json_string(raw_key, decoded);
          is_model = decoded == "model";
        }
        expect_key = false;
        i = j;
        if (is_model) {
          size_t k = i + 1;
          while (k < body.size() && body[k] != ':') ++k;
          ++k;
          while (k < body.size() &&
                 (body[k] == ' ' || body[k] == '\t' || body[k] == '\n' || body[k] == '\r'))
            ++k;
          if (k >= body.size() || body[k] != '"') return found;
          const size_t e = json_string_close(body, k);
          if (e == std::string_view::npos) return found;
          if (found++ == 0) {
            offset = k;
            length = e - k + 1;
          }
          i = e;
        }
        continue;
      }
      i = j;
    }
  }
  return found;
}

// Any object at any depth with a key twice (compared after unescaping: simdjson's DOM holds the
// decoded keys) → the first such key. Parsers disagree on which duplicate wins (Node, Python and
// Go keep the last), so a second key could carry a value past inspection and the decision.
bool duplicate_key(element e, std::string_view& dup);

// Objects of up to kPairwise keys are compared pair by pair (no allocation; keys of requests
// mostly differ in their length or first byte); larger ones are sorted. Each walk allocating a
// stack and a key list cost ~2,000 instructions a request.
constexpr size_t kPairwise = 16;

bool duplicate_in_object(simdjson::dom::object obj, std::string_view& dup) {
  std::array<std::string_view, kPairwise> few;
  std::vector<std::string_view> many;
  size_t n = 0;
  for (auto field : obj) {
    if (n < kPairwise) {
      for (size_t j = 0; j < n; ++j) {
        if (few[j] == field.key) {
          dup = field.key;
          return true;
        }
      }
      few[n] = field.key;
    } else {
      if (many.empty()) many.assign(few.begin(), few.end());
      many.push_back(field.key);
    }
    ++n;
    if (duplicate_key(field.value, dup)) return true;
  }
  if (many.empty()) return false;
  std::sort(many.begin(), many.end());
  const auto at = std::adjacent_find(many.begin(), many.end());
  if (at == many.end()) return false;
  dup = *at;
  return true;
}

// Any object at any depth with a key twice (compared after unescaping: simdjson's DOM holds the
// decoded keys) → true with the first such key found. Parsers disagree on which duplicate wins
// (Node, Python and Go keep the last), so a second key could carry a value past inspection and
// the decision. Recursive: the depth is bounded by the parser's (validated before).
bool duplicate_key(element e, std::string_view& dup) {
  if (e.is_array()) {
    for (element v : e.get_array()) {
      if (duplicate_key(v, dup)) return true;
    }
    return false;
  }
  simdjson::dom::object obj;
  if (e.get_object().get(obj) != simdjson::SUCCESS) return false;
  return duplicate_in_object(obj, dup);
}

// request.server_tools and request.mcp_hosts: what the provider is asked to run, and where.
void read_server_tools(const simdjson::dom::object& obj, Call& call) {
  auto add = [](std::vector<std::string>& to, std::string v) {
    if (!v.empty() && std::find(to.begin(), to.end(), v) == to.end()) to.push_back(std::move(v));
  };
  simdjson::dom::array list;
  std::string_view v;
  if (obj["tools"].get_array().get(list) == simdjson::SUCCESS) {
    for (element tool : list) {
      if (tool["type"].get_string().get(v) != simdjson::SUCCESS || client_tool_type(v)) continue;
      add(call.server_tools, std::string(v));
      if (v == "mcp" && tool["server_url"].get_string().get(v) == simdjson::SUCCESS)
        add(call.mcp_hosts, url_host(v));
    }
  }
  if (obj["mcp_servers"].get_array().get(list) == simdjson::SUCCESS) {
    add(call.server_tools, "mcp");
    for (element server : list) {
      if (server["url"].get_string().get(v) == simdjson::SUCCESS) add(call.mcp_hosts, url_host(v));
    }
  }
  if (obj["web_search_options"].error() == simdjson::SUCCESS) add(call.server_tools, "web_search");
}

}  // namespace

Result<Call> parse_call(CallKind kind, std::string_view body, simdjson::dom::parser& parser) {
  element root;
  // simdjson validates UTF-8 and the whole structure; a copy is made only if padding is short.
  if (auto err = parser.parse(body.data(), body.size()).get(root); err != simdjson::SUCCESS) {
    if (err == simdjson::UTF8_ERROR)
      return make_error(ErrorCode::kMalformedJson, "The request body is not valid UTF-8.");
    return make_error(
        ErrorCode::kMalformedJson,
        std::string("The request body is not valid JSON: ") + simdjson::error_message(err));
  }
  simdjson::dom::object obj;
  if (root.get_object().get(obj) != simdjson::SUCCESS)
    return invalid("The request body must be a JSON object.");
  if (std::string_view dup; duplicate_key(root, dup)) {
    std::string shown(dup.substr(0, 64));
    while (shown.size() < dup.size() && !shown.empty() &&
           (static_cast<unsigned char>(dup[shown.size()]) & 0xC0) == 0x80)
      shown.pop_back();  // never cut a UTF-8 character
    return invalid("The key '" + shown + "' appears twice in one object.");
  }

  Call call;
  call.kind = kind;
  element model;
  if (obj["model"].get(model) != simdjson::SUCCESS) return invalid("'model' is required.");
  if (model.get_string().get(call.model) != simdjson::SUCCESS)
    return invalid(std::string("'model' must be a string, not ") + type_name(model.type()) + ".");
  if (call.model.empty()) return invalid("'model' must not be empty.");

  if (auto e = check_optional(obj, {{"stream", FieldRule::kBool},
                                    {"stream_options", FieldRule::kObject},
                                    {"max_tokens", FieldRule::kNumber},
                                    {"max_completion_tokens", FieldRule::kNumber},
                                    {"temperature", FieldRule::kNumber},
                                    {"top_p", FieldRule::kNumber},
                                    {"n", FieldRule::kNumber},
                                    {"user", FieldRule::kString},
                                    {"tools", FieldRule::kArray},
                                    {"metadata", FieldRule::kObject},
                                    {"stop", FieldRule::kStringOrArray}})) {
    return *e;
  }
  bool flag = false;
  if (obj["stream"].get_bool().get(flag) == simdjson::SUCCESS) call.stream = flag;
  simdjson::dom::object stream_options;
  if (obj["stream_options"].get_object().get(stream_options) == simdjson::SUCCESS) {
    call.stream_options = true;
    if (stream_options["include_usage"].get_bool().get(flag) == simdjson::SUCCESS)
      call.include_usage = flag;
  }
  // The output's worst case (limits reserve it): the newer field wins, as at OpenAI.
  int64_t max_out = -1;
  if (obj["max_completion_tokens"].get_int64().get(max_out) != simdjson::SUCCESS &&
      obj["max_tokens"].get_int64().get(max_out) != simdjson::SUCCESS)
    max_out = -1;
  if (max_out >= 0) {
    int64_t choices = 1;
    if (obj["n"].get_int64().get(choices) != simdjson::SUCCESS || choices < 1) choices = 1;
    call.max_output_tokens = max_out * std::min<int64_t>(choices, 128);
  }
  simdjson::dom::array tools;
  call.has_tools = obj["tools"].get_array().get(tools) == simdjson::SUCCESS && tools.size() > 0;
  read_server_tools(obj, call);
  if (obj["store"].get_bool().get(flag) == simdjson::SUCCESS)
    call.store = flag;
  else
    call.store = kind == CallKind::kResponses;  // OpenAI keeps a response unless told not to

  switch (kind) {
    case CallKind::kChat: {
      element messages;
      if (obj["messages"].get(messages) != simdjson::SUCCESS)
        return invalid("'messages' is required.");
      if (auto e = check_messages(messages)) return *e;
      break;
    }
    case CallKind::kCompletion: {
      element prompt;
      if (obj["prompt"].get(prompt) != simdjson::SUCCESS) return invalid("'prompt' is required.");
      if (!prompt.is_string() && !prompt.is_array())
        return invalid("'prompt' must be a string or an array.");
      break;
    }
    case CallKind::kEmbedding: {
      element input;
      if (obj["input"].get(input) != simdjson::SUCCESS) return invalid("'input' is required.");
      if (!input.is_string() && !input.is_array())
        return invalid("'input' must be a string or an array.");
      if (input.is_array() && input.get_array().size() == 0)
        return invalid("'input' must not be empty.");
      if (call.stream) return invalid("Embeddings cannot be streamed.");
      break;
    }
    case CallKind::kMessages:
    case CallKind::kCountTokens: {
      element messages;
      if (obj["messages"].get(messages) != simdjson::SUCCESS)
        return invalid("'messages' is required.");
      if (auto e = check_anthropic_messages(messages)) return *e;
      element system;
      if (obj["system"].get(system) == simdjson::SUCCESS && !system.is_string() &&
          !system.is_array())
        return invalid("'system' must be a string or an array of text blocks.");
      if (kind == CallKind::kMessages) {
        element max_tokens;
        if (obj["max_tokens"].get(max_tokens) != simdjson::SUCCESS)
          return invalid("'max_tokens' is required.");
      } else if (call.stream) {
        return invalid("Counting tokens cannot be streamed.");
      }
      break;
    }
    case CallKind::kResponses: {
      // `input` is a string or a list of items (messages, function calls and their outputs,
      // reasoning items); a continuation may name only `previous_response_id`.
      element input;
      const bool has_input = obj["input"].get(input) == simdjson::SUCCESS;
      if (has_input && !input.is_string() && !input.is_array())
        return invalid("'input' must be a string or an array of items.");
      if (has_input && input.is_array()) {
        size_t i = 0;
        for (element item : input.get_array()) {
          if (!item.is_object())
            return invalid("'input[" + std::to_string(i) + "]' must be an object.");
          ++i;
        }
      }
      if (auto e = check_optional(obj, {{"instructions", FieldRule::kString},
                                        {"previous_response_id", FieldRule::kString},
                                        {"store", FieldRule::kBool},
                                        {"max_output_tokens", FieldRule::kNumber}})) {
        return *e;
      }
      break;
    }
  }
  // A rough estimate (about 4 bytes a token) for limits until a tokenizer is wired in.
  call.estimated_input_tokens = static_cast<uint32_t>(body.size() / 4);
  // Parsers disagree on which duplicate key wins; a second "model" could smuggle an id past the
  // rewrite, so it is refused.
  const int models = locate_model_token(body, call.model_offset, call.model_length);
  if (models != 1) return invalid("'model' must appear exactly once.");
  return call;
}

bool read_usage(std::string_view json, simdjson::dom::parser& parser, Usage& usage,
                bool* usage_only) {
  if (usage_only != nullptr) *usage_only = false;
  element root;
  if (parser.parse(json.data(), json.size()).get(root) != simdjson::SUCCESS) return false;
  simdjson::dom::object u;
  if (root["usage"].get_object().get(u) != simdjson::SUCCESS) return true;
  if (usage_only != nullptr) {
    simdjson::dom::array choices;
    const auto err = root["choices"].get_array().get(choices);
    *usage_only =
        err == simdjson::NO_SUCH_FIELD || (err == simdjson::SUCCESS && choices.size() == 0);
  }
  int64_t v = 0;
  if (u["prompt_tokens"].get_int64().get(v) == simdjson::SUCCESS) usage.prompt_tokens = v;
  if (u["completion_tokens"].get_int64().get(v) == simdjson::SUCCESS) usage.completion_tokens = v;
  return true;
}

bool read_api_usage(std::string_view json, simdjson::dom::parser& parser, Usage& usage) {
  element root;
  if (parser.parse(json.data(), json.size()).get(root) != simdjson::SUCCESS) return false;
  // Anthropic: the answer's `usage`, or message_start's `message.usage` then message_delta's
  // cumulative `usage`; Responses: the answer's `usage`, or response.completed's
  // `response.usage`.
  simdjson::dom::object u;
  if (root["usage"].get_object().get(u) != simdjson::SUCCESS &&
      root["message"]["usage"].get_object().get(u) != simdjson::SUCCESS &&
      root["response"]["usage"].get_object().get(u) != simdjson::SUCCESS)
    return true;
  int64_t v = 0;
  if (u["input_tokens"].get_int64().get(v) == simdjson::SUCCESS) usage.prompt_tokens = v;
  if (u["output_tokens"].get_int64().get(v) == simdjson::SUCCESS) usage.completion_tokens = v;
  return true;
}

int64_t SseSplitter::feed(std::string_view data) {
  buf_.append(data);
  // The last event boundary: a blank line, i.e. "\n\n" or "\n\r\n" (LF and CRLF line ends).
  size_t end = 0;
  size_t pos = scanned_ > 2 ? scanned_ - 2 : 0;
  const char* base = buf_.data();
  for (;;) {
    const void* hit = std::memchr(base + pos, '\n', buf_.size() - pos);
    if (hit == nullptr) break;
    const size_t nl = static_cast<size_t>(static_cast<const char*>(hit) - base);
    if (nl + 1 < buf_.size() && base[nl + 1] == '\n') {
      end = nl + 2;
    } else if (nl + 2 < buf_.size() && base[nl + 1] == '\r' && base[nl + 2] == '\n') {
      end = nl + 3;
    }
    pos = nl + 1;
  }
  scanned_ = buf_.size();
  if (buf_.size() - end > max_event_bytes_) return -1;
  return static_cast<int64_t>(end);
}

bool for_each_sse_event(std::string_view events,
                        const std::function<bool(std::string_view, std::string_view)>& on_event) {
  std::string joined;
  std::string_view first_data;
  std::string_view name;
  size_t data_lines = 0;
  size_t pos = 0;
  auto dispatch = [&] {
    const bool ok =
        data_lines == 0 || on_event(name, data_lines == 1 ? first_data : std::string_view(joined));
    data_lines = 0;
    name = {};
    return ok;
  };
  while (pos < events.size()) {
    const void* hit = std::memchr(events.data() + pos, '\n', events.size() - pos);
    const size_t eol = hit == nullptr
                           ? events.size()
                           : static_cast<size_t>(static_cast<const char*>(hit) - events.data());
    std::string_view line = events.substr(pos, eol - pos);
    pos = eol + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) {  // end of an event
      if (!dispatch()) return false;
      continue;
    }
    const size_t colon = line.find(':');
    if (colon == 0) continue;  // a comment
    const std::string_view field = line.substr(0, colon);
    std::string_view value =
        colon == std::string_view::npos ? std::string_view() : line.substr(colon + 1);
    if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    if (field == "event") {
      name = value;
    } else if (field == "data") {
      if (data_lines == 0) {
        first_data = value;
      } else {
        if (data_lines == 1) joined.assign(first_data);
        joined.push_back('\n');
        joined.append(value);
      }
      ++data_lines;
    }  // id, retry and unknown fields carry no content
  }
  return dispatch();
}

bool for_each_sse_data(std::string_view events,
                       const std::function<bool(std::string_view)>& on_data) {
  std::string joined;
  std::string_view first_data;
  size_t data_lines = 0;
  size_t pos = 0;
  while (pos < events.size()) {
    const void* hit = std::memchr(events.data() + pos, '\n', events.size() - pos);
    const size_t eol = hit == nullptr
                           ? events.size()
                           : static_cast<size_t>(static_cast<const char*>(hit) - events.data());
    std::string_view line = events.substr(pos, eol - pos);
    pos = eol + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) {  // end of an event: dispatch its data, if any
      if (data_lines > 0 && !on_data(data_lines == 1 ? first_data : std::string_view(joined)))
        return false;
      data_lines = 0;
      continue;
    }
    if (line.size() < 4 || line.compare(0, 4, "data") != 0) continue;  // other fields, comments
    std::string_view value;
    if (line.size() == 4) {
      value = {};
    } else if (line[4] == ':') {
      value = line.substr(5);
      if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    } else {
      continue;  // a field named e.g. "database"
    }
    if (data_lines == 0) {
      first_data = value;
    } else {
      if (data_lines == 1) joined.assign(first_data);
      joined.push_back('\n');
      joined.append(value);
    }
    ++data_lines;
  }
  return data_lines == 0 || on_data(data_lines == 1 ? first_data : std::string_view(joined));
}

}  // namespace warden
