// Built-in detector definitions (internal to inspect/).
#pragma once

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

using Validator = bool (*)(std::string_view candidate);
// Extra check on the candidate in its text (e.g. "is this a marking, not prose?").
using PlacementCheck = bool (*)(std::string_view text, size_t start, size_t end);

struct DetectorSpec {
  std::string cls{};
  std::string pattern{};  // Hyperscan syntax
  unsigned flags = 0;     // extra HS_FLAG_* (HS_FLAG_CASELESS …)
  Validator validate = nullptr;
  Boundary boundary = Boundary::kNumber;
  SpanRule span = SpanRule::kWhole;
  std::vector<std::string_view> context{};  // lower-case words, any language
  bool context_required = false;
  float confidence = 0.9f;     // without context
  float with_context = 0.99f;  // with a context word nearby
  PlacementCheck placement = nullptr;
  size_t max_bytes = 64;  // longest match the pattern can produce (hold-back bound)
  std::vector<std::string_view> not_after{};  // words that, just before, make it something else
};

std::vector<DetectorSpec> builtin_detectors();

}  // namespace warden::inspect
