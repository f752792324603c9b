// Request bodies: every string value that would cross is scanned — message texts and content
// parts, tool-call arguments, tool results, names, `user`, `metadata`, tool definitions, prompts,
// embedding inputs and fields Warden does not know — with JSON escapes decoded. Only an explicit
// list of structural fields (model, role, type tags, enum-like options) is skipped.
// Replacements are made on the decoded text and the whole string is re-encoded, so the body
// stays valid JSON whatever escapes the client used.
#pragma once

#include <functional>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/json_scan.h"
#include "inspect/inspect.h"

namespace warden::inspect {

enum class Action : uint8_t { kAllow, kMask, kPseudonymise, kBlock };

std::string_view action_name(Action a);

// How strict an action is: block > mask > pseudonymise > allow.
int strictness(Action a);

// Class prefix → action. Rules come from sources (0: the configured `inspect.actions`, 1: the
// policy's transform or output rules for one deployment): within a source the longest matching
// prefix decides; across sources the strictest action wins, so no configured entry can undo a
// transform the decision assumed (and no transform can weaken a configured block).
class ActionTable {
 public:
  static constexpr uint8_t kConfigured = 0;
  static constexpr uint8_t kPolicy = 1;
  void set(std::string prefix, Action action, uint8_t source = kConfigured);
  Action action_for(std::string_view cls) const;
  bool empty() const { return rules_.empty(); }
  struct Rule {
    std::string prefix;
    Action action;
    uint8_t source;
  };
  const std::vector<Rule>& rules() const { return rules_; }

 private:
  std::vector<Rule> rules_;
};

// Where a scanned text sits in the JSON document. A finding in a key can be pseudonymised (a
// distinct token per value) but not masked; one in a number literal or in decoded token ids can
// be neither (contract §1): the plan denies a deployment that would need it.
// kNested: JSON nested two or more levels inside a string, decoded whole to be read; a finding
// there cannot be replaced in place.
enum class Place : uint8_t { kValue = 0, kKey = 1, kNumber = 2, kTokens = 3, kNested = 4 };
constexpr uint8_t place_bit(Place p) {
  return static_cast<uint8_t>(1u << static_cast<uint8_t>(p));
}

struct BodyString {
  uint32_t raw_begin = 0;  // the JSON token (a string with its quotes, or a number) in the body
  uint32_t raw_end = 0;
  std::string text;  // decoded (nested JSON: its own \u escapes decoded too)
  std::vector<Finding> findings;
  Place place = Place::kValue;
  // A value split across two message texts: its share in this string. `carries`: this share
  // gets the replacement (one pseudonym for the whole `value`); the other share becomes empty.
  struct Part {
    uint32_t finding;  // index into `findings`
    bool carries;
    std::string value;
  };
  std::vector<Part> parts;
  // When `text` decoded nested escapes ("\/", "\u0041" written inside the string): the string as
  // the client wrote it, decoded once, and for each byte offset of `text` (and its end) the
  // offset in `written`. A replacement keeps the rest of the string as written.
  std::string written;
  std::vector<uint32_t> written_at;
};

struct BodyScan {
  std::vector<BodyString> strings;                      // only strings with findings
  std::map<std::string, uint32_t, std::less<>> counts;  // class → number of findings
  // class → place_bit()s of the places other than plain string values where it was found.
  std::map<std::string, uint8_t, std::less<>> places;
  size_t scanned_strings = 0;
  size_t scanned_bytes = 0;
};

enum class BodyScanStatus { kOk, kTooDeep, kScanFailed };

// One token of a JSON document, with where it sits.
struct JsonToken {
  enum Kind : uint8_t { kKey, kString, kNumber };
  Kind kind;
  std::string_view raw;  // the JSON string token, quotes included, or the number's literal
  size_t offset;         // of `raw` in the document
  // Path: object keys (decoded), or "" with is_index for array elements (then index is the
  // position). For a key, the path of the object that holds it.
  struct Segment {
    std::string_view key;
    bool is_index;
    size_t index;
    bool is(std::string_view k) const { return !is_index && key == k; }
  };
  std::span<const Segment> path;
};
using StringToken = JsonToken;

// Calls `visit` for every key, string value and number of the already-validated JSON `doc`, in
// document order (true, false and null are not visited); `visit` returns false to fail the walk
// (kScanFailed). kTooDeep beyond `max_depth` nested containers.
// `what`: which kinds are visited (a bit per JsonToken::Kind; the others are only walked over).
using TokenVisitor = std::function<bool(const JsonToken&)>;
constexpr uint8_t kVisitAll = 0x7;
constexpr uint8_t visit_bit(JsonToken::Kind k) {
  return static_cast<uint8_t>(1u << k);
}
BodyScanStatus walk_json(std::string_view doc, size_t max_depth, const TokenVisitor& visit,
                         uint8_t what = kVisitAll);

// walk_json() restricted to string values (not keys, not numbers).
using StringVisitor = std::function<bool(const StringToken&)>;
BodyScanStatus for_each_string(std::string_view doc, size_t max_depth, const StringVisitor& visit);

// decode_json_string: common/json_scan.h.

// Text that is itself JSON (tool arguments, tool results, schemas) may carry escapes of its own
// ("jane\u0040example.com"): they are decoded where the character needs no escape in JSON, so
// the text scanned is the text a JSON parser would read, and stays valid JSON when re-encoded.
// Returns false (and leaves `out` alone) when `text` holds no such escape. `at` (if given, and
// only when true is returned) gets for each byte offset of `out`, and its end, the offset in
// `text` it was decoded from.
bool decode_nested_escapes(std::string_view text, std::string& out,
                           std::vector<uint32_t>* at = nullptr);

// Reads text where `decode_tokens` can: token ids (e.g. `"prompt": [1212, 318]`) → text.
// Returns false when the ids are not of a known tokenizer.
using TokenDecoder = std::function<bool(std::span<const uint32_t> ids, std::string& text)>;

// The classes of content Warden cannot read as text (for configuration checks).
const std::vector<std::string>& uninspectable_classes();

struct BodyScanOptions {
  enum Mode : uint8_t { kRequest, kAnswer } mode = kRequest;
  size_t max_depth = 64;
  const TokenDecoder* decode_tokens = nullptr;  // requests: the model's tokenizer, if known
  // Number literals and object keys are scanned when they could hold a value a detector finds
  // (custom detectors: always).
  bool scan_all_keys = false;
};

// Scans every string value, object key and number literal of a request body (`body` must
// already be valid JSON: the api stage checked it), except fields on the allow list whose value
// passes its check (enumerations, ids of their format, numeric settings in range). Text Warden
// cannot read is counted as a class of its own: `uninspectable.tokens` (token ids of an unknown
// tokenizer), `uninspectable.image`, `uninspectable.audio`, `uninspectable.file`. At each
// boundary between consecutive message texts, a window either side is scanned as one text for
// values split across the two. Answers (kAnswer): string values only, no allow list.
BodyScanStatus scan_body(const Engine& engine, Scratch& scratch, std::string_view body,
                         BodyScan& out, const BodyScanOptions& options);
BodyScanStatus scan_body(const Engine& engine, Scratch& scratch, std::string_view body,
                         BodyScan& out, size_t max_depth = 64);

// Pseudonyms of one request: the same value gets the same token (⟨EMAIL_1⟩); kept only in the
// request's memory, used to restore the answer.
class Pseudonyms {
 public:
  const std::string& token_for(std::string_view cls, std::string_view value);
  // Replaces every known token in `text` by its original value (`json_escape`: escape the value
  // for the inside of a JSON string).
  std::string restore(std::string_view text, bool json_escape) const;
  bool empty() const { return by_token_.empty(); }
  size_t longest_token() const { return longest_; }
  const std::string* value_of(std::string_view token) const;

