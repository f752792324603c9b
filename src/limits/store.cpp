// The in-process store: limit states keyed by "limit key", sharded over mutexes so that
// worker threads contend only when they touch the same shard. A request hashes each key once
// (Applied::hash) and finds its entry by that hash and the key's bytes, without building a
// string; only a key's first use allocates.
#include <algorithm>
#include <atomic>
#include <functional>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "limits/limits.h"

namespace warden::limits {

std::size_t key_hash(std::string_view key) {
  const std::size_t h = std::hash<std::string_view>{}(key);
  return h != 0 ? h : 1;  // 0 means "not computed" in Applied
}

namespace {

// A key with its hash, looked up without a std::string (heterogeneous lookup).
struct Probe {
  std::string_view key;
  std::size_t hash;
};
struct ProbeHash {
  using is_transparent = void;
  std::size_t operator()(const std::string& k) const { return key_hash(k); }
  std::size_t operator()(const Probe& p) const { return p.hash; }
};
struct ProbeEq {
  using is_transparent = void;
  bool operator()(const std::string& a, const std::string& b) const { return a == b; }
  bool operator()(const Probe& a, const std::string& b) const { return a.key == b; }
  bool operator()(const std::string& a, const Probe& b) const { return a == b.key; }
};

// A test-and-test-and-set lock: a shard is held for the few hundred instructions of a request's
// arithmetic, and a pthread mutex's lock and unlock cost more than that (~100 instructions a
// shard, twice a request per limit, bench/callgrind.sh LIMITS=4). A waiter spins briefly, then
// yields to the holder (which may have been preempted).
class SpinLock {
 public:
  void lock() {
    for (unsigned spins = 0; held_.exchange(true, std::memory_order_acquire);) {
      while (held_.load(std::memory_order_relaxed)) {
        if (++spins < 64) {
#if defined(__x86_64__) || defined(__i386__)
          __builtin_ia32_pause();
#endif
        } else {
          std::this_thread::yield();
        }
      }
    }
  }
  void unlock() {
    held_.store(false, std::memory_order_release);
  }

 private:
  std::atomic<bool> held_{false};
};

}  // namespace

struct Shard {
  SpinLock mu;
  std::unordered_map<std::string, Entry, ProbeHash, ProbeEq> entries;

  Entry& entry(const Applied& l, std::size_t hash) {
    auto it = entries.find(Probe{l.key, hash});
    if (it == entries.end()) it = entries.emplace(std::string(l.key), Entry{}).first;
    return it->second;
  }
};

Store::Store(std::size_t shards) {
  shards_.reserve(std::max<std::size_t>(1, shards));
  for (std::size_t i = 0; i < std::max<std::size_t>(1, shards); ++i)
    shards_.push_back(std::make_unique<Shard>());
}

Store::~Store() = default;

Shard& Store::shard_for(const Applied& l, std::size_t& hash) {
  hash = l.hash != 0 ? l.hash : key_hash(l.key);
  // The high bits pick the shard; the map's buckets use the hash modulo a prime.
  return *shards_[(hash >> 40) % shards_.size()];
}

namespace {

// Inserts `s` into `order`, kept sorted and distinct: a request's handful, no copy to sort.
void insert_ordered(PerLimit<Shard*>& order, Shard* s) {
  std::size_t j = order.size();
  while (j > 0 && std::less<>{}(s, order[j - 1])) --j;
  if (j > 0 && order[j - 1] == s) return;
  order.push_back(s);
  for (std::size_t k = order.size() - 1; k > j; --k) order[k] = order[k - 1];
  order[j] = s;
}

// Locks the distinct shards of a request's limits once each, in address order (no deadlock
// between requests), and finds their entries. Limits that `needs` leaves out are not locked (nor
// may they be asked for). With the order of pinned limits given (Store::lock_order), it locks
// that: ~250 instructions a request less than finding and sorting the shards (bench/callgrind.sh
// LIMITS=4), and every entry is the pinned one.
class Held {
 public:
  template <class ShardFor, class Needs>
  Held(std::span<const Applied> limits, std::span<Shard* const> order, const ShardFor& shard_for,
       const Needs& needs) {
    if (!order.empty()) {
      order_ = order;
    } else {
      for (std::size_t i = 0; i < limits.size(); ++i) {
        const Applied& l = limits[i];
        std::size_t hash = 0;
        Shard* s = !needs(i) ? nullptr : l.shard != nullptr ? l.shard : &shard_for(l, hash);
        shards_.push_back(s);
        hashes_.push_back(hash);
        if (s != nullptr) insert_ordered(locked_, s);
      }
      order_ = locked_;
    }
    for (Shard* s : order_) s->mu.lock();
  }
  template <class ShardFor>
  Held(std::span<const Applied> limits, std::span<Shard* const> order, const ShardFor& shard_for)
      : Held(limits, order, shard_for, [](std::size_t) { return true; }) {}
  ~Held() {
    for (std::size_t i = order_.size(); i-- > 0;) order_[i]->mu.unlock();
  }
  Held(const Held&) = delete;
  Held& operator=(const Held&) = delete;

  Entry& entry(std::span<const Applied> limits, std::size_t i) {
    return limits[i].entry != nullptr ? *limits[i].entry : shards_[i]->entry(limits[i], hashes_[i]);
  }

