#include "inspect/body.h"

#include <algorithm>
#include <charconv>
#include <cstring>
#include <deque>
#include <optional>

#include <boost/container/small_vector.hpp>

#include "common/json_scan.h"
#include "common/json_writer.h"
#include "common/tools.h"
#include "inspect/validators.h"

namespace warden::inspect {

std::string_view action_name(Action a) {
  switch (a) {
    case Action::kAllow:
      return "allow";
    case Action::kMask:
      return "mask";
    case Action::kPseudonymise:
      return "pseudonymise";
    case Action::kBlock:
      return "block";
  }
  return "allow";
}

int strictness(Action a) {
  switch (a) {
    case Action::kAllow:
      return 0;
    case Action::kPseudonymise:
      return 1;
    case Action::kMask:
      return 2;
    case Action::kBlock:
      return 3;
  }
  return 3;
}

void ActionTable::set(std::string prefix, Action action, uint8_t source) {
  rules_.push_back({std::move(prefix), action, source});
}

Action ActionTable::action_for(std::string_view cls) const {
  // Per source: the longest matching prefix (the first of equal length); then the strictest.
  constexpr size_t kSources = 2;
  size_t best[kSources] = {0, 0};
  Action action[kSources] = {Action::kAllow, Action::kAllow};
  bool found[kSources] = {false, false};
  for (const Rule& r : rules_) {
    const size_t src = std::min<size_t>(r.source, kSources - 1);
    if (class_matches(cls, r.prefix) && (!found[src] || r.prefix.size() > best[src])) {
      best[src] = r.prefix.size();
      action[src] = r.action;
      found[src] = true;
    }
  }
  return strictness(action[1]) > strictness(action[0]) ? action[1] : action[0];
}

namespace {

using Segment = JsonToken::Segment;

// Tools the provider runs (web search, code execution, MCP servers …): data Warden cannot follow.
constexpr std::string_view kServerTools = "uninspectable.server_tools";

bool one_of(std::string_view v, std::initializer_list<std::string_view> allowed) {
  for (std::string_view a : allowed) {
    if (v == a) return true;
  }
  return false;
}

// A tool-call id as providers make them: a known prefix, then letters, digits, '_' or '-'.
bool is_call_id(std::string_view v) {
  std::string_view rest;
  for (std::string_view prefix : {"call_", "toolu_", "fc_", "chatcmpl-tool-"}) {
    if (v.size() > prefix.size() && v.substr(0, prefix.size()) == prefix) {
      rest = v.substr(prefix.size());
      break;
    }
  }
  if (rest.empty() || rest.size() > 64) return false;
  for (char c : rest) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-')) return false;
  }
  return true;
}

// The allow list: string values of structural fields, each checked against what the field may
// hold. A value that fails its check is scanned like any other.
bool allowed_string(std::span<const Segment> p, std::string_view v) {
  const size_t n = p.size();
  if (n == 1) {
    if (p[0].is("model")) return true;  // resolved against the catalog and replaced
    if (p[0].is("reasoning_effort")) return one_of(v, {"none", "minimal", "low", "medium", "high"});
    if (p[0].is("service_tier")) return one_of(v, {"auto", "default", "flex", "scale", "priority"});
    if (p[0].is("encoding_format")) return one_of(v, {"float", "base64"});
    if (p[0].is("tool_choice")) return one_of(v, {"none", "auto", "required"});
    if (p[0].is("verbosity")) return one_of(v, {"low", "medium", "high"});
    return false;
  }
  if (n == 2 && p[0].is("response_format") && p[1].is("type"))
    return one_of(v, {"text", "json_object", "json_schema"});
  if (n == 2 && p[0].is("tool_choice") && p[1].is("type"))
    return one_of(v, {"function", "allowed_tools", "custom"});
  if (n == 2 && p[0].is("modalities")) return one_of(v, {"text", "audio"});
  if (n == 3 && p[0].is("tools") && p[2].is("type")) return one_of(v, {"function", "custom"});
  if (n >= 3 && p[0].is("messages") && p[1].is_index) {
    if (n == 3 && p[2].is("role"))
      return one_of(v, {"system", "user", "assistant", "tool", "developer", "function"});
    if (n == 3 && p[2].is("tool_call_id")) return is_call_id(v);
    if (n == 5 && p[2].is("content") && p[4].is("type"))
      return one_of(v, {"text", "image_url", "input_audio", "file", "refusal"});
    if (n == 6 && p[2].is("content") && p[4].is("image_url") && p[5].is("detail"))
      return one_of(v, {"auto", "low", "high"});
    if (n == 6 && p[2].is("content") && p[4].is("input_audio") && p[5].is("format"))
      return one_of(v, {"wav", "mp3"});
    if (n == 5 && p[2].is("tool_calls") && p[4].is("type")) return one_of(v, {"function"});
    if (n == 5 && p[2].is("tool_calls") && p[4].is("id")) return is_call_id(v);
  }
  return false;
}

// Numeric settings and the range each may have; a number outside it (or any other number) is
// scanned as text. A `seed` is any integer: it is not a card number.
bool allowed_number(std::span<const Segment> p, std::string_view literal) {
  if (p.empty()) return false;
  const bool integer = literal.find_first_of(".eE") == std::string_view::npos;
  double v = 0;
  const auto [end, ec] = std::from_chars(literal.data(), literal.data() + literal.size(), v);
  if (ec != std::errc() || end != literal.data() + literal.size()) return false;
  auto in = [&](double lo, double hi) { return v >= lo && v <= hi; };
  if (p.size() == 2 && p[0].is("logit_bias")) return in(-100, 100);
  if (p.size() != 1) return false;
  const Segment& f = p[0];
  if (f.is("temperature")) return in(0, 2);
  if (f.is("top_p")) return in(0, 1);
  if (f.is("presence_penalty") || f.is("frequency_penalty")) return in(-2, 2);
  if (f.is("n") || f.is("best_of")) return integer && in(1, 128);
  if (f.is("max_tokens") || f.is("max_completion_tokens")) return integer && in(0, 1e8);
  if (f.is("top_logprobs") || f.is("logprobs")) return integer && in(0, 20);
  if (f.is("dimensions")) return integer && in(1, 65536);
  if (f.is("seed")) return integer && in(-9.3e18, 9.3e18);
  return false;
}

// Fields of an answer whose values are one of a fixed set: not text.
// Inside an object the model wrote: a tool call's `input` (Anthropic) or `arguments` given as an
// object rather than a string.
bool model_object(std::span<const Segment> p) {
  return std::any_of(p.begin(), p.end(),
                     [](const Segment& s) { return s.is("input") || s.is("arguments"); });
}

bool answer_enumeration(std::span<const Segment> p, std::string_view raw) {
  if (p.size() == 1 && p[0].is("object"))
    return raw == "\"chat.completion\"" || raw == "\"text_completion\"" || raw == "\"list\"" ||
           raw == "\"chat.completion.chunk\"";
  if (p.size() == 3 && p[0].is("choices") && p[2].is("finish_reason"))
    return raw == "\"stop\"" || raw == "\"length\"" || raw == "\"tool_calls\"" ||
           raw == "\"content_filter\"" || raw == "\"function_call\"";
  if (p.size() == 4 && p[0].is("choices") && p[3].is("role")) return raw == "\"assistant\"";
  if (p.size() == 3 && p[0].is("data") && p[2].is("object")) return raw == "\"embedding\"";
  return false;
}

// Where the model reads a text as part of one conversation: texts of consecutive messages,
// content blocks, parts and items are joined with their neighbours for values split across
// them. Requests: chat messages and prompts; Anthropic's system (string or text blocks), text,
// thinking and tool_result blocks (string or text blocks); Responses' instructions, input items'
// content and tool outputs (string or parts) and reasoning summaries. Answers: Anthropic's
// content blocks and the parts of Responses' output items (chat's choices are alternatives,
// not one text).
bool is_message_text(std::span<const Segment> p, bool answer) {
  const size_t n = p.size();
  if (n == 0) return false;
  if (answer) {
    if (n == 3) return p[0].is("content") && p[1].is_index && p[2].is("text");
    return n == 5 && p[0].is("output") && p[1].is_index && p[2].is("content") && p[3].is_index &&
           p[4].is("text");
  }
  if (p[0].is("prompt")) return n == 1 || (n == 2 && p[1].is_index);
  if (p[0].is("system") || p[0].is("instructions"))
    return n == 1 || (n == 3 && p[1].is_index && p[2].is("text"));
  if (p[0].is("input")) {
    if (n == 1 || (n == 2 && p[1].is_index)) return true;
    if (n < 3 || !p[1].is_index || !(p[2].is("content") || p[2].is("output") || p[2].is("summary")))
      return false;
    return n == 3 || (n == 5 && p[3].is_index && p[4].is("text"));
  }
  if (n < 3 || !p[0].is("messages") || !p[1].is_index || !p[2].is("content")) return false;
  if (n == 3) return true;
  if (n == 5)
    return p[3].is_index && (p[4].is("text") || p[4].is("content") || p[4].is("thinking"));
  return n == 7 && p[3].is_index && p[4].is("content") && p[5].is_index && p[6].is("text");
}

// Top-level fields that have the provider send data to third parties by themselves: Anthropic's
// MCP connector, OpenAI's chat web search.
bool server_tool_field(std::string_view key) {
  return key == "mcp_servers" || key == "web_search_options";
}

// Is `v` (a JSON string's inside) base64 of some length, i.e. encoded content, not text?
bool looks_base64(std::string_view v) {
  if (v.size() < 16) return false;
  for (char c : v) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '/' || c == '=' ||
          c == '-' || c == '_'))
      return false;
  }
  return true;
}

