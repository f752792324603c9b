#include "inspect/validators.h"

#include "inspect/words.h"

#include <arpa/inet.h>
#include <simdjson.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <cstring>
#include <initializer_list>
#include <vector>

namespace warden::inspect {

namespace {

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}
bool is_upper(char c) {
  return c >= 'A' && c <= 'Z';
}

bool leap(int y) {
  return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

bool valid_date(int y, int m, int d) {
  static constexpr std::array<int, 12> kDays = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (m < 1 || m > 12 || d < 1) return false;
  const int max = kDays[static_cast<size_t>(m - 1)] + (m == 2 && leap(y) ? 1 : 0);
  return d <= max;
}

int num(std::string_view s) {
  int v = 0;
  for (char c : s) v = v * 10 + (c - '0');
  return v;
}

// mod 97 of a decimal string of any length.
int mod97(std::string_view digits) {
  int r = 0;
  for (char c : digits) r = (r * 10 + (c - '0')) % 97;
  return r;
}

}  // namespace

std::string ascii_lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  return out;
}

Alnum normalize_alnum(std::string_view s) {
  Alnum a;
  bool overlong = false;
  auto push = [&](char c) {
    if (a.size < Alnum::kMax)
      a.data[a.size++] = c;
    else
      overlong = true;
  };
  for (size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      if ((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z')) push(static_cast<char>(c));
      if (c >= 'a' && c <= 'z') push(static_cast<char>(c - 'a' + 'A'));
      continue;
    }
    if (c == 0xEF && i + 2 < s.size()) {
      if (const char k = full_width_alnum(static_cast<unsigned char>(s[i + 1]),
                                          static_cast<unsigned char>(s[i + 2])))
        push(k);
      i += 2;
      continue;
    }
    // Skip the continuation bytes of any other code point (separators such as NBSP).
    while (i + 1 < s.size() && (static_cast<unsigned char>(s[i + 1]) & 0xC0) == 0x80) ++i;
  }
  if (overlong) a.size = 0;
  return a;
}

bool luhn_ok(std::string_view digits) {
  int sum = 0;
  bool dbl = false;
  for (size_t i = digits.size(); i-- > 0;) {
    if (!is_digit(digits[i])) return false;
    int d = digits[i] - '0';
    if (dbl) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    dbl = !dbl;
  }
  return !digits.empty() && sum % 10 == 0;
}

bool credit_card_ok(std::string_view candidate, std::string_view alnum) {
  // Separators must be consistent: all spaces, all dashes, or none (a phone-like mix is not).
  const bool spaces = candidate.find(' ') != std::string_view::npos;
  const bool dashes = candidate.find('-') != std::string_view::npos;
  if (spaces && dashes) return false;
  const std::string_view d = alnum;
  const size_t n = d.size();
  if (n < 12 || n > 19 || !std::all_of(d.begin(), d.end(), is_digit)) return false;
  if (std::all_of(d.begin(), d.end(), [&](char c) { return c == d[0]; })) return false;
  const int p1 = d[0] - '0';
  const int p2 = num(d.substr(0, 2));
  const int p3 = num(d.substr(0, 3));
  const int p4 = num(d.substr(0, 4));
  const int p6 = num(d.substr(0, 6));
  bool iin = false;
  if (p1 == 4)
    iin = n == 13 || n == 16 || n == 19;  // Visa
  else if ((p2 >= 51 && p2 <= 55) || (p4 >= 2221 && p4 <= 2720))
    iin = n == 16;  // Mastercard
  else if (p2 == 34 || p2 == 37)
    iin = n == 15;  // Amex
  else if (p4 == 6011 || p2 == 65 || (p3 >= 644 && p3 <= 649) || (p6 >= 622126 && p6 <= 622925))
    iin = n >= 16;  // Discover
  else if (p4 >= 3528 && p4 <= 3589)
    iin = n >= 16;  // JCB
  else if ((p3 >= 300 && p3 <= 305) || p2 == 36 || p2 == 38 || p2 == 39)
    iin = n >= 14;  // Diners
  else if (p2 == 62)
    iin = n >= 16;  // UnionPay
  else if (p4 == 6304 || p4 == 6759 || p4 == 6761 || p4 == 6762 || p4 == 6763 || p2 == 50 ||
           (p2 >= 56 && p2 <= 58))
    iin = n >= 12;  // Maestro
  return iin && luhn_ok(d);
}

bool iban_ok(std::string_view candidate, std::string_view alnum) {
  // ISO 13616 registry: country → IBAN length.
  static constexpr std::pair<std::string_view, size_t> kLengths[] = {
      {"AD", 24}, {"AE", 23}, {"AL", 28}, {"AT", 20}, {"AZ", 28}, {"BA", 20}, {"BE", 16},
      {"BG", 22}, {"BH", 22}, {"BR", 29}, {"BY", 28}, {"CH", 21}, {"CR", 22}, {"CY", 28},
      {"CZ", 24}, {"DE", 22}, {"DK", 18}, {"DO", 28}, {"EE", 20}, {"EG", 29}, {"ES", 24},
      {"FI", 18}, {"FO", 18}, {"FR", 27}, {"GB", 22}, {"GE", 22}, {"GI", 23}, {"GL", 18},
      {"GR", 27}, {"GT", 28}, {"HR", 21}, {"HU", 28}, {"IE", 22}, {"IL", 23}, {"IQ", 23},
      {"IS", 26}, {"IT", 27}, {"JO", 30}, {"KW", 30}, {"KZ", 20}, {"LB", 28}, {"LC", 32},
      {"LI", 21}, {"LT", 20}, {"LU", 20}, {"LV", 21}, {"MC", 27}, {"MD", 24}, {"ME", 22},
      {"MK", 19}, {"MR", 27}, {"MT", 31}, {"MU", 30}, {"NL", 18}, {"NO", 15}, {"PK", 24},
      {"PL", 28}, {"PS", 29}, {"PT", 25}, {"QA", 29}, {"RO", 24}, {"RS", 22}, {"SA", 24},
      {"SC", 31}, {"SE", 24}, {"SI", 19}, {"SK", 24}, {"SM", 27}, {"ST", 25}, {"SV", 28},
      {"TL", 23}, {"TN", 24}, {"TR", 26}, {"UA", 29}, {"VA", 22}, {"VG", 24}, {"XK", 20}};
  // Country code and check digits stand together at the start ("DE89…").
  if (candidate.size() < 15 || !is_upper(candidate[0]) || !is_upper(candidate[1]) ||
      !is_digit(candidate[2]) || !is_digit(candidate[3]))
    return false;
  // Length by country code, indexed by its two letters (this runs for every candidate).
  static const std::array<uint8_t, 26 * 26> kLengthOf = [] {
    std::array<uint8_t, 26 * 26> t{};
    for (const auto& [code, len] : kLengths)
      t[static_cast<size_t>((code[0] - 'A') * 26 + (code[1] - 'A'))] = static_cast<uint8_t>(len);
    return t;
  }();
  const size_t expected =
      kLengthOf[static_cast<size_t>((candidate[0] - 'A') * 26 + (candidate[1] - 'A'))];
  if (expected == 0) return false;
  const std::string_view s = alnum;
  if (s.size() != expected) return false;
  // mod 97 of the number the rearranged IBAN spells (letters as 10..35), digit by digit.
  int r = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[(i + 4) % s.size()];
    r = is_digit(c) ? (r * 10 + (c - '0')) % 97 : (r * 100 + (c - 'A' + 10)) % 97;
  }
  return r == 1;
}

