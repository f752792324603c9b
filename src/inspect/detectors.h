// Built-in detector definitions (internal to inspect/).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace warden::inspect {

enum class Boundary : uint8_t {
  kNumber,  // no letter or digit (ASCII or full-width) next to it; not inside a decimal number
  kToken,   // no letter, digit, '_' or '-' next to it
  kWord,    // no ASCII letter or digit next to it (CJK text around is fine)
  kNone,
};

enum class SpanRule : uint8_t {
  kWhole,            // the finding is the match
  kAssignmentValue,  // the finding is the value after ':' or '='
  kPemBlock,         // from BEGIN to the matching END line (or the end of the text)
  kEmailLocalPart,   // the match is "@domain"; the local part before it is found backwards
};

// How a detector's candidates are found cheaply before its own pattern runs (see engine.cpp).
enum class Gate : uint8_t {
  kAnchor,   // every match starts with one of `anchors` (literals)
  kContext,  // a context word is required: only the bytes after one are scanned
  kCluster,  // a number-like cluster (digits, separators, short upper-case groups) with at
             // least `needs` is scanned; every finding lies inside one cluster
  kFull,     // the whole pattern runs over the whole text (custom detectors)
};

// Where an anchored detector's match must end: a region in a stream is closed at the first such
// byte after its anchor instead of being rescanned up to max_bytes.
enum class Extent : uint8_t {
  kAny,
  kLine,   // before the next line feed
  kToken,  // before the next space, tab, CR or LF
};

// Lower bounds every finding of a kCluster detector meets (counted over its whole cluster).
struct ClusterNeeds {
  uint8_t digits = 0;  // ASCII or full-width digits
  uint8_t upper = 0;   // ASCII upper-case letters
  uint8_t alnum = 0;   // letters and digits
  uint8_t dots = 0;
  uint8_t colons = 0;
  uint8_t chain = 0;       // digits in consecutive numeric words (one letter may end a word)
  uint8_t upper_word = 0;  // ASCII upper-case letters and digits in one run
  uint8_t wide = 0;        // full-width digits
  // Bit k: a finding can have exactly k digits (0: any). A finding bounded as a number is a run
  // of whole numeric words (or one word), so some run of them must add up to one of these.
  uint64_t sums = 0;
  // Bit k: a finding is a whole ASCII run of k upper-case letters and digits (0: any).
  uint64_t upper_runs = 0;
  // Bit k: a finding bounded as a word (Boundary::kWord) has exactly k ASCII letters and digits
  // (0: not told): some run of whole words must have that many (clusters.cpp, exact_runs).
  uint64_t lengths = 0;
  // Bit k: a finding is a run of exactly k whole words of its cluster (0: not told; exact_runs).
  uint64_t words = 0;
  bool country_code = false;  // an ASCII word starts with two upper-case letters and a digit
};

// Bits `lo` to `hi` (ClusterNeeds::sums, lengths).
constexpr uint64_t count_range(unsigned lo, unsigned hi) {
  uint64_t v = 0;
  for (unsigned k = lo; k <= hi && k < 64; ++k) v |= uint64_t{1} << k;
  return v;
}

using Validator = bool (*)(std::string_view candidate);
// The same check given the candidate's letters and digits already normalised (normalize_alnum).
using AlnumValidator = bool (*)(std::string_view candidate, std::string_view alnum);
// Extra check on the candidate in its text (e.g. "is this a marking, not prose?").
using PlacementCheck = bool (*)(std::string_view text, size_t start, size_t end);
// Whether an anchor at text[at] can begin a finding. The bytes before `at` are known; in a
// stream, those from `at` on may not all have arrived yet (keep the anchor then).
using AnchorCheck = bool (*)(std::string_view text, size_t at);

enum class Reach : uint8_t { kTwoCodePoints, kFrame, kNumberGroup };

struct DetectorSpec {
  std::string cls{};
  std::string pattern{};  // Hyperscan syntax
  unsigned flags = 0;     // extra HS_FLAG_* (HS_FLAG_CASELESS …)
  Validator validate = nullptr;
  Boundary boundary = Boundary::kNumber;
  SpanRule span = SpanRule::kWhole;
  std::vector<std::string_view> context{};  // lower-case words, any language
  bool context_required = false;
  // A finding this accepts needs a context word too (a bare digit run among phone numbers).
  Validator context_if = nullptr;
  float confidence = 0.9f;     // without context
  float with_context = 0.99f;  // with a context word nearby
  PlacementCheck placement = nullptr;
  // How far past the match `placement` reads, so that a stream decides the match only once
  // those bytes have arrived (stream.cpp settled()): two code points, a marking's frame up to the
  // first byte that is not part of it (marking_frame_at()), or up to two number separators and
  // the code point after them (number_sep_at(): a phone number's next group).
  Reach placement_reach = Reach::kTwoCodePoints;
  size_t max_bytes = 64;  // longest match the pattern can produce (hold-back bound)
  std::vector<std::string_view> not_after{};  // words that, just before, make it something else
  Gate gate = Gate::kFull;
  std::vector<std::string> anchors{};  // kAnchor: literals (case-insensitive if `flags` says so)
  Extent extent = Extent::kAny;        // kAnchor
  AnchorCheck anchor_ok = nullptr;     // kAnchor
  ClusterNeeds needs{};                // kCluster
  AlnumValidator validate_alnum = nullptr;  // kCluster: `validate`, on normalised letters
  // A finding that `subclass_if` accepts is of class `subclass` (a private network's address):
  // one pattern and one scan serve both classes.
  std::string subclass{};
  Validator subclass_if = nullptr;
  // Byte ranges a match can start with, as pairs ("09AZ": digits, upper-case letters); empty:
  // any. Spares trying a whole match from every byte of a region.
  std::string_view first_bytes{};
  // A custom word: the word itself (its pattern is the word escaped). A stream holds back a text
  // that ends with the beginning of one (stream.cpp).
  std::string word{};
};

std::vector<DetectorSpec> builtin_detectors();

// The bytes of the frame character at `i` (space, dash, star, bracket …; 0: none or cut short).
size_t marking_frame_at(std::string_view t, size_t i);
// The bytes of the number separator starting at `i` (0: none or cut short).
size_t number_sep_at(std::string_view t, size_t i);

}  // namespace warden::inspect
