// Number clusters: the only places where the number detectors (national identifiers, cards,
// IBANs, IP addresses) can match, found without running their patterns.
//
// A cluster is a run of words joined by one or two separators (space, - . / : ( ) _, and the
// Unicode spaces and dashes of sep_at), where every word (ASCII or full-width letters and digits)
// carries a digit or is a short group of upper-case or hex letters ("WEST" in a grouped IBAN, "AB"
// in a NINO, "db8" in IPv6). Every number detector's match consists of such words and separators,
// so it lies inside one cluster; a cluster is scanned only by the detectors whose lower bounds it
// meets (digits, letters, dots, colons, digit counts of runs of whole numeric words, upper-case run
// lengths). The pass starts at digits, and at a group of hex letters before a colon (an IPv6
// address without any decimal digit, "fdfc:b:ffee::eecb").
//
// Hand-written rather than a Hyperscan pattern: Hyperscan cannot gate on counts, and adding one
// class-led pattern (a run of digits) to the literal database halved its speed on prose (3.4 to
// 1.7 GB/s). The trigger search is SSE2 (Hyperscan itself requires x86-64).
#include <emmintrin.h>

#include <algorithm>
#include <array>

#include "inspect/engine_impl.h"
#include "inspect/validators.h"

namespace warden::inspect {

namespace {

using Bytes = const unsigned char*;

// A full-width digit or letter is EF BC 90-99 / EF BC A1-BA / EF BD 81-9A.
[[gnu::always_inline]] inline bool fw_digit(Bytes p, size_t i, size_t n) {
  return i + 2 < n && p[i] == 0xEF && p[i + 1] == 0xBC && p[i + 2] >= 0x90 && p[i + 2] <= 0x99;
}
[[gnu::always_inline]] inline bool fw_alnum(Bytes p, size_t i, size_t n) {
  if (i + 2 >= n || p[i] != 0xEF) return false;
  const unsigned char b = p[i + 1];
  const unsigned char c = p[i + 2];
  return (b == 0xBC && ((c >= 0x90 && c <= 0x99) || (c >= 0xA1 && c <= 0xBA))) ||
         (b == 0xBD && c >= 0x81 && c <= 0x9A);
}
// One table load per byte: the walks over words are the cluster pass's inner loops.
constexpr auto kAsciiAlnum = [] {
  std::array<bool, 256> t{};
  for (int c = 0; c < 256; ++c)
    t[static_cast<size_t>(c)] =
        (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
  return t;
}();
[[gnu::always_inline]] inline bool ascii_alnum(unsigned char c) {
  return kAsciiAlnum[c];
}

// Bytes of the word character at i / ending at i (0 if none).
[[gnu::always_inline]] inline size_t word_at(Bytes p, size_t i, size_t n) {
  if (i >= n) return 0;
  if (ascii_alnum(p[i])) return 1;
  return fw_alnum(p, i, n) ? 3 : 0;
}
// The end of the word that continues at i (i itself when none does): sixteen bytes at a time
// over ASCII letters and digits, a full-width one checked where the run stops.
inline size_t word_end(Bytes p, size_t i, size_t n) {
  const __m128i zero_below = _mm_set1_epi8('0' - 1);
  const __m128i nine_above = _mm_set1_epi8('9' + 1);
  const __m128i a_below = _mm_set1_epi8('a' - 1);
  const __m128i z_above = _mm_set1_epi8('z' + 1);
  const __m128i case_bit = _mm_set1_epi8(0x20);
  while (true) {
    while (i + 16 <= n) {
      const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + i));
      const __m128i lower = _mm_or_si128(v, case_bit);  // A-Z to a-z (and nothing else to a-z)
      const __m128i alnum = _mm_or_si128(
          _mm_and_si128(_mm_cmpgt_epi8(v, zero_below), _mm_cmplt_epi8(v, nine_above)),
          _mm_and_si128(_mm_cmpgt_epi8(lower, a_below), _mm_cmplt_epi8(lower, z_above)));
      const auto stop = static_cast<unsigned>(~_mm_movemask_epi8(alnum)) & 0xFFFFu;
      if (stop != 0) {
        i += static_cast<size_t>(__builtin_ctz(stop));
        break;
      }
      i += 16;
    }
    while (i < n && i + 16 > n && ascii_alnum(p[i])) ++i;
    if (!fw_alnum(p, i, n)) return i;
    i += 3;
  }
}

[[gnu::always_inline]] inline size_t word_before(Bytes p, size_t i, size_t lo) {
  if (i <= lo) return 0;
  if (ascii_alnum(p[i - 1])) return 1;
  return i >= lo + 3 && fw_alnum(p, i - 3, i) ? 3 : 0;
}
// Separators inside numbers: space - . / : ( ) _, NBSP (C2 A0), and the three-byte ones people
// type or paste between groups: figure, thin, narrow no-break and ideographic spaces, the
// Unicode hyphens and dashes, the full-width hyphen (the SEP class of detectors.cpp).
[[gnu::always_inline]] inline bool ascii_sep(unsigned char c) {
  return c == ' ' || c == '-' || c == '.' || c == '/' || c == ':' || c == '(' || c == ')';
}
// '_' separates groups of a card or an IBAN ("4111_1111_…", "DE89_3704_…"): only after a digit
// or an upper-case letter and, where the next byte is known, before one. Identifiers ("__x",
// "_M_impl", "uint8_t") then join nothing: in code, where '_' is common, the cluster pass
// looks no further than before.
[[gnu::always_inline]] inline bool group_char(unsigned char c) {
  return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z');
}
[[gnu::always_inline]] inline bool wide_sep(unsigned char a, unsigned char b, unsigned char c) {
  if (a == 0xE2)
    return b == 0x80 && (c == 0x87 || c == 0x89 || c == 0x90 || c == 0x91 || c == 0x93 ||
                         c == 0x94 || c == 0xAF);
  return (a == 0xE3 && b == 0x80 && c == 0x80) || (a == 0xEF && b == 0xBC && c == 0x8D);
}
// Bytes of the separator at i / ending at i (0 if none).
[[gnu::always_inline]] inline size_t sep_at(Bytes p, size_t i, size_t n) {
  if (i >= n) return 0;
  if (ascii_sep(p[i])) return 1;
  if (p[i] == '_')  // at the end (a stream), the group after it may still arrive
    return i > 0 && group_char(p[i - 1]) && (i + 1 >= n || group_char(p[i + 1])) ? 1 : 0;
  if (p[i] == 0xC2) return i + 1 < n && p[i + 1] == 0xA0 ? 2 : 0;
  return i + 2 < n && wide_sep(p[i], p[i + 1], p[i + 2]) ? 3 : 0;
}
[[gnu::always_inline]] inline size_t sep_before(Bytes p, size_t i, size_t lo) {
  if (i <= lo) return 0;
  if (ascii_sep(p[i - 1])) return 1;
  // The byte after it (p[i]) may be past the text's end here: the word before decides alone.
  if (p[i - 1] == '_') return i >= lo + 2 && group_char(p[i - 2]) ? 1 : 0;
  if (p[i - 1] == 0xA0) return i >= lo + 2 && p[i - 2] == 0xC2 ? 2 : 0;
  return i >= lo + 3 && wide_sep(p[i - 3], p[i - 2], p[i - 1]) ? 3 : 0;
}

// A lower-case letter past 'f' other than 'x' is in no number detector's pattern (hex digits
// and the "x" check character are): an ASCII word holding one is in no finding (findings are
// whole ASCII words; next to a full-width character, part of a word), and joins nothing.
// `c` is a letter or digit of a word.
[[gnu::always_inline]] inline bool barrier_letter(unsigned char c) {
  return c > 'f' && c < 0x80 && c != 'x';
}

// Trivially constructible (no member initializers): ClusterWords holds arrays of them
// uninitialized. Word{} is all zero, not joinable.
struct Word {
  unsigned digits;
  unsigned upper;
  unsigned alnum;
  unsigned upper_run;  // longest run of ASCII upper-case letters and digits
  unsigned wide;
  bool joinable;        // carries a digit, or is a short group of upper-case or hex letters;
                        // and no barrier letter
  bool numeric;         // digits and at most one letter ("…451X", "2A", "…052A006…")
  bool ascii;           // ASCII letters and digits only
  bool country_code;    // two upper-case letters and a digit start an ASCII run in it
  uint64_t upper_runs;  // bit k: a whole ASCII run of k upper-case letters and digits (k < 64)
};

[[gnu::always_inline]] inline Word word_of(Bytes p, size_t b, size_t e) {
  Word w{};
  if (e - b < kShortWord) {
    // Most words: a few ASCII bytes, counted without the runs of upper-case letters and digits
    // (no detector needs a run shorter than kShortWord: Engine::compile checks).
    unsigned letters = 0;
    bool short_letters = true;
    bool barrier = false;
    size_t i = b;
    for (; i < e && p[i] < 0x80; ++i) {
      const unsigned char x = p[i];
      if (x <= '9') {
        ++w.digits;
      } else {
        ++letters;
        if (x <= 'Z') {
          ++w.upper;
        } else if (x > 'f') {
          short_letters = false;
          barrier = barrier || barrier_letter(x);
        }
      }
    }
    if (i == e) {
      w.alnum = static_cast<unsigned>(e - b);
      w.country_code = e - b >= 3 && p[b] >= 'A' && p[b] <= 'Z' && p[b + 1] >= 'A' &&
                       p[b + 1] <= 'Z' && p[b + 2] <= '9';
      w.ascii = true;
      w.joinable = !barrier && (w.digits > 0 || (short_letters && w.alnum <= 4));
      w.numeric = w.digits > 0 && letters <= 1;
      return w;
    }
    w = Word{};
  }
  bool short_letters = true;
  unsigned letters = 0;
  bool barrier = false;  // a barrier_letter
  unsigned run = 0;
  unsigned ascii = 0;       // the current run of ASCII letters and digits
  bool ascii_upper = true;  // … all upper-case letters and digits
  auto end_ascii = [&] {
    if (ascii > 0 && ascii_upper && ascii < 64) w.upper_runs |= uint64_t{1} << ascii;
    ascii = 0;
    ascii_upper = true;
  };
  for (size_t i = b; i < e;) {
    const unsigned char x = p[i];
    const bool upper_digit = (x >= '0' && x <= '9') || (x >= 'A' && x <= 'Z');
    if (x < 0x80) {
      ++ascii;
      ascii_upper = ascii_upper && upper_digit;
    } else {
      end_ascii();
    }
    if (x >= 'A' && x <= 'Z' && i + 2 < e && p[i + 1] >= 'A' && p[i + 1] <= 'Z' &&
        p[i + 2] >= '0' && p[i + 2] <= '9' && (i == b || !ascii_alnum(p[i - 1])))
      w.country_code = true;
    run = upper_digit ? run + 1 : 0;
    w.upper_run = std::max(w.upper_run, run);
    if (x < 0x80) {
      if (x >= '0' && x <= '9') {
        ++w.digits;
      } else {
        ++letters;
        if (x >= 'A' && x <= 'Z') {
          ++w.upper;
        } else if (x > 'f') {
          short_letters = false;
          barrier = barrier || barrier_letter(x);
        }
      }
      ++w.alnum;
      ++i;
    } else {  // full-width (word_at guarantees 3 bytes)
      if (p[i + 1] == 0xBC && p[i + 2] <= 0x99) {
        ++w.digits;
        ++w.wide;
      } else {
        ++letters;
      }
      ++w.alnum;
      i += 3;
    }
  }
  end_ascii();
  w.ascii = e - b == w.alnum;
  w.joinable = !(barrier && w.ascii) && (w.digits > 0 || (short_letters && w.alnum <= 4));
  w.numeric = w.digits > 0 && letters <= 1;
  return w;
}

// What the bytes of a long word [b, e) hold, told sixteen at a time (SSE2): long words are
// mostly tokens, hashes and numbers written without separators.
struct LongWord {
  bool digit = false;    // an ASCII digit
  bool barrier = false;  // a barrier_letter
  bool wide = false;     // a byte past ASCII (a full-width character)
  bool digits = true;    // ASCII digits only
};
LongWord long_word(Bytes p, size_t b, size_t e) {
  const __m128i zero_below = _mm_set1_epi8('0' - 1);
  const __m128i nine_above = _mm_set1_epi8('9' + 1);
  const __m128i f = _mm_set1_epi8('f');
  const __m128i z_above = _mm_set1_epi8('z' + 1);
  const __m128i x = _mm_set1_epi8('x');
  unsigned digit = 0;
  unsigned barrier = 0;
  unsigned wide = 0;
  size_t i = b;
  for (; i + 16 <= e; i += 16) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + i));
    const auto d = static_cast<unsigned>(_mm_movemask_epi8(
        _mm_and_si128(_mm_cmpgt_epi8(v, zero_below), _mm_cmplt_epi8(v, nine_above))));
    // Past 'f' and up to 'z' but 'x' (bytes past ASCII compare as negative: none of them).
    barrier |= static_cast<unsigned>(_mm_movemask_epi8(_mm_andnot_si128(
        _mm_cmpeq_epi8(v, x), _mm_and_si128(_mm_cmpgt_epi8(v, f), _mm_cmplt_epi8(v, z_above)))));
    wide |= static_cast<unsigned>(_mm_movemask_epi8(v));
    digit |= d;
    if (d != 0xFFFF) digit |= 1u << 16;  // not digits only
  }
  LongWord w;
  for (; i < e; ++i) {
    const unsigned char c = p[i];
    const bool d = c >= '0' && c <= '9';
    w.digit = w.digit || d;
    w.digits = w.digits && d;
    w.barrier = w.barrier || barrier_letter(c);
    w.wide = w.wide || c >= 0x80;
  }
  w.digit = w.digit || (digit & 0xFFFF) != 0;
  w.digits = w.digits && (digit >> 16) == 0;
  w.barrier = w.barrier || barrier != 0;
  w.wide = w.wide || wide != 0;
  return w;
}