bool us_ssn_ok(std::string_view /*candidate*/, std::string_view alnum) {
  const std::string_view d = alnum;
  if (d.size() != 9 || !std::all_of(d.begin(), d.end(), is_digit)) return false;
  const int area = num(d.substr(0, 3));
  const int group = num(d.substr(3, 2));
  const int serial = num(d.substr(5, 4));
  if (area == 0 || area == 666 || area >= 900 || group == 0 || serial == 0) return false;
  // Numbers made public and voided by the SSA, and the common example.
  return d != "078051120" && d != "219099999" && d != "123456789";
}

bool us_itin_ok(std::string_view /*candidate*/, std::string_view alnum) {
  const std::string_view d = alnum;
  if (d.size() != 9 || !std::all_of(d.begin(), d.end(), is_digit) || d[0] != '9') return false;
  const int g = num(d.substr(3, 2));
  return (g >= 50 && g <= 65) || (g >= 70 && g <= 88) || (g >= 90 && g <= 92) ||
         (g >= 94 && g <= 99);
}

bool de_tax_id_ok(std::string_view /*candidate*/, std::string_view alnum) {
  const std::string_view d = alnum;
  if (d.size() != 11 || !std::all_of(d.begin(), d.end(), is_digit) || d[0] == '0') return false;
  // In the first ten digits exactly one digit occurs twice or three times, the others once.
  std::array<int, 10> count{};
  for (size_t i = 0; i < 10; ++i) ++count[static_cast<size_t>(d[i] - '0')];
  int repeated = 0;
  int repeated_digit = -1;
  for (int k = 0; k < 10; ++k) {
    if (count[static_cast<size_t>(k)] > 3) return false;
    if (count[static_cast<size_t>(k)] >= 2) {
      ++repeated;
      repeated_digit = k;
    }
  }
  if (repeated != 1) return false;
  if (count[static_cast<size_t>(repeated_digit)] == 3) {  // three times: never all adjacent
    for (size_t i = 0; i + 2 < 10; ++i) {
      if (d[i] - '0' == repeated_digit && d[i + 1] == d[i] && d[i + 2] == d[i]) return false;
    }
  }
  // ISO 7064 MOD 11,10.
  int product = 10;
  for (size_t i = 0; i < 10; ++i) {
    int sum = (d[i] - '0' + product) % 10;
    if (sum == 0) sum = 10;
    product = (2 * sum) % 11;
  }
  int check = 11 - product;
  if (check == 10) check = 0;
  return check == d[10] - '0';
}

namespace {
int icao_value(char c) {
  return is_digit(c) ? c - '0' : c - 'A' + 10;
}
bool icao_check(std::string_view data, char check) {
  static constexpr int kWeights[] = {7, 3, 1};
  int sum = 0;
  for (size_t i = 0; i < data.size(); ++i) sum += icao_value(data[i]) * kWeights[i % 3];
  return is_digit(check) && sum % 10 == check - '0';
}
}  // namespace

namespace {

// The digits among the nine serial characters of an ID card number whose check digit holds,
// or -1.
int de_id_card_digits(std::string_view s) {
  if (s.size() != 10) return -1;
  // Serial: 9 characters from digits and the letters C F G H J K L M N P R T V W X Y Z.
  constexpr std::string_view kLetters = "CFGHJKLMNPRTVWXYZ";
  int digits = 0;
  for (size_t i = 0; i < 9; ++i) {
    if (is_digit(s[i]))
      ++digits;
    else if (kLetters.find(s[i]) == std::string_view::npos)
      return -1;
  }
  return digits < 9 && icao_check(s.substr(0, 9), s[9]) ? digits : -1;
}

}  // namespace