// Content Warden cannot read as text: images, audio and files, by value or by reference; and
// model output signed or encrypted by the provider (contract §3: it may only go back untouched to
// the deployment that made it).
std::string_view unreadable_class(std::span<const Segment> p, std::string_view v) {
  const size_t n = p.size();
  if (n < 3) return {};
  if (p[0].is("input") && p[1].is_index) {
    // Responses input items: reasoning items' encrypted_content; input_image and input_file
    // parts of a message's content or a tool's output, by value, id or address (the provider
    // fetches what an address names).
    if (n == 3 && p[2].is("encrypted_content")) return "uninspectable.signed";
    if (n == 5 && (p[2].is("content") || p[2].is("output")) && p[3].is_index) {
      if (p[4].is("image_url")) return "uninspectable.image";
      if (p[4].is("file_data") || p[4].is("file_id") || p[4].is("file_url"))
        return "uninspectable.file";
    }
    return {};
  }
  if (!p[0].is("messages") || !p[2].is("content")) return {};
  // Anthropic: a thinking block's signature, a redacted_thinking block's data.
  if (n == 5 && (p[4].is("signature") || p[4].is("data"))) return "uninspectable.signed";
  // Anthropic image and document blocks (also inside a tool_result): base64 `source.data`.
  if (n >= 6 && p[n - 2].is("source") && p[n - 1].is("data") && looks_base64(v)) {
    for (std::string_view magic : {"iVBORw0KGgo", "/9j/", "R0lGOD", "UklGR"}) {
      if (v.substr(0, magic.size()) == magic) return "uninspectable.image";
    }
    return "uninspectable.file";
  }
  // Sources the provider fetches or keeps: an address, an uploaded file (the block's type is
  // not on the path: counted as a file, the stricter reading for an operator's rules).
  if (n >= 6 && p[n - 2].is("source") && (p[n - 1].is("url") || p[n - 1].is("file_id")))
    return "uninspectable.file";
  if (n < 6) return {};
  if (p[4].is("image_url") && p[5].is("url")) return "uninspectable.image";
  if (p[4].is("input_audio") && p[5].is("data")) return "uninspectable.audio";
  if (p[4].is("file") && (p[5].is("file_data") || p[5].is("file_id"))) return "uninspectable.file";
  return {};
}

