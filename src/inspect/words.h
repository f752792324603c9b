// A small set of words looked for in short texts, ignoring ASCII case and the case of Latin-1
// letters ("TÉL", "FÜHRERSCHEIN": a word is also looked for with those in upper case): context
// words before a candidate (context.cpp), placeholder words in a secret's value (validators.cpp).
//
// Both run for every candidate, over a few dozen bytes. A Hyperscan call costs ~170 cycles
// there whatever the text holds (its per-call floor), and a word-by-word search a branch per
// byte and word. The text is filtered sixteen positions at a time the way Hyperscan's own small
// literal matcher (Teddy) does it: each word is in one of eight buckets, and a position
// survives for a bucket when the nibbles of its byte and the two next are among those of the
// first three bytes of the bucket's words (either case of a letter); only surviving positions
// are compared. pshufb needs SSSE3, which Hyperscan itself requires (Engine::compile checks the
// platform).
#pragma once

#include <tmmintrin.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace warden::inspect {

class WordFilter {
 public:
  // ASCII letters match either case, Latin-1 letters (U+00C0-U+00FE) lower case or the word's
  // all upper case; other bytes are compared as they are. No word is empty.
  explicit WordFilter(std::vector<std::string> words);

  // Calls accept(position, word index) for each word found in `s` (ignoring ASCII case), in
  // order of position, until it returns true; returns whether one did.
  template <typename F>
  [[gnu::target("ssse3")]] bool find(std::string_view s, F&& accept) const;

 private:
  // The buckets whose words may have each of sixteen bytes at one place.
  [[gnu::target("ssse3"), gnu::always_inline]] static __m128i buckets(__m128i x,
                                                                      const uint8_t (&lo)[16],
                                                                      const uint8_t (&hi)[16]) {
    const __m128i low = _mm_set1_epi8(15);
    return _mm_and_si128(_mm_shuffle_epi8(_mm_load_si128(reinterpret_cast<const __m128i*>(lo)),
                                          _mm_and_si128(x, low)),
                         _mm_shuffle_epi8(_mm_load_si128(reinterpret_cast<const __m128i*>(hi)),
                                          _mm_and_si128(_mm_srli_epi16(x, 4), low)));
  }
  static bool equal_folded(const char* at, const std::string& word) {
    for (size_t k = 0; k < word.size(); ++k) {
      char c = at[k];
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c | 0x20);
      if (c != word[k]) return false;
    }
    return true;
  }
  template <typename F>
  [[gnu::target("ssse3"), gnu::always_inline]] inline bool chunk(const char* at, std::string_view s,
                                                                 size_t i, size_t last,
                                                                 F& accept) const;
  template <typename F>
  [[gnu::target("ssse3")]] bool verify(__m128i m, unsigned mask, std::string_view s, size_t i,
                                       F& accept) const;

  std::vector<std::string> words_;   // the words, then their Latin-1 upper-case forms
  std::vector<uint16_t> original_;   // the index given for each of words_
  std::vector<uint16_t> by_bucket_;  // word indices, bucket by bucket
  uint16_t bucket_start_[9] = {};    // bucket b's words: by_bucket_[start[b], start[b + 1])
  size_t shortest_ = SIZE_MAX;
  // Per place (0-2): the bucket bits of each low nibble, then of each high nibble.
  alignas(16) uint8_t nibbles_[6][16] = {};
};

// Positions [i, i + 16) of `s`, whose bytes from i on are at `at` (18 readable bytes).
template <typename F>
bool WordFilter::chunk(const char* at, std::string_view s, size_t i, size_t last, F& accept) const {
  const __m128i b0 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(at));
  const __m128i b1 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(at + 1));
  const __m128i b2 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(at + 2));
  const __m128i m = _mm_and_si128(
      _mm_and_si128(buckets(b0, nibbles_[0], nibbles_[1]), buckets(b1, nibbles_[2], nibbles_[3])),
      buckets(b2, nibbles_[4], nibbles_[5]));
  auto mask =
      ~static_cast<unsigned>(_mm_movemask_epi8(_mm_cmpeq_epi8(m, _mm_setzero_si128()))) & 0xFFFFu;
  if (last - i < 15) mask &= (2u << (last - i)) - 1;
  return mask != 0 && verify(m, mask, s, i, accept);
}

template <typename F>
bool WordFilter::verify(__m128i m, unsigned mask, std::string_view s, size_t i, F& accept) const {
  alignas(16) uint8_t hit[16];
  _mm_store_si128(reinterpret_cast<__m128i*>(hit), m);
  for (; mask != 0; mask &= mask - 1) {
    const auto q = static_cast<size_t>(__builtin_ctz(mask));
    const size_t p = i + q;
    for (unsigned b = hit[q]; b != 0; b &= b - 1) {
      const auto bucket = static_cast<size_t>(__builtin_ctz(b));
      for (size_t k = bucket_start_[bucket]; k < bucket_start_[bucket + 1]; ++k) {
        const uint16_t w = by_bucket_[k];
        const std::string& word = words_[w];
        if (word.size() <= s.size() - p && equal_folded(s.data() + p, word) &&
            accept(p, original_[w]))
          return true;
      }
    }
  }
  return false;
}

template <typename F>
bool WordFilter::find(std::string_view s, F&& accept) const {
  if (s.size() < shortest_) return false;
  const size_t last = s.size() - shortest_;  // the last position a word can start at
  size_t i = 0;
  // Sixteen positions take eighteen bytes: the last chunk is copied, followed by zeros (no
  // word holds one).
  for (; i <= last && i + 18 <= s.size(); i += 16) {
    if (chunk(s.data() + i, s, i, last, accept)) return true;
  }
  for (; i <= last; i += 16) {
    char tail[48] = {};
    std::memcpy(tail, s.data() + i, s.size() - i);
    if (chunk(tail, s, i, last, accept)) return true;
  }
  return false;
}

}  // namespace warden::inspect