bool de_id_card_ok(std::string_view /*candidate*/, std::string_view alnum) {
  return de_id_card_digits(alnum) >= 0;
}

bool de_id_card_lettered_ok(std::string_view /*candidate*/, std::string_view alnum) {
  // Real serials mostly mix letters and digits; an all-letter word with a digit is more often
  // prose or code: after a context word only (DetectorSpec::context_if).
  const int digits = de_id_card_digits(alnum);
  return digits >= 0 && digits < 2;
}

bool fr_nir_ok(std::string_view /*candidate*/, std::string_view alnum) {
  if (alnum.size() != 15) return false;
  char s[15];
  std::memcpy(s, alnum.data(), 15);
  if (s[0] != '1' && s[0] != '2' && s[0] != '3' && s[0] != '4' && s[0] != '7' && s[0] != '8')
    return false;
  // Corsica: department 2A counts as 19, 2B as 18.
  if (s[5] == '2' && (s[6] == 'A' || s[6] == 'B')) {
    s[5] = '1';
    s[6] = s[6] == 'A' ? '9' : '8';
  }
  const std::string_view v(s, sizeof s);
  if (!std::all_of(v.begin(), v.end(), is_digit)) return false;
  const int month = num(v.substr(3, 2));
  if (!((month >= 1 && month <= 12) || (month >= 20 && month <= 42) || month >= 50)) return false;
  const int key = num(v.substr(13, 2));
  return key >= 1 && key <= 97 && key == 97 - mod97(v.substr(0, 13));
}

bool cn_resident_id_ok(std::string_view /*candidate*/, std::string_view alnum) {
  const std::string_view s = alnum;
  if (s.size() != 18) return false;
  for (size_t i = 0; i < 17; ++i) {
    if (!is_digit(s[i])) return false;
  }
  if (!is_digit(s[17]) && s[17] != 'X') return false;
  if (s[0] < '1' || s[0] > '8') return false;
  const int y = num(s.substr(6, 4));
  if (y < 1900 || y > 2099 || !valid_date(y, num(s.substr(10, 2)), num(s.substr(12, 2))))
    return false;
  static constexpr int kWeights[] = {7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2};
  static constexpr char kCheck[] = "10X98765432";
  int sum = 0;
  for (size_t i = 0; i < 17; ++i) sum += (s[i] - '0') * kWeights[i];
  return kCheck[sum % 11] == s[17];
}

bool cn_social_credit_code_ok(std::string_view /*candidate*/, std::string_view alnum) {
  const std::string_view s = alnum;
  constexpr std::string_view kChars = "0123456789ABCDEFGHJKLMNPQRTUWXY";
  static constexpr int kWeights[] = {1,  3,  9,  27, 19, 26, 16, 17, 20,
                                     29, 25, 13, 8,  24, 10, 30, 28};
  if (s.size() != 18) return false;
  for (size_t i = 2; i < 8; ++i) {
    if (!is_digit(s[i])) return false;  // the administrative division code
  }
  int sum = 0;
  for (size_t i = 0; i < 17; ++i) {
    const size_t v = kChars.find(s[i]);
    if (v == std::string_view::npos) return false;
    sum += static_cast<int>(v) * kWeights[i];
  }
  const size_t check = static_cast<size_t>((31 - sum % 31) % 31);
  return kChars[check] == s[17];
}

bool cn_social_credit_code_letters_ok(std::string_view candidate, std::string_view alnum) {
  // An all-digit 18-character run passes mod 31 one time in 31 by chance; without letters a
  // code is only reported next to its label (a second detector with required context).
  const std::string_view s = alnum;
  return std::any_of(s.begin(), s.end(), [](char c) { return !is_digit(c); }) &&
         cn_social_credit_code_ok(candidate, alnum);
}

bool uk_nino_ok(std::string_view /*candidate*/, std::string_view alnum) {
  const std::string_view s = alnum;
  if (s.size() != 9) return false;
  constexpr std::string_view kBadFirst = "DFIQUV";
  constexpr std::string_view kBadSecond = "DFIOQUV";
  if (!is_upper(s[0]) || !is_upper(s[1]) || kBadFirst.find(s[0]) != std::string_view::npos ||
      kBadSecond.find(s[1]) != std::string_view::npos)
    return false;
  const std::string_view prefix = s.substr(0, 2);
  for (std::string_view bad : {"BG", "GB", "KN", "NK", "NT", "TN", "ZZ"}) {
    if (prefix == bad) return false;
  }
  for (size_t i = 2; i < 8; ++i) {
    if (!is_digit(s[i])) return false;
  }
  return s[8] >= 'A' && s[8] <= 'D';
}

bool is_iso3166_alpha2(std::string_view code) {
  static constexpr std::string_view kCodes =
      "AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ "
      "BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM "
      "DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS "
      "GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN "
      "KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ "
      "MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM "
      "PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV "
      "SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI "
      "VN VU WF WS XK YE YT ZA ZM ZW";
  if (code.size() != 2) return false;
  for (size_t i = 0; i + 1 < kCodes.size(); i += 3) {
    if (kCodes[i] == code[0] && kCodes[i + 1] == code[1]) return true;
  }
  return false;
}

bool swift_bic_ok(std::string_view candidate) {
  if (candidate.size() != 8 && candidate.size() != 11) return false;
  for (size_t i = 0; i < 6; ++i) {
    if (!is_upper(candidate[i])) return false;
  }
  for (size_t i = 6; i < candidate.size(); ++i) {
    if (!is_upper(candidate[i]) && !is_digit(candidate[i])) return false;
  }
  return is_iso3166_alpha2(candidate.substr(4, 2));
}