// Token ids: the array elements of `prompt` / `input` (one array, or an array of arrays).
bool is_token_id(std::span<const Segment> p) {
  const size_t n = p.size();
  if (n < 2 || !(p[0].is("prompt") || p[0].is("input"))) return false;
  return (n == 2 && p[1].is_index) || (n == 3 && p[1].is_index && p[2].is_index);
}

bool is_hex(char c) {
  return std::isxdigit(static_cast<unsigned char>(c)) != 0;
}

uint32_t hex4(std::string_view s) {
  uint32_t v = 0;
  for (char h : s) v = v * 16 + static_cast<uint32_t>(h <= '9' ? h - '0' : (h | 0x20) - 'a' + 10);
  return v;
}

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

// A character that is part of a number-like value: where a split value is looked for.
bool numberish(unsigned char c) {
  return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z');
}

bool is_space(char c) {
  return c == ' ' || c == '\n' || c == '\r' || c == '\t';
}

}  // namespace

const std::vector<std::string>& uninspectable_classes() {
  static const std::vector<std::string> classes = {
      "uninspectable.tokens", "uninspectable.image",  "uninspectable.audio",
      "uninspectable.file",   "uninspectable.signed", "uninspectable.server_tools"};
  return classes;
}

bool decode_nested_escapes(std::string_view text, std::string& out, std::vector<uint32_t>* at) {
  size_t i = text.find('\\');
  if (i == std::string_view::npos) return false;
  std::string r;
  r.reserve(text.size());
  std::vector<uint32_t> map;
  // Copies text[pos, end) and then the decoded escape at `end` (`decoded` bytes of r's tail).
  auto mapped = [&](size_t pos, size_t end, size_t decoded) {
    if (at == nullptr) return;
    for (size_t k = pos; k < end; ++k) map.push_back(static_cast<uint32_t>(k));
    for (size_t k = 0; k < decoded; ++k) map.push_back(static_cast<uint32_t>(end));
  };
  size_t pos = 0;
  bool changed = false;
  for (; i != std::string_view::npos; i = text.find('\\', i)) {
    if (i + 1 >= text.size()) break;
    const char e = text[i + 1];
    if (e == '/') {
      r.append(text.substr(pos, i - pos));
      r.push_back('/');
      mapped(pos, i, 1);
      pos = i += 2;
      changed = true;
      continue;
    }
    if (e != 'u' || i + 6 > text.size() ||
        !std::all_of(text.begin() + i + 2, text.begin() + i + 6, is_hex)) {
      i += 2;  // \" \\ \n … keep their escape: they are structure or control characters
      continue;
    }
    uint32_t cp = hex4(text.substr(i + 2, 4));
    size_t len = 6;
    if (cp >= 0xD800 && cp <= 0xDBFF) {
      if (i + 12 <= text.size() && text[i + 6] == '\\' && text[i + 7] == 'u' &&
          std::all_of(text.begin() + i + 8, text.begin() + i + 12, is_hex)) {
        const uint32_t lo = hex4(text.substr(i + 8, 4));
        if (lo >= 0xDC00 && lo <= 0xDFFF) {
          cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          len = 12;
        }
      }
      if (len == 6) {  // a lone surrogate stays escaped
        i += 6;
        continue;
      }
    } else if (cp < 0x20 || cp == '"' || cp == '\\' || (cp >= 0xDC00 && cp <= 0xDFFF)) {
      i += 6;
      continue;
    }
    r.append(text.substr(pos, i - pos));
    const size_t before = r.size();
    append_utf8(r, cp);
    mapped(pos, i, r.size() - before);
    pos = i += len;
    changed = true;
  }
  if (!changed) return false;
  r.append(text.substr(pos));
  mapped(pos, text.size(), 0);
  if (at != nullptr) {
    map.push_back(static_cast<uint32_t>(text.size()));
    *at = std::move(map);
  }
  out = std::move(r);
  return true;
}

