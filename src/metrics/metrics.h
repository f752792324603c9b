// Metrics: each worker owns one Metrics and is its only writer (no atomics, no locks on the
// request path). The admin thread asks each worker for a copy by posting to its io_context, merges
// the copies and renders Prometheus text. All metric names are listed here, once.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>

namespace warden {

// Latency buckets in seconds (upper bounds); +Inf is implicit.
inline constexpr std::array<double, 14> kLatencyBuckets = {
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10, 60};

struct Histogram {
  std::array<uint64_t, kLatencyBuckets.size() + 1> counts{};
  double sum = 0;
  uint64_t count = 0;
  void observe(double seconds);
  void merge(const Histogram& other);
};

// The labels of warden_requests_total, kept as values (formatted only when rendered), so that
// counting a request allocates nothing once its label set has been seen.
struct RequestKey {
  std::string route;
  int status = 0;
  std::string model;
};
struct RequestKeyView {
  std::string_view route;
  int status = 0;
  std::string_view model;
};
struct RequestKeyLess {
  using is_transparent = void;
  template <typename A, typename B>
  bool operator()(const A& a, const B& b) const {
    if (a.route != b.route) return std::string_view(a.route) < std::string_view(b.route);
    if (a.status != b.status) return a.status < b.status;
    return std::string_view(a.model) < std::string_view(b.model);
  }
};

enum class LimitStoreOp : uint8_t { reserve, settle, release, renew };
// timeout: unanswered in time (or its host name not looked up in time); error: an error reply;
// lost: the connection went first; resolve: the store's host name did not resolve.
enum class LimitStoreError : uint8_t { timeout, error, lost, resolve };

struct Metrics {
  // warden_requests_total{route,status,model}
  std::map<RequestKey, uint64_t, RequestKeyLess> requests;
  // warden_request_duration_seconds{route}
  std::map<std::string, Histogram, std::less<>> latency;
  // warden_upstream_errors_total{provider,reason}
  std::map<std::string, uint64_t> upstream_errors;
  // warden_upstream_retries_total{provider}
  std::map<std::string, uint64_t> upstream_retries;
  // warden_failovers_total{model}
  std::map<std::string, uint64_t> failovers;
  // warden_inspect_findings_total{class,direction}
  std::map<std::string, uint64_t> findings;
  // warden_limit_rejections_total{rule}: requests refused (429) by a limit rule
  std::map<std::string, uint64_t> limit_rejections;
  // warden_limit_store_failures_total{outcome}: the limit store did not answer; the request
  // was refused (fail_closed) or let through (fail_open)
  std::map<std::string, uint64_t> limit_store_failures;
  // The Redis limit store, as each worker's connection sees it:
  // warden_limit_store_commands_total{op}: script commands sent, by LimitStoreOp
  std::array<uint64_t, 4> limit_store_commands{};
  // warden_limit_store_round_trip_seconds: a reservation or settlement, sent to answered
  Histogram limit_store_round_trip;
  // warden_limit_store_errors_total{reason}: by LimitStoreError
  std::array<uint64_t, 4> limit_store_errors{};
  uint64_t limit_store_connects = 0;  // warden_limit_store_connects_total (a reconnect: one more)
  // warden_limit_store_sentinel_asks_total{outcome}: [0] a primary named, [1] none
  std::array<uint64_t, 2> limit_store_sentinel_asks{};
  uint64_t limit_leases_renewed = 0;    // warden_limit_leases_renewed_total
  uint64_t limit_leases_lost = 0;       // warden_limit_leases_lost_total: ended before renewed
  int64_t in_flight = 0;                // warden_requests_in_flight
  int64_t connections = 0;              // warden_connections_open
  uint64_t connections_total = 0;       // warden_connections_total
  uint64_t connections_rejected = 0;    // warden_connections_rejected_total
  uint64_t sse_events = 0;              // warden_sse_events_total
  uint64_t tls_handshake_failures = 0;  // warden_tls_handshake_failures_total

  void count_request(std::string_view route, int status, std::string_view model, double seconds);
  void count_upstream_error(std::string_view provider, std::string_view reason);
  void count_retry(std::string_view provider);
  void count_failover(std::string_view model);
  void count_findings(std::string_view cls, std::string_view direction, uint64_t n);
  void count_limit_rejection(std::string_view rule);
  void count_limit_store_failure(bool fail_open);
  void merge(const Metrics& other);
  std::string render(uint64_t config_reloads, uint64_t config_reload_failures) const;
};

}  // namespace warden