bool phone_ok(std::string_view candidate) {
  const Alnum ad = normalize_alnum(candidate);
  const std::string_view d = ad.view();
  if (d.size() < 8 || d.size() > 15) return false;
  if (!std::all_of(d.begin(), d.end(), is_digit)) return false;
  return !std::all_of(d.begin(), d.end(), [&](char c) { return c == d[0]; });
}

namespace {

// A phone number as written: its digit groups (ASCII or full-width digits), the separators
// between them, and whether the first group stands in parentheses ("(040) 1234567").
struct PhoneGroups {
  static constexpr size_t kMaxGroups = 8;
  char digits[20];
  size_t nd = 0;
  uint8_t len[kMaxGroups] = {};
  char sep[kMaxGroups] = {};  // the kind of separator after group k: ' ', '-', '.', '/' or ')'
  size_t n = 0;
  bool paren = false;
};

// The kind of the separator code point at s[i] (bytes in `bytes`), or 0 if it is none.
char separator_kind(std::string_view s, size_t i, size_t& bytes) {
  const auto c = static_cast<unsigned char>(s[i]);
  bytes = 1;
  if (c == ' ' || c == '-' || c == '.' || c == '/' || c == '(' || c == ')')
    return static_cast<char>(c);
  if (c == 0xC2 && i + 1 < s.size() && static_cast<unsigned char>(s[i + 1]) == 0xA0) {
    bytes = 2;
    return ' ';
  }
  if (i + 2 >= s.size()) return 0;
  const auto b = static_cast<unsigned char>(s[i + 1]);
  const auto d = static_cast<unsigned char>(s[i + 2]);
  bytes = 3;
  if (c == 0xE2 && b == 0x80) {
    if (d == 0x87 || d == 0x89 || d == 0xAF) return ' ';
    if (d == 0x90 || d == 0x91 || d == 0x93 || d == 0x94) return '-';
  }
  if (c == 0xE3 && b == 0x80 && d == 0x80) return ' ';
  if (c == 0xEF && b == 0xBC && d == 0x8D) return '-';
  return 0;
}

bool phone_groups(std::string_view s, PhoneGroups& g) {
  bool in_group = false;
  for (size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    char digit = 0;
    size_t bytes = 1;
    if (c >= '0' && c <= '9') {
      digit = static_cast<char>(c);
    } else if (c == 0xEF && i + 2 < s.size()) {
      const char k = full_width_alnum(static_cast<unsigned char>(s[i + 1]),
                                      static_cast<unsigned char>(s[i + 2]));
      if (k >= '0' && k <= '9') {
        digit = k;
        bytes = 3;
      }
    }
    if (digit != 0) {
      if (!in_group) {
        if (g.n == PhoneGroups::kMaxGroups) return false;
        ++g.n;
        in_group = true;
      }
      if (g.nd == sizeof g.digits) return false;
      g.digits[g.nd++] = digit;
      ++g.len[g.n - 1];
      i += bytes;
      continue;
    }
    const char kind = separator_kind(s, i, bytes);
    if (kind == 0) return false;
    if (kind == '(') {
      if (g.n != 0 || g.paren) return false;  // only the first group stands in parentheses
      g.paren = true;
    } else if (kind == ')') {
      if (!g.paren || g.n != 1 || !in_group) return false;
      g.sep[0] = ')';
    } else if (g.n > 0 && g.sep[g.n - 1] == 0) {
      g.sep[g.n - 1] = kind;
    }
    in_group = false;
    i += bytes;
  }
  return g.n > 0 && (!g.paren || g.sep[0] == ')');
}

// Whether groups [from, n) have lengths `want` and the separators between them are of one kind.
bool grouped(const PhoneGroups& g, size_t from, std::initializer_list<uint8_t> want) {
  if (g.n - from != want.size()) return false;
  size_t k = from;
  for (uint8_t w : want) {
    if (g.len[k] != w) return false;
    if (k + 1 < g.n && k > from && g.sep[k] != g.sep[from]) return false;
    ++k;
  }
  return true;
}

// ITU-T E.164 country calling codes (prefix-free: no code begins another).
bool country_code(std::string_view d, size_t& length) {
  static constexpr std::string_view kCodes[] = {
      "1",   "7",   "20",  "27",  "30",  "31",  "32",  "33",  "34",  "36",  "39",  "40",  "41",
      "43",  "44",  "45",  "46",  "47",  "48",  "49",  "51",  "52",  "53",  "54",  "55",  "56",
      "57",  "58",  "60",  "61",  "62",  "63",  "64",  "65",  "66",  "81",  "82",  "84",  "86",
      "90",  "91",  "92",  "93",  "94",  "95",  "98",  "211", "212", "213", "216", "218", "220",
      "221", "222", "223", "224", "225", "226", "227", "228", "229", "230", "231", "232", "233",
      "234", "235", "236", "237", "238", "239", "240", "241", "242", "243", "244", "245", "246",
      "247", "248", "249", "250", "251", "252", "253", "254", "255", "256", "257", "258", "260",
      "261", "262", "263", "264", "265", "266", "267", "268", "269", "290", "291", "297", "298",
      "299", "350", "351", "352", "353", "354", "355", "356", "357", "358", "359", "370", "371",
      "372", "373", "374", "375", "376", "377", "378", "379", "380", "381", "382", "383", "385",
      "386", "387", "389", "420", "421", "423", "500", "501", "502", "503", "504", "505", "506",
      "507", "508", "509", "590", "591", "592", "593", "594", "595", "596", "597", "598", "599",
      "670", "672", "673", "674", "675", "676", "677", "678", "679", "680", "681", "682", "683",
      "685", "686", "687", "688", "689", "690", "691", "692", "800", "808", "850", "852", "853",
      "855", "856", "870", "878", "880", "881", "882", "883", "886", "888", "960", "961", "962",
      "963", "964", "965", "966", "967", "968", "970", "971", "972", "973", "974", "975", "976",
      "977", "979", "992", "993", "994", "995", "996", "998"};
  for (std::string_view c : kCodes) {
    if (d.starts_with(c)) {
      length = c.size();
      return true;
    }
  }
  return false;
}

// NANP: area code and exchange each [2-9]XX, neither an N11 service code.
bool nanp_ok(std::string_view d) {
  return d.size() == 10 && d[0] >= '2' && !(d[1] == '1' && d[2] == '1') && d[3] >= '2' &&
         !(d[4] == '1' && d[5] == '1');
}

// A national number with its trunk 0 (DE, GB, FR, CN landlines and DE/GB mobiles): 0, then a
// non-zero digit, ten to twelve digits in all (FR and most GB and DE numbers have ten or
// eleven; DE and CN landlines up to twelve).
bool trunk_national_ok(std::string_view d) {
  if (d.size() < 9 || d.size() > 12 || d[0] != '0' || d[1] == '0') return false;
  if (d[1] == '1' && d[2] >= '5' && d[2] <= '7') return d.size() >= 11;  // DE mobile 015-017
  return true;
}

bool cn_mobile_ok(std::string_view d) {
  return d.size() == 11 && d[0] == '1' && d[1] >= '3' && d[1] <= '9';
}

}  // namespace

