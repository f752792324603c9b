// Validators: pure checks that turn a pattern candidate into a finding (or not). Each takes the
// candidate's bytes (UTF-8) and knows its identifier's real rules: checksums, ranges, dates.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace warden::inspect {

// The ASCII digits and letters of a candidate (normalize_alnum), kept in place: validators run
// for every candidate, and no identifier here has more than kMax letters and digits.
struct Alnum {
  static constexpr size_t kMax = 64;
  char data[kMax];
  size_t size = 0;
  std::string_view view() const { return {data, size}; }
};

// The ASCII letter (upper-case) or digit of the full-width form EF b1 b2, or 0 for another
// code point: U+FF10..FF19 digits, U+FF21..FF3A and U+FF41..FF5A letters.
inline char full_width_alnum(unsigned char b1, unsigned char b2) {
  if (b1 == 0xBC && b2 >= 0x90 && b2 <= 0x99) return static_cast<char>('0' + (b2 - 0x90));
  if (b1 == 0xBC && b2 >= 0xA1 && b2 <= 0xBA) return static_cast<char>('A' + (b2 - 0xA1));
  if (b1 == 0xBD && b2 >= 0x81 && b2 <= 0x9A) return static_cast<char>('A' + (b2 - 0x81));
  return 0;
}

// ASCII digits and letters of `s`, with full-width digits/letters mapped to ASCII and every
// separator (spaces, NBSP, dashes, dots, slashes) dropped. Letters are upper-cased. Empty when
// `s` holds more than Alnum::kMax of them.
Alnum normalize_alnum(std::string_view s);

// The digits of the integer a JSON number literal with a fraction or an exponent denotes
// (5.555555555554444e15 → "5555555555554444"), as a parser reads it: false for a literal without
// either, one below 1, one beyond 40 digits or fewer than 6 (no identifier).
bool number_integer_digits(std::string_view literal, std::string& out);

// ASCII letters lower-cased, without the locale (secret candidates, context words).
std::string ascii_lower(std::string_view s);

bool luhn_ok(std::string_view digits);
bool credit_card_ok(std::string_view candidate);  // IIN ranges + length + Luhn
bool iban_ok(std::string_view candidate);         // country length + mod 97
bool us_ssn_ok(std::string_view candidate);       // area/group/serial exclusions
bool us_itin_ok(std::string_view candidate);
bool de_tax_id_ok(std::string_view candidate);              // ISO 7064 MOD 11,10 + repetition rule
bool de_id_card_ok(std::string_view candidate);             // ICAO 9303 7-3-1 check digit
bool de_id_card_lettered_ok(std::string_view candidate);    // … and fewer than two digits
bool fr_nir_ok(std::string_view candidate);                 // key = 97 - n mod 97, Corsica 2A/2B
bool cn_resident_id_ok(std::string_view candidate);         // ISO 7064 MOD 11-2 + birth date
bool cn_social_credit_code_ok(std::string_view candidate);  // GB 32100-2015 mod 31
bool cn_social_credit_code_letters_ok(std::string_view candidate);  // … and carries a letter
bool uk_nino_ok(std::string_view candidate);
bool swift_bic_ok(std::string_view candidate);  // structure + ISO 3166 country
bool phone_ok(std::string_view candidate);      // 8 to 15 digits (E.164)
// A national number (or one after the international access code 00) by numbering plan: NANP
// (US/CA), DE, FR, GB, CN, and E.164 country codes. kGrouped: valid and written in its plan's
// grouping ("(212) 734-0987", "06 12 34 56 78", "0171/1234567", "138 1234 5678"), a phone
// number without a word saying so; kBare: valid but a bare digit run, which needs one.
enum class PhoneForm : uint8_t { kNone, kBare, kGrouped };
PhoneForm phone_form(std::string_view candidate);
PhoneForm phone_form(std::string_view candidate, std::string_view alnum);
bool phone_plan_ok(std::string_view candidate);  // kBare or kGrouped
bool phone_grouped_ok(std::string_view candidate);
bool phone_bare_ok(std::string_view candidate);
// An IP address by what it reveals: kNone for no address or one that reveals nothing
// (loopback, unspecified, netmasks, broadcast, multicast, documentation ranges), kPrivate for a
// private network's (RFC 1918, RFC 6598, link-local, fc00::/7), kPublic for the rest.
enum class IpKind : uint8_t { kNone, kPublic, kPrivate };
IpKind ipv4_kind(std::string_view candidate);
IpKind ipv6_kind(std::string_view candidate);
bool ipv4_ok(std::string_view candidate);  // an address that is a finding
bool ipv6_ok(std::string_view candidate);
bool ip_private_ok(std::string_view candidate);  // pii.ip_address.private
bool email_ok(std::string_view candidate);
// A character of an e-mail address's local part (the unquoted forms people write).
inline bool email_local_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '%' || c == '+' || c == '-';
}
bool jwt_ok(std::string_view candidate);  // header decodes to JSON with "alg"

// Secrets: documentation examples and placeholders are not secrets.
bool looks_like_placeholder(std::string_view value);
double shannon_entropy(std::string_view s);        // bits per byte
bool secret_token_ok(std::string_view candidate);  // prefixed tokens: no placeholder, random
bool aws_access_key_ok(std::string_view candidate);

// For assignments (`password=…`, `api_key: …`): the byte range of the value inside `match`.
bool assignment_value(std::string_view match, size_t& begin, size_t& end);
bool password_value_ok(std::string_view value);
bool generic_secret_value_ok(std::string_view value);

bool is_iso3166_alpha2(std::string_view code);

// The number validators above, given the candidate's letters and digits already normalised
// (`alnum`, normalize_alnum): the cluster pass normalises a cluster once for all its runs.
bool credit_card_ok(std::string_view candidate, std::string_view alnum);
bool iban_ok(std::string_view candidate, std::string_view alnum);
bool us_ssn_ok(std::string_view candidate, std::string_view alnum);
bool us_itin_ok(std::string_view candidate, std::string_view alnum);
bool de_tax_id_ok(std::string_view candidate, std::string_view alnum);
bool de_id_card_ok(std::string_view candidate, std::string_view alnum);
bool de_id_card_lettered_ok(std::string_view candidate, std::string_view alnum);
bool fr_nir_ok(std::string_view candidate, std::string_view alnum);
bool cn_resident_id_ok(std::string_view candidate, std::string_view alnum);
bool cn_social_credit_code_ok(std::string_view candidate, std::string_view alnum);
bool cn_social_credit_code_letters_ok(std::string_view candidate, std::string_view alnum);
bool uk_nino_ok(std::string_view candidate, std::string_view alnum);
bool phone_plan_ok(std::string_view candidate, std::string_view alnum);
bool phone_grouped_ok(std::string_view candidate, std::string_view alnum);
bool phone_bare_ok(std::string_view candidate, std::string_view alnum);

}  // namespace warden::inspect