// The word [b, e) counted, or not joinable (an empty word never is).
Word join_word(Bytes p, size_t b, size_t e) {
  if (e - b < kShortWord) return b == e ? Word{} : word_of(p, b, e);
  const LongWord l = long_word(p, b, e);
  if (!l.wide) {
    // An ASCII word this long joins only with a digit and without a barrier letter.
    if (!l.digit || l.barrier) return Word{};
    if (l.digits) {
      Word w{};
      w.digits = w.alnum = w.upper_run = static_cast<unsigned>(e - b);
      w.joinable = w.numeric = w.ascii = true;
      if (e - b < 64) w.upper_runs = uint64_t{1} << (e - b);
      return w;
    }
    return word_of(p, b, e);
  }
  if (e - b > 12) {
    // A word longer than four characters joins only with a digit.
    bool digit = l.digit;
    for (size_t i = b; i < e && !digit; ++i) digit = fw_digit(p, i, e);
    if (!digit) return Word{};
  }
  return word_of(p, b, e);
}

// The features of the cluster [lo, hi), counted in one forward pass.
struct Counts {
  unsigned digits = 0;
  unsigned upper = 0;
  unsigned alnum = 0;
  unsigned dots = 0;
  unsigned colons = 0;
  unsigned chain = 0;       // most digits in consecutive numeric words
  unsigned upper_word = 0;  // longest run of ASCII upper-case letters and digits
  unsigned wide = 0;
  uint64_t sums = 0;          // bit k: k digits in some run of consecutive numeric words (k < 64)
  bool country_code = false;  // two upper-case letters and a digit start an ASCII word
  uint64_t word_digits = 0;   // bit k: a word with k digits (k < 64)
  uint64_t upper_runs = 0;    // Word::upper_runs of every word
  uint64_t packed() const {
    return pack_counts({sat(digits), sat(upper), sat(alnum), sat(dots), sat(colons), sat(chain),
                        sat(upper_word), sat(wide)});
  }
  static uint8_t sat(unsigned v) { return static_cast<uint8_t>(std::min(v, 127u)); }
};

