// The Redis limit store: limits that hold across replicas. One connection per worker, driven by
// the worker's own event loop (hiredis's asynchronous API on an Asio descriptor: no thread, no
// blocking call). One round trip reserves every limit of a request at once (a Lua script run by
// EVALSHA: Redis runs it atomically, so replicas never both take the last unit); settling and
// releasing are sent without waiting, pipelined on the same connection. Every reservation has
// a lease: a replica that dies holding one has it ended by the next script that touches the key,
// and a live replica renews the leases of its requests that last longer (a long stream), from the
// same event loop. hiredis stays out of this header.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "limits/limits.h"

namespace warden {
struct Metrics;
}

namespace warden::limits {

struct Settings;
class RedisStore;

// Where the store is: one Redis (host:port), or the primary that Redis Sentinels name.
struct RedisTarget {
  std::string_view address;                // without sentinels
  std::span<const std::string> sentinels;  // host:port each: asked in turn for the primary
  std::string_view master;                 // the name they know the primary by
};

// A reservation whose lease the store renews while it is held: a request's, linked into its
// worker's store by RedisStore::keep() and unlinked when settled, released or destroyed (no
// allocation: the request owns the node, the store only points to it).
class Renewal {
 public:
  Renewal() = default;
  ~Renewal() { unlink(); }
  Renewal(const Renewal&) = delete;
  Renewal& operator=(const Renewal&) = delete;
  // Stops renewing (the reservation was settled or released).
  void unlink();
  bool linked() const { return owner_ != nullptr; }

 private:
  friend class RedisStore;

  // Where the store is: one Redis (host:port), or the primary that Redis Sentinels name.
  struct RedisTarget {
    std::string_view address;                // without sentinels
    std::span<const std::string> sentinels;  // host:port each: asked in turn for the primary
    std::string_view master;                 // the name they know the primary by
  };
  struct List;
  List* owner_ = nullptr;
  Renewal* prev_ = nullptr;
  Renewal* next_ = nullptr;
  std::span<const Applied> limits_;
  std::string_view id_;
  std::chrono::steady_clock::time_point renewed_{};
};

class RedisStore {
 public:
  // `metrics`: the worker's, which counts the commands, round trips, errors and reconnects.
  RedisStore(boost::asio::io_context& ioc, Metrics& metrics);
  ~RedisStore();
  RedisStore(const RedisStore&) = delete;
  RedisStore& operator=(const RedisStore&) = delete;

  // Reserves all of `limits` under the reservation `id`, all or nothing; nullopt when the store
  // cannot answer (not connected, an error, or no answer within `timeout`). A new target closes
  // the old connection. With sentinels, the primary is asked of them (the request waits for
  // the answer within `timeout`), checked with ROLE on the new connection, and asked again
  // whenever the connection is lost or refuses a write (READONLY: a failover demoted it).
  // The time is the Redis server's.
  boost::asio::awaitable<std::optional<Outcome>> reserve(const RedisTarget& target,
                                                         std::span<const Applied> limits,
                                                         std::string_view id, Micros lease,
                                                         std::chrono::milliseconds timeout);
  // `actual[i]` as for Store::settle. Awaited (up to `timeout`) so that the request's answer
  // completes after its usage is counted, on every replica; a settlement that is lost leaves
  // the reservation to its lease.
  boost::asio::awaitable<void> settle(std::span<const Applied> limits,
                                      std::span<const std::int64_t> actual, std::string_view id,
                                      std::chrono::milliseconds timeout);
  // Not awaited (it runs from destructors too): sent, pipelined on the connection.
  void release(std::span<const Applied> limits, std::string_view id);
  // Keeps the reservation `id` of `limits` (both owned by the caller, alive while `node` is
  // linked) beyond its lease: every lease/2 one pipelined command (not awaited) extends the
  // leases of all its limits, until `node` is unlinked. Only leases still held are extended:
  // one that ended meanwhile (Redis unreachable for longer than the lease) stays ended.
  void keep(Renewal& node, std::span<const Applied> limits, std::string_view id);

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

// Every limit state kept in the Redis at `address`, with the server's time: for `warden limits
// show`, which runs outside the gateway (this one blocks: it is never called on a worker).
// An error message instead when Redis cannot be read.
struct StoredStates {
  Micros now = 0;
  std::vector<std::pair<std::string, State>> states;  // by key (without the "warden:limit:")
  std::string error;
};
// Reservations whose leases ended are left out, as the scripts leave them out (the rules of
// `settings` tell budgets, where they were reserved, from streams, where they were in flight).
StoredStates read_redis_states(const RedisTarget& target, std::chrono::milliseconds timeout,
                               const Settings& settings);

}  // namespace warden::limits
