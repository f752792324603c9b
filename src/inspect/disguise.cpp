#include "inspect/disguise.h"

#include "inspect/engine_impl.h"  // utf8_encode
#include "inspect/validators.h"   // full_width_alnum

#include <array>

namespace warden::inspect {

namespace {

// Invisible format characters (Unicode Cf) people and models put inside values: soft hyphen,
// combining grapheme joiner, Mongolian vowel separator, zero-width space/non-joiner/joiner,
// left-to-right and right-to-left marks, word joiner, invisible operators, byte order mark.
bool invisible(uint32_t c) {
  return c == 0xAD || c == 0x34F || c == 0x180E || (c >= 0x200B && c <= 0x200F) ||
         (c >= 0x2060 && c <= 0x2064) || c == 0xFEFF;
}

// The ASCII digit a digit of another script stands for, or -1.
int other_digit(uint32_t c) {
  if (c >= 0x660 && c <= 0x669) return static_cast<int>(c - 0x660);  // Arabic-Indic
  if (c >= 0x6F0 && c <= 0x6F9) return static_cast<int>(c - 0x6F0);  // Extended Arabic-Indic
  if (c >= 0x966 && c <= 0x96F) return static_cast<int>(c - 0x966);  // Devanagari
  if (c >= 0x1D7CE && c <= 0x1D7FF) return static_cast<int>((c - 0x1D7CE) % 10);  // mathematical
  return -1;
}

// The Latin letter a Cyrillic or Greek letter drawn the same stands for, or 0. Only letters whose
// glyph is the Latin one in common fonts: a key or an address retyped with them reads the same.
constexpr uint32_t kLookalikeFirst = 0x391;
constexpr uint32_t kLookalikeLast = 0x51D;
constexpr auto kLookalikes = [] {
  std::array<char, kLookalikeLast - kLookalikeFirst + 1> t{};
  const std::pair<uint32_t, char> letters[] = {
      {0x391, 'A'}, {0x392, 'B'}, {0x395, 'E'}, {0x396, 'Z'}, {0x397, 'H'}, {0x399, 'I'},
      {0x39A, 'K'}, {0x39C, 'M'}, {0x39D, 'N'}, {0x39F, 'O'}, {0x3A1, 'P'}, {0x3A4, 'T'},
      {0x3A5, 'Y'}, {0x3A7, 'X'}, {0x3BF, 'o'}, {0x405, 'S'}, {0x406, 'I'}, {0x408, 'J'},
      {0x410, 'A'}, {0x412, 'B'}, {0x415, 'E'}, {0x41A, 'K'}, {0x41C, 'M'}, {0x41D, 'H'},
      {0x41E, 'O'}, {0x420, 'P'}, {0x421, 'C'}, {0x422, 'T'}, {0x423, 'Y'}, {0x425, 'X'},
      {0x430, 'a'}, {0x435, 'e'}, {0x43E, 'o'}, {0x440, 'p'}, {0x441, 'c'}, {0x443, 'y'},
      {0x445, 'x'}, {0x455, 's'}, {0x456, 'i'}, {0x458, 'j'}, {0x4BB, 'h'}, {0x501, 'd'},
      {0x51D, 'w'}};
  for (const auto& [from, to] : letters) t[from - kLookalikeFirst] = to;
  return t;
}();
char homoglyph(uint32_t c) {
  return c >= kLookalikeFirst && c <= kLookalikeLast ? kLookalikes[c - kLookalikeFirst] : 0;
}
// The look-alikes that are markers: capitals and the lower-case letters rare in the scripts'
// prose. The common lower-case ones (а е о р с у х і ο) would hit on nearly every word of
// Russian or Greek text: they are undisguised with a marker elsewhere, not markers themselves.
bool lookalike_is_marker(uint32_t c) {
  const char l = homoglyph(c);
  return (l >= 'A' && l <= 'Z') || c == 0x455 || c == 0x458 || c == 0x4BB || c == 0x501 ||
         c == 0x51D;
}

// Full-width forms of ASCII (U+FF01 to U+FF5E: '＠', '．', 'Ａ', '１'): the ASCII character.
char full_width_ascii(uint32_t c) {
  return c >= 0xFF01 && c <= 0xFF5E ? static_cast<char>(c - 0xFEE0) : 0;
}

bool space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

// Decodes the code point at i (invalid bytes: one byte, returned as 0xFFFD).
uint32_t decode(std::string_view t, size_t i, size_t& n) {
  const auto b = static_cast<unsigned char>(t[i]);
  n = b < 0x80 ? 1 : b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : b >= 0xC0 ? 2 : 1;
  if (n == 1) return b < 0x80 ? b : 0xFFFD;
  if (i + n > t.size()) {
    n = 1;
    return 0xFFFD;
  }
  uint32_t c = b & (0xFF >> (n + 1));
  for (size_t k = 1; k < n; ++k) {
    const auto x = static_cast<unsigned char>(t[i + k]);
    if ((x & 0xC0) != 0x80) {
      n = 1;
      return 0xFFFD;
    }
    c = c << 6 | (x & 0x3F);
  }
  return c;
}

bool iequal(std::string_view t, size_t i, std::string_view lit) {
  if (i + lit.size() > t.size()) return false;
  for (size_t k = 0; k < lit.size(); ++k) {
    char c = t[i + k];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c | 0x20);
    if (c != lit[k]) return false;
  }
  return true;
}

// An encoded '@' or '.' at i: its length (with the spaces around a bracketed word), else 0.
size_t spelled(std::string_view t, size_t i, char& as) {
  static constexpr std::array<std::pair<std::string_view, char>, 10> kForms = {{
      {"&#64;", '@'},
      {"&#x40;", '@'},
      {"&commat;", '@'},
      {"%40", '@'},
      {"[at]", '@'},
      {"(at)", '@'},
      {"{at}", '@'},
      {"[dot]", '.'},
      {"(dot)", '.'},
      {"{dot}", '.'},
  }};
  size_t j = i;
  while (j < t.size() && t[j] == ' ' && j - i < 2) ++j;
  for (const auto& [form, c] : kForms) {
    if (!iequal(t, j, form)) continue;
    // "&#64;" and "%40" stand alone; a bracketed word may have a space on either side.
    if (j != i && form[0] != '[' && form[0] != '(' && form[0] != '{') return 0;
    size_t e = j + form.size();
    if (form[0] == '[' || form[0] == '(' || form[0] == '{') {
      size_t k = e;
      while (k < t.size() && t[k] == ' ' && k - e < 2) ++k;
      e = k;
    }
    as = c;
    return e - i;
  }
  return 0;
}

}  // namespace