// A walk over already-validated JSON: simdjson's DOM keeps no source offsets, and the offsets
// are what lets a replacement be spliced into the document without re-serialising it.
namespace {

// The walk, with the visitor inlined (scan_body calls it per token: a std::function call each
// was measurable per request).
template <typename Visit>
BodyScanStatus walk(std::string_view body, size_t max_depth, Visit&& visit, uint8_t what) {
  struct Frame {
    bool object;
    bool expect_key;
    size_t index;  // the current element (arrays)
  };
  // One path segment per open container, kept up to date as the walk goes (not rebuilt per
  // token): the current key of an object, the current position in an array. Inline storage for
  // the depths requests have (each walk allocating its stacks cost ~1,500 instructions a request);
  // deeper documents spill to the heap.
  boost::container::small_vector<Frame, 16> stack;
  boost::container::small_vector<JsonToken::Segment, 16> path;
  // Keys that had escapes, decoded, one slot per depth; a deque so that `path` may point into it
  // while deeper slots are added. Made only when such a key appears.
  std::optional<std::deque<std::string>> decoded;
  auto value_starts = [&]() {
    if (!stack.empty() && !stack.back().object) path.back().index = stack.back().index++;
  };
  const bool keys = (what & visit_bit(JsonToken::kKey)) != 0;
  const bool strings = (what & visit_bit(JsonToken::kString)) != 0;
  const bool numbers = (what & visit_bit(JsonToken::kNumber)) != 0;
  for (size_t i = 0; i < body.size(); ++i) {
    const char c = body[i];
    if (c == '{' || c == '[') {
      if (stack.size() >= max_depth) return BodyScanStatus::kTooDeep;
      value_starts();
      stack.push_back({c == '{', c == '{', 0});
      path.push_back({std::string_view(), c == '[', 0});
    } else if (c == '}' || c == ']') {
      if (!stack.empty()) {
        stack.pop_back();
        path.pop_back();
      }
    } else if (c == ',') {
      if (!stack.empty() && stack.back().object) stack.back().expect_key = true;
    } else if (c == '"') {
      const size_t close = json_string_close(body, i);
      if (close == std::string_view::npos) return BodyScanStatus::kScanFailed;
      const std::string_view raw = body.substr(i, close + 1 - i);
      if (!stack.empty() && stack.back().object && stack.back().expect_key) {
        Frame& f = stack.back();
        const std::string_view inner = raw.substr(1, raw.size() - 2);
        if (inner.find('\\') == std::string_view::npos) {
          path.back().key = inner;
        } else {
          if (!decoded) decoded.emplace();
          if (decoded->size() < stack.size()) decoded->resize(stack.size());
          std::string& slot = (*decoded)[stack.size() - 1];
          decode_json_string(inner, slot);
          path.back().key = slot;
        }
        f.expect_key = false;
        // The key's own path: the object that holds it.
        if (keys &&
            !visit(JsonToken{JsonToken::kKey, raw, i,
                             std::span<const JsonToken::Segment>(path.data(), path.size() - 1)}))
          return BodyScanStatus::kScanFailed;
      } else {
        value_starts();
        if (strings && !visit(JsonToken{JsonToken::kString, raw, i, {path.data(), path.size()}}))
          return BodyScanStatus::kScanFailed;
      }
      i = close;
    } else if (c == '-' || (c >= '0' && c <= '9')) {
      value_starts();
      size_t e = i + 1;
      while (e < body.size() && body[e] != ',' && body[e] != '}' && body[e] != ']' &&
             !is_space(body[e]))
        ++e;
      if (numbers && !visit(JsonToken{
                         JsonToken::kNumber, body.substr(i, e - i), i, {path.data(), path.size()}}))
        return BodyScanStatus::kScanFailed;
      i = e - 1;
    } else if (c == 't' || c == 'f' || c == 'n') {
      value_starts();  // true, false, null: one array element
      while (i + 1 < body.size() && std::isalpha(static_cast<unsigned char>(body[i + 1]))) ++i;
    }
  }
  return BodyScanStatus::kOk;
}

}  // namespace

BodyScanStatus walk_json(std::string_view body, size_t max_depth, const TokenVisitor& visit,
                         uint8_t what) {
  return walk(body, max_depth, visit, what);
}

BodyScanStatus for_each_string(std::string_view body, size_t max_depth,
                               const StringVisitor& visit) {
  return walk_json(body, max_depth, visit, visit_bit(JsonToken::kString));
}

bool number_integer_digits(std::string_view raw, std::string& out) {
  constexpr int kMaxDigits = 40;
  if (raw.find_first_of(".eE") == std::string_view::npos) return false;
  if (!raw.empty() && raw[0] == '-') raw.remove_prefix(1);
  const size_t e = raw.find_first_of("eE");
  const std::string_view mantissa = raw.substr(0, e);
  int exponent = 0;
  if (e != std::string_view::npos) {
    std::string_view x = raw.substr(e + 1);
    if (!x.empty() && x[0] == '+') x.remove_prefix(1);
    const auto [end, ec] = std::from_chars(x.data(), x.data() + x.size(), exponent);
    if (ec != std::errc() || end != x.data() + x.size()) return false;
  }
  const size_t dot = mantissa.find('.');
  std::string digits(mantissa.substr(0, dot));
  if (dot != std::string_view::npos) digits.append(mantissa.substr(dot + 1));
  const int64_t point = static_cast<int64_t>(std::min(dot, mantissa.size())) + exponent;
  if (point <= 0 || point > kMaxDigits) return false;
  out.assign(digits, 0, static_cast<size_t>(std::min<int64_t>(point, digits.size())));
  out.append(static_cast<size_t>(std::max<int64_t>(0, point - static_cast<int64_t>(digits.size()))),
             '0');
  const size_t lead = out.find_first_not_of('0');
  out.erase(0, lead == std::string::npos ? out.size() - 1 : lead);
  return out.size() >= 6;
}

namespace {

// One scan of a body: the walk's visitor and the state the message boundaries need.
class BodyScanner {
 public:
  BodyScanner(const Engine& engine, Scratch& scratch, const BodyScanOptions& o, BodyScan& out,
              std::string_view body)
      : engine_(engine), scratch_(scratch), o_(o), out_(out), body_(body) {}

