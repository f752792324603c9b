#include "inspect/detectors.h"

#include <hs/hs.h>

#include <utility>

#include "inspect/validators.h"

namespace warden::inspect {

namespace {

// An Anthropic key starts like an OpenAI one: it is the Anthropic detector's, never OpenAI's.
constexpr std::string_view kAnthropicPrefix = "sk-ant-";

// Digits, ASCII or full-width; separators inside numbers: space, NBSP, narrow NBSP, dash.
constexpr const char* D =
    "(?:[0-9]|\\x{FF10}|\\x{FF11}|\\x{FF12}|\\x{FF13}|\\x{FF14}|\\x{FF15}|"
    "\\x{FF16}|\\x{FF17}|\\x{FF18}|\\x{FF19})";
constexpr const char* SEP = "(?:[ \\-]|\\x{00A0}|\\x{202F})";

std::string digits(int n) {
  return std::string(D) + "{" + std::to_string(n) + "}";
}
std::string sep() {
  return std::string(SEP) + "?";
}

bool at_line_start_or_marked(std::string_view text, size_t start, size_t end) {
  // A marking stands at the start of a line, after "classification:"-like labels or a bracket,
  // or before "//", a bracket or the end of the line; not as a word in the middle of prose.
  size_t i = start;
  while (i > 0 && (text[i - 1] == ' ' || text[i - 1] == '\t')) --i;
  const bool line_start = i == 0 || text[i - 1] == '\n' || text[i - 1] == '\r';
  const bool after_mark = i > 0 && (text[i - 1] == '[' || text[i - 1] == '(' ||
                                    text[i - 1] == ':' || text[i - 1] == '/' || text[i - 1] == '*');
  size_t j = end;
  while (j < text.size() && (text[j] == ' ' || text[j] == '\t')) ++j;
  const bool line_end = j >= text.size() || text[j] == '\n' || text[j] == '\r';
  const bool before_mark =
      j < text.size() && (text[j] == '/' || text[j] == ']' || text[j] == ')' || text[j] == '*' ||
                          text.substr(j).rfind("\xe2\x98\x85", 0) == 0);  // ★
  return (line_start && (line_end || before_mark || text[end] == ' ' || text[end] == '-')) ||
         after_mark || before_mark || (line_start && line_end);
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
  const bool line_start = i == 0 || text[i - 1] == '\n';
  const bool line_end = j >= text.size() || text[j] == '\n';
  return line_start && line_end;
}

// Dotted section numbers ("[27.4.2.5]", "// 23.3.4.2 modifiers", "§ 3.1.2.0") look like IPv4.
bool not_section_number(std::string_view text, size_t start, size_t end) {
  size_t i = start;
  while (i > 0 && text[i - 1] == ' ') --i;
  if (i > 0 && text[i - 1] == '[') return false;
  if (i >= 2 && text.substr(i - 2, 2) == "//") return false;
  if (i >= 2 && text.substr(i - 2, 2) == "\xc2\xa7") return false;  // §
  return end >= text.size() || text[end] != ']';
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
  v.push_back({.cls = "pii.phone",  // national forms: US, DE, FR, CN
               .pattern = "(?:\\(" + d + "{3}\\) ?" + d + "{3}[ \\-.]" + d + "{4}|" + d +
                          "{3}[\\-.]" + d + "{3}[\\-.]" + d + "{4}|0" + d + "{2,4}[ /\\-]" + d +
                          "{3,8}|0[1-9](?:[ .]" + d + "{2}){4}|1[3-9]" + d + "{9})",
               .validate = phone_ok,
               .boundary = Boundary::kNumber,
               .context = {"tel", "phone", "call", "mobile", "cell", "telefon", "handy",
                           "rufnummer", "erreichbar", "téléphone", "portable", "appeler", "电话",
                           "手机", "联系", "号码"},
               .context_required = true,
               .confidence = 0.9f,
               .with_context = 0.9f,
               .max_bytes = 48,
               .gate = Gate::kCluster,
               .needs = {.chain = 6, .sums = count_range(6, 13)},
               .first_bytes = "((09\xef\xef"});
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
               .first_bytes = "09AFaf::"});