// A cluster's words in order, each counted once while the cluster was found.
struct ClusterWords {
  static constexpr size_t kMax = 32;  // more words than this: counted again from the bytes
  struct Item {
    size_t b;
    size_t e;
    Word w;
  };
  Item items[kMax];
  size_t size = 0;
  bool overflow = false;
  bool ascii = true;  // every word is ASCII letters and digits
  void add(size_t b, size_t e, const Word& w) {
    ascii = ascii && w.ascii;
    if (size == kMax) {
      overflow = true;
      return;
    }
    items[size++] = {b, e, w};
  }
};

void add_word(Counts& c, const Word& w, unsigned* run_counts, size_t& run_words) {
  c.digits += w.digits;
  c.upper += w.upper;
  c.alnum += w.alnum;
  c.wide += w.wide;
  c.country_code = c.country_code || w.country_code;
  c.upper_runs |= w.upper_runs;
  if (w.digits < 64) c.word_digits |= uint64_t{1} << w.digits;
  c.upper_word = std::max(c.upper_word, w.upper_run);
  if (!w.numeric) {
    run_words = 0;
    return;
  }
  if (run_words == ClusterWords::kMax) run_words = 0;  // sums up to 63 are covered anyway
  run_counts[run_words++] = w.digits;
  // Every run of consecutive numeric words that ends with this one; the longest is the chain.
  unsigned sum = 0;
  for (size_t k = run_words; k-- > 0;) {
    sum += run_counts[k];
    if (sum < 64) c.sums |= uint64_t{1} << sum;
  }
  c.chain = std::max(c.chain, sum);
}

