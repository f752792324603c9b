// The configured limits (`limits:` in the configuration) and how one request meets them: which
// rules apply, under which keys, at what worst-case cost. Pure: no clock, no store, no I/O.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "limits/limits.h"

namespace warden::limits {

// What a rule counts; it names the x-ratelimit-*-<measure> headers. Spend counts millionths of
// the catalog's currency and energy millionths of a Wh (a price or an energy figure per million
// tokens times tokens is then a whole number of units, rounded up).
enum class Measure : std::uint8_t { requests, tokens, streams, spend, energy };

std::string_view measure_name(Measure m);
// Settled with the answer's usage (tokens, and what tokens cost or take).
constexpr bool counts_usage(Measure m) {
  return m == Measure::tokens || m == Measure::spend || m == Measure::energy;
}
// An amount as written in headers, messages and `check`: spend and energy in whole units with
// up to six decimals ("0.0042"), the others as integers.
std::string amount_text(Measure m, std::int64_t amount);
// The same written at `out` (room for kTextChars), for headers written on every request without
// a string; returns the end.
constexpr std::size_t kTextChars = 32;
char* amount_chars(char* out, Measure m, std::int64_t amount);
// What an amount is counted in: "requests", "tokens", "streams", the currency, "Wh".
std::string_view unit_name(Measure m, std::string_view currency);
// Millionths of a unit per million tokens, times tokens: the cost of `in` input and `out` output
// tokens at per-million rates `per_mtok_in` / `per_mtok_out`, rounded up.
std::int64_t micro_cost(double per_mtok_in, double per_mtok_out, std::int64_t in, std::int64_t out);

// One part of a rule's key. A rule keyed by several parts counts each combination apart.
enum class KeyPart : std::uint8_t { principal, team, label, model, deployment };

struct KeyField {
  KeyPart part = KeyPart::principal;
  std::string label;         // KeyPart::label: the label's name
  std::string label_part{};  // "label:<name>", as keys spell it (Settings::prepare)
};

struct Rule {
  std::string name;
  std::vector<KeyField> key;  // empty: one counter for every request
  Measure measure = Measure::requests;
  Spec spec;
  std::string per;         // how it was written: "second", "minute", "day" (for `check`)
  bool fail_open = false;  // when the store cannot answer: forward anyway (explicit) or 503
  bool by_deployment = false;
  // Written once per snapshot (Settings::prepare), not per request: the limit as text, and the
  // x-ratelimit-* header lines for this rule's measure around the two values a request fills in
  // (remaining and reset): "x-ratelimit-limit-<m>: <limit>\r\nx-ratelimit-remaining-<m>: " and
  // "\r\nx-ratelimit-reset-<m>: ".
  std::string limit_text{}, header_head{}, header_mid{};
};

struct Settings {
  std::vector<Rule> rules;
  // The output worst case of a request that names neither max_tokens nor
  // max_completion_tokens.
  std::int64_t default_max_tokens = 4096;
  // How long a reservation may stay unsettled before the store forgets it (a request whose
  // process died); every reservation settles or is released long before on a live process.
  Micros lease = 15 * 60 * 1'000'000LL;
  // The Redis store (host:port) shared by replicas; empty: the in-process store, unless
  // sentinels name the primary (`redis_sentinel`: the two exclude each other).
  std::string redis;
  std::vector<std::string> sentinels;    // host:port each
  std::string sentinel_master;           // the name the sentinels know the primary by
  std::uint32_t redis_timeout_ms = 250;  // a reservation unanswered for this long: unavailable
  bool needs_usage = false;              // a rule counts tokens: the answer's usage is needed
  bool counts_spend = false;             // a rule counts spend (the deployment's price)
  bool counts_energy = false;            // a rule counts energy (the deployment's energy)
  std::string currency = "USD";          // the catalog's, for `check` and messages
  bool by_deployment = false;            // a rule is keyed by deployment: reserved per candidate
  // Written by prepare(): the labels rules are keyed by (what KeyCache compares of a subject),
  // and a number no other prepared Settings has (what KeyCache's slots are built for; 0: not
  // prepared, nothing cached).
  std::vector<std::string> label_names{};
  std::uint64_t id = 0;