namespace {

// Whether the digits alone can be a number of some plan phone_form knows: most candidates
// (cards, IBANs, identifiers in PII-dense text) are rejected here, before their groups are read.
bool plan_digits(std::string_view d) {
  if (d.size() < 9 || d.size() > 17) return false;
  if (!std::all_of(d.begin(), d.end(), is_digit)) return false;
  if (d.starts_with("00")) return true;
  if (d.size() == 10 && nanp_ok(d)) return true;
  if (d.size() == 11 && d[0] == '1' && (nanp_ok(d.substr(1)) || cn_mobile_ok(d))) return true;
  return trunk_national_ok(d);
}

}  // namespace

PhoneForm phone_form(std::string_view candidate) {
  const Alnum a = normalize_alnum(candidate);
  return phone_form(candidate, a.view());
}

PhoneForm phone_form(std::string_view candidate, std::string_view alnum) {
  if (!plan_digits(alnum)) return PhoneForm::kNone;
  PhoneGroups g;
  if (!phone_groups(candidate, g) || g.nd < 8 || g.nd > 17) return PhoneForm::kNone;
  const std::string_view d(g.digits, g.nd);
  if (std::all_of(d.begin(), d.end(), [&](char c) { return c == d[0]; })) return PhoneForm::kNone;
  const bool bare = g.n == 1;
  // International access code 00, a country code, the national number (E.164: at most 15).
  if (d.starts_with("00") && d[2] != '0') {
    size_t cc = 0;
    if (g.paren || !country_code(d.substr(2), cc)) return PhoneForm::kNone;
    const std::string_view nsn = d.substr(2 + cc);
    if (cc + nsn.size() > 15 || nsn.size() < 6 || nsn[0] == '0') return PhoneForm::kNone;
    const std::string_view code = d.substr(2, cc);
    if (code == "1" && !nanp_ok(nsn)) return PhoneForm::kNone;
    if (code == "86" && nsn[0] == '1' && !cn_mobile_ok(nsn)) return PhoneForm::kNone;
    if ((code == "33" && nsn.size() != 9) || (code == "44" && nsn.size() != 10 && nsn.size() != 9))
      return PhoneForm::kNone;
    if (code == "49" && (nsn.size() < 7 || nsn.size() > 12)) return PhoneForm::kNone;
    // Written "0049 30 …" or "00 49 30 …": the country code stands apart from the number.
    const bool apart =
        (g.len[0] == 2 + cc && g.n >= 3) || (g.len[0] == 2 && g.len[1] == cc && g.n >= 4);
    return apart ? PhoneForm::kGrouped : bare ? PhoneForm::kBare : PhoneForm::kNone;
  }
  // NANP: (212) 734-0987, 917-234-5678, 512.734.0987, 917 234 5678, 1-917-234-5678.
  if (d.size() == 10 && nanp_ok(d)) {
    if (g.paren ? (g.n == 3 && g.len[0] == 3 && g.len[1] == 3 && g.len[2] == 4)
                : grouped(g, 0, {3, 3, 4}))
      return PhoneForm::kGrouped;
    if (bare) return PhoneForm::kBare;
  }
  if (d.size() == 11 && d[0] == '1' && nanp_ok(d.substr(1))) {
    if (!g.paren && g.len[0] == 1 && grouped(g, 1, {3, 3, 4}) && g.sep[0] == g.sep[1])
      return PhoneForm::kGrouped;
  }
  // CN mobile: 138 1234 5678, 138-1234-5678.
  if (cn_mobile_ok(d)) {
    if (!g.paren && grouped(g, 0, {3, 4, 4})) return PhoneForm::kGrouped;
    if (bare) return PhoneForm::kBare;
  }
  if (trunk_national_ok(d)) {
    // FR: 06 12 34 56 78, 06.12.34.56.78, 06-12-34-56-78.
    if (d.size() == 10 && !g.paren && grouped(g, 0, {2, 2, 2, 2, 2})) return PhoneForm::kGrouped;
    // DE, GB, CN landlines: the trunk and area code as a group of three to six digits (in
    // parentheses or not), then the subscriber number in one to three groups.
    // Nine digits only as a short DE landline: a three- or four-digit area code, then the
    // subscriber in one group of five or six ("035 395703"; not a ZIP+4 code, "02110-1301").
    if (g.n >= 2 && g.n <= 4 && g.len[0] >= 3 && g.len[0] <= 6 &&
        (d.size() > 9 || (g.n == 2 && d[1] >= '2' && g.len[0] <= 4 && g.len[1] >= 5))) {
      bool rest = true;
      for (size_t k = 1; k < g.n; ++k) rest = rest && g.len[k] >= 3;
      if (rest) return PhoneForm::kGrouped;
    }
    if (bare) return PhoneForm::kBare;
  }
  return PhoneForm::kNone;
}

