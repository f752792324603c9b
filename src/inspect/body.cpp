#include "inspect/body.h"

#include <algorithm>
#include <cstring>

#include "common/json_scan.h"
#include "common/json_writer.h"

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

void ActionTable::set(std::string prefix, Action action) {
  rules_.emplace_back(std::move(prefix), action);
}

Action ActionTable::action_for(std::string_view cls) const {
  size_t best = 0;
  Action action = Action::kAllow;
  bool found = false;
  for (const auto& [prefix, a] : rules_) {
    if (class_matches(cls, prefix) && (!found || prefix.size() > best)) {
      best = prefix.size();
      action = a;
      found = true;
    }
  }
  return action;
}

namespace {

using Segment = StringToken::Segment;

// The explicit list of structural fields that are not scanned (they cannot carry user data
// beyond an enum or an identifier the client chose from a fixed set).
bool skipped(const std::vector<Segment>& p) {
  const size_t n = p.size();
  if (n == 1) {
    return p[0].is("model") || p[0].is("reasoning_effort") || p[0].is("service_tier") ||
           p[0].is("encoding_format") || p[0].is("tool_choice");
  }
  if (n == 2 && p[0].is("response_format") && p[1].is("type")) return true;
  if (n == 2 && p[0].is("tool_choice") && p[1].is("type")) return true;
  if (n == 2 && p[0].is("modalities")) return true;
  if (n == 3 && p[0].is("tools") && p[2].is("type")) return true;
  if (n >= 3 && p[0].is("messages")) {
    if (n == 3 && (p[2].is("role") || p[2].is("tool_call_id"))) return true;
    if (n == 5 && p[2].is("content") && p[4].is("type")) return true;
    if (n == 6 && p[2].is("content") && p[4].is("image_url") && p[5].is("detail")) return true;
    if (n == 5 && p[2].is("tool_calls") && (p[4].is("type") || p[4].is("id"))) return true;
  }
  return false;
}

// Decodes the JSON string token body[open..close] (quotes at open and close).
void decode_string(std::string_view raw, std::string& out) {
  out.clear();
  out.reserve(raw.size());
  for (size_t i = 0; i < raw.size(); ++i) {
    const char c = raw[i];
    if (c != '\\') {
      // The run up to the next escape, whole.
      const size_t next = std::min(raw.find('\\', i), raw.size());
      out.append(raw.substr(i, next - i));
      i = next - 1;
      continue;
    }
    if (i + 1 >= raw.size()) {
      out.push_back(c);
      continue;
    }
    const char e = raw[++i];
    switch (e) {
      case 'n':
        out.push_back('\n');
        break;
      case 't':
        out.push_back('\t');
        break;
      case 'r':
        out.push_back('\r');
        break;
      case 'b':
        out.push_back('\b');
        break;
      case 'f':
        out.push_back('\f');
        break;
      case 'u': {
        auto hex4 = [&](size_t at) -> uint32_t {
          uint32_t v = 0;
          for (size_t k = at; k < at + 4 && k < raw.size(); ++k) {
            const char h = raw[k];
            v = v * 16 + static_cast<uint32_t>(h <= '9' ? h - '0' : (h | 0x20) - 'a' + 10);
          }
          return v;
        };
        uint32_t cp = hex4(i + 1);
        i += 4;
        if (cp >= 0xD800 && cp <= 0xDBFF && i + 6 < raw.size() + 1 &&
            raw.substr(i + 1, 2) == "\\u") {
          const uint32_t lo = hex4(i + 3);
          if (lo >= 0xDC00 && lo <= 0xDFFF) {
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            i += 6;
          }
        }
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
        break;
      }
      default:
        out.push_back(e);  // \" \\ \/
    }
  }
}

}  // namespace