// The features of the cluster [lo, hi). A number detector's match is a run of whole numeric
// words (its boundary forbids a letter or digit on either side), hence the sums.
Counts count_cluster(Bytes p, size_t lo, size_t hi, const ClusterWords& words) {
  Counts c;
  unsigned run_counts[ClusterWords::kMax];
  size_t run_words = 0;
  size_t at = lo;
  auto separators = [&](size_t to) {
    for (; at < to; ++at) {
      c.dots += p[at] == '.';
      c.colons += p[at] == ':';
    }
  };
  if (!words.overflow) {
    for (size_t k = 0; k < words.size; ++k) {
      separators(words.items[k].b);
      add_word(c, words.items[k].w, run_counts, run_words);
      at = words.items[k].e;
    }
    separators(hi);
    return c;
  }
  while (at < hi) {
    size_t e = at;
    e = word_end(p, e, hi);
    if (e == at) {
      separators(at + 1);
      continue;
    }
    add_word(c, word_of(p, at, e), run_counts, run_words);
    at = e;
  }
  return c;
}

// The candidates of an exact_runs detector in a cluster, each as a kExact region: the runs of
// whole words (numeric words with an allowed digit count for a number, words with an allowed
// count of letters and digits for a word; the cluster's words are ASCII) with an allowed count
// of words that start with one of its first bytes and pass its validator. Its pattern then only
// has to match a validated candidate whole, where scanning the cluster for ends and starts cost
// far more (most number-like runs are none).
// A cluster's letters and digits normalised once, word by word, as normalize_alnum does
// (upper-case ASCII, full-width forms mapped): normalize_alnum of a run of its words is a slice
// of them (Validators.NormalisedFormsAgree and the gated-vs-reference test hold them to it).
struct Normalised {
  static constexpr size_t kMax = 256;  // words past this many letters and digits are not kept
  char chars[kMax];
  uint16_t at[ClusterWords::kMax + 1];  // where each word's letters and digits start
  size_t words = 0;                     // the words kept
  bool done = false;
  void fill(Bytes p, const ClusterWords& cw) {
    done = true;
    size_t n = 0;
    for (words = 0; words < cw.size; ++words) {
      const ClusterWords::Item& it = cw.items[words];
      if (n + it.w.alnum > kMax) break;
      at[words] = static_cast<uint16_t>(n);
      for (size_t i = it.b; i < it.e;) {
        const unsigned char c = p[i];
        if (c < 0x80) {
          chars[n++] = static_cast<char>(c >= 'a' ? c - 'a' + 'A' : c);
          ++i;
          continue;
        }
        chars[n++] = full_width_alnum(p[i + 1], p[i + 2]);  // a word holds no other code point
        i += 3;
      }
    }
    at[words] = static_cast<uint16_t>(n);
  }
  // The normalised letters and digits of words [i, j]; false when they were not kept.
  bool slice(size_t i, size_t j, std::string_view& out) const {
    if (j >= words) return false;
    out = std::string_view(chars + at[i], static_cast<size_t>(at[j + 1] - at[i]));
    return true;
  }
};

