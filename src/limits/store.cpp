// The in-process store: limit states keyed by "limit key", sharded over mutexes so that
// worker threads contend only when they touch the same shard.
#include <algorithm>
#include <functional>
#include <mutex>
#include <unordered_map>

#include "limits/limits.h"

namespace warden::limits {

struct Entry {
  State state;
  Micros touched = 0;
};

struct Store::Shard {
  std::mutex mu;
  std::unordered_map<std::string, Entry> entries;
};

Store::Store(std::size_t shards) {
  shards_.reserve(std::max<std::size_t>(1, shards));
  for (std::size_t i = 0; i < std::max<std::size_t>(1, shards); ++i)
    shards_.push_back(std::make_unique<Shard>());
}

Store::~Store() = default;

std::size_t Store::shard_of(const std::string& key) const {
  return std::hash<std::string>{}(key) % shards_.size();
}

namespace {

// Locks the distinct shards of `limits` in ascending order (no deadlock between requests).
class ShardLocks {
 public:
  template <class ShardOf, class Shards>
  ShardLocks(std::span<const Applied> limits, const ShardOf& shard_of, Shards& shards) {
    for (const auto& l : limits) ids_.push_back(shard_of(l.key));
    std::sort(ids_.begin(), ids_.end());
    ids_.erase(std::unique(ids_.begin(), ids_.end()), ids_.end());
    for (auto id : ids_) locks_.emplace_back(shards[id]->mu);
  }

 private:
  std::vector<std::size_t> ids_;
  std::vector<std::unique_lock<std::mutex>> locks_;
};

}  // namespace

Outcome Store::reserve(std::span<const Applied> limits, Micros now) {
  Outcome out;
  out.verdicts.resize(limits.size());
  auto of = [this](const std::string& k) { return shard_of(k); };
  ShardLocks held(limits, of, shards_);
  std::vector<State> before;
  before.reserve(limits.size());
  std::vector<Entry*> entries;
  for (const auto& l : limits) {
    Entry& e = shards_[shard_of(l.key)]->entries[l.key];
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
  return out;
}

void Store::settle(std::span<const Applied> limits, std::span<const std::int64_t> actual,
                   Micros reserved_at, Micros now) {
  auto of = [this](const std::string& k) { return shard_of(k); };
  ShardLocks held(limits, of, shards_);
  for (std::size_t i = 0; i < limits.size(); ++i) {
    Entry& e = shards_[shard_of(limits[i].key)]->entries[limits[i].key];
    limits::settle(limits[i].spec, e.state, limits[i].cost, i < actual.size() ? actual[i] : 0,
                   reserved_at, now);
    e.touched = now;
  }
}

void Store::release(std::span<const Applied> limits, Micros reserved_at, Micros now) {
  auto of = [this](const std::string& k) { return shard_of(k); };
  ShardLocks held(limits, of, shards_);
  for (const auto& l : limits) {
    Entry& e = shards_[shard_of(l.key)]->entries[l.key];
    limits::release(l.spec, e.state, l.cost, reserved_at, now);
    e.touched = now;
  }
}

std::int64_t Store::remaining(const Applied& limit, Micros now) {
  Shard& s = *shards_[shard_of(limit.key)];
  std::lock_guard lock(s.mu);
  State copy = s.entries.contains(limit.key) ? s.entries[limit.key].state : State{};
  auto v = limits::reserve(limit.spec, copy, 0, now);
  return v.remaining;
}

std::size_t Store::expire(Micros ttl, Micros now) {
  std::size_t dropped = 0;
  for (auto& s : shards_) {
    std::lock_guard lock(s->mu);
    // The lease: an entry untouched for `ttl` is dropped with whatever it still holds
    // (reservations of requests that never settled). `ttl` must cover the longest window.
    dropped +=
        std::erase_if(s->entries, [&](const auto& kv) { return kv.second.touched < now - ttl; });
  }
  return dropped;
}

}  // namespace warden::limits
