// Context words before a candidate: whether one of a detector's words stands in the (at most
// 64) bytes before it, ignoring ASCII case.
//
// This runs two or three times for every candidate. A Hyperscan call per window cost ~170
// cycles whatever the window held (its per-call floor; a word list is a handful of words and
// the window one cache line), a tenth of all the time PII-dense text took. Here each word's
// first two bytes are compared with sixteen positions at once (SSE2) and the rest of the word
// only where both match.
#include <emmintrin.h>

#include <algorithm>
#include <cstring>

#include "inspect/engine_impl.h"

namespace warden::inspect {

namespace {

bool letter(char c) {
  c = static_cast<char>(c | 0x20);
  return c >= 'a' && c <= 'z';
}

// ASCII letters folded to lower case, sixteen bytes at a time (other bytes unchanged).
__m128i fold(__m128i x) {
  const __m128i upper = _mm_and_si128(_mm_cmpgt_epi8(x, _mm_set1_epi8('A' - 1)),
                                      _mm_cmplt_epi8(x, _mm_set1_epi8('Z' + 1)));
  return _mm_or_si128(x, _mm_and_si128(upper, _mm_set1_epi8(0x20)));
}

}  // namespace

bool ContextIndex::any_before(int list, size_t start, size_t bytes) const {
  if (list < 0) return false;
  bytes = std::min(bytes, kContextBytes);
  const size_t lo = std::max(offset, start > bytes ? start - bytes : 0);
  if (start <= lo) return false;
  const size_t n = start - lo;
  // The window folded, then zeros (no word holds one), so that every load below is in bounds.
  alignas(16) char window[kContextBytes + 32];
  std::memset(window, 0, sizeof window);
  std::memcpy(window, text.data() + (lo - offset), n);
  for (size_t i = 0; i < n; i += 16) {
    auto* at = reinterpret_cast<__m128i*>(window + i);
    _mm_store_si128(at, fold(_mm_load_si128(at)));
  }
  for (uint16_t id : impl->word_lists[static_cast<size_t>(list)]) {
    const ContextWord& word = impl->words[id];
    const size_t len = word.text.size();
    if (len > n) continue;
    const char* w = word.text.data();
    const __m128i first = _mm_set1_epi8(w[0]);
    const __m128i second = _mm_set1_epi8(len > 1 ? w[1] : 0);
    const size_t last = n - len;  // the last position the word can start at
    for (size_t i = 0; i <= last; i += 16) {
      const __m128i a =
          _mm_cmpeq_epi8(_mm_load_si128(reinterpret_cast<__m128i*>(window + i)), first);
      const __m128i b =
          len > 1
              ? _mm_cmpeq_epi8(_mm_loadu_si128(reinterpret_cast<__m128i*>(window + i + 1)), second)
              : _mm_set1_epi8(-1);
      auto mask = static_cast<unsigned>(_mm_movemask_epi8(_mm_and_si128(a, b)));
      if (last - i < 15) mask &= (2u << (last - i)) - 1;
      for (; mask != 0; mask &= mask - 1) {
        const size_t p = i + static_cast<size_t>(__builtin_ctz(mask));
        if (len > 2 && std::memcmp(window + p + 2, w + 2, len - 2) != 0) continue;
        if (!word.ascii) return true;
        // ASCII words stand whole: no letter continues them (the candidate may touch the end).
        const size_t at = lo + p - offset;
        const bool left = at == 0 || !letter(text[at - 1]);
        const bool right = p + len == n || !letter(window[p + len]);
        if (left && right) return true;
      }
    }
  }
  return false;
}

}  // namespace warden::inspect