  // ---- national identifiers
  v.push_back({.cls = "id.us_ssn",
               .pattern = digits(3) + "[\\- ]" + digits(2) + "[\\- ]" + digits(4),
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
               .pattern = "9" + digits(2) + "[\\- ]" + digits(2) + "[\\- ]" + digits(4),
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
               .pattern = "[1-9]" + digits(1) + "(?: ?" + digits(3) + "){3}",
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
  v.push_back(
      {.cls = "id.fr_nir",
       .pattern = "[1-478] ?[0-9]{2} ?[0-9]{2} ?(?:[0-9]{2}|2[ABab]) ?[0-9]{3} ?[0-9]{3} ?[0-9]{2}",
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
                          d + "{16}(?:" + d + "|[Xx]|\\x{FF38})",
               .validate = cn_resident_id_ok,
               .context = {"身份证", "公民身份号码", "resident id", "id card", "身份证号"},
               .confidence = 0.95f,
               .with_context = 0.99f,
               .max_bytes = 54,
               .gate = Gate::kCluster,
               .needs = {.chain = 17, .sums = count_range(17, 18), .words = count_range(1, 1)},
               .first_bytes = "18\xef\xef"});
  v.push_back({.cls = "id.cn_social_credit_code",
               .pattern = "[0-9A-HJ-NPQRTUWXY]{2}[0-9]{6}[0-9A-HJ-NPQRTUWXY]{10}",
               .validate = cn_social_credit_code_letters_ok,
               .boundary = Boundary::kWord,
               .context = {"统一社会信用代码", "信用代码", "social credit", "uscc"},
               .confidence = 0.9f,
               .with_context = 0.99f,
               .max_bytes = 18,
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
               .context = {"统一社会信用代码", "信用代码", "social credit", "uscc"},
               .context_required = true,
               .confidence = 0.95f,
               .with_context = 0.95f,
               .max_bytes = 18,
               .gate = Gate::kCluster,
               .needs = {.chain = 18, .lengths = count_range(18, 18), .words = count_range(1, 1)},
               .first_bytes = "09"});
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
       .pattern = d + "{4}(?:" + sep() + d + "{2,4}){2,4}" + d + "{0,3}",
       .validate = credit_card_ok,
       .context = {"card", "visa", "mastercard", "amex", "karte", "kreditkarte", "carte", "信用卡",
                   "卡号"},
       .confidence = 0.9f,
       .with_context = 0.99f,
       .max_bytes = 100,
       .gate = Gate::kCluster,
       .needs = {.chain = 12, .sums = count_range(12, 19), .words = count_range(1, 5)},
       .first_bytes = "26\xef\xef"});  // every issuer range (credit_card_ok) starts with 2 to 6
  v.push_back({.cls = "fin.iban",
               .pattern = "[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]){11,30}",
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
               .pattern = "xox[abposr]-[0-9A-Za-z\\-]{10,}",
               .validate = secret_token_ok,
               .boundary = Boundary::kToken,
               .confidence = 0.97f,
               .with_context = 0.99f,
               .max_bytes = 256,
               .gate = Gate::kAnchor,
               .anchors = {"xoxa-", "xoxb-", "xoxp-", "xoxo-", "xoxs-", "xoxr-"},
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
                  "auth[_\\-]?key|private[_\\-]?key|signing[_\\-]?key)[A-Za-z_\\-]*[\"']?"
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
       .pattern = "(?:TOP SECRET|STRENG GEHEIM|GEHEIM|CONFIDENTIAL|STRICTLY CONFIDENTIAL|"
                  "SECRET(?://NOFORN)?|VS-NfD|VS-NUR FÜR DEN DIENSTGEBRAUCH|"
                  "VS-VERTRAULICH|DIFFUSION RESTREINTE|CONFIDENTIEL DÉFENSE|"
                  "SECRET DÉFENSE|TRÈS SECRET|RESTRICTED)",
       .boundary = Boundary::kWord,
       .confidence = 0.9f,
       .with_context = 0.95f,
       .placement = at_line_start_or_marked,
       .max_bytes = 40,
       .gate = Gate::kAnchor,
       .anchors = {"TOP SECRET", "STRENG GEHEIM", "GEHEIM", "CONFIDENTIAL", "STRICTLY CONFIDENTIAL",
                   "SECRET", "VS-NfD", "VS-NUR FÜR DEN DIENSTGEBRAUCH", "VS-VERTRAULICH",
                   "DIFFUSION RESTREINTE", "CONFIDENTIEL DÉFENSE", "SECRET DÉFENSE", "TRÈS SECRET",
                   "RESTRICTED"},
       .extent = Extent::kLine});
  v.push_back({.cls = "marker.classification",
               .pattern = "(?:绝密|机密|秘密)",
               .boundary = Boundary::kNone,
               .confidence = 0.9f,
               .with_context = 0.95f,
               .placement = cjk_marking,
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
      {uk_nino_ok, uk_nino_ok}};
  for (DetectorSpec& spec : v) {
    for (const auto& [one, two] : with_alnum) {
      if (spec.validate == one) spec.validate_alnum = two;
    }
  }
  // A number pattern that accepts full-width digits costs Hyperscan about four times as much per
  // region as its ASCII twin: clusters without a full-width digit get the twin.
  const size_t n = v.size();
  for (size_t i = 0; i < n; ++i) {
    if (v[i].gate != Gate::kCluster || v[i].pattern.find(d) == std::string::npos) continue;
    DetectorSpec twin = v[i];
    for (size_t at = twin.pattern.find(d); at != std::string::npos; at = twin.pattern.find(d, at))
      twin.pattern.replace(at, d.size(), "[0-9]");
    v[i].needs.wide = 1;
    v.push_back(std::move(twin));
  }
  return v;
}

}  // namespace warden::inspect
