#include "upstream/http_framing.h"

#include <strings.h>

namespace warden::http_framing {

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && strncasecmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace

size_t head_length(std::string_view data, size_t searched_before) {
  const size_t from = searched_before >= 3 ? searched_before - 3 : 0;
  const size_t end = data.find("\r\n\r\n", from);
  return end == std::string_view::npos ? 0 : end + 4;
}

std::string_view head_problem(std::string_view head) {
  // Empty lines before the start line are allowed (RFC 9112 §2.2) and skipped.
  while (head.substr(0, 2) == "\r\n") head.remove_prefix(2);
  size_t eol = head.find("\r\n");
  if (eol == std::string_view::npos) return {};
  size_t pos = eol + 2;
  bool transfer_encoding = false;
  int codings = 0;
  bool chunked_only = true;
  while (pos < head.size()) {
    eol = head.find("\r\n", pos);
    if (eol == std::string_view::npos || eol == pos) break;  // the empty line ends the head
    const std::string_view line = head.substr(pos, eol - pos);
    pos = eol + 2;
    if (line.front() == ' ' || line.front() == '\t') return "obsolete line folding";
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos || !iequals(line.substr(0, colon), "transfer-encoding"))
      continue;
    transfer_encoding = true;
    std::string_view list = line.substr(colon + 1);
    for (;;) {
      const size_t comma = list.find(',');
      const std::string_view coding = trim(list.substr(0, comma));
      if (!coding.empty()) {
        ++codings;
        chunked_only = chunked_only && iequals(coding, "chunked");
      }
      if (comma == std::string_view::npos) break;
      list.remove_prefix(comma + 1);
    }
  }
  if (transfer_encoding && (codings != 1 || !chunked_only))
    return "a Transfer-Encoding other than chunked";
  return {};
}

}  // namespace warden::http_framing
