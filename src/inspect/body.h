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

#include "inspect/inspect.h"

namespace warden::inspect {

enum class Action : uint8_t { kAllow, kMask, kPseudonymise, kBlock };

std::string_view action_name(Action a);

// Class prefix → action; the longest matching prefix decides; no match: allow.
class ActionTable {
 public:
  void set(std::string prefix, Action action);
  Action action_for(std::string_view cls) const;
  bool empty() const { return rules_.empty(); }
  const std::vector<std::pair<std::string, Action>>& rules() const { return rules_; }

 private:
  std::vector<std::pair<std::string, Action>> rules_;
};

struct BodyString {
  uint32_t raw_begin = 0;  // the JSON string token, quotes included, in the body
  uint32_t raw_end = 0;
  std::string text;  // decoded
  std::vector<Finding> findings;
};

struct BodyScan {
  std::vector<BodyString> strings;                      // only strings with findings
  std::map<std::string, uint32_t, std::less<>> counts;  // class → number of findings
  size_t scanned_strings = 0;
  size_t scanned_bytes = 0;
};

enum class BodyScanStatus { kOk, kTooDeep, kScanFailed };

// One string value of a JSON document, with where it sits.
struct StringToken {
  std::string_view raw;  // the JSON string token, quotes included
  size_t offset;         // of `raw` in the document
  // Path: object keys, or "" with is_index for array elements (then index is the position).
  struct Segment {
    std::string_view key;
    bool is_index;
    size_t index;
    bool is(std::string_view k) const { return !is_index && key == k; }
  };
  const std::vector<Segment>* path;
};

// Calls `visit` for every string value (not keys) of the already-validated JSON `doc`, in
// document order; `visit` returns false to fail the walk (kScanFailed). kTooDeep beyond
// `max_depth` nested containers.
using StringVisitor = std::function<bool(const StringToken&)>;
BodyScanStatus for_each_string(std::string_view doc, size_t max_depth, const StringVisitor& visit);

// Decodes the contents of a JSON string token (without its quotes).
void decode_json_string(std::string_view raw, std::string& out);

// `body` must already be valid JSON (the api stage checked it).
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

// Builds splices that apply `actions` (mask / pseudonymise) to the scanned strings.
std::vector<Splice> plan_transform(const BodyScan& scan, const ActionTable& actions,
                                   Pseudonyms& pseudonyms);

// The general form: with `pseudonyms` null every finding not allowed is masked (answers), and
// `blocked` (if given) is set when a finding's action is block.
std::vector<Splice> plan_splices(const BodyScan& scan, const ActionTable& actions,
                                 Pseudonyms* pseudonyms, bool* blocked);

// Applies sorted, non-overlapping splices to `body`.
// `extra` (e.g. the model's new id) is merged in. Splices are normally in document order already
// (they come from walks over the document); others are sorted first.
std::string apply_splices(std::string_view body, std::span<const Splice> splices,
                          const Splice* extra = nullptr);

}  // namespace warden::inspect