void add_exact_runs(const Engine::Impl& impl, uint16_t index, std::string_view text, size_t offset,
                    const ClusterWords& words, Normalised& norm, std::vector<Region>& regions) {
  const DetectorSpec& spec = impl.specs[index];
  const bool number = spec.boundary == Boundary::kNumber;
  const uint64_t allowed = number ? spec.needs.sums : spec.needs.lengths;
  for (size_t i = 0; i < words.size; ++i) {
    const size_t b = words.items[i].b;
    if (!impl.first_bytes[index][static_cast<unsigned char>(text[b])]) continue;
    unsigned count = 0;
    const uint64_t word_counts = spec.needs.words;
    for (size_t j = i; j < words.size; ++j) {
      const size_t k = j - i + 1;  // words in the run
      if (word_counts != 0 && (k >= 64 || (word_counts >> k) == 0)) break;
      const Word& w = words.items[j].w;
      if (number && !w.numeric) break;
      count += number ? w.digits : w.alnum;
      if (count >= 64) break;
      const size_t e = words.items[j].e;
      if ((allowed >> count & 1) == 0 || (word_counts != 0 && (word_counts >> k & 1) == 0))
        continue;
      const std::string_view candidate = text.substr(b, e - b);
      bool valid = false;
      std::string_view alnum;
      if (spec.validate_alnum != nullptr) {
        if (!norm.done) norm.fill(reinterpret_cast<Bytes>(text.data()), words);
        valid = norm.slice(i, j, alnum) ? spec.validate_alnum(candidate, alnum)
                                        : spec.validate(candidate);
      } else {
        valid = spec.validate(candidate);
      }
      if (valid) regions.push_back({index, Region::kExact, offset + b, offset + e, offset + b});
    }
  }
}

