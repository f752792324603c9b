#include "inspect/partial.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <algorithm>

namespace warden::inspect {

namespace {

// A bound on the work of one search (the window is at most hold_back_bytes long): beyond it the
// answer is "hold everything", never "release".
constexpr uint32_t kMatchLimit = 100000;

size_t code_point_start(std::string_view text, size_t i) {
  while (i > 0 && i < text.size() && (static_cast<unsigned char>(text[i]) & 0xC0) == 0x80) --i;
  return i;
}

struct MatchData {
  pcre2_match_data* data = pcre2_match_data_create(1, nullptr);
  pcre2_match_context* context = [] {
    pcre2_match_context* c = pcre2_match_context_create(nullptr);
    pcre2_set_match_limit(c, kMatchLimit);
    return c;
  }();
  ~MatchData() {
    pcre2_match_data_free(data);
    pcre2_match_context_free(context);
  }
};

}  // namespace

struct OpenPatterns::Code {
  pcre2_code* code = nullptr;
  ~Code() { pcre2_code_free(code); }
};

OpenPatterns::OpenPatterns() = default;
OpenPatterns::~OpenPatterns() = default;

bool OpenPatterns::add(const std::string& pattern) {
  int error = 0;
  PCRE2_SIZE at = 0;
  auto c = std::make_unique<Code>();
  c->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                          PCRE2_UTF | PCRE2_UCP | PCRE2_CASELESS, &error, &at, nullptr);
  if (c->code == nullptr) return false;
  pcre2_jit_compile(c->code, PCRE2_JIT_PARTIAL_HARD);  // the interpreter serves without it
  uint32_t behind = 0;
  pcre2_pattern_info(c->code, PCRE2_INFO_MAXLOOKBEHIND, &behind);
  lookbehind_ = std::max<size_t>(lookbehind_, size_t{behind} * 4);
  codes_.push_back(std::move(c));
  return true;
}

size_t OpenPatterns::first_open(std::string_view text, size_t from) const {
  if (from >= text.size()) return text.size();
  thread_local MatchData md;
  // The subject starts a lookbehind's reach before `from`, both on code point boundaries (an
  // earlier start only holds more); a code point cut short at the end is left out (the stream
  // holds it anyway).
  from = code_point_start(text, from);
  const size_t begin = code_point_start(text, from > lookbehind_ ? from - lookbehind_ : 0);
  size_t end = text.size();
  for (size_t k = end; k > from && end - k < 4; --k) {
    const auto c = static_cast<unsigned char>(text[k - 1]);
    if ((c & 0xC0) == 0x80) continue;
    if (c >= 0xC0 && end - (k - 1) < (c >= 0xF0 ? 4u : c >= 0xE0 ? 3u : 2u)) end = k - 1;
    break;
  }
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data() + begin);
  size_t first = text.size();
  for (const auto& c : codes_) {
    const int rc = pcre2_match(c->code, subject, end - begin, from - begin, PCRE2_PARTIAL_HARD,
                               md.data, md.context);
    if (rc == PCRE2_ERROR_NOMATCH) continue;
    if (rc >= 0 || rc == PCRE2_ERROR_PARTIAL) {
      // A complete match holds from its start too: an alternative that the first one to succeed
      // hid may still grow from there.
      first = std::min(first, begin + pcre2_get_ovector_pointer(md.data)[0]);
    } else {
      return from;
    }
  }
  return first;
}

}  // namespace warden::inspect
