// Custom patterns in streams: where a match may still begin. Hyperscan reports no partial
// match, so a stream would have to hold a custom pattern's whole width (up to hold_back_bytes)
// behind the newest byte, and plain prose would wait for it. PCRE2's partial matching answers
// the question directly: the first position from which the text seen so far is a match or the
// beginning of one. Hyperscan's pattern syntax is PCRE's; a pattern PCRE2 cannot compile keeps
// the width hold (Engine::Impl::open_pattern_bytes).
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

struct pcre2_real_code_8;

namespace warden::inspect {

class OpenPatterns {
 public:
  OpenPatterns();
  ~OpenPatterns();
  OpenPatterns(const OpenPatterns&) = delete;
  OpenPatterns& operator=(const OpenPatterns&) = delete;

  // Adds a custom pattern (matched ignoring case, Unicode properties, UTF-8 as Hyperscan's
  // flags say); false when PCRE2 cannot compile it.
  bool add(const std::string& pattern);
  bool empty() const { return codes_.empty(); }

  // The first position in [from, text.size()) from which some pattern matches, or may match
  // once more text arrives; text.size() when none. Bytes before `from` are read only as what
  // a lookbehind sees. Any doubt (invalid UTF-8, a match limit reached) answers `from`.
  size_t first_open(std::string_view text, size_t from) const;

 private:
  struct Code;
  std::vector<std::unique_ptr<Code>> codes_;
  size_t lookbehind_ = 0;  // the longest lookbehind of any pattern, in bytes (4 per code point)
};

}  // namespace warden::inspect