[[gnu::always_inline]] inline bool hex_byte(unsigned char c) {
  return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'f');
}

// An IPv6 address written without a decimal digit ("fd12:…" has one, "fdfc:b:ffee::eecb" none)
// has a colon between hex groups: the start of the group of one to four hex letters before the
// colon at `at` when a hex letter or another colon follows it, else n. Prose's "Note: x", JSON's
// "key":, "std::" and URLs' "https:" fail at once.
size_t hex_group_before(Bytes p, size_t at, size_t lo, size_t n) {
  // A group with a decimal digit started the pass at that digit already: a hex letter before.
  const auto letter = [](unsigned char c) { return (c | 0x20) >= 'a' && (c | 0x20) <= 'f'; };
  if (at == lo || !letter(p[at - 1]) || at + 1 >= n || !(letter(p[at + 1]) || p[at + 1] == ':'))
    return n;
  size_t b = at;
  while (b > lo && at - b < 5 && hex_byte(p[b - 1])) --b;
  if (b == at || at - b > 4 || (b > lo && (ascii_alnum(p[b - 1]) || p[b - 1] >= 0x80))) return n;
  return b;
}

// First position in [i, n) holding an ASCII digit, the lead byte of a full-width digit, or the
// start of a hex group before a colon (hex_group_before).
size_t next_trigger(Bytes p, size_t i, size_t n) {
  const size_t lo = i;
  auto accept = [&](size_t at) -> size_t {  // n: not a trigger
    if (p[at] == ':') {
      const size_t b = hex_group_before(p, at, lo, n);
      return b < n && b >= lo ? b : n;
    }
    return p[at] != 0xEF || fw_digit(p, at, n) ? at : n;
  };
  const __m128i below = _mm_set1_epi8('0' - 1);
  const __m128i above = _mm_set1_epi8('9' + 1);
  const __m128i ef = _mm_set1_epi8(static_cast<char>(0xEF));
  const __m128i colon = _mm_set1_epi8(':');
  auto lanes = [&](__m128i v) {
    const __m128i digit = _mm_and_si128(_mm_cmpgt_epi8(v, below), _mm_cmplt_epi8(v, above));
    return static_cast<unsigned>(_mm_movemask_epi8(
        _mm_or_si128(digit, _mm_or_si128(_mm_cmpeq_epi8(v, ef), _mm_cmpeq_epi8(v, colon)))));
  };
  while (i + 16 <= n) {
    const unsigned mask = lanes(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + i)));
    if (mask != 0) {
      const size_t at = i + static_cast<size_t>(__builtin_ctz(mask));
      if (const size_t t = accept(at); t < n) return t;
      i = at + 1;
      continue;
    }
    i += 16;
  }
  if (i < n && n >= 16) {
    // The last bytes: one load ending at n, the part before i masked off.
    unsigned mask = lanes(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + n - 16)));
    mask &= ~0u << (i - (n - 16));
    while (mask != 0) {
      const size_t at = n - 16 + static_cast<size_t>(__builtin_ctz(mask));
      if (const size_t t = accept(at); t < n) return t;
      mask &= mask - 1;
    }
    return n;
  }
  for (; i < n; ++i) {
    if ((p[i] >= '0' && p[i] <= '9') || p[i] == ':' || p[i] == 0xEF) {
      if (const size_t t = accept(i); t < n) return t;
    }
  }
  return n;
}

