// Reading already-validated JSON text by hand, where a parser's DOM would lose byte offsets.
#pragma once

#include <cstring>
#include <string>
#include <string_view>

namespace warden {

// The index of the quote closing the JSON string whose opening quote is at `open` (npos if
// none). memchr jumps over long texts; a quote after an odd run of backslashes is escaped.
inline size_t json_string_close(std::string_view s, size_t open) {
  size_t pos = open + 1;
  for (;;) {
    const void* hit = std::memchr(s.data() + pos, '"', s.size() - pos);
    if (hit == nullptr) return std::string_view::npos;
    const size_t q = static_cast<size_t>(static_cast<const char*>(hit) - s.data());
    size_t backslashes = 0;
    while (q - backslashes > open + 1 && s[q - backslashes - 1] == '\\') ++backslashes;
    if (backslashes % 2 == 0) return q;
    pos = q + 1;
  }
}

// One past the end of the JSON value that starts at `start` (whitespace before it skipped) in
// already-validated JSON; npos if the document ends first.
inline size_t json_value_end(std::string_view s, size_t start) {
  size_t i = start;
  while (i < s.size() && (s[i] == ' ' || s[i] == '\n' || s[i] == '\r' || s[i] == '\t')) ++i;
  if (i >= s.size()) return std::string_view::npos;
  int depth = 0;
  for (; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '"') {
      i = json_string_close(s, i);
      if (i == std::string_view::npos) return i;
      if (depth == 0) return i + 1;
    } else if (c == '{' || c == '[') {
      ++depth;
    } else if (c == '}' || c == ']') {
      if (depth == 0) return i;  // the end of a number, true, false or null
      if (--depth == 0) return i + 1;
    } else if (depth == 0 && (c == ',' || c == ' ' || c == '\n' || c == '\r' || c == '\t')) {
      return i;
    }
  }
  return depth == 0 ? s.size() : std::string_view::npos;
}

// Decodes the contents of a JSON string token (without its quotes) into `out`: escapes resolved,
// surrogate pairs joined into one UTF-8 character.
void decode_json_string(std::string_view raw, std::string& out);

}  // namespace warden