  bool empty() const { return rules.empty(); }
  bool uses_redis() const { return !redis.empty() || !sentinels.empty(); }
  // Fills in what every request would otherwise compute again (Rule::header_*); call once
  // after the rules are read.
  void prepare();
  // One line per rule, for `warden check`: "team-tokens: 100000 tokens per day per team+model".
  std::string describe() const;
};

// What one request brings to the rules.
struct Subject {
  std::string_view principal;
  std::string_view team;
  const std::map<std::string, std::string>* labels = nullptr;
  std::string_view model;
  std::string_view deployment;  // empty: rules keyed by deployment are skipped
  bool stream = false;
  std::int64_t tokens = 0;  // worst case: input bound plus output bound
  std::int64_t spend = 0;   // worst case in millionths of the currency
  std::int64_t energy = 0;  // worst case in millionths of a Wh
};

// The keys a subject meets, built once and shared by every request of that subject (KeyCache):
// Applied::key points into `text`. Costs are left 0: each request has its own.
struct Keys {
  std::string text;  // every key, back to back
  PerLimit<Applied> applied;
  PerLimit<std::uint16_t> rule_of;
  Store* pinned = nullptr;  // the store whose entries `applied` points to, unpinned at the end
  PerLimit<Shard*> locks;   // when pinned: their shards in lock order (Store::lock_order)
  Keys() = default;
  Keys(const Keys&) = delete;
  Keys& operator=(const Keys&) = delete;
  ~Keys() {
    if (pinned != nullptr) pinned->unpin(applied);
  }
};

// The limits one request meets: each keyed limit (its key in `keys`) and the rule behind it.
struct Met {
  std::shared_ptr<const Keys> keys;  // what Applied::key points into
  PerLimit<Applied> applied;
  PerLimit<std::uint16_t> rule_of;
  // The pinned keys' shards in lock order (empty: not pinned), for the store's calls.
  std::span<Shard* const> locks() const {
    return keys != nullptr ? std::span<Shard* const>(keys->locks) : std::span<Shard* const>();
  }
  Met() = default;
  Met(const Met&) = delete;
  Met& operator=(const Met&) = delete;
};

// Fills `out` with the limits that `subject` meets (one per rule and key; a label holding
// several comma-separated values counts against each). A rule keyed by a label the principal
// lacks, or by a team it has not, does not apply.
void applicable(const Settings& settings, const Subject& subject, Met& out);

// A worker's cache of the keys its requests met, per subject (principal, team, the labels rules
// name, model, deployment, stream) and snapshot: the keys of a principal's next request are not
// written and hashed again (that was a third of a request's limit work with four rules,
// bench/callgrind.sh LIMITS=4). One thread's; a slot holds the subject it was built for and is
// compared whole, so a collision only costs a rebuild.
class KeyCache {
 public:
  KeyCache();
  ~KeyCache();
  KeyCache(const KeyCache&) = delete;
  KeyCache& operator=(const KeyCache&) = delete;
  // As applicable(). With `store` (the in-process one, which must outlive the cache and every
  // Met it filled), the keys' entries are pinned there and found without a lookup.
  void meet(const Settings& settings, const Subject& subject, Met& out, Store* store = nullptr);
  void clear();

 private:
  struct Slot;
  std::unique_ptr<Slot[]> slots_;
};

// "1h2m3s", "1.5s", "20ms": the reset durations OpenAI's x-ratelimit-reset-* headers carry.
std::string reset_text(Micros d);
// The same written at `out` (room for kTextChars); returns the end.
char* reset_chars(char* out, Micros d);

// The rule a stored key belongs to (keys begin with the rule's name), or nullptr: a rule that
// was renamed or removed since.
const Rule* rule_of_key(const Settings& settings, std::string_view key);
// One line of `warden limits show` for a stored state at `now`:
// "team-tokens|team=research  tokens  limit 100000  used 2400  reserved 0  remaining 97600  reset
// 3h2m1s"
std::string show_line(const Settings& settings, const Rule& rule, std::string_view key,
                      const State& state, Micros now);

}  // namespace warden::limits