constexpr size_t kMaxSeparators = 2;
constexpr size_t kMaxOpenCluster = 256;
constexpr size_t kClusterOverlap = 128;  // longer than any number detector's match

// Separators [b, pos) before pos, at most two (b == pos when none).
size_t seps_back(Bytes p, size_t pos, size_t lo) {
  size_t b = pos;
  for (size_t k = 0; k < kMaxSeparators; ++k) {
    const size_t s = sep_before(p, b, lo);
    if (s == 0) break;
    b -= s;
  }
  return b;
}
size_t seps_forward(Bytes p, size_t pos, size_t n) {
  size_t e = pos;
  for (size_t k = 0; k < kMaxSeparators; ++k) {
    const size_t s = sep_at(p, e, n);
    if (s == 0) break;
    e += s;
  }
  return e;
}

}  // namespace

bool exact_runs(const DetectorSpec& spec) {
  if (spec.validate == nullptr) return false;
  // A word-bounded finding of ASCII letters and digits starts and ends where a word of a
  // cluster does if the cluster's words are ASCII (a full-width letter or digit next to it
  // would not bound it): add_cluster_regions checks that.
  if (spec.boundary == Boundary::kWord) return spec.needs.lengths != 0;
  if (spec.boundary != Boundary::kNumber || spec.needs.sums == 0) return false;
  // Only detectors that start with a word character ("(030) …" starts with a separator).
  for (size_t i = 0; i + 1 < spec.first_bytes.size(); i += 2) {
    for (unsigned b = static_cast<unsigned char>(spec.first_bytes[i]);
         b <= static_cast<unsigned char>(spec.first_bytes[i + 1]); ++b) {
      if (!ascii_alnum(static_cast<unsigned char>(b)) && b != 0xEF) return false;
    }
  }
  return !spec.first_bytes.empty();
}

uint64_t pack_counts(const ClusterNeeds& n) {
  const uint8_t lanes[8] = {n.digits, n.upper, n.alnum,      n.dots,
                            n.colons, n.chain, n.upper_word, n.wide};
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i)
    v |= static_cast<uint64_t>(std::min<uint8_t>(lanes[i], 127)) << (8 * i);
  return v;
}

