// Reading already-validated JSON text by hand, where a parser's DOM would lose byte offsets.
#pragma once

#include <cstring>
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

}  // namespace warden
