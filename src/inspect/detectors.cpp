#include "inspect/detectors.h"

#include <hs/hs.h>

#include <algorithm>
#include <iterator>
#include <utility>

#include "inspect/validators.h"

namespace warden::inspect {

namespace {

// An Anthropic key starts like an OpenAI one: it is the Anthropic detector's, never OpenAI's.
constexpr std::string_view kAnthropicPrefix = "sk-ant-";

// Digits, ASCII or full-width.
constexpr const char* D =
    "(?:[0-9]|\\x{FF10}|\\x{FF11}|\\x{FF12}|\\x{FF13}|\\x{FF14}|\\x{FF15}|"
    "\\x{FF16}|\\x{FF17}|\\x{FF18}|\\x{FF19})";
// The same as a class: smaller for Hyperscan in long repeats (the phone patterns).
constexpr const char* DC = "[0-9\\x{FF10}-\\x{FF19}]";
// Separators between the groups of a number as people type or paste them: space, no-break,
// narrow no-break, figure, thin and ideographic spaces; hyphen-minus, the Unicode hyphens, en
// and em dashes, the full-width hyphen (clusters.cpp joins words over the same ones).
constexpr const char* SEP =
    "[ "
    "\\-\\x{00A0}\\x{202F}\\x{2007}\\x{2009}\\x{2010}\\x{2011}\\x{2013}\\x{2014}\\x{3000}\\x{FF0D}"
    "]";
// … and a dot, for the formats people also group with dots (cards, IBANs, phone numbers).
constexpr const char* SEPD =
    "[. "
    "\\-\\x{00A0}\\x{202F}\\x{2007}\\x{2009}\\x{2010}\\x{2011}\\x{2013}\\x{2014}\\x{3000}\\x{FF0D}"
    "]";

// … and '_' and '/', for cards and IBANs: "4111_1111_1111_1111", "DE89/3704/…" as pasted from a
// file name, a URL or a form's field (their validators leave little chance to other numbers).
constexpr const char* SEPG =
    "[. _/"
    "\\-\\x{00A0}\\x{202F}\\x{2007}\\x{2009}\\x{2010}\\x{2011}\\x{2013}\\x{2014}\\x{3000}\\x{FF0D}"
    "]";

std::string digits(int n) {
  return std::string(D) + "{" + std::to_string(n) + "}";
}
std::string sep() {
  return std::string(SEP) + "?";
}
std::string sepd() {
  return std::string(SEPD) + "?";
}
std::string sepg() {
  return std::string(SEPG) + "?";
}

// Bytes of a frame character before / at i: space, tab, dashes (- – —), * = # _ ~ |, brackets.
size_t frame_before(std::string_view t, size_t i) {
  if (i == 0) return 0;
  const char c = t[i - 1];
  if (c == ' ' || c == '\t' || c == '-' || c == '*' || c == '=' || c == '#' || c == '_' ||
      c == '~' || c == '|' || c == '[' || c == '(')
    return 1;
  if (i >= 3) {
    const std::string_view u = t.substr(i - 3, 3);
    if (u == "\xe2\x80\x93" || u == "\xe2\x80\x94" || u == "\xe3\x80\x90") return 3;  // – — 【
  }
  return 0;
}
size_t frame_at(std::string_view t, size_t i) {
  if (i >= t.size()) return 0;
  const char c = t[i];
  if (c == ' ' || c == '\t' || c == '-' || c == '*' || c == '=' || c == '#' || c == '_' ||
      c == '~' || c == '|' || c == ']' || c == ')')
    return 1;
  const std::string_view u = t.substr(i, 3);
  if (u == "\xe2\x80\x93" || u == "\xe2\x80\x94" || u == "\xe3\x80\x91" || u == "\xe2\x98\x85")
    return 3;  // – — 】 ★
  return 0;
}

// A marking stands on a line of its own, framed at most by dashes, brackets, stars and spaces;
// after a label ("Classification:", "Einstufung:") or a footer's dash ("Page 3 of 7 — SECRET").
// The same words in running prose are not markings (the pattern takes capitals only, and the
// line must end after the marking and its frame).
bool marking_placement(std::string_view text, size_t start, size_t end) {
  // In brackets of its own at the start of a line: "[TOP SECRET] Bitte fasse …".
  const bool open = start > 0 && (text[start - 1] == '[' ||
                                  (start >= 3 && text.substr(start - 3, 3) == "\xe3\x80\x90"));
  const bool close =
      end < text.size() && (text[end] == ']' || text.substr(end, 3) == "\xe3\x80\x91");
  if (open && close) return true;
  size_t j = end;
  while (size_t k = frame_at(text, j)) j += k;
  if (j < text.size() && text[j] != '\n' && text[j] != '\r') return false;
  size_t i = start;
  bool dash = false;
  while (size_t k = frame_before(text, i)) {
    dash = dash || k == 3 || text[i - 1] == '-';
    i -= k;
  }
  if (i == 0 || text[i - 1] == '\n' || text[i - 1] == '\r' || dash) return true;
  // After a short label on the same line.
  const bool colon = text[i - 1] == ':' || (i >= 3 && text.substr(i - 3, 3) == "\xef\xbc\x9a");
  if (!colon) return false;
  const size_t line = text.rfind('\n', i - 1);
  const size_t from = line == std::string_view::npos ? 0 : line + 1;
  return i - from <= 40;
}

bool cjk_marking(std::string_view text, size_t start, size_t end) {
  // 绝密/机密/秘密 are markings when followed by ★ or standing alone on a line or in brackets.
  size_t j = end;
  while (j < text.size() && text[j] == ' ') ++j;
  if (text.substr(j).rfind("\xe2\x98\x85", 0) == 0) return true;  // ★
  if (text.substr(j).rfind("\xe3\x80\x91", 0) == 0) return true;  // 】
  size_t i = start;
  while (i > 0 && text[i - 1] == ' ') --i;
  if (i >= 3 && text.substr(i - 3, 3) == "\xe3\x80\x90") return true;  // 【
  // 密级：机密 (the label "classification level").
  if (i >= 9 && text.substr(i - 9, 9) == "\xe5\xaf\x86\xe7\xba\xa7\xef\xbc\x9a") return true;
  if (i >= 7 && text.substr(i - 7, 7) == "\xe5\xaf\x86\xe7\xba\xa7:") return true;
  const bool line_start = i == 0 || text[i - 1] == '\n';
  const bool line_end = j >= text.size() || text[j] == '\n';
  return line_start && line_end;
}

// Dotted section numbers ("[27.4.2.5]", "// 23.3.4.2 modifiers", "§ 3.1.2.0") look like IPv4.
bool not_section_number(std::string_view text, size_t start, size_t end) {
  size_t i = start;
  while (i > 0 && text[i - 1] == ' ') --i;
  if (i > 0 && text[i - 1] == '[') return false;
  // A comment's "// 23.3.4.2", not a URL's "http://10.0.0.1".
  if (i < start && i >= 2 && text.substr(i - 2, 2) == "//") return false;
  if (i >= 2 && text.substr(i - 2, 2) == "\xc2\xa7") return false;  // §
  return end >= text.size() || text[end] != ']';
}

// Bytes of a number separator (clusters.cpp's set, parentheses aside) ending at / starting at i.
size_t number_sep_before(std::string_view t, size_t i) {
  if (i == 0) return 0;
  const char c = t[i - 1];
  if (c == ' ' || c == '-' || c == '.' || c == '/') return 1;
  if (i >= 2 && t.substr(i - 2, 2) == "\xc2\xa0") return 2;
  if (i < 3) return 0;
  const auto a = static_cast<unsigned char>(t[i - 3]);
  const auto b = static_cast<unsigned char>(t[i - 2]);
  const auto d = static_cast<unsigned char>(t[i - 1]);
  const bool wide =
      (a == 0xE2 && b == 0x80 &&
       (d == 0x87 || d == 0x89 || d == 0x90 || d == 0x91 || d == 0x93 || d == 0x94 || d == 0xAF)) ||
      (a == 0xE3 && b == 0x80 && d == 0x80) || (a == 0xEF && b == 0xBC && d == 0x8D);
  return wide ? 3 : 0;
}
bool digit_before(std::string_view t, size_t i) {
  if (i == 0) return false;
  if (t[i - 1] >= '0' && t[i - 1] <= '9') return true;
  return i >= 3 && t[i - 3] == '\xef' && t[i - 2] == '\xbc' &&
         static_cast<unsigned char>(t[i - 1]) >= 0x90 &&
         static_cast<unsigned char>(t[i - 1]) <= 0x99;
}

// A phone number is not a few groups of a longer number (a card's, an IBAN's, an order
// number's): no digit group is joined to it by a separator on either side.
bool phone_stands_alone(std::string_view text, size_t start, size_t end) {
  // Nor the middle of a token ("…-de1e4a1d-0327-4685-9317-d08acb34760c", a UUID).
  auto alnum = [&](size_t k) {
    return k < text.size() && ((text[k] >= '0' && text[k] <= '9') ||
                               ((text[k] | 0x20) >= 'a' && (text[k] | 0x20) <= 'z'));
  };
  if ((start >= 2 && text[start - 1] == '-' && alnum(start - 2)) ||
      (end + 1 < text.size() && text[end] == '-' && alnum(end + 1)))
    return false;
  size_t i = start;
  for (int k = 0; k < 2; ++k) {
    const size_t n = number_sep_before(text, i);
    if (n == 0) break;
    i -= n;
  }
  if (i < start && digit_before(text, i)) return false;
  size_t j = end;
  for (int k = 0; k < 2 && j < text.size(); ++k) {
    const size_t n = number_sep_at(text, j);
    if (n == 0) break;
    j += n;
  }
  if (j == end || j >= text.size()) return true;
  const auto c = static_cast<unsigned char>(text[j]);
  return !((c >= '0' && c <= '9') ||
           (c == 0xEF && j + 2 < text.size() && static_cast<unsigned char>(text[j + 1]) == 0xBC &&
            static_cast<unsigned char>(text[j + 2]) >= 0x90 &&
            static_cast<unsigned char>(text[j + 2]) <= 0x99));
}

// A card number's digits are not the groups after an IBAN's country code and check digits
// ("FR95 4504 4310 4970 1519 6833 148", an invalid IBAN, holds a Luhn-valid run).
bool not_iban_digits(std::string_view text, size_t start, size_t /*end*/) {
  size_t i = start;
  for (int k = 0; k < 2; ++k) {
    const size_t n = number_sep_before(text, i);
    if (n == 0) break;
    i -= n;
  }
  if (i == start || i < 4) return true;
  auto upper = [&](size_t k) { return text[k] >= 'A' && text[k] <= 'Z'; };
  auto digit = [&](size_t k) { return text[k] >= '0' && text[k] <= '9'; };
  return !(upper(i - 4) && upper(i - 3) && digit(i - 2) && digit(i - 1));
}

// "git@github.com:org/repo.git" is an SSH remote, not an e-mail address; "icon@2x.png" is an
// image at twice the resolution.
bool not_remote_or_file(std::string_view text, size_t start, size_t end) {
  if (end + 1 < text.size() && text[end] == ':' && text[end + 1] != ' ' && text[end + 1] != '\n')
    return false;
  const std::string_view domain = text.substr(start + 1, end - start - 1);
  if (domain.size() >= 3 && domain[0] >= '1' && domain[0] <= '9' && domain[1] == 'x' &&
      domain[2] == '.')
    return false;
  const size_t dot = domain.rfind('.');
  const std::string tld = ascii_lower(domain.substr(dot + 1));
  static constexpr std::string_view kFileTypes[] = {"png",  "jpg", "jpeg", "gif", "svg",
                                                    "webp", "bmp", "ico",  "pdf", "tiff"};
  return std::find(std::begin(kFileTypes), std::end(kFileTypes), tld) == std::end(kFileTypes);
}

// A PEM block whose body is a placeholder ("...", "<key>", "MIIE...") holds no key. Only a
// block whose END line has arrived is judged (in a stream the body may still be coming).
bool pem_body_not_placeholder(std::string_view text, size_t /*start*/, size_t end) {
  const size_t close = text.find("-----END ", end);
  if (close == std::string_view::npos) return true;
  // Key material is base64 in lines of 64 or 70 characters; a placeholder has no run of
  // sixteen ("MIIE...", "<your private key here>", "(redacted)").
  size_t run = 0;
  for (size_t i = end; i < close; ++i) {
    const char c = text[i];
    const bool b64 = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                     c == '+' || c == '/' || c == '=';
    run = b64 ? run + 1 : 0;
    if (run >= 16) return true;
  }
  return false;
}

}  // namespace

std::vector<DetectorSpec> builtin_detectors() {
  const std::string d = D;
  std::vector<DetectorSpec> v;

  // ---- personal data
  v.push_back({.cls = "pii.email",
               .pattern = "@[A-Za-z0-9\\-]+(?:\\.[A-Za-z0-9\\-]+)+",
               .validate = email_ok,
               .boundary = Boundary::kToken,
               .span = SpanRule::kEmailLocalPart,
               .confidence = 0.95f,
               .with_context = 0.99f,
               .placement = not_remote_or_file,
               .max_bytes = 320,
               .gate = Gate::kAnchor,
               .anchors = {"@"},
               .extent = Extent::kToken,
               // An address has a local part: "@param" in a comment is no candidate.
               .anchor_ok = [](std::string_view text, size_t at) {
                 return at > 0 && email_local_char(text[at - 1]);
               }});
  v.push_back({.cls = "pii.phone",
               .pattern = "\\+" + d + "{1,3}" + sep() + "(?:\\(" + d + "{1,4}\\)" + sep() + ")?" +
                          d + "{1,4}(?:" + std::string("(?:[ \\-./]|\\x{00A0})?") + d +
                          "{2,5}){1,4}",
               .validate = phone_ok,
               .boundary = Boundary::kNumber,
               .context = {"tel", "phone", "call", "mobile", "telefon", "handy", "rufnummer",
                           "téléphone", "portable", "电话", "手机", "联系"},
               .confidence = 0.8f,
               .with_context = 0.95f,
               .max_bytes = 64,
               .gate = Gate::kAnchor,
               .anchors = {"+0",  "+1",  "+2",  "+3",  "+4",  "+5",  "+6",  "+7",  "+8",  "+9",
                           "+０", "+１", "+２", "+３", "+４", "+５", "+６", "+７", "+８", "+９"},
               .extent = Extent::kLine});
  // National numbers (and international ones after 00), judged by numbering plan (phone_form):
  // written in their plan's grouping they need no context word; a bare run of digits does.
  const std::vector<std::string_view> phone_words = {
      "tel",     "tél",        "phone",     "call",          "mobile",      "cell",
      "ring",    "reach",      "whatsapp",  "sms",           "fax",         "telefon",
      "handy",   "mobil",      "rufnummer", "telefonnummer", "handynummer", "mobilnummer",
      "rückruf", "erreichbar", "anrufen",   "téléphone",     "portable",    "appeler",
      "appelez", "joindre",    "numéro",    "电话",          "手机",        "联系",
      "号码",    "致电"};
  // Numbers that other words introduce (an order, invoice, tracking or serial number).
  const std::vector<std::string_view> phone_not_after = {
      "serial",  "order",    "invoice", "tracking", "ticket",  "sku",   "ref",  "bestellung",
      "auftrag", "rechnung", "sendung", "commande", "facture", "colis", "订单", "单号"};
  const std::string dc = DC;
  // Digits and separators (SEPD and '/'), digits at both ends: phone_form judges the groups
  // (unbounded repeats keep the pattern small for Hyperscan; max_bytes bounds a match).
  const std::string phone_sep = std::string("[/") + (SEPD + 1);
  const std::string phone_digits = dc + "(?:" + dc + "|" + phone_sep + ")*" + dc;
  // A bare digit run ("0612345678", "13812345678") only after a context word.
  const DetectorSpec national{
      .cls = "pii.phone",
      .pattern = phone_digits,
      .validate = phone_plan_ok,
      .boundary = Boundary::kNumber,
      .context = phone_words,
      .context_if = phone_bare_ok,
      .confidence = 0.85f,
      .with_context = 0.95f,
      .placement = phone_stands_alone,
      .placement_reach = Reach::kNumberGroup,
      .max_bytes = 80,
      .not_after = phone_not_after,
      .gate = Gate::kCluster,
      .needs = {.chain = 9, .sums = count_range(9, 17), .words = count_range(1, 7)},
      .first_bytes = "09\xef\xef"};
  v.push_back(national);
  DetectorSpec parenthesised = national;  // "(040) 1234567", "(212) 734-0987"
  parenthesised.validate = phone_grouped_ok;
  parenthesised.context_if = nullptr;
  parenthesised.pattern = "\\(" + dc + "{2,5}\\)" + phone_sep + "?" + phone_digits;
  parenthesised.needs = {.chain = 9, .sums = count_range(9, 13)};
  parenthesised.first_bytes = "((";
  v.push_back(parenthesised);
  // IP addresses: public ones, and private networks' as a subclass (a policy can treat them
  // apart); the validator leaves out those that reveal nothing (ipv4_kind, ipv6_kind).
  v.push_back({.cls = "pii.ip_address",
               .pattern = "[0-9]{1,3}(?:\\.[0-9]{1,3}){3}",
               .validate = ipv4_ok,
               .boundary = Boundary::kNumber,
               .confidence = 0.9f,
               .with_context = 0.97f,
               .placement = not_section_number,
               .max_bytes = 15,
               .not_after = {"version", "release", "build", "ver", "pandoc", "firmware", "kernel",
                             "chrome", "firefox", "libfoo", "python", "gcc"},
               .gate = Gate::kCluster,
               .needs = {.digits = 4, .dots = 3},
               .subclass = "pii.ip_address.private",
               .subclass_if = ip_private_ok,
               .first_bytes = "09"});
  v.push_back({.cls = "pii.ip_address",
               .pattern = "[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}",
               .validate = ipv6_ok,
               .boundary = Boundary::kToken,
               .confidence = 0.9f,
               .with_context = 0.97f,
               .max_bytes = 45,
               .gate = Gate::kCluster,
               .needs = {.colons = 2},
               .subclass = "pii.ip_address.private",
               .subclass_if = ip_private_ok,
               .first_bytes = "09AFaf::"});

  // ---- national identifiers
  v.push_back({.cls = "id.us_ssn",
               .pattern = digits(3) + SEP + digits(2) + SEP + digits(4),
               .validate = us_ssn_ok,
               .context = {"ssn", "social security", "sozialversicherung"},
               .confidence = 0.9f,
               .with_context = 0.99f,
               .max_bytes = 40,
               .gate = Gate::kCluster,
               .needs = {.chain = 9, .sums = count_range(9, 9), .words = count_range(3, 3)},
               .first_bytes = "09\xef\xef"});
  v.push_back({.cls = "id.us_ssn",
               .pattern = digits(9),
               .validate = us_ssn_ok,
               .context = {"ssn", "social security"},
               .context_required = true,
               .confidence = 0.95f,
               .with_context = 0.95f,
               .max_bytes = 27,
               .gate = Gate::kCluster,
               .needs = {.chain = 9, .sums = count_range(9, 9), .words = count_range(1, 1)},
               .first_bytes = "09\xef\xef"});
  v.push_back({.cls = "id.us_itin",
               .pattern = "9" + digits(2) + SEP + digits(2) + SEP + digits(4),
               .validate = us_itin_ok,
               .context = {"itin", "taxpayer"},
               .confidence = 0.9f,
               .with_context = 0.99f,
               .max_bytes = 40,
               .gate = Gate::kCluster,
               .needs = {.chain = 9, .sums = count_range(9, 9), .words = count_range(3, 3)},
               .first_bytes = "99\xef\xef"});
  v.push_back({.cls = "id.us_itin",
               .pattern = "9" + digits(8),
               .validate = us_itin_ok,
               .context = {"itin", "taxpayer"},
               .context_required = true,
               .confidence = 0.95f,
               .with_context = 0.95f,
               .max_bytes = 27,
               .gate = Gate::kCluster,
               .needs = {.chain = 9, .sums = count_range(9, 9), .words = count_range(1, 1)},
               .first_bytes = "99\xef\xef"});
  v.push_back({.cls = "id.de_tax_id",
               .pattern = "[1-9]" + digits(1) + "(?:" + sep() + digits(3) + "){3}",
               .validate = de_tax_id_ok,
               .context = {"steuer", "identifikationsnummer", "steuer-id", "idnr", "tax id", "tin"},
               .confidence = 0.85f,
               .with_context = 0.99f,
               .max_bytes = 40,
               .gate = Gate::kCluster,
               .needs = {.chain = 11, .sums = count_range(11, 11), .words = count_range(1, 4)},
               .first_bytes = "19\xef\xef"});
  v.push_back(
      {.cls = "id.de_id_card",
       .pattern = "[CFGHJKLMNPRTVWXYZ][CFGHJKLMNPRTVWXYZ0-9]{8}[0-9]",
       .validate = de_id_card_ok,
       .boundary = Boundary::kWord,
       .context = {"ausweis", "personalausweis", "id card", "identity card", "ausweisnummer"},
       .context_if = de_id_card_lettered_ok,  // "XGNVPHCRK6": after "Ausweis…" only
       .confidence = 0.85f,
       .with_context = 0.99f,
       .max_bytes = 10,
       .gate = Gate::kCluster,
       .needs = {.digits = 1,
                 .upper_word = 10,
                 .upper_runs = uint64_t{1} << 10,
                 .lengths = count_range(10, 10),
                 .words = count_range(1, 1)},
       .first_bytes = "CZ"});
  v.push_back({.cls = "id.fr_nir",
               .pattern = "[1-478]" + sepd() + "[0-9]{2}" + sepd() + "[0-9]{2}" + sepd() +
                          "(?:[0-9]{2}|2[ABab])" + sepd() + "[0-9]{3}" + sepd() + "[0-9]{3}" +
                          sepd() + "[0-9]{2}",
               .validate = fr_nir_ok,
               .context = {"sécurité sociale", "securite sociale", "nir", "insee", "numéro de sécu",
                           "social security"},
               .confidence = 0.9f,
               .with_context = 0.99f,
               .max_bytes = 21,
               .gate = Gate::kCluster,
               .needs = {.chain = 13, .sums = count_range(14, 15), .words = count_range(1, 7)},
               .first_bytes = "18"});
  v.push_back({.cls = "id.cn_resident_id",
               .pattern = "(?:[1-8]|\\x{FF11}|\\x{FF12}|\\x{FF13}|\\x{FF14}|\\x{FF15}|\\x{FF16}|"
                          "\\x{FF17}|\\x{FF18})" +
                          d + "{5}" + sep() + d + "{8}" + sep() + d + "{3}(?:" + d +
                          "|[Xx]|\\x{FF38})",
               .validate = cn_resident_id_ok,
               .context = {"身份证", "公民身份号码", "resident id", "id card", "身份证号"},
               .confidence = 0.95f,
               .with_context = 0.99f,
               .max_bytes = 54,
               .gate = Gate::kCluster,
               .needs = {.chain = 17, .sums = count_range(17, 18), .words = count_range(1, 3)},
               .first_bytes = "18\xef\xef"});
  const std::vector<std::string_view> cn_credit_words = {
      "统一社会信用代码", "信用代码", "纳税人识别号", "税号", "代码", "social credit", "uscc"};
  v.push_back({.cls = "id.cn_social_credit_code",
               .pattern = "[0-9A-HJ-NPQRTUWXY]{2}[0-9]{6}[0-9A-HJ-NPQRTUWXY]{10}",
               .validate = cn_social_credit_code_letters_ok,
               .boundary = Boundary::kWord,
               .context = cn_credit_words,
               .confidence = 0.9f,
               .with_context = 0.99f,
               .max_bytes = 18,
               .not_after = {"tracking", "sendung", "colis", "快递", "运单"},
               .gate = Gate::kCluster,
               .needs = {.digits = 6,
                         .upper_word = 18,
                         .upper_runs = uint64_t{1} << 18,
                         .lengths = count_range(18, 18),
                         .words = count_range(1, 1)},
               .first_bytes = "09AY"});
  v.push_back({.cls = "id.cn_social_credit_code",
               .pattern = "[0-9]{18}",
               .validate = cn_social_credit_code_ok,
               .boundary = Boundary::kWord,
               .context = cn_credit_words,
               .context_required = true,
               .confidence = 0.95f,
               .with_context = 0.95f,
               .max_bytes = 18,
               .gate = Gate::kCluster,
               .needs = {.chain = 18, .lengths = count_range(18, 18), .words = count_range(1, 1)},
               .first_bytes = "09"});
  v.push_back({.cls = "id.cn_social_credit_code",  // written in full-width forms
               .pattern = "[0-9A-HJ-NPQRTUWXY\\x{FF10}-\\x{FF19}\\x{FF21}-\\x{FF28}\\x{FF2A}-"
                          "\\x{FF2E}\\x{FF30}-\\x{FF32}\\x{FF34}\\x{FF35}\\x{FF37}-\\x{FF39}]{18}",
               .validate = cn_social_credit_code_letters_ok,
               .boundary = Boundary::kWord,
               .context = cn_credit_words,
               .confidence = 0.9f,
               .with_context = 0.99f,
               .max_bytes = 54,
               .gate = Gate::kCluster,
               .needs = {.digits = 6, .alnum = 18, .wide = 6},
               .first_bytes = "09AY\xef\xef"});
  v.push_back({.cls = "id.uk_nino",
               .pattern = "[A-Z]{2} ?[0-9]{2} ?[0-9]{2} ?[0-9]{2} ?[A-D]",
               .validate = uk_nino_ok,
               .boundary = Boundary::kWord,
               .context = {"national insurance", "nino", "ni number"},
               .confidence = 0.85f,
               .with_context = 0.99f,
               .max_bytes = 13,
               .gate = Gate::kCluster,
               .needs = {.digits = 6,
                         .upper = 2,
                         .sums = count_range(6, 6),
                         .lengths = count_range(9, 9),
                         .words = count_range(1, 5)},
               .first_bytes = "AZ"});

  // ---- financial identifiers
  v.push_back(
      {.cls = "fin.credit_card",
       .pattern = d + "{4}(?:" + sepg() + d + "{2,6}){2,4}" + d + "{0,3}",
       .validate = credit_card_ok,
       .context = {"card", "visa", "mastercard", "amex", "karte", "kreditkarte", "carte", "信用卡",
                   "卡号"},
       .confidence = 0.9f,
       .with_context = 0.99f,
       .placement = not_iban_digits,
       .max_bytes = 100,
       .gate = Gate::kCluster,
       .needs = {.chain = 12, .sums = count_range(12, 19), .words = count_range(1, 5)},
       .first_bytes = "26\xef\xef"});  // every issuer range (credit_card_ok) starts with 2 to 6
  // Every digit spaced ("4 1 1 1 1 1 1 1 …"): twelve to nineteen single digits, one space apart.
  DetectorSpec spaced = v.back();
  spaced.pattern = d + "(?: " + d + "){11,18}";
  spaced.needs = {.chain = 12, .sums = count_range(12, 19), .words = count_range(12, 19)};
  v.push_back(spaced);
  v.push_back({.cls = "fin.iban",
               .pattern = "[A-Z]{2}[0-9]{2}(?:" + sepg() + "[A-Z0-9]){11,30}",
               .validate = iban_ok,
               .boundary = Boundary::kWord,
               .context = {"iban", "konto", "compte", "account", "账户"},
               .confidence = 0.95f,
               .with_context = 0.99f,
               .max_bytes = 46,
               .gate = Gate::kCluster,
               .needs = {.digits = 2,
                         .upper = 2,
                         .alnum = 15,
                         .lengths = count_range(15, 34),
                         .country_code = true},
               .first_bytes = "AZ"});
  v.push_back({.cls = "fin.swift_bic",
               .pattern = "[A-Z]{6}[A-Z0-9]{2}(?:[A-Z0-9]{3})?",
               .validate = swift_bic_ok,
               .boundary = Boundary::kWord,
               .context = {"bic", "swift", "bank identifier", "code banque"},
               .context_required = true,
               .confidence = 0.9f,
               .with_context = 0.9f,
               .max_bytes = 11,
               .gate = Gate::kContext,
               .first_bytes = "AZ"});

  // ---- secrets
  v.push_back({.cls = "secret.aws_access_key",
               .pattern = "(?:AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16}",
               .validate = aws_access_key_ok,
               .boundary = Boundary::kToken,
               .confidence = 0.97f,
               .with_context = 0.99f,
               .max_bytes = 20,
               .gate = Gate::kAnchor,
               .anchors = {"AKIA", "ASIA", "ABIA", "ACCA"},
               .extent = Extent::kToken});
  v.push_back({.cls = "secret.github_token",
               .pattern = "gh[pousr]_[A-Za-z0-9]{36,}",
               .validate = secret_token_ok,
               .boundary = Boundary::kToken,
               .confidence = 0.99f,
               .with_context = 0.99f,
               .max_bytes = 260,
               .gate = Gate::kAnchor,
               .anchors = {"ghp_", "gho_", "ghu_", "ghs_", "ghr_"},
               .extent = Extent::kToken});
  v.push_back({.cls = "secret.github_token",
               .pattern = "github_pat_[A-Za-z0-9_]{82}",
               .validate = secret_token_ok,
               .boundary = Boundary::kToken,
               .confidence = 0.99f,
               .with_context = 0.99f,
               .max_bytes = 93,
               .gate = Gate::kAnchor,
               .anchors = {"github_pat_"},
               .extent = Extent::kToken});
  v.push_back({.cls = "secret.anthropic_key",
               .pattern = "sk-ant-[a-z]{3,6}[0-9]{2}-[A-Za-z0-9_\\-]{80,}",
               .validate = secret_token_ok,
               .boundary = Boundary::kToken,
               .confidence = 0.99f,
               .with_context = 0.99f,
               .max_bytes = 140,
               .gate = Gate::kAnchor,
               .anchors = {"sk-ant-"},
               .extent = Extent::kToken});
  v.push_back(
      {.cls = "secret.openai_key",
       .pattern = "sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_\\-]{20,}",
       .validate =
           [](std::string_view c) {
             return !c.starts_with(kAnthropicPrefix) && secret_token_ok(c);
           },
       .boundary = Boundary::kToken,
       .confidence = 0.95f,
       .with_context = 0.99f,
       .max_bytes = 210,
       .gate = Gate::kAnchor,
       .anchors = {"sk-"},
       .extent = Extent::kToken,
       // What the validator rejects is not scanned (in a stream, once its bytes are there).
       .anchor_ok = [](std::string_view text,
                       size_t at) { return !text.substr(at).starts_with(kAnthropicPrefix); }});
  v.push_back({.cls = "secret.slack_token",
               // Bot, user and app-level tokens (xapp-1-…).
               .pattern = "(?:xox[abposr]|xapp)-[0-9A-Za-z\\-]{10,}",
               .validate = secret_token_ok,
               .boundary = Boundary::kToken,
               .confidence = 0.97f,
               .with_context = 0.99f,
               .max_bytes = 256,
               .gate = Gate::kAnchor,
               .anchors = {"xoxa-", "xoxb-", "xoxp-", "xoxo-", "xoxs-", "xoxr-", "xapp-"},
               .extent = Extent::kToken});
  v.push_back({.cls = "secret.slack_token",
               .pattern = "https://hooks\\.slack\\.com/services/T[A-Z0-9]{8,12}/B[A-Z0-9]{8,12}/"
                          "[A-Za-z0-9]{20,32}",
               .validate = secret_token_ok,
               .boundary = Boundary::kNone,
               .confidence = 0.97f,
               .with_context = 0.99f,
               .max_bytes = 90,
               .gate = Gate::kAnchor,
               .anchors = {"https://hooks.slack.com/services/"},
               .extent = Extent::kToken});
  v.push_back({.cls = "secret.google_api_key",
               .pattern = "AIza[0-9A-Za-z_\\-]{35}",
               .validate = secret_token_ok,
               .boundary = Boundary::kToken,
               .confidence = 0.97f,
               .with_context = 0.99f,
               .max_bytes = 39,
               .gate = Gate::kAnchor,
               .anchors = {"AIza"},
               .extent = Extent::kToken});
  v.push_back(
      {.cls = "secret.private_key",
       .pattern =
           "-----BEGIN (?:RSA |EC |DSA |OPENSSH |ENCRYPTED |PGP )?PRIVATE KEY(?: BLOCK)?-----",
       .boundary = Boundary::kNone,
       .span = SpanRule::kPemBlock,
       .confidence = 0.99f,
       .with_context = 0.99f,
       .placement = pem_body_not_placeholder,
       .max_bytes = 64,
       .gate = Gate::kAnchor,
       .anchors = {"-----BEGIN "},
       .extent = Extent::kLine});
  v.push_back({.cls = "secret.jwt",
               .pattern = "eyJ[A-Za-z0-9_\\-]{8,}\\.eyJ[A-Za-z0-9_\\-]{8,}\\.[A-Za-z0-9_\\-]{16,}",
               .validate = jwt_ok,
               .boundary = Boundary::kToken,
               .confidence = 0.95f,
               .with_context = 0.99f,
               .max_bytes = 4096,
               .gate = Gate::kAnchor,
               .anchors = {"eyJ"},
               .extent = Extent::kToken});
  v.push_back({.cls = "secret.password_assignment",
               .pattern = "(?:password|passwd|pwd|passwort|kennwort|mot de passe|mdp|db_pass|pass)"
                          "[\"']?[ \\t]*(?:[:=]|=>)[ \\t]*[\"'`]?[^\\s\"'`,;]+",
               .flags = HS_FLAG_CASELESS,
               .validate = password_value_ok,
               .boundary = Boundary::kWord,
               .span = SpanRule::kAssignmentValue,
               .confidence = 0.9f,
               .with_context = 0.95f,
               .max_bytes = 256,
               .gate = Gate::kAnchor,
               .anchors = {"password", "passwd", "pwd", "passwort", "kennwort", "mot de passe",
                           "mdp", "db_pass", "pass"},
               .extent = Extent::kLine});
  v.push_back({.cls = "secret.password_assignment",
               .pattern = "(?:密码|口令)[ \\t]*(?:[:=]|：)[ \\t]*[^\\s\"'`,;，。]+",
               .validate = password_value_ok,
               .boundary = Boundary::kNone,
               .span = SpanRule::kAssignmentValue,
               .confidence = 0.9f,
               .with_context = 0.95f,
               .max_bytes = 256,
               .gate = Gate::kAnchor,
               .anchors = {"密码", "口令"},
               .extent = Extent::kLine});
  v.push_back(
      {.cls = "secret.generic",
       .pattern = "(?:api[_\\-]?key|apikey|secret|token|access[_\\-]?key|client[_\\-]?secret|"
                  "auth[_\\-]?key|private[_\\-]?key|signing[_\\-]?key)[A-Za-z_\\-]*[\"']?\\]?"
                  "[ \\t]*(?:[:=]|=>)[ \\t]*[\"'`]?[A-Za-z0-9_\\-+/=.]+",
       .flags = HS_FLAG_CASELESS,
       .validate = generic_secret_value_ok,
       .boundary = Boundary::kNone,
       .span = SpanRule::kAssignmentValue,
       .confidence = 0.8f,
       .with_context = 0.9f,
       .max_bytes = 320,
       .gate = Gate::kAnchor,
       // Every alternative's start: a match begins at its anchor.
       .anchors = {"api_key",      "api-key",    "apikey",      "secret",        "token",
                   "access_key",   "access-key", "accesskey",   "client_secret", "client-secret",
                   "clientsecret", "auth_key",   "auth-key",    "authkey",       "private_key",
                   "private-key",  "privatekey", "signing_key", "signing-key",   "signingkey"},
       .extent = Extent::kLine});

  // ---- classification markings (case-sensitive: markings are written in capitals)
  v.push_back(
      {.cls = "marker.classification",
       .pattern = "(?:TOP SECRET|COSMIC TOP SECRET|NATO (?:SECRET|CONFIDENTIAL|RESTRICTED)|"
                  "STRENG GEHEIM|STRENG VERTRAULICH|STRICTLY CONFIDENTIAL|COMPANY CONFIDENTIAL|"
                  "GEHEIM|VERTRAULICH|CONFIDENTIAL|CONFIDENTIEL(?: DÉFENSE)?|SECRET(?: DÉFENSE)?|"
                  "TRÈS SECRET|VS-NfD|VS(?:-| ?[\\-\\x{2013}\\x{2014}] ?)"
                  "(?:NUR FÜR DEN DIENSTGEBRAUCH|VERTRAULICH|GEHEIM)|DIFFUSION RESTREINTE|"
                  "RESTRICTED)"
                  // Control markings: TOP SECRET//SCI, SECRET//REL TO USA, FVEY.
                  "(?://[A-Z]+(?:,? [A-Z]+)*)*",
       .boundary = Boundary::kWord,
       .confidence = 0.9f,
       .with_context = 0.95f,
       .placement = marking_placement,
       .placement_reach = Reach::kFrame,
       .max_bytes = 80,
       .gate = Gate::kAnchor,
       .anchors = {"TOP SECRET", "COSMIC TOP SECRET", "NATO ", "STRENG ", "STRICTLY CONFIDENTIAL",
                   "COMPANY CONFIDENTIAL", "GEHEIM", "VERTRAULICH", "CONFIDENTI", "SECRET",
                   "TRÈS SECRET", "VS-", "VS \xe2\x80\x93", "VS \xe2\x80\x94", "VS -",
                   "VS\xe2\x80\x93", "VS\xe2\x80\x94", "DIFFUSION RESTREINTE", "RESTRICTED"},
       .extent = Extent::kLine});
  v.push_back({.cls = "marker.classification",
               .pattern = "(?:绝密|机密|秘密)",
               .boundary = Boundary::kNone,
               .confidence = 0.9f,
               .with_context = 0.95f,
               .placement = cjk_marking,
               .placement_reach = Reach::kFrame,
               .max_bytes = 6,
               .gate = Gate::kAnchor,
               .anchors = {"绝密", "机密", "秘密"},
               .extent = Extent::kLine});
  // The number validators that take normalised letters and digits too (the cluster pass
  // normalises a cluster once for all its runs).
  const std::pair<Validator, AlnumValidator> with_alnum[] = {
      {credit_card_ok, credit_card_ok},
      {iban_ok, iban_ok},
      {us_ssn_ok, us_ssn_ok},
      {us_itin_ok, us_itin_ok},
      {de_tax_id_ok, de_tax_id_ok},
      {de_id_card_ok, de_id_card_ok},
      {fr_nir_ok, fr_nir_ok},
      {cn_resident_id_ok, cn_resident_id_ok},
      {cn_social_credit_code_ok, cn_social_credit_code_ok},
      {cn_social_credit_code_letters_ok, cn_social_credit_code_letters_ok},
      {uk_nino_ok, uk_nino_ok},
      {phone_plan_ok, phone_plan_ok},
      {phone_grouped_ok, phone_grouped_ok}};
  for (DetectorSpec& spec : v) {
    for (const auto& [one, two] : with_alnum) {
      if (spec.validate == one) spec.validate_alnum = two;
    }
  }
  // A number pattern that accepts full-width digits costs Hyperscan about four times as much per
  // region as its ASCII twin: clusters without a full-width digit get the twin.
  const size_t n = v.size();
  for (size_t i = 0; i < n; ++i) {
    if (v[i].gate != Gate::kCluster ||
        (v[i].pattern.find(d) == std::string::npos && v[i].pattern.find(DC) == std::string::npos))
      continue;
    DetectorSpec twin = v[i];
    for (const std::string_view wide : {std::string_view(d), std::string_view(DC)}) {
      for (size_t at = twin.pattern.find(wide); at != std::string::npos;
           at = twin.pattern.find(wide, at))
        twin.pattern.replace(at, wide.size(), "[0-9]");
    }
    v[i].needs.wide = 1;
    v.push_back(std::move(twin));
  }
  return v;
}

size_t marking_frame_at(std::string_view t, size_t i) {
  return frame_at(t, i);
}

size_t number_sep_at(std::string_view t, size_t i) {
  // The separator starting at i: found as the one ending after it.
  for (size_t w = 1; w <= 3; ++w) {
    if (i + w <= t.size() && number_sep_before(t, i + w) == w) return w;
  }
  return 0;
}

}  // namespace warden::inspect