  bool visit(const JsonToken& t) {
    const auto p = t.path;
    if (o_.mode == BodyScanOptions::kAnswer) {
      if (t.kind != JsonToken::kString) {
        // Keys and numbers of an object the model wrote (a tool call's `input`) are its words
        // too; elsewhere an answer's keys and numbers are the API's (ids, counts, times).
        if (!model_object(p)) return true;
        return t.kind == JsonToken::kKey ? scan_key(t) : scan_number(t);
      }
      if (answer_enumeration(p, t.raw)) return true;
      return scan_string(t, Place::kValue, is_message_text(p, true));
    }
    switch (t.kind) {
      case JsonToken::kKey:
        if (p.empty()) note_server_tool_field(t);
        return scan_key(t);
      case JsonToken::kNumber:
        if (is_token_id(p)) return add_token_id(t);
        if (allowed_number(p, t.raw)) return true;
        return scan_number(t);
      case JsonToken::kString:
        break;
    }
    const std::string_view inner = t.raw.substr(1, t.raw.size() - 2);
    if (allowed_string(p, inner)) return true;
    if (p.size() == 3 && p[0].is("tools") && p[1].is_index && p[2].is("type") &&
        !client_tool_type(decoded(inner)))
      ++out_.counts[std::string(kServerTools)];
    if (const std::string_view cls = unreadable_class(p, inner); !cls.empty()) {
      ++out_.counts[std::string(cls)];
      // A data: URL is the content itself (base64); an address is text and scanned. Anthropic's
      // base64 sources and signed or encrypted output are scanned as well: were the class
      // permitted, a value written in the base64 alphabet (an access key) still cannot pass.
      const bool scanned = cls == "uninspectable.signed" ||
                           (p.size() >= 2 && p[p.size() - 2].is("source")) || p.back().is("url") ||
                           p.back().is("image_url") || p.back().is("file_url");
      if (inner.substr(0, 5) == "data:" || !scanned) return true;
    }
    return scan_string(t, Place::kValue, is_message_text(p, false));
  }

  bool finish() { return flush_tokens(); }

 private:
  bool scan_text(std::string_view text) {
    ++out_.scanned_strings;
    out_.scanned_bytes += text.size();
    return scan(engine_, scratch_, text, findings_);
  }

  void record(const JsonToken& t, std::string text, Place place, std::string written = {},
              std::vector<uint32_t> written_at = {}) {
    for (const Finding& f : findings_) {
      ++out_.counts[std::string(f.cls)];
      if (place != Place::kValue) out_.places[std::string(f.cls)] |= place_bit(place);
    }
    out_.strings.push_back({static_cast<uint32_t>(t.offset),
                            static_cast<uint32_t>(t.offset + t.raw.size()),
                            std::move(text),
                            findings_,
                            place,
                            {},
                            std::move(written),
                            std::move(written_at)});
  }

  bool scan_string(const JsonToken& t, Place place, bool message) {
    decode_json_string(t.raw.substr(1, t.raw.size() - 2), decoded_);
    // JSON inside the string (tool arguments, tool results): its own escapes decoded. What the
    // client wrote is kept for the replacement (plan_splices).
    bool nested = false;
    if (decoded_.find('\\') != std::string::npos) {
      written_ = decoded_;
      nested = decode_nested_escapes(written_, decoded_, &written_at_);
    }
    if (!scan_text(decoded_)) return false;
    size_t index = SIZE_MAX;
    if (!findings_.empty()) {
      index = out_.strings.size();
      if (nested) {
        record(t, decoded_, place, written_, written_at_);
      } else {
        record(t, decoded_, place);
      }
    }
    if (decoded_.find('\\') != std::string::npos && !scan_deeper(t)) return false;
    if (place == Place::kValue && !scan_nested_numbers(t)) return false;
    if (message) return boundary(t, index);
    return true;
  }

  // Numbers of JSON inside a string (tool arguments): 5.555555555554444e15 is the card
  // 5555555555554444 to the parser that reads the arguments, as in the body itself (their
  // digits as written were scanned with the text). A finding cannot be replaced without
  // changing the number's type: recorded as kNumber (a request is refused, an answer blocked).
  bool scan_nested_numbers(const JsonToken& t) {
    const size_t b = decoded_.find_first_not_of(" \t\r\n");
    if (b == std::string::npos || (decoded_[b] != '{' && decoded_[b] != '[')) return true;
    bool ok = true;
    // Not JSON after all: the walk stops where it cannot go on (what it read was scanned).
    walk(
        std::string_view(decoded_), o_.max_depth,
        [&](const JsonToken& n) {
          if (!integer_digits(n.raw, deeper_)) return true;
          if (!scan_text(deeper_)) return ok = false;
          if (!findings_.empty()) record(t, deeper_, Place::kNumber);
          return true;
        },
        visit_bit(JsonToken::kNumber));
    return ok;
  }

  // JSON nested in JSON nested in a string (arguments holding a JSON string): each further level
  // is decoded whole and scanned. A value found only there cannot be replaced without rewriting
  // the levels above it, so it is recorded as kNested (a request is refused, an answer blocked).
  static constexpr int kMaxNesting = 4;

  bool scan_deeper(const JsonToken& t) {
    const std::vector<Finding> outer = findings_;
    const std::string first = decoded_;
    deeper_ = decoded_;
    for (int level = 0; level < kMaxNesting && deeper_.find('\\') != std::string::npos; ++level) {
      std::string next;
      decode_json_string(deeper_, next);
      if (next == deeper_) break;
      deeper_ = std::move(next);
      if (!scan_text(deeper_)) return false;
      std::erase_if(findings_, [&](const Finding& f) {
        const std::string_view v = std::string_view(deeper_).substr(f.start, f.end - f.start);
        return std::any_of(outer.begin(), outer.end(), [&](const Finding& o) {
          return o.cls == f.cls && std::string_view(first).substr(o.start, o.end - o.start) == v;
        });
      });
      if (!findings_.empty()) {
        record(t, deeper_, Place::kNested);
        break;
      }
    }
    findings_ = outer;
    return true;
  }