size_t add_cluster_regions(const Engine::Impl& impl, std::string_view text, size_t offset,
                           size_t from, bool complete, std::vector<Region>& regions,
                           size_t* open_lo) {
  const auto* p = reinterpret_cast<Bytes>(text.data());
  size_t n = text.size();
  if (!complete) {
    // A code point still arriving may be a full-width digit: the text ends before it.
    size_t k = n;
    while (k > 0 && n - k < 3 && (p[k - 1] & 0xC0) == 0x80) --k;
    if (k > 0 && p[k - 1] >= 0xC0) {
      const size_t need = p[k - 1] >= 0xF0 ? 4 : p[k - 1] >= 0xE0 ? 3 : 2;
      if (n - (k - 1) < need) n = k - 1;
    }
  }
  const size_t floor = from - offset;  // nothing before `from` belongs to a cluster left open
  if (open_lo != nullptr) *open_lo = SIZE_MAX;
  size_t i = floor;
  size_t last = floor;  // end of the last cluster scanned
  while (true) {
    i = next_trigger(p, i, n);
    if (i >= n) {
      if (complete) return offset + n;
      // What may still join a cluster: the last word (a digit may follow), and before it
      // separators and joinable words. The next pass starts there (at most kMaxOpenCluster
      // bytes back); in prose that is the last word and the space before it.
      size_t k = n;
      while (size_t w = word_before(p, k, last)) k -= w;
      while (k > last && n - k < kMaxOpenCluster) {
        const size_t sb = seps_back(p, k, last);
        if (sb == k) break;
        size_t pw = sb;
        while (size_t w = word_before(p, pw, last)) pw -= w;
        if (!join_word(p, pw, sb).joinable) {
          k = sb;
          break;
        }
        k = pw;
      }
      return offset + std::max(k, n > kMaxOpenCluster ? n - kMaxOpenCluster : 0);
    }
    // The trigger's word.
    size_t ws = i;
    while (size_t k = word_before(p, ws, floor)) ws -= k;
    const size_t we = word_end(p, i, n);
    const Word trigger = join_word(p, ws, we);
    if (!trigger.joinable) {  // it carries a digit: a barrier letter, in no finding
      i = std::max(we, i + 1);
      continue;
    }
    // Joinable words to the left (collected right to left, then put in order).
    ClusterWords words;
    size_t lo = ws;
    while (true) {
      const size_t sb = seps_back(p, lo, floor);
      if (sb == lo) break;
      size_t pw = sb;
      while (size_t k = word_before(p, pw, floor)) pw -= k;
      const Word w = join_word(p, pw, sb);
      if (!w.joinable) {
        lo = sb;  // leading separators belong to it ("::1", "(030)")
        break;
      }
      words.add(pw, sb, w);
      lo = pw;
    }
    std::reverse(words.items, words.items + words.size);
    words.add(ws, we, trigger);
    // Joinable words to the right. In a stream, a cluster that reaches the newest byte may grow.
    size_t hi = we;
    bool open = !complete && we >= n;
    while (!open) {
      const size_t se = seps_forward(p, hi, n);
      if (se == hi) break;
      if (se >= n && !complete) {
        open = true;
        break;
      }
      size_t nw = se;
      nw = word_end(p, nw, n);
      if (nw >= n && nw > se && !complete) {
        open = true;  // the next word is still arriving
        break;
      }
      const Word w = join_word(p, se, nw);
      if (!w.joinable) {
        hi = se;  // trailing separators belong to it ("2001:db8::")
        break;
      }
      words.add(se, nw, w);
      hi = nw;
    }
    if (open) {
      // Scanned as it stands: a match wholly in it is found now, one still growing when it ends
      // (the hold-back keeps its start). Rescanned from its start next round; a long run (a
      // table of numbers) in overlapping pieces, so no round rescans more than kMaxOpenCluster.
      hi = n;
      words.overflow = true;  // the word still arriving is counted from the bytes
    }
    const Counts total = count_cluster(p, lo, hi, words);
    // Most clusters ("0", "x2", "2024") are too small for any detector.
    const bool small =
        total.alnum < impl.cluster_min_alnum && total.colons < impl.cluster_min_colons;
    if (!small) {
      // The gates every count meets, lane by lane from a table; then their other needs.
      const uint64_t have = total.packed();
      uint32_t met = ~0u;
      for (size_t lane = 0; lane < 8; ++lane)
        met &= impl.gates_met[lane][have >> (8 * lane) & 0x7F];
      const uint64_t sums = total.sums | total.word_digits;
      Normalised norm;  // filled when a detector's runs are first validated
      for (; met != 0; met &= met - 1) {
        const Engine::Impl::ClusterGate& g =
            impl.cluster_gates[static_cast<size_t>(__builtin_ctz(met))];
        if ((g.sums == 0 || (g.sums & sums) != 0) &&
            (g.upper_runs == 0 || (g.upper_runs & total.upper_runs) != 0) &&
            (!g.country_code || total.country_code)) {
          if (g.exact && !words.overflow && (words.ascii || g.number))
            add_exact_runs(impl, g.spec, text, offset, words, norm, regions);
          else
            regions.push_back({g.spec, Region::kRange, offset + lo, offset + hi, offset + lo});
        }
      }
    }
    if (open) {
      if (n - lo > kMaxOpenCluster) return offset + n - kClusterOverlap;
      if (open_lo != nullptr) *open_lo = offset + lo;
      return offset + lo;
    }
    i = std::max(hi, i + 1);
    last = hi;
  }
}

}  // namespace warden::inspect