// A walk over already-validated JSON: simdjson's DOM keeps no source offsets, and the offsets
// are what lets a replacement be spliced into the document without re-serialising it.
BodyScanStatus for_each_string(std::string_view body, size_t max_depth,
                               const StringVisitor& visit) {
  struct Frame {
    bool object;
    bool expect_key;
    std::string_view key;  // the current key (objects)
    size_t index;          // the current element (arrays)
  };
  std::vector<Frame> stack;
  std::vector<StringToken::Segment> path;
  auto value_starts = [&stack]() {
    if (!stack.empty() && !stack.back().object) ++stack.back().index;
  };
  for (size_t i = 0; i < body.size(); ++i) {
    const char c = body[i];
    if (c == '{' || c == '[') {
      if (stack.size() >= max_depth) return BodyScanStatus::kTooDeep;
      value_starts();
      stack.push_back({c == '{', c == '{', {}, 0});
    } else if (c == '}' || c == ']') {
      if (!stack.empty()) stack.pop_back();
    } else if (c == ',') {
      if (!stack.empty() && stack.back().object) stack.back().expect_key = true;
    } else if (c == '"') {
      const size_t close = json_string_close(body, i);
      if (close == std::string_view::npos) return BodyScanStatus::kScanFailed;
      const std::string_view raw = body.substr(i, close + 1 - i);
      if (!stack.empty() && stack.back().object && stack.back().expect_key) {
        stack.back().key = raw.substr(1, raw.size() - 2);  // keys of interest have no escapes
        stack.back().expect_key = false;
      } else {
        value_starts();
        path.clear();
        for (const Frame& f : stack) {
          path.push_back(
              {f.object ? f.key : std::string_view(), !f.object, f.object ? 0 : f.index - 1});
        }
        if (!visit(StringToken{raw, i, &path})) return BodyScanStatus::kScanFailed;
      }
      i = close;
    } else if (c != ':' && c != ' ' && c != '\n' && c != '\r' && c != '\t') {
      // A number, true, false or null: one array element.
      value_starts();
      while (i + 1 < body.size() && body[i + 1] != ',' && body[i + 1] != '}' && body[i + 1] != ']')
        ++i;
    }
  }
  return BodyScanStatus::kOk;
}

void decode_json_string(std::string_view raw, std::string& out) {
  if (raw.find('\\') == std::string_view::npos) {
    out.assign(raw);
  } else {
    decode_string(raw, out);
  }
}

BodyScanStatus scan_body(const Engine& engine, Scratch& scratch, std::string_view body,
                         BodyScan& out, size_t max_depth) {
  std::string decoded;
  std::vector<Finding> findings;
  return for_each_string(body, max_depth, [&](const StringToken& t) {
    if (skipped(*t.path)) return true;
    decode_json_string(t.raw.substr(1, t.raw.size() - 2), decoded);
    ++out.scanned_strings;
    out.scanned_bytes += decoded.size();
    if (!scan(engine, scratch, decoded, findings)) return false;
    if (!findings.empty()) {
      for (const Finding& f : findings) ++out.counts[std::string(f.cls)];
      out.strings.push_back({static_cast<uint32_t>(t.offset),
                             static_cast<uint32_t>(t.offset + t.raw.size()), decoded, findings});
    }
    return true;
  });
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
                                 Pseudonyms* pseudonyms, bool* blocked) {
  std::vector<Splice> splices;
  for (const BodyString& s : scan.strings) {
    std::string text;
    size_t pos = 0;
    bool changed = false;
    for (const Finding& f : s.findings) {
      Action a = actions.action_for(f.cls);
      if (a == Action::kAllow) continue;
      if (a == Action::kBlock) {
        if (blocked == nullptr) continue;  // requests: blocking is decided before transforms
        *blocked = true;
      }
      if (pseudonyms == nullptr) a = Action::kMask;  // answers: everything not allowed is masked
      text.append(s.text, pos, f.start - pos);
      text += a == Action::kPseudonymise ? replacement_for(f, s.text, a, *pseudonyms)
                                         : "[" + class_label(f.cls) + "]";
      pos = f.end;
      changed = true;
    }
    if (!changed) continue;
    text.append(s.text, pos);
    splices.push_back({s.raw_begin, s.raw_end, json_string(text)});
  }
  return splices;
}

std::vector<Splice> plan_transform(const BodyScan& scan, const ActionTable& actions,
                                   Pseudonyms& pseudonyms) {
  return plan_splices(scan, actions, &pseudonyms, nullptr);
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