bool phone_plan_ok(std::string_view candidate) {
  return phone_form(candidate) != PhoneForm::kNone;
}

bool phone_grouped_ok(std::string_view candidate) {
  return phone_form(candidate) == PhoneForm::kGrouped;
}

bool phone_bare_ok(std::string_view candidate) {
  return phone_form(candidate) == PhoneForm::kBare;
}

bool phone_plan_ok(std::string_view candidate, std::string_view alnum) {
  return phone_form(candidate, alnum) != PhoneForm::kNone;
}

bool phone_grouped_ok(std::string_view candidate, std::string_view alnum) {
  return phone_form(candidate, alnum) == PhoneForm::kGrouped;
}

bool phone_bare_ok(std::string_view candidate, std::string_view alnum) {
  return phone_form(candidate, alnum) == PhoneForm::kBare;
}

IpKind ipv4_kind(std::string_view candidate) {
  int parts = 0;
  int small = 0;
  int octet[4] = {};
  size_t i = 0;
  while (i <= candidate.size()) {
    const size_t dot = std::min(candidate.find('.', i), candidate.size());
    const std::string_view part = candidate.substr(i, dot - i);
    if (parts == 4 || part.empty() || part.size() > 3 || (part.size() > 1 && part[0] == '0'))
      return IpKind::kNone;
    if (!std::all_of(part.begin(), part.end(), is_digit) || num(part) > 255) return IpKind::kNone;
    octet[parts] = num(part);
    if (octet[parts] < 30) ++small;
    ++parts;
    i = dot + 1;
  }
  if (parts != 4) return IpKind::kNone;
  const int a = octet[0];
  const int b = octet[1];
  const int c = octet[2];
  // Four small numbers ("3.1.2.0", "1.15.5.4") are far more often versions or section numbers
  // than addresses, except in 10/8 and the well-known resolvers (1.1.1.1, 8.8.8.8, 9.9.9.9).
  if (small == 4 && a != 10 && !(a == b && b == c && c == octet[3]) &&
      !(a == 1 && b == 0 && c == 0 && octet[3] == 1) &&
      !(a == 8 && b == 8 && c == 4 && octet[3] == 4))
    return IpKind::kNone;
  // What reveals nothing about a person or a network: "this network" 0/8, loopback 127/8,
  // multicast and reserved 224/3 (netmasks 255.…, the broadcast address among them), and the
  // documentation ranges of RFC 5737.
  if (a == 0 || a == 127 || a >= 224) return IpKind::kNone;
  if ((a == 192 && b == 0 && c == 2) || (a == 198 && b == 51 && c == 100) ||
      (a == 203 && b == 0 && c == 113))
    return IpKind::kNone;
  // Private networks (RFC 1918), shared address space (RFC 6598), link-local: they map a
  // network, a class of their own.
  if (a == 10 || (a == 172 && b >= 16 && b <= 31) || (a == 192 && b == 168) ||
      (a == 100 && b >= 64 && b <= 127) || (a == 169 && b == 254))
    return IpKind::kPrivate;
  return IpKind::kPublic;
}

bool ipv4_ok(std::string_view candidate) {
  return ipv4_kind(candidate) != IpKind::kNone;
}

IpKind ipv6_kind(std::string_view candidate) {
  if (candidate.size() > 45) return IpKind::kNone;
  char buf[46];
  std::memcpy(buf, candidate.data(), candidate.size());
  buf[candidate.size()] = '\0';
  const std::string_view s(buf, candidate.size());
  unsigned char a[16];
  if (inet_pton(AF_INET6, buf, a) != 1) return IpKind::kNone;
  // Code such as `a::b` or `dead::beef` parses too: an address has four hex digits and two
  // colons at least, and one without a decimal digit is written in five groups or more
  // ("fdee:dda:aedf:cac::ea").
  const bool has_digit = std::any_of(s.begin(), s.end(), is_digit);
  const auto colons = std::count(s.begin(), s.end(), ':');
  const auto hex = static_cast<long>(s.size()) - colons;
  if (hex < 4 || colons < 2 || (!has_digit && colons < 4)) return IpKind::kNone;
  // Unspecified, loopback, documentation (2001:db8::/32), IPv4-mapped (judged as IPv4).
  static constexpr unsigned char kZero[16] = {};
  if (std::memcmp(a, kZero, 15) == 0 && a[15] <= 1) return IpKind::kNone;
  if (a[0] == 0x20 && a[1] == 0x01 && a[2] == 0x0D && a[3] == 0xB8) return IpKind::kNone;
  if (std::memcmp(a, kZero, 10) == 0 && a[10] == 0xFF && a[11] == 0xFF) {
    const std::string v4 = std::to_string(a[12]) + "." + std::to_string(a[13]) + "." +
                           std::to_string(a[14]) + "." + std::to_string(a[15]);
    return ipv4_kind(v4);
  }
  if ((a[0] & 0xFE) == 0xFC || (a[0] == 0xFE && (a[1] & 0xC0) == 0x80)) return IpKind::kPrivate;
  if ((a[0] & 0xE0) != 0x20) return IpKind::kNone;  // outside global unicast 2000::/3
  return IpKind::kPublic;
}

