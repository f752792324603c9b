// The keys of token issuers configured with a jwks_uri or OIDC discovery. They are fetched on
// the control thread's io_context with an asynchronous Beast client (TLS verified against the
// system store and the issuer's ca_file, SNI, host name checked), never on a worker's loop: a
// worker that needs keys awaits the fetch while its loop serves its other connections.
//
// Fetches are rate-limited per issuer (min_refresh_interval_s between two attempts, whatever
// their outcome) and shared (a request arriving while a fetch is in flight waits for it). Keys
// older than refresh_interval_s, or a token naming an unknown `kid` (the issuer rotated), ask
// for a fetch; when none can be had, the keys held so far serve, and with none the token is
// refused (fail closed).
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "identity/jwt.h"

namespace warden {

class JwksFetcher {
 public:
  explicit JwksFetcher(boost::asio::io_context& control);  // out of line: State is incomplete
  ~JwksFetcher();

  // The keys fetched for `issuer` (null: none yet); `stale` when they are older than its
  // refresh_interval_s. Any thread.
  identity::KeySetPtr keys(const identity::IssuerConfig& issuer, bool& stale) const;

  // Fetches the issuer's keys again unless the last attempt is younger than its
  // min_refresh_interval_s, or waits for the fetch in flight; completes on the caller's
  // executor with the keys then held (null: none).
  boost::asio::awaitable<identity::KeySetPtr> refresh(const identity::IssuerConfig& issuer);

  uint64_t fetches() const { return fetches_.load(); }  // attempts, for tests and metrics

 private:
  struct State;
  boost::asio::awaitable<identity::KeySetPtr> refresh_here(identity::IssuerConfig issuer);
  State& state(const identity::IssuerConfig& issuer);

  boost::asio::io_context& control_;
  mutable std::mutex mu_;  // the map and each State's keys; the rest is the control thread's
  std::map<std::string, std::unique_ptr<State>> states_;
  std::atomic<uint64_t> fetches_{0};
};

}  // namespace warden
