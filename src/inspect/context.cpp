// Context words before a candidate: whether one of a detector's words stands in the (at most
// 64) bytes before it, ignoring ASCII case.
//
// This runs two or three times for every candidate, and for every region of a detector that
// requires a context word. A Hyperscan call per window cost ~170 cycles whatever the window
// held (its per-call floor; a list is a handful of words, the window a cache line or two), a
// tenth of all the time PII-dense text took. Here the window is filtered sixteen positions at
// a time the way Hyperscan's own small literal matcher (Teddy) does it: each word is in one
// of eight buckets, and a position survives for a bucket when the nibbles of its byte and the
// two next are those of a word's first three bytes there; only surviving positions are compared.
// pshufb needs SSSE3, which Hyperscan itself requires (Engine::compile checks the platform).
#include <tmmintrin.h>

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

// Whether `at` holds `word` (lower case), ignoring ASCII case.
bool equal_folded(const char* at, const std::string& word) {
  for (size_t k = 0; k < word.size(); ++k) {
    char c = at[k];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c | 0x20);
    if (c != word[k]) return false;
  }
  return true;
}

// The buckets whose words may have each of the sixteen bytes at a given place: the bucket
// masks of its low nibble and of its high nibble, from their tables, and-ed.
__attribute__((target("ssse3"))) __m128i buckets(__m128i x, __m128i tl, __m128i th, __m128i low) {
  return _mm_and_si128(_mm_shuffle_epi8(tl, _mm_and_si128(x, low)),
                       _mm_shuffle_epi8(th, _mm_and_si128(_mm_srli_epi16(x, 4), low)));
}

}  // namespace

Engine::Impl::WordList::WordList(const std::vector<uint16_t>& ids,
                                 const std::vector<ContextWord>& all)
    : words(ids) {
  for (size_t k = 0; k < words.size(); ++k) {
    const std::string& w = all[words[k]].text;
    const auto bit = static_cast<uint8_t>(1u << (k % 8));
    shortest = std::min(shortest, w.size());
    for (size_t b = 0; b < 3; ++b) {
      if (b < w.size()) {
        const auto c = static_cast<unsigned char>(w[b]);
        nibbles[2 * b][c & 15] |= bit;
        nibbles[2 * b + 1][c >> 4] |= bit;
      } else {  // a shorter word: any byte
        for (size_t n = 0; n < 16; ++n) {
          nibbles[2 * b][n] |= bit;
          nibbles[2 * b + 1][n] |= bit;
        }
      }
    }
  }
}

__attribute__((target("ssse3"))) bool ContextIndex::any_in(int list, size_t lo, size_t hi,
                                                           bool right) const {
  const Engine::Impl::WordList& l = impl->word_lists[static_cast<size_t>(list)];
  const size_t n = hi - lo;
  if (l.shortest > n) return false;
  // Sixteen positions take eighteen bytes: near the text's end the window is copied first,
  // followed by zeros (no word holds one).
  const char* base = text.data() + (lo - offset);
  alignas(16) char copy[kMaxWindow + 32];
  if (lo - offset + n + 18 > text.size()) {
    std::memcpy(copy, base, n);
    std::memset(copy + n, 0, 32);
    base = copy;
  }
  const auto* tables = reinterpret_cast<const __m128i*>(l.nibbles);
  const __m128i lo0 = _mm_load_si128(tables);
  const __m128i hi0 = _mm_load_si128(tables + 1);
  const __m128i lo1 = _mm_load_si128(tables + 2);
  const __m128i hi1 = _mm_load_si128(tables + 3);
  const __m128i lo2 = _mm_load_si128(tables + 4);
  const __m128i hi2 = _mm_load_si128(tables + 5);
  const __m128i low = _mm_set1_epi8(15);
  const size_t last = n - l.shortest;  // the last position a word can start at
  for (size_t i = 0; i <= last; i += 16) {
    const __m128i first = fold(_mm_loadu_si128(reinterpret_cast<const __m128i*>(base + i)));
    const __m128i second = fold(_mm_loadu_si128(reinterpret_cast<const __m128i*>(base + i + 1)));
    const __m128i third = fold(_mm_loadu_si128(reinterpret_cast<const __m128i*>(base + i + 2)));
    alignas(16) uint8_t hit[16];
    const __m128i m =
        _mm_and_si128(_mm_and_si128(buckets(first, lo0, hi0, low), buckets(second, lo1, hi1, low)),
                      buckets(third, lo2, hi2, low));
    _mm_store_si128(reinterpret_cast<__m128i*>(hit), m);
    auto mask =
        ~static_cast<unsigned>(_mm_movemask_epi8(_mm_cmpeq_epi8(m, _mm_setzero_si128()))) & 0xFFFFu;
    if (last - i < 15) mask &= (2u << (last - i)) - 1;
    for (; mask != 0; mask &= mask - 1) {
      const auto q = static_cast<size_t>(__builtin_ctz(mask));
      const size_t p = i + q;
      for (unsigned b = hit[q]; b != 0; b &= b - 1) {
        for (size_t k = static_cast<size_t>(__builtin_ctz(b)); k < l.words.size(); k += 8) {
          const ContextWord& word = impl->words[l.words[k]];
          const size_t len = word.text.size();
          if (len > n - p || !equal_folded(base + p, word.text)) continue;
          if (!word.ascii) return true;
          // ASCII words stand whole: no letter continues them.
          const size_t at = lo + p - offset;
          const bool left = at == 0 || !letter(text[at - 1]);
          const bool after = !right || p + len == n || !letter(base[p + len]);
          if (left && after) return true;
        }
      }
    }
  }
  return false;
}

bool ContextIndex::any_before(int list, size_t start, size_t bytes) const {
  if (list < 0) return false;
  bytes = std::min(bytes, kContextBytes);
  const size_t lo = std::max(offset, start > bytes ? start - bytes : 0);
  // The candidate may touch the word's end.
  return start > lo && any_in(list, lo, start, true);
}

bool ContextIndex::may_precede(int list, size_t lo, size_t hi) const {
  if (list < 0) return false;
  const size_t from = std::max(offset, lo > kContextBytes ? lo - kContextBytes : 0);
  hi = std::min(hi, offset + text.size());
  if (hi <= from || hi - from > kMaxWindow) return hi > from;
  return any_in(list, from, hi, false);
}

}  // namespace warden::inspect