bool ipv6_ok(std::string_view candidate) {
  return ipv6_kind(candidate) != IpKind::kNone;
}

bool ip_private_ok(std::string_view candidate) {
  return candidate.find(':') == std::string_view::npos ? ipv4_kind(candidate) == IpKind::kPrivate
                                                       : ipv6_kind(candidate) == IpKind::kPrivate;
}

bool email_ok(std::string_view candidate) {
  const size_t at = candidate.find('@');
  if (at == 0 || at == std::string_view::npos || at > 64) return false;
  const std::string_view local = candidate.substr(0, at);
  const std::string_view domain = candidate.substr(at + 1);
  if (local.front() == '.' || local.back() == '.' || local.find("..") != std::string_view::npos)
    return false;
  size_t start = 0;
  int labels = 0;
  while (start <= domain.size()) {
    const size_t dot = std::min(domain.find('.', start), domain.size());
    const std::string_view label = domain.substr(start, dot - start);
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-')
      return false;
    ++labels;
    if (dot == domain.size()) {
      if (label.size() < 2 || !std::all_of(label.begin(), label.end(), [](char c) {
            return std::isalpha(static_cast<unsigned char>(c));
          }))
        return false;
    }
    start = dot + 1;
  }
  return labels >= 2;
}

namespace {
bool base64url_decode(std::string_view in, std::string& out) {
  auto val = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '-' || c == '+') return 62;
    if (c == '_' || c == '/') return 63;
    return -1;
  };
  uint32_t buf = 0;
  int bits = 0;
  for (char c : in) {
    if (c == '=') break;
    const int v = val(c);
    if (v < 0) return false;
    buf = (buf << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((buf >> bits) & 0xff));
    }
  }
  return true;
}
}  // namespace

bool jwt_ok(std::string_view candidate) {
  const size_t dot = candidate.find('.');
  if (dot == std::string_view::npos) return false;
  // The thread's buffers: a parser and a header of their own cost each candidate allocations.
  thread_local std::string header;
  header.clear();
  if (!base64url_decode(candidate.substr(0, dot), header)) return false;
  header.reserve(header.size() + simdjson::SIMDJSON_PADDING);  // parsed in place, not copied
  thread_local simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (parser.parse(header).get(root) != simdjson::SUCCESS) return false;
  std::string_view alg;
  return root["alg"].get_string().get(alg) == simdjson::SUCCESS && !alg.empty();
}

namespace {

// Whether one of `words` is in `value`, ignoring ASCII case (this runs for every secret
// candidate).
bool any_word(const WordFilter& words, std::string_view value) {
  return words.find(value, [](size_t, uint16_t) { return true; });
}

}  // namespace

bool looks_like_placeholder(std::string_view value) {
  if (value.empty() || value.front() == '$') return true;
  // %DB_PASSWORD% (a Windows variable), %(password)s; a pass-phrase may start with '%' too.
  if (value.front() == '%' && (value.back() == '%' || (value.size() > 1 && value[1] == '(')))
    return true;
  static const WordFilter kWords(
      {"${",         "{{",         "<",        ">",         "%s",          "process.env",
       "getenv",     "environ",    "changeme", "change_me", "change-me",   "password",
       "passwort",   "motdepasse", "secret",   "example",   "placeholder", "redacted",
       "dummy",      "sample",     "your_",    "your-",     "yourpass",    "xxxx",
       "****",       "....",       "todo",     "fixme",     "replace",     "insert",
       "enter_",     "string",     "required", "optional",  "undefined",   "null",
       "none",       "true",       "false",    "test1234",  "hunter2",     "letmein",
       "mypassword", "12345678",   "abcdefgh", "qwerty"});
  if (any_word(kWords, value)) return true;
  // One repeated character ("aaaaaaaa", "00000000").
  return std::all_of(value.begin(), value.end(), [&](char c) { return c == value[0]; });
}

double shannon_entropy(std::string_view s) {
  if (s.empty()) return 0;
  // H = log2(n) − (1/n)·Σ c·log2(c) over the byte counts c; c·log2(c) from a table for the
  // counts tokens have (this runs for every secret candidate), in fixed point (2^-32): integer
  // additions do not wait on each other the way floating-point ones do.
  constexpr double kScale = 4294967296.0;
  static const std::array<uint64_t, 256> c_log_c = [] {
    std::array<uint64_t, 256> t{};
    for (size_t c = 1; c < t.size(); ++c)
      t[c] = static_cast<uint64_t>(std::llround(static_cast<double>(c) * std::log2(c) * kScale));
    return t;
  }();
  const auto n = static_cast<double>(s.size());
  if (s.size() < c_log_c.size()) {
    // Candidates are short: byte counts fit in a byte, and their table is cleared in four
    // vector stores rather than a kilobyte.
    alignas(32) uint8_t count[256];
    std::memset(count, 0, sizeof count);
    uint8_t seen[256];
    size_t distinct = 0;
    for (char ch : s) {  // without a branch: whether a byte is new is a coin toss in a token
      const auto b = static_cast<unsigned char>(ch);
      seen[distinct] = b;
      distinct += count[b]++ == 0;
    }
    uint64_t sum = 0;
    for (size_t i = 0; i < distinct; ++i) sum += c_log_c[count[seen[i]]];
    return static_cast<double>(c_log_c[s.size()] - sum) / kScale / n;  // log2(n) = n·log2(n)/n
  }
  std::array<uint32_t, 256> count{};
  for (char ch : s) ++count[static_cast<unsigned char>(ch)];
  double sum = 0;
  for (uint32_t c : count) sum += c == 0 ? 0 : static_cast<double>(c) * std::log2(c);
  return std::log2(n) - sum / n;
}