const std::vector<std::string>& disguise_markers() {
  static const std::vector<std::string> kMarkers = [] {
    std::vector<std::string> m = {
        "&#64;", "&#x40;", "&commat;", "%40",   "[at]",        "(at)",
        "{at}",  "[dot]",  "(dot)",    "{dot}", "\xe2\x80\x92"};  // U+2012 figure dash
    for (uint32_t c : {0xADu, 0x34Fu, 0x180Eu, 0x200Bu, 0x200Cu, 0x200Du, 0x200Eu, 0x200Fu, 0x2060u,
                       0x2061u, 0x2062u, 0x2063u, 0x2064u, 0xFEFFu})
      m.push_back(utf8_encode(c));
    for (uint32_t base : {0x660u, 0x6F0u, 0x966u})
      for (uint32_t d = 0; d < 10; ++d) m.push_back(utf8_encode(base + d));
    for (uint32_t c = 0x1D7CE; c <= 0x1D7FF; ++c) m.push_back(utf8_encode(c));
    // Full-width '@', '.' and letters (full-width digits and punctuation are common in CJK text
    // and found without undisguising; a value spelled in them has a letter, '@' or '.' too).
    for (uint32_t c : {0xFF20u, 0xFF0Eu}) m.push_back(utf8_encode(c));
    for (uint32_t c = 0xFF21; c <= 0xFF3A; ++c) m.push_back(utf8_encode(c));
    for (uint32_t c = 0xFF41; c <= 0xFF5A; ++c) m.push_back(utf8_encode(c));
    // Look-alike letters: beside an ASCII letter or digit only (the engine checks; undisguise()
    // makes them Latin only in a token that mixes them with ASCII letters or digits).
    for (uint32_t c = kLookalikeFirst; c <= kLookalikeLast; ++c)
      if (lookalike_is_marker(c)) m.push_back(utf8_encode(c));
    return m;
  }();
  return kMarkers;
}