  // Keys made of lower-case ASCII letters and '_' only (the API's own, and most schema
  // properties) cannot hold a value any built-in detector finds; custom detectors see every key.
  void note_server_tool_field(const JsonToken& t) {
    if (server_tool_field(decoded(t.raw.substr(1, t.raw.size() - 2))))
      ++out_.counts[std::string(kServerTools)];
  }

  // The text of a JSON string's inside (decoded only when it has an escape).
  std::string_view decoded(std::string_view inner) {
    if (inner.find('\\') == std::string_view::npos) return inner;
    decode_json_string(inner, field_);
    return field_;
  }

  bool scan_key(const JsonToken& t) {
    const std::string_view inner = t.raw.substr(1, t.raw.size() - 2);
    if (!o_.scan_all_keys && inner.size() <= 64 &&
        std::all_of(inner.begin(), inner.end(),
                    [](char c) { return (c >= 'a' && c <= 'z') || c == '_'; }))
      return true;
    return scan_string(t, Place::kKey, false);
  }

  // A number's literal text: fewer than six digits hold no identifier a built-in detector finds.
  bool scan_number(const JsonToken& t) {
    const auto digits =
        std::count_if(t.raw.begin(), t.raw.end(), [](char c) { return c >= '0' && c <= '9'; });
    if (digits < 6 && !o_.scan_all_keys) return true;
    if (!scan_text(t.raw)) return false;
    if (!findings_.empty()) {
      record(t, std::string(t.raw), Place::kNumber);
      return true;
    }
    // 5.555555555554444e15 and 5555555555554444.0 are the card 5555555555554444 to a parser:
    // the integer part's digits are scanned as well.
    if (integer_digits(t.raw, deeper_)) {
      if (!scan_text(deeper_)) return false;
      if (!findings_.empty()) record(t, deeper_, Place::kNumber);
    }
    return true;
  }

  static bool integer_digits(std::string_view raw, std::string& out) {
    return number_integer_digits(raw, out);
  }

  // Token ids are gathered per array and read as one text when the array ends.
  bool add_token_id(const JsonToken& t) {
    const auto p = t.path;
    const size_t array = p.size() == 3 ? p[1].index : SIZE_MAX;
    if (!ids_.empty() && array != ids_array_ && !flush_tokens()) return false;
    ids_array_ = array;
    if (ids_.empty()) ids_begin_ = t.offset;
    ids_end_ = t.offset + t.raw.size();
    uint32_t id = 0;
    const auto [end, ec] = std::from_chars(t.raw.data(), t.raw.data() + t.raw.size(), id);
    if (ec != std::errc() || end != t.raw.data() + t.raw.size()) ids_bad_ = true;
    ids_.push_back(id);
    return true;
  }

  bool flush_tokens() {
    if (ids_.empty()) return true;
    std::string text;
    const bool read = !ids_bad_ && o_.decode_tokens != nullptr && *o_.decode_tokens &&
                      (*o_.decode_tokens)(ids_, text);
    ids_.clear();
    ids_bad_ = false;
    if (!read) {
      ++out_.counts["uninspectable.tokens"];
      return true;
    }
    if (!scan_text(text)) return false;
    if (!findings_.empty()) {
      for (const Finding& f : findings_) {
        ++out_.counts[std::string(f.cls)];
        out_.places[std::string(f.cls)] |= place_bit(Place::kTokens);
      }
      out_.strings.push_back({static_cast<uint32_t>(ids_begin_),
                              static_cast<uint32_t>(ids_end_),
                              std::move(text),
                              findings_,
                              Place::kTokens,
                              {},
                              {},
                              {}});
    }
    return true;
  }

  // Values split across two consecutive message texts: the last bytes of one and the first of
  // the next are scanned as one text (joined directly and with a space); a finding that needs
  // both sides is masked in both, one replacement for the value. Only where a number-like
  // character ends the one and starts the other, or where an '@' is in the word across the
  // boundary (an address): other conversations pay nothing. Only the previous text's last
  // bytes are kept; the rest of it is decoded again from the body when a value is found.
  static constexpr size_t kWindow = 64;

  static bool word_char(unsigned char c) {
    return numberish(c) || (c >= 'a' && c <= 'z') || c == '@' || c == '.' || c == '-' || c == '_' ||
           c == '+';
  }

  bool boundary(const JsonToken& t, size_t index) {
    const std::string& text = index == SIZE_MAX ? decoded_ : out_.strings[index].text;
    size_t b = 0;
    while (b < text.size() && is_space(text[b])) ++b;
    if (prev_.valid && b < text.size() && word_char(static_cast<unsigned char>(text[b]))) {
      bool at = prev_.at;
      for (size_t i = b; !at && i < text.size() && i < b + kWindow && !is_space(text[i]); ++i)
        at = text[i] == '@';
      const bool numbers = prev_.number && numberish(static_cast<unsigned char>(text[b]));
      if ((at || numbers) && !join(t, index, b)) return false;
    }
    // This text becomes the previous one.
    const std::string& now = index == SIZE_MAX ? decoded_ : out_.strings[index].text;
    prev_.valid = false;
    size_t e = now.size();
    while (e > 0 && is_space(now[e - 1])) --e;
    if (e == 0 || !word_char(static_cast<unsigned char>(now[e - 1]))) return true;
    size_t tail = e > kWindow ? e - kWindow : 0;
    while (tail > 0 && (static_cast<unsigned char>(now[tail]) & 0xC0) == 0x80) --tail;
    prev_.valid = true;
    prev_.number = numberish(static_cast<unsigned char>(now[e - 1]));
    prev_.at = false;
    for (size_t i = e; !prev_.at && i > tail && !is_space(now[i - 1]); --i)
      prev_.at = now[i - 1] == '@';
    prev_.tail.assign(now, tail, e - tail);
    prev_.tail_from = tail;
    prev_.end = e;
    prev_.index = index;
    prev_.raw_begin = static_cast<uint32_t>(t.offset);
    prev_.raw_end = static_cast<uint32_t>(t.offset + t.raw.size());
    return true;
  }

