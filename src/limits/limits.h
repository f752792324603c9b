// Limits and budgets: the reservation arithmetic and the in-process store.
//
// The core is pure: every function takes the current time (`Micros`, microseconds on any
// monotonic or wall scale, as long as one store always gets the same scale) and returns a
// decision; nothing here reads a clock, opens a socket or throws.
//
// A request reserves its worst case against every applicable limit at once (all or nothing),
// then settles with its actual usage, or releases the reservation on failure or disconnect.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "limits/small_vec.h"

namespace warden::limits {

using Micros = std::int64_t;

// Microseconds since the Unix epoch: the scale every store uses, so that day windows start at
// midnight UTC and replicas sharing a store agree. (The one clock read of this module; the
// arithmetic below takes the time as an argument.)
Micros wall_micros();

// What a limit counts.
enum class Kind : std::uint8_t {
  rate,        // requests, smoothed by GCRA: `amount` per `window`, burst of `amount`
  budget,      // a quantity (tokens, spend, Wh) per fixed window aligned to 0 (minute, day...)
  concurrency  // in-flight count (streams); `window` unused
};

struct Spec {
  Kind kind = Kind::budget;
  std::int64_t amount = 0;  // the limit per window (or concurrent count)
  Micros window = 0;        // window length; 0 for concurrency
  // A budget per calendar month (UTC): windows are months of 28 to 31 days, and `window` holds
  // the longest (what leases and idle entries are measured against).
  bool month = false;
};

constexpr Micros kLongestMonth = 31LL * 86'400 * 1'000'000;

// The budget window holding `now`: [start, end).
struct Window {
  Micros start = 0;
  Micros end = 0;
};
Window window_of(const Spec& spec, Micros now);

// The state of one limit for one key. Plain data; the store guards it.
struct State {
  Micros tat = 0;             // rate: GCRA theoretical arrival time
  Micros window_start = 0;    // budget: start of the current window
  std::int64_t used = 0;      // budget: settled usage in the window; concurrency: in flight
  std::int64_t reserved = 0;  // budget: reserved and not yet settled
};

struct Verdict {
  bool allowed = false;
  std::int64_t remaining = 0;  // after this reservation (or now, when refused)
  Micros retry_after = 0;      // when refused: how long until the cost could fit
  Micros reset = 0;            // time until the limit is fully available again
};

// Pure arithmetic. `cost` is the worst case for budgets, 1 for rate and concurrency.
// On allowed, `state` is updated; on refusal it is left as it was (except for window roll-over).
Verdict reserve(const Spec& spec, State& state, std::int64_t cost, Micros now);
// Replaces a reservation of `reserved` by the actual usage `actual` (budgets and token rates:
// the difference is given back), or ends an in-flight request (concurrency). `reserved_at` is the
// time of the reservation: a reservation from an earlier window counts in no current window.
void settle(const Spec& spec, State& state, std::int64_t reserved, std::int64_t actual,
            Micros reserved_at, Micros now);
// Gives a reservation back entirely (upstream failure, client disconnect). A rate token is
// returned too: a request that reached no upstream does not count.
void release(const Spec& spec, State& state, std::int64_t reserved, Micros reserved_at, Micros now);

// What a key hashes to: its shard and its entry in the in-process store (hashed once).
std::size_t key_hash(std::string_view key);

// A key's state in the in-process store, and whether requests point to it (Store::pin).
struct Entry {
  State state;
  Micros touched = 0;
  std::uint32_t pins = 0;  // while pinned, expire() keeps it (requests hold its address)
};
struct Shard;  // a lock and the entries whose keys hash to it (store.cpp)

// One limit applied to one request: the key (e.g. "rpm|principal=alice|model=gpt-4o", held by
// whoever built it, see rules.h: Met) and the spec.
struct Applied {
  std::string_view key;
  Spec spec;
  std::int64_t cost = 1;
  std::size_t hash = 0;  // key_hash(key); 0: not computed yet
  // The in-process store's entry for `key` and its shard, when pinned (Store::pin): used without
  // a lookup. Null: looked up by hash and key.
  Entry* entry = nullptr;
  Shard* shard = nullptr;
};

// Per limit of a request; a request meets a handful.
template <class T>
using PerLimit = SmallVec<T, 8>;

struct Outcome {
  bool allowed = false;
  std::size_t limiting = 0;    // index into the applied limits of the most restrictive one
  PerLimit<Verdict> verdicts;  // one per applied limit
};

// In-process store shared by all worker threads. Keys are sharded over mutexes; a request
// locks the distinct shards of its keys once each, in address order, so several limits are
// reserved atomically without deadlock. Entries idle for longer than the lease TTL are dropped by
// `expire`.
class Store {
 public:
  explicit Store(std::size_t shards = 64);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // All or nothing: either every limit is reserved or none is. `order`, when given, is
  // lock_order() of `limits`, all pinned: the shards are locked without sorting them again.
  Outcome reserve(std::span<const Applied> limits, Micros now, std::span<Shard* const> order = {});
  // The same into `out` (no copy of the verdicts on the request's path).
  void reserve(std::span<const Applied> limits, Micros now, std::span<Shard* const> order,
               Outcome& out);
  // `actual[i]` is the usage for limits[i] (ignored for concurrency).
  void settle(std::span<const Applied> limits, std::span<const std::int64_t> actual,
              Micros reserved_at, Micros now, std::span<Shard* const> order = {});
  void release(std::span<const Applied> limits, Micros reserved_at, Micros now,
               std::span<Shard* const> order = {});
  // The distinct shards of pinned `limits` in the order they are locked (address order, so
  // that requests never wait on each other in a cycle): computed once with the pinned keys.
  static PerLimit<Shard*> lock_order(std::span<const Applied> limits);
  // Current remaining amount of one limit (for metrics and `limits show`).
  std::int64_t remaining(const Applied& limit, Micros now);
  // Lease expiry: drops entries untouched since `now - ttl` with what they hold (reservations
  // never settled nor released), unless pinned; `ttl` must be at least the longest window.
  // Returns how many.
  std::size_t expire(Micros ttl, Micros now);
  // Finds or makes the entries of `limits` and pins them (Applied::entry, ::shard): requests
  // that carry them skip the lookup, and expire() keeps them until unpin() (a worker's cached
  // keys, rules.h: KeyCache).
  void pin(std::span<Applied> limits);
  void unpin(std::span<const Applied> limits);
  // Calls `f(key, state)` for every entry, one shard locked at a time (`limits show`, metrics).
  template <class F>
  void visit(const F& f) {
    for (std::size_t i = 0; i < shards_.size(); ++i) visit_shard(i, f);
  }

 private:
  std::vector<std::unique_ptr<Shard>> shards_;
  Shard& shard_for(const Applied& l, std::size_t& hash);
  // Copies a shard's entries out under its lock, then calls `f` without it.
  void copy_shard(std::size_t i, std::vector<std::pair<std::string, State>>& out);
  template <class F>
  void visit_shard(std::size_t i, const F& f) {
    std::vector<std::pair<std::string, State>> copy;
    copy_shard(i, copy);
    for (const auto& [k, s] : copy) f(std::string_view(k), s);
  }
};

}  // namespace warden::limits