 private:
  PerLimit<Shard*> shards_;
  PerLimit<std::size_t> hashes_;
  PerLimit<Shard*> locked_;
  std::span<Shard* const> order_;
};

}  // namespace

PerLimit<Shard*> Store::lock_order(std::span<const Applied> limits) {
  PerLimit<Shard*> order;
  for (const Applied& l : limits) insert_ordered(order, l.shard);
  return order;
}

Outcome Store::reserve(std::span<const Applied> limits, Micros now, std::span<Shard* const> order) {
  Outcome out;
  reserve(limits, now, order, out);
  return out;
}

void Store::reserve(std::span<const Applied> limits, Micros now, std::span<Shard* const> order,
                    Outcome& out) {
  out.limiting = 0;
  out.verdicts.resize(limits.size());
  Held held(limits, order,
            [this](const Applied& l, std::size_t& h) -> Shard& { return shard_for(l, h); });
  PerLimit<State> before;
  PerLimit<Entry*> entries;
  for (std::size_t i = 0; i < limits.size(); ++i) {
    Entry& e = held.entry(limits, i);
    entries.push_back(&e);
    before.push_back(e.state);
  }
  out.allowed = true;
  Micros worst_retry = -1;
  double least = 2.0;
  for (std::size_t i = 0; i < limits.size(); ++i) {
    out.verdicts[i] = limits::reserve(limits[i].spec, entries[i]->state, limits[i].cost, now);
    entries[i]->touched = now;
    const auto& v = out.verdicts[i];
    if (!v.allowed) {
      out.allowed = false;
      if (v.retry_after > worst_retry) worst_retry = v.retry_after, out.limiting = i;
    } else if (out.allowed && limits[i].spec.amount > 0) {
      const double share = double(v.remaining) / double(limits[i].spec.amount);
      if (share < least) least = share, out.limiting = i;
    }
  }
  if (!out.allowed) {
    // All or nothing: undo the limits that were reserved (two keys may share an entry, so
    // restore in reverse order).
    for (std::size_t i = limits.size(); i-- > 0;) entries[i]->state = before[i];
  }
}

void Store::settle(std::span<const Applied> limits, std::span<const std::int64_t> actual,
                   Micros reserved_at, Micros now, std::span<Shard* const> order) {
  // A rate that used what it reserved (a request rate: one request) has nothing to settle: its
  // shard is not even locked (unless the order given locks it with the others).
  auto needs = [&](std::size_t i) {
    return limits[i].spec.kind != Kind::rate ||
           (i < actual.size() ? actual[i] : 0) < limits[i].cost;
  };
  Held held(
      limits, order, [this](const Applied& l, std::size_t& h) -> Shard& { return shard_for(l, h); },
      needs);
  for (std::size_t i = 0; i < limits.size(); ++i) {
    if (!needs(i)) continue;
    Entry& e = held.entry(limits, i);
    limits::settle(limits[i].spec, e.state, limits[i].cost, i < actual.size() ? actual[i] : 0,
                   reserved_at, now);
    e.touched = now;
  }
}

void Store::release(std::span<const Applied> limits, Micros reserved_at, Micros now,
                    std::span<Shard* const> order) {
  Held held(limits, order,
            [this](const Applied& l, std::size_t& h) -> Shard& { return shard_for(l, h); });
  for (std::size_t i = 0; i < limits.size(); ++i) {
    Entry& e = held.entry(limits, i);
    limits::release(limits[i].spec, e.state, limits[i].cost, reserved_at, now);
    e.touched = now;
  }
}

std::int64_t Store::remaining(const Applied& limit, Micros now) {
  std::size_t hash = 0;
  Shard& s = shard_for(limit, hash);
  std::lock_guard lock(s.mu);
  const auto it = s.entries.find(Probe{limit.key, hash});
  State copy = it != s.entries.end() ? it->second.state : State{};
  return limits::reserve(limit.spec, copy, 0, now).remaining;
}

void Store::copy_shard(std::size_t i, std::vector<std::pair<std::string, State>>& out) {
  Shard& s = *shards_[i];
  std::lock_guard lock(s.mu);
  out.reserve(s.entries.size());
  for (const auto& [k, e] : s.entries) out.emplace_back(k, e.state);
}

std::size_t Store::expire(Micros ttl, Micros now) {
  std::size_t dropped = 0;
  for (auto& s : shards_) {
    std::lock_guard lock(s->mu);
    // The lease: an entry untouched for `ttl` is dropped with whatever it still holds
    // (reservations of requests that never settled). `ttl` must cover the longest window.
    dropped += std::erase_if(s->entries, [&](const auto& kv) {
      return kv.second.pins == 0 && kv.second.touched < now - ttl;
    });
  }
  return dropped;
}

void Store::pin(std::span<Applied> limits) {
  for (Applied& l : limits) {
    std::size_t hash = 0;
    Shard& s = shard_for(l, hash);
    std::lock_guard lock(s.mu);
    Entry& e = s.entry(l, hash);
    ++e.pins;
    l.entry = &e;
    l.shard = &s;
  }
}

void Store::unpin(std::span<const Applied> limits) {
  for (const Applied& l : limits) {
    if (l.entry == nullptr) continue;
    std::lock_guard lock(l.shard->mu);
    --l.entry->pins;
  }
}

}  // namespace warden::limits
