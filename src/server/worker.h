// A worker: one thread, one io_context, its own acceptor (SO_REUSEPORT), its client connections,
// its upstream pool, JSON parser and metrics. Nothing here is shared with another worker; the
// only cross-thread reads are the snapshot version and the draining flag.
#pragma once

#include <simdjson.h>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/beast/core/tcp_stream.hpp>

#include <atomic>
#include <cstdint>
#include <mutex>
#include <random>
#include <string>
#include <unordered_map>
#include <unordered_set>

#include "audit/audit.h"
#include "inspect/inspect.h"
#include "limits/limits.h"
#include "limits/redis.h"
#include "limits/rules.h"
#include "metrics/metrics.h"
#include "server/responder.h"
#include "server/snapshot.h"
#include "upstream/upstream.h"

namespace boost::asio::ssl {
class context;
}  // namespace boost::asio::ssl

namespace warden {

class JwksFetcher;
namespace inspect {
class Binder;
}

// Open client connections per address, for max_connections_per_address. Taken at accept and
// released at close (one short lock each), never on the request path.
class AddressCounts {
 public:
  bool try_add(const std::string& address, uint32_t max) {
    std::lock_guard lock(mu_);
    uint32_t& n = open_[address];
    if (n >= max) return false;
    ++n;
    return true;
  }
  void remove(const std::string& address) {
    std::lock_guard lock(mu_);
    const auto it = open_.find(address);
    if (it != open_.end() && --it->second == 0) open_.erase(it);
  }

 private:
  std::mutex mu_;
  std::unordered_map<std::string, uint32_t> open_;
};

// State shared by all workers and the control thread.
struct Shared {
  SnapshotHolder snapshots;
  std::atomic<bool> draining{false};
  std::atomic<uint32_t> connections{0};
  AddressCounts per_address;
  std::atomic<uint64_t> reloads{0};
  std::atomic<uint64_t> reload_failures{0};
  std::unique_ptr<audit::Writer> audit;  // null when audit is off; set before workers start
  // Inspects large request bodies off the workers' event loops (pipeline.cpp); set before the
  // workers start, stopped before they are destroyed.
  std::unique_ptr<boost::asio::thread_pool> inspect_pool;
  // The in-process limit store: counters outlive configuration reloads (a rule keeps its
  // counts while its name stays).
  limits::Store limits;
  // Token issuers' fetched keys (server/jwks.h): fetched on the control thread, read by all.
  std::shared_ptr<JwksFetcher> jwks;
  // Binds Responses ids and signed model output to their deployment (inspect/binding.h); its key
  // is read (or made) at start.
  std::shared_ptr<const inspect::Binder> binder;
};

class Worker {
 public:
  Worker(Shared& shared, unsigned index);
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // Binds one acceptor per configured client listener with SO_REUSEPORT (the i-th serves
  // snapshot()->server.listeners[i]; reloads keep the list's addresses, server.cpp). Throws on
  // failure (start-up).
  void listen(const std::vector<ClientListener>& listeners);
  void run();    // the thread body: accepts and serves until drained or stopped
  void drain();  // thread-safe: stop accepting, close idle connections, let busy ones finish
  void stop();   // thread-safe: stop at once

  boost::asio::io_context& ioc() { return ioc_; }
  unsigned index() const { return index_; }

  // The snapshot for a new request (refreshed only when the control thread published a new one).
  const ConfigPtr& snapshot();
  bool draining() const { return shared_.draining.load(std::memory_order_relaxed); }
  audit::Writer* audit() { return shared_.audit.get(); }
  boost::asio::thread_pool* inspect_pool() { return shared_.inspect_pool.get(); }
  limits::Store& limits() { return shared_.limits; }
  // This worker's connection to the Redis limit store (made at first use).
  const std::shared_ptr<limits::RedisStore>& redis_limits() { return redis_limits_; }
  limits::KeyCache& limit_keys() { return limit_keys_; }  // cleared with each new snapshot
  std::string next_request_id();

  upstream::Pool& pool() { return pool_; }
  Metrics& metrics() { return metrics_; }
  simdjson::dom::parser& json() { return json_; }
  inspect::Scratch& scan_scratch() { return scan_scratch_; }
  identity::TokenCache& token_cache() { return tokens_; }  // cleared with each new snapshot
  JwksFetcher* jwks() { return shared_.jwks.get(); }
  const inspect::Binder& binder() const { return *shared_.binder; }

 private:
  boost::asio::awaitable<void> accept_loop(size_t listener);
  // A refusal before any request reached the pipeline, counted by the audit writer (bounded:
  // audit::Writer::refused). `status` 0: the connection was closed without an answer.
  void refused_at_door(const Config& config, std::string_view address, std::string_view reason,
                       int status);
  // `address`: the client's, counted in per_address (empty: not counted). `listener`: the index
  // of the listener that accepted it.
  boost::asio::awaitable<void> session(boost::asio::ip::tcp::socket socket, std::string address,
                                       size_t listener);
  // The requests of one connection, plain (`tls` null, `stream` is `raw`) or over TLS;
  // `device_id`, `subject`: what its verified client certificate names (empty: none).
  template <class Stream>
  boost::asio::awaitable<void> serve_requests(Stream& stream, boost::beast::tcp_stream& raw,
                                              TlsStream* tls, std::string device_id,
                                              std::string subject);
  // The Asio TLS context of listener `i` for the current snapshot (null: plain HTTP), made once
  // per snapshot and listener from the configuration's OpenSSL context.
  std::shared_ptr<boost::asio::ssl::context> tls_context(size_t i);

  Shared& shared_;
  unsigned index_;
  // Reactor I/O is only ever touched from this worker's thread (drain() posts to it), so its
  // locking is off; posting from other threads stays safe (the scheduler keeps its lock).
  boost::asio::io_context ioc_{BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO};
  std::vector<std::unique_ptr<boost::asio::ip::tcp::acceptor>> acceptors_;
  std::vector<std::shared_ptr<boost::asio::ssl::context>> tls_contexts_;  // per listener
  uint64_t tls_contexts_version_ = 0;
  upstream::Pool pool_{ioc_};
  Metrics metrics_;
  simdjson::dom::parser json_;
  inspect::Scratch scan_scratch_;
  std::shared_ptr<limits::RedisStore> redis_limits_;
  limits::KeyCache limit_keys_;
  identity::TokenCache tokens_;
  ConfigPtr snapshot_;
  uint64_t snapshot_version_ = 0;
  std::mt19937_64 ids_;
  uint64_t id_counter_ = 0;
  // Connections waiting for their next request: closed at once when draining.
  std::unordered_set<boost::asio::ip::tcp::socket*> idle_;
};

}  // namespace warden