bool secret_token_ok(std::string_view candidate) {
  static const WordFilter kWords({"example", "xxxx", "0000000", "your", "placeholder", "dummy",
                                  "fake", "redacted", "sample", "1234567890"});
  return shannon_entropy(candidate) >= 3.5 && !any_word(kWords, candidate);
}

bool aws_access_key_ok(std::string_view candidate) {
  return candidate.find("EXAMPLE") == std::string_view::npos && shannon_entropy(candidate) >= 3.0;
}

bool assignment_value(std::string_view match, size_t& begin, size_t& end) {
  // (find_first_of calls memchr on its set for every byte.)
  size_t i = 0;
  while (i < match.size() && match[i] != ':' && match[i] != '=') ++i;
  const size_t wide = match.substr(0, i).find("\xef\xbc\x9a");  // a full-width colon before
  if (wide != std::string_view::npos) i = wide + 2;
  if (i == match.size()) return false;
  ++i;
  while (i < match.size() && (match[i] == ' ' || match[i] == '\t' || match[i] == '"' ||
                              match[i] == '\'' || match[i] == '`'))
    ++i;
  size_t j = i;
  while (j < match.size() && match[j] != ' ' && match[j] != '\t' && match[j] != '"' &&
         match[j] != '\'' && match[j] != '`' && match[j] != ',' && match[j] != ';' &&
         match[j] != '\n' && match[j] != '\r')
    ++j;
  if (j <= i) return false;
  begin = i;
  end = j;
  return true;
}

bool password_value_ok(std::string_view value) {
  while (!value.empty() && (value.back() == '.' || value.back() == ')')) value.remove_suffix(1);
  return value.size() >= 6 && !looks_like_placeholder(value);
}

bool generic_secret_value_ok(std::string_view value) {
  if (value.size() < 16) return false;
  // Generated secrets carry digits (a 32-character base62 string lacks them 0.4% of the time);
  // identifiers in code ("_S_token_subexpr_begin", "config.default_value") do not.
  const bool upper = std::any_of(value.begin(), value.end(), is_upper);
  const bool lower =
      std::any_of(value.begin(), value.end(), [](char c) { return c >= 'a' && c <= 'z'; });
  if (!std::any_of(value.begin(), value.end(), is_digit)) {
    // … except a long run of mixed-case letters alone, random enough ("GsWoHUYYHbaOlvzCC…").
    const bool letters = std::all_of(value.begin(), value.end(),
                                     [](char c) { return is_upper(c) || (c >= 'a' && c <= 'z'); });
    return letters && upper && lower && value.size() >= 20 && shannon_entropy(value) >= 4.0 &&
           !looks_like_placeholder(value);
  }
  return (upper || lower) && shannon_entropy(value) >= 3.5 && !looks_like_placeholder(value);
}

// The one-argument forms normalise the candidate first.
bool credit_card_ok(std::string_view candidate) {
  const Alnum a = normalize_alnum(candidate);
  return credit_card_ok(candidate, a.view());
}

bool iban_ok(std::string_view candidate) {
  const Alnum a = normalize_alnum(candidate);
  return iban_ok(candidate, a.view());
}

bool us_ssn_ok(std::string_view candidate) {
  const Alnum a = normalize_alnum(candidate);
  return us_ssn_ok(candidate, a.view());
}

bool us_itin_ok(std::string_view candidate) {
  const Alnum a = normalize_alnum(candidate);
  return us_itin_ok(candidate, a.view());
}

bool de_tax_id_ok(std::string_view candidate) {
  const Alnum a = normalize_alnum(candidate);
  return de_tax_id_ok(candidate, a.view());
}

bool de_id_card_ok(std::string_view candidate) {
  const Alnum a = normalize_alnum(candidate);
  return de_id_card_ok(candidate, a.view());
}

bool de_id_card_lettered_ok(std::string_view candidate) {
  const Alnum a = normalize_alnum(candidate);
  return de_id_card_lettered_ok(candidate, a.view());
}

bool fr_nir_ok(std::string_view candidate) {
  const Alnum a = normalize_alnum(candidate);
  return fr_nir_ok(candidate, a.view());
}

bool cn_resident_id_ok(std::string_view candidate) {
  const Alnum a = normalize_alnum(candidate);
  return cn_resident_id_ok(candidate, a.view());
}

bool cn_social_credit_code_ok(std::string_view candidate) {
  const Alnum a = normalize_alnum(candidate);
  return cn_social_credit_code_ok(candidate, a.view());
}

bool cn_social_credit_code_letters_ok(std::string_view candidate) {
  const Alnum a = normalize_alnum(candidate);
  return cn_social_credit_code_letters_ok(candidate, a.view());
}

bool uk_nino_ok(std::string_view candidate) {
  const Alnum a = normalize_alnum(candidate);
  return uk_nino_ok(candidate, a.view());
}

}  // namespace warden::inspect