  bool join(const JsonToken& t, size_t& index, size_t b) {
    const std::string& next = index == SIZE_MAX ? decoded_ : out_.strings[index].text;
    size_t head = std::min(next.size(), b + kWindow);
    while (head < next.size() && (static_cast<unsigned char>(next[head]) & 0xC0) == 0x80) ++head;
    const std::string_view a = prev_.tail;
    const std::string c = next.substr(b, head - b);  // a copy: entries may be added below
    for (std::string_view sep : {std::string_view(" "), std::string_view()}) {
      window_.assign(a);
      window_.append(sep);
      window_.append(c);
      if (!scan(engine_, scratch_, window_, findings_)) return false;
      bool found = false;
      for (const Finding& f : findings_) {
        if (f.start >= a.size() || f.end <= a.size() + sep.size()) continue;  // one side alone
        found = true;
        const std::string value(window_.substr(f.start, f.end - f.start));
        const Finding first{f.cls, static_cast<uint32_t>(prev_.tail_from + f.start),
                            static_cast<uint32_t>(prev_.end), f.confidence};
        const Finding second{f.cls, static_cast<uint32_t>(b),
                             static_cast<uint32_t>(b + f.end - a.size() - sep.size()),
                             f.confidence};
        if (prev_.index == SIZE_MAX) {
          // The previous text had no entry: decoded again from its token, as scan_string did.
          const std::string_view raw =
              body_.substr(prev_.raw_begin, prev_.raw_end - prev_.raw_begin);
          decode_json_string(raw.substr(1, raw.size() - 2), field_);
          if (field_.find('\\') != std::string::npos) decode_nested_escapes(field_, field_);
        }
        if (!add_part(prev_.index, prev_.raw_begin, prev_.raw_end, field_, first, true, value))
          continue;
        add_part(index, static_cast<uint32_t>(t.offset),
                 static_cast<uint32_t>(t.offset + t.raw.size()), decoded_, second, false, value);
        ++out_.counts[std::string(f.cls)];
      }
      if (found) break;
    }
    return true;
  }

  // Adds one share of a split value to a string's findings (made an entry if it had none);
  // false when it would overlap a finding the string has on its own.
  bool add_part(size_t& index, uint32_t raw_begin, uint32_t raw_end, const std::string& text,
                const Finding& f, bool carries, const std::string& value) {
    if (index == SIZE_MAX) {
      index = out_.strings.size();
      out_.strings.push_back({raw_begin, raw_end, text, {}, Place::kValue, {}, {}, {}});
    }
    BodyString& s = out_.strings[index];
    auto at =
        std::lower_bound(s.findings.begin(), s.findings.end(), f,
                         [](const Finding& x, const Finding& y) { return x.start < y.start; });
    if (at != s.findings.end() && at->start < f.end) return false;
    if (at != s.findings.begin() && std::prev(at)->end > f.start) return false;
    const auto pos = static_cast<uint32_t>(at - s.findings.begin());
    for (BodyString::Part& part : s.parts) {
      if (part.finding >= pos) ++part.finding;
    }
    s.findings.insert(at, f);
    s.parts.push_back({pos, carries, value});
    return true;
  }

  const Engine& engine_;
  Scratch& scratch_;
  const BodyScanOptions& o_;
  BodyScan& out_;
  std::string_view body_;
  std::vector<Finding> findings_;
  std::string decoded_;  // the last string scanned (message boundaries read it)
  std::string written_;  // and as written, when it held nested escapes (BodyString::written)
  std::vector<uint32_t> written_at_;
  std::string field_;  // a structural field's value, decoded
  std::string window_;
  std::string deeper_;
  std::vector<uint32_t> ids_;
  size_t ids_array_ = SIZE_MAX;
  size_t ids_begin_ = 0;
  size_t ids_end_ = 0;
  bool ids_bad_ = false;
  // The previous message text, where a value split across it and the next may begin.
  struct Prev {
    bool valid = false;
    bool number = false;  // it ends in a number-like character
    bool at = false;      // its last word holds an '@'
    std::string tail;     // its last bytes (at most kWindow, whole code points) up to `end`
    size_t tail_from = 0;
    size_t end = 0;  // without trailing spaces
    size_t index = SIZE_MAX;
    uint32_t raw_begin = 0;
    uint32_t raw_end = 0;
  } prev_;
};

}  // namespace

BodyScanStatus scan_body(const Engine& engine, Scratch& scratch, std::string_view body,
                         BodyScan& out, const BodyScanOptions& options) {
  BodyScanner scanner(engine, scratch, options, out, body);
  const uint8_t what = kVisitAll;
  const BodyScanStatus st = walk(
      body, options.max_depth, [&scanner](const JsonToken& t) { return scanner.visit(t); }, what);
  if (st != BodyScanStatus::kOk) return st;
  return scanner.finish() ? BodyScanStatus::kOk : BodyScanStatus::kScanFailed;
}

