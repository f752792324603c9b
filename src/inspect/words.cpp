#include "inspect/words.h"

#include <algorithm>
#include <numeric>

namespace warden::inspect {

WordFilter::WordFilter(std::vector<std::string> words) : words_(std::move(words)) {
  for (std::string& w : words_) {
    for (char& c : w) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c | 0x20 : c);
  }
  original_.resize(words_.size());
  std::iota(original_.begin(), original_.end(), uint16_t{0});
  // A Latin-1 lower-case letter is C3 A0-BE (but C3 B7, the division sign); its upper case is
  // C3 80-9E. Words written in capitals ("TÉLÉPHONE") get a form of their own.
  const size_t given = words_.size();
  for (size_t k = 0; k < given; ++k) {
    std::string upper = words_[k];
    bool changed = false;
    for (size_t i = 0; i + 1 < upper.size(); ++i) {
      const auto lead = static_cast<unsigned char>(upper[i]);
      const auto next = static_cast<unsigned char>(upper[i + 1]);
      if (lead == 0xC3 && next >= 0xA0 && next <= 0xBE && next != 0xB7) {
        upper[i + 1] = static_cast<char>(next - 0x20);
        changed = true;
      }
    }
    if (changed) {
      words_.push_back(std::move(upper));
      original_.push_back(static_cast<uint16_t>(k));
    }
  }
  // A word shorter than three bytes lets any byte through at the places past its end, for its
  // whole bucket: one-byte words get a bucket of their own, two-byte words another, and the
  // longer ones the rest, in order so that words with the same first bytes share a bucket
  // (its nibble sets stay small).
  auto group = [&](uint16_t w) { return std::min<size_t>(words_[w].size(), 3); };
  by_bucket_.resize(words_.size());
  std::iota(by_bucket_.begin(), by_bucket_.end(), uint16_t{0});
  std::sort(by_bucket_.begin(), by_bucket_.end(), [&](uint16_t a, uint16_t b) {
    return group(a) != group(b) ? group(a) < group(b) : words_[a] < words_[b];
  });
  size_t short_groups = 0;
  for (size_t g = 1; g < 3; ++g) {
    short_groups += std::any_of(words_.begin(), words_.end(),
                                [&](const std::string& w) { return w.size() == g; });
  }
  const size_t longer = static_cast<size_t>(std::count_if(
      words_.begin(), words_.end(), [](const std::string& w) { return w.size() >= 3; }));
  const size_t per = std::max<size_t>(1, (longer + (8 - short_groups) - 1) / (8 - short_groups));
  size_t bucket = 0;
  for (size_t k = 0, in_bucket = 0; k < by_bucket_.size(); ++k) {
    const std::string& w = words_[by_bucket_[k]];
    if (k > 0 &&
        (group(by_bucket_[k]) != group(by_bucket_[k - 1]) || (w.size() >= 3 && in_bucket == per))) {
      ++bucket;
      in_bucket = 0;
    }
    ++in_bucket;
    const auto bit = static_cast<uint8_t>(1u << bucket);
    bucket_start_[bucket + 1] = static_cast<uint16_t>(k + 1);
    shortest_ = std::min(shortest_, w.size());
    for (size_t place = 0; place < 3; ++place) {
      for (size_t nibble = 0; nibble < 16; ++nibble) {
        const auto c = static_cast<unsigned char>(place < w.size() ? w[place] : 0);
        // Past a short word's end any byte may follow.
        if (place >= w.size() || (c & 15) == nibble) nibbles_[2 * place][nibble] |= bit;
        // The text is not folded: a letter's upper case passes too (0x4_/0x5_ for 0x6_/0x7_).
        const bool letter = c >= 'a' && c <= 'z';
        if (place >= w.size() || (c >> 4) == nibble || (letter && ((c >> 4) - 2u) == nibble))
          nibbles_[2 * place + 1][nibble] |= bit;
      }
    }
  }
  for (size_t b = 1; b < 9; ++b)
    bucket_start_[b] = std::max(bucket_start_[b], bucket_start_[b - 1]);
}

}  // namespace warden::inspect
