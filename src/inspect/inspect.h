// Inspection: finds sensitive data (PII, national identifiers, financial identifiers, secrets,
// classification markings, custom terms) in text, in request bodies and in streamed answers.
//
// All detectors compile into immutable Hyperscan databases (UTF-8). Candidates are found cheaply
// first — literal anchors and context words in one database (block and streaming mode), number
// clusters by a hand-written pass — and only those regions are scanned by each detector's own
// database (engine_impl.h). A candidate becomes a finding only when its validator accepts it
// (checksums, ranges, dates, entropy) and its boundaries hold (a number inside a longer run of
// digits or letters is not a match). Untrusted input: request text and upstream answers.
//
//   Engine    compiled detectors, immutable, shared by all workers (one per config snapshot)
//   Scratch   per worker: Hyperscan scratch space, reused by every scan on that worker
//   scan()    block mode: one text → findings
//   Stream    streaming mode with a bounded hold-back window (see stream.cpp)
#pragma once

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

struct hs_database;
struct hs_scratch;

namespace warden::inspect {

struct Finding {
  std::string_view cls;  // dotted class name, e.g. "pii.email" (owned by the Engine)
  uint32_t start = 0;    // byte offsets into the scanned UTF-8 text, [start, end)
  uint32_t end = 0;
  float confidence = 0;  // 0..1
  bool operator==(const Finding& o) const {
    return cls == o.cls && start == o.start && end == o.end;
  }
};

// A custom detector from the configuration: a regex or a word list, case-insensitive, Unicode.
struct CustomDetector {
  std::string name;  // class "custom.<name>"
  std::vector<std::string> regexes;
  std::vector<std::string> words;
};

struct DetectorSpec;  // built-in detector definition (detectors.cpp)

class Engine {
 public:
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Compiles the built-in set plus `custom`. Throws std::runtime_error naming the bad pattern.
  // `gated` false runs every pattern over every byte: the reference the gated engine is tested
  // against (same findings), and the baseline of bench/inspect_bench.
  static std::shared_ptr<const Engine> compile(const std::vector<CustomDetector>& custom = {},
                                               bool gated = true);

  // Every class this engine can report (for configuration checks and `warden scan --list`).
  const std::vector<std::string>& classes() const { return classes_; }
  double compile_seconds() const { return compile_seconds_; }

  struct Impl;
  const Impl& impl() const { return *impl_; }

 private:
  Engine();
  std::unique_ptr<Impl> impl_;
  std::vector<std::string> classes_;
  double compile_seconds_ = 0;
  friend class Scratch;
};

using EnginePtr = std::shared_ptr<const Engine>;

// Per-thread scan state. Reusable across scans; rebuilt when the engine changes.
class Scratch {
 public:
  Scratch() = default;
  ~Scratch();
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  // Makes the scratch fit `engine` (cheap when it already does).
  bool prepare(const Engine& engine);
  hs_scratch* get() const { return scratch_; }

  // The inspection work a request may cause, bounded: every scan() charges its text's bytes
  // plus the bytes of every candidate region its detectors scan (bytes × candidates), and fails
  // once the total since limit_work() passes `limit`. It depends on the text only, so a replay
  // decides the same. Unlimited by default.
  void limit_work(uint64_t limit) {
    work_ = 0;
    work_limit_ = limit;
  }
  bool charge_work(uint64_t units) {
    work_ += units;
    return work_ <= work_limit_;
  }
  bool work_exceeded() const { return work_ > work_limit_; }
  uint64_t work() const { return work_; }

 private:
  hs_scratch* scratch_ = nullptr;
  const Engine* for_ = nullptr;
  uint64_t work_ = 0;
  uint64_t work_limit_ = UINT64_MAX;
};

// Scans `text` (UTF-8; invalid bytes are treated as separators). Findings are sorted by start,
// non-overlapping (the longer, then the more confident, wins). Returns false if the scan could
// not run (then nothing may be assumed about the text: callers deny).
bool scan(const Engine& engine, Scratch& scratch, std::string_view text,
          std::vector<Finding>& findings);

// Empty when `regex` compiles as a custom detector pattern, else Hyperscan's message.
std::string pattern_error(const std::string& regex);

// True when `cls` is `prefix` or below it ("pii" matches "pii.email"; "pii.e" does not).
bool class_matches(std::string_view cls, std::string_view prefix);

// The label used in masks and pseudonyms: "pii.email" → "EMAIL".
std::string class_label(std::string_view cls);

}  // namespace warden::inspect