bool lookalike_marker(std::string_view marker) {
  size_t n = 0;
  return marker.size() == 2 && homoglyph(decode(marker, 0, n)) != 0;
}

bool undisguise(std::string_view text, std::string& out, std::vector<uint32_t>& from,
                std::vector<uint32_t>& to) {
  out.clear();
  from.clear();
  to.clear();
  bool changed = false;
  auto put = [&](char c, size_t b, size_t e) {
    out.push_back(c);
    from.push_back(static_cast<uint32_t>(b));
    to.push_back(static_cast<uint32_t>(e));
  };
  // The token (bytes between ASCII white space) around the last look-alike letter met, and
  // whether it holds an ASCII or full-width letter or digit: only then are its look-alikes Latin.
  size_t token_end = 0;
  bool token_mixed = false;
  auto mixed_token = [&](size_t i) {
    if (i < token_end) return token_mixed;
    size_t b = i;
    while (b > 0 && !space(text[b - 1])) --b;
    token_end = i;
    while (token_end < text.size() && !space(text[token_end])) ++token_end;
    token_mixed = false;
    for (size_t k = b; k < token_end && !token_mixed; ++k) {
      const auto x = static_cast<unsigned char>(text[k]);
      token_mixed = (x >= '0' && x <= '9') || ((x | 0x20) >= 'a' && (x | 0x20) <= 'z') ||
                    (x == 0xEF && k + 2 < token_end &&
                     full_width_alnum(static_cast<unsigned char>(text[k + 1]),
                                      static_cast<unsigned char>(text[k + 2])) != 0);
    }
    return token_mixed;
  };
  for (size_t i = 0; i < text.size();) {
    const char b = text[i];
    if (b == '&' || b == '%' || b == '[' || b == '(' || b == '{' || b == ' ') {
      char as = 0;
      if (const size_t n = spelled(text, i, as); n > 0) {
        put(as, i, i + n);
        i += n;
        changed = true;
        continue;
      }
    }
    size_t n = 1;
    const uint32_t c =
        static_cast<unsigned char>(b) < 0x80 ? static_cast<unsigned char>(b) : decode(text, i, n);
    if (invisible(c)) {
      // Dropped: it is masked with the value it stands in (the next byte's source begins here).
      changed = true;
      if (!to.empty() && to.back() == i) to.back() = static_cast<uint32_t>(i + n);
      i += n;
      continue;
    }
    if (const int d = other_digit(c); d >= 0) {
      put(static_cast<char>('0' + d), i, i + n);
      changed = true;
    } else if (c == 0x2012) {
      put('-', i, i + n);
      changed = true;
    } else if (const char a = full_width_ascii(c); a != 0) {
      put(a, i, i + n);
      changed = true;
    } else if (const char l = n == 2 ? homoglyph(c) : 0; l != 0 && mixed_token(i)) {
      put(l, i, i + n);
      changed = true;
    } else {
      for (size_t k = 0; k < n; ++k) put(text[i + k], k == 0 ? i : i + k, i + n);
    }
    i += n;
  }
  return changed;
}

}  // namespace warden::inspect