BodyScanStatus scan_body(const Engine& engine, Scratch& scratch, std::string_view body,
                         BodyScan& out, size_t max_depth) {
  BodyScanOptions o;
  o.max_depth = max_depth;
  return scan_body(engine, scratch, body, out, o);
}

const std::string& Pseudonyms::token_for(std::string_view cls, std::string_view value) {
  std::string key(cls);
  key.push_back('\0');
  key.append(value);
  auto it = by_value_.find(key);
  if (it != by_value_.end()) return it->second;
  const std::string label = class_label(cls);
  const int n = ++counters_[label];
  std::string token = "\xe2\x9f\xa8" + label + "_" + std::to_string(n) + "\xe2\x9f\xa9";  // ⟨ ⟩
  longest_ = std::max(longest_, token.size());
  by_token_.emplace(token, std::string(value));
  return by_value_.emplace(std::move(key), std::move(token)).first->second;
}

const std::string* Pseudonyms::value_of(std::string_view token) const {
  auto it = by_token_.find(token);
  return it == by_token_.end() ? nullptr : &it->second;
}

std::string Pseudonyms::restore(std::string_view text, bool json_escape) const {
  std::string out;
  out.reserve(text.size());
  size_t pos = 0;
  for (;;) {
    const size_t open = text.find("\xe2\x9f\xa8", pos);
    if (open == std::string_view::npos) break;
    const size_t close = text.find("\xe2\x9f\xa9", open + 3);
    if (close == std::string_view::npos) break;
    const std::string_view token = text.substr(open, close + 3 - open);
    const std::string* value = value_of(token);
    out.append(text.substr(pos, open - pos));
    if (value == nullptr) {
      out.append(token);
    } else if (json_escape) {
      const std::string quoted = json_string(*value);
      out.append(quoted.substr(1, quoted.size() - 2));
    } else {
      out.append(*value);
    }
    pos = close + 3;
  }
  out.append(text.substr(pos));
  return out;
}

std::string replacement_for(const Finding& f, std::string_view text, Action action,
                            Pseudonyms& pseudonyms) {
  if (action == Action::kPseudonymise)
    return pseudonyms.token_for(f.cls, text.substr(f.start, f.end - f.start));
  return "[" + class_label(f.cls) + "]";
}

std::vector<Splice> plan_splices(const BodyScan& scan, const ActionTable& actions,
                                 Pseudonyms* pseudonyms, bool* blocked, bool* unmaskable) {
  std::vector<Splice> splices;
  for (const BodyString& s : scan.strings) {
    // Offsets are the scanned text's; what is not replaced is copied as the client wrote it.
    const bool nested = !s.written_at.empty();
    const std::string& base = nested ? s.written : s.text;
    auto at = [&](size_t i) -> size_t { return nested ? s.written_at[i] : i; };
    std::string text;
    size_t pos = 0;
    bool changed = false;
    for (size_t i = 0; i < s.findings.size(); ++i) {
      const Finding& f = s.findings[i];
      Action a = actions.action_for(f.cls);
      if (a == Action::kAllow) continue;
      if (a == Action::kBlock) {
        if (blocked == nullptr) continue;  // requests: blocking is decided before transforms
        *blocked = true;
      }
      if (pseudonyms == nullptr) a = Action::kMask;  // answers: everything not allowed is masked
      // A number or token ids cannot be replaced; a key only by a token distinct per value.
      if (s.place == Place::kNumber || s.place == Place::kTokens || s.place == Place::kNested ||
          (s.place == Place::kKey && a != Action::kPseudonymise)) {
        if (unmaskable != nullptr) *unmaskable = true;
        continue;
      }
      const BodyString::Part* part = nullptr;
      for (const BodyString::Part& p : s.parts) {
        if (p.finding == i) part = &p;
      }
      text.append(base, pos, at(f.start) - pos);
      if (part != nullptr && !part->carries) {
        // the other share of a split value carries its replacement
      } else if (a == Action::kPseudonymise) {
        text += part != nullptr ? pseudonyms->token_for(f.cls, part->value)
                                : replacement_for(f, s.text, a, *pseudonyms);
      } else {
        text += "[" + class_label(f.cls) + "]";
      }
      pos = at(f.end);
      changed = true;
    }
    if (!changed) continue;
    text.append(base, pos);
    splices.push_back({s.raw_begin, s.raw_end, json_string(text)});
  }
  return splices;
}

std::vector<Splice> plan_transform(const BodyScan& scan, const ActionTable& actions,
                                   Pseudonyms& pseudonyms, bool* unmaskable) {
  return plan_splices(scan, actions, &pseudonyms, nullptr, unmaskable);
}

std::string apply_splices(std::string_view body, std::span<const Splice> splices,
                          const Splice* extra) {
  auto before = [](const Splice& a, const Splice& b) { return a.begin < b.begin; };
  std::vector<Splice> sorted;
  if (!std::is_sorted(splices.begin(), splices.end(), before)) {
    sorted.assign(splices.begin(), splices.end());
    std::sort(sorted.begin(), sorted.end(), before);
    splices = sorted;
  }
  std::string out;
  out.reserve(body.size() + 64);
  size_t pos = 0;
  auto put = [&](const Splice& s) {
    out.append(body.substr(pos, s.begin - pos));
    out.append(s.replacement);
    pos = s.end;
  };
  bool extra_done = extra == nullptr;
  for (const Splice& s : splices) {
    if (!extra_done && extra->begin < s.begin) {
      put(*extra);
      extra_done = true;
    }
    put(s);
  }
  if (!extra_done) put(*extra);
  out.append(body.substr(pos));
  return out;
}

}  // namespace warden::inspect
