// Minimal JSON output helpers. Parsing is simdjson's job; output is a handful of flat objects
// (errors, log lines, /v1/models), for which a string builder with correct escaping suffices.
#pragma once

#include <string>
#include <string_view>

namespace warden {

// Appends `s` as a JSON string literal (with quotes), escaping per RFC 8259.
void append_json_string(std::string& out, std::string_view s);

inline std::string json_string(std::string_view s) {
  std::string out;
  append_json_string(out, s);
  return out;
}

}  // namespace warden