 private:
  std::map<std::string, std::string, std::less<>> by_value_;  // cls + '\0' + value → token
  std::map<std::string, std::string, std::less<>> by_token_;  // token → value
  std::map<std::string, int, std::less<>> counters_;
  size_t longest_ = 0;
};

struct Splice {
  uint32_t begin;
  uint32_t end;
  std::string replacement;
};

// The replacement of `f` in `text` under `action` ("[EMAIL]" or a pseudonym).
std::string replacement_for(const Finding& f, std::string_view text, Action action,
                            Pseudonyms& pseudonyms);

// Builds splices that apply `actions` (mask / pseudonymise) to the scanned strings. Sets
// `unmaskable` (if given) when a finding that is not allowed sits where it cannot be replaced
// (a number, decoded token ids, a key under mask): the plan denies such deployments first, so
// this is the last line of defence.
std::vector<Splice> plan_transform(const BodyScan& scan, const ActionTable& actions,
                                   Pseudonyms& pseudonyms, bool* unmaskable = nullptr);

// The general form: with `pseudonyms` null every finding not allowed is masked (answers), and
// `blocked` (if given) is set when a finding's action is block.
std::vector<Splice> plan_splices(const BodyScan& scan, const ActionTable& actions,
                                 Pseudonyms* pseudonyms, bool* blocked, bool* unmaskable = nullptr);

// Applies sorted, non-overlapping splices to `body`.
// `extra` (e.g. the model's new id) is merged in. Splices are normally in document order already
// (they come from walks over the document); others are sorted first.
std::string apply_splices(std::string_view body, std::span<const Splice> splices,
                          const Splice* extra = nullptr);

}  // namespace warden::inspect
