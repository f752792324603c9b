#include "metrics/metrics.h"

#include <fmt/format.h>

#include <numeric>

namespace warden {

namespace {

// Label values come from the configuration and from fixed route names; model names a client
// sends are only counted once resolved (unknown ones are counted as "-"), so cardinality is
// bounded by the configuration.
std::string label(std::string_view v) {
  std::string out;
  for (char c : v) {
    if (c == '"' || c == '\\') out.push_back('\\');
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out.push_back(c);
  }
  return out;
}

template <typename Map>
void merge_map(Map& into, const Map& from) {
  for (const auto& [k, v] : from) into[k] += v;
}

}  // namespace

void Histogram::observe(double seconds) {
  size_t i = 0;
  while (i < kLatencyBuckets.size() && seconds > kLatencyBuckets[i]) ++i;
  ++counts[i];
  sum += seconds;
  ++count;
}

void Histogram::merge(const Histogram& other) {
  for (size_t i = 0; i < counts.size(); ++i) counts[i] += other.counts[i];
  sum += other.sum;
  count += other.count;
}

void Metrics::count_request(std::string_view route, int status, std::string_view model,
                            double seconds) {
  const RequestKeyView key{route, status, model};
  auto it = requests.find(key);
  if (it == requests.end())
    it = requests.emplace(RequestKey{std::string(route), status, std::string(model)}, 0).first;
  ++it->second;
  auto h = latency.find(route);
  if (h == latency.end()) h = latency.emplace(std::string(route), Histogram{}).first;
  h->second.observe(seconds);
}

void Metrics::count_upstream_error(std::string_view provider, std::string_view reason) {
  ++upstream_errors[fmt::format(R"(provider="{}",reason="{}")", label(provider), reason)];
}

void Metrics::count_retry(std::string_view provider) {
  ++upstream_retries[fmt::format(R"(provider="{}")", label(provider))];
}

void Metrics::count_failover(std::string_view model) {
  ++failovers[fmt::format(R"(model="{}")", label(model))];
}

void Metrics::count_limit_rejection(std::string_view rule) {
  ++limit_rejections[fmt::format(R"(rule="{}")", label(rule))];
}

void Metrics::count_limit_store_failure(bool fail_open) {
  ++limit_store_failures[fail_open ? R"(outcome="fail_open")" : R"(outcome="fail_closed")"];
}

void Metrics::count_findings(std::string_view cls, std::string_view direction, uint64_t n) {
  findings[fmt::format(R"(class="{}",direction="{}")", label(cls), direction)] += n;
}

void Metrics::merge(const Metrics& o) {
  merge_map(requests, o.requests);
  for (const auto& [k, h] : o.latency) latency[k].merge(h);
  merge_map(upstream_errors, o.upstream_errors);
  merge_map(upstream_retries, o.upstream_retries);
  merge_map(failovers, o.failovers);
  merge_map(limit_rejections, o.limit_rejections);
  merge_map(limit_store_failures, o.limit_store_failures);
  for (size_t i = 0; i < limit_store_commands.size(); ++i)
    limit_store_commands[i] += o.limit_store_commands[i];
  limit_store_round_trip.merge(o.limit_store_round_trip);
  for (size_t i = 0; i < limit_store_errors.size(); ++i)
    limit_store_errors[i] += o.limit_store_errors[i];
  limit_store_connects += o.limit_store_connects;
  for (size_t i = 0; i < limit_store_sentinel_asks.size(); ++i)
    limit_store_sentinel_asks[i] += o.limit_store_sentinel_asks[i];
  limit_leases_renewed += o.limit_leases_renewed;
  limit_leases_lost += o.limit_leases_lost;
  merge_map(findings, o.findings);
  in_flight += o.in_flight;
  connections += o.connections;
  connections_total += o.connections_total;
  connections_rejected += o.connections_rejected;
  sse_events += o.sse_events;
  tls_handshake_failures += o.tls_handshake_failures;
}

std::string Metrics::render(uint64_t config_reloads, uint64_t config_reload_failures) const {
  std::string out;
  auto counter_family = [&](const char* name, const char* help,
                            const std::map<std::string, uint64_t>& m) {
    out += fmt::format("# HELP {} {}\n# TYPE {} counter\n", name, help, name);
    for (const auto& [labels, v] : m) out += fmt::format("{}{{{}}} {}\n", name, labels, v);
  };
  out +=
      "# HELP warden_requests_total Requests by route, status and model.\n"
      "# TYPE warden_requests_total counter\n";
  for (const auto& [k, v] : requests) {
    out += fmt::format("warden_requests_total{{route=\"{}\",status=\"{}\",model=\"{}\"}} {}\n",
                       label(k.route), k.status, label(k.model), v);
  }
  out +=
      "# HELP warden_request_duration_seconds Request latency by route.\n"
      "# TYPE warden_request_duration_seconds histogram\n";
  for (const auto& [route, h] : latency) {
    uint64_t cumulative = 0;
    for (size_t i = 0; i < kLatencyBuckets.size(); ++i) {
      cumulative += h.counts[i];
      out += fmt::format("warden_request_duration_seconds_bucket{{route=\"{}\",le=\"{}\"}} {}\n",
                         route, kLatencyBuckets[i], cumulative);
    }
    cumulative += h.counts.back();
    out += fmt::format("warden_request_duration_seconds_bucket{{route=\"{}\",le=\"+Inf\"}} {}\n",
                       route, cumulative);
    out += fmt::format("warden_request_duration_seconds_sum{{route=\"{}\"}} {}\n", route, h.sum);
    out +=
        fmt::format("warden_request_duration_seconds_count{{route=\"{}\"}} {}\n", route, h.count);
  }
  counter_family("warden_upstream_errors_total", "Upstream failures by provider and reason.",
                 upstream_errors);
  counter_family("warden_upstream_retries_total", "Retried upstream attempts by provider.",
                 upstream_retries);
  counter_family("warden_failovers_total", "Requests moved to a model's next deployment.",
                 failovers);
  counter_family("warden_limit_rejections_total", "Requests refused (429) by a limit rule.",
                 limit_rejections);
  counter_family("warden_limit_store_failures_total",
                 "Requests whose limit store did not answer, refused or let through.",
                 limit_store_failures);
  // The Redis store's, once a worker has used it (or failed to: a host name that did not resolve).
  const bool redis =
      limit_store_connects + limit_store_sentinel_asks[0] + limit_store_sentinel_asks[1] +
          std::accumulate(limit_store_errors.begin(), limit_store_errors.end(), uint64_t{0}) >
      0;
  auto labelled = [&](const char* name, const char* help, const char* label_name,
                      std::initializer_list<const char*> values, const uint64_t* counts) {
    out += fmt::format("# HELP {} {}\n# TYPE {} counter\n", name, help, name);
    size_t i = 0;
    for (const char* v : values)
      out += fmt::format("{}{{{}=\"{}\"}} {}\n", name, label_name, v, counts[i++]);
  };
  if (redis) {
    labelled("warden_limit_store_commands_total", "Script commands sent to the Redis limit store.",
             "op", {"reserve", "settle", "release", "renew"}, limit_store_commands.data());
    out +=
        "# HELP warden_limit_store_round_trip_seconds Reservations and settlements, sent to "
        "answered.\n"
        "# TYPE warden_limit_store_round_trip_seconds histogram\n";
    uint64_t cumulative = 0;
    for (size_t i = 0; i < kLatencyBuckets.size(); ++i) {
      cumulative += limit_store_round_trip.counts[i];
      out += fmt::format("warden_limit_store_round_trip_seconds_bucket{{le=\"{}\"}} {}\n",
                         kLatencyBuckets[i], cumulative);
    }
    cumulative += limit_store_round_trip.counts.back();
    out += fmt::format(
        "warden_limit_store_round_trip_seconds_bucket{{le=\"+Inf\"}} {}\n"
        "warden_limit_store_round_trip_seconds_sum {}\n"
        "warden_limit_store_round_trip_seconds_count {}\n",
        cumulative, limit_store_round_trip.sum, limit_store_round_trip.count);
    labelled("warden_limit_store_errors_total",
             "Redis limit store commands unanswered in time, answered with an error, or lost "
             "with their connection; host names of the store that did not resolve.",
             "reason", {"timeout", "error", "lost", "resolve"}, limit_store_errors.data());
    labelled("warden_limit_store_sentinel_asks_total",
             "Sentinels asked for the primary: one named, or none (no answer, unknown name).",
             "outcome", {"primary", "none"}, limit_store_sentinel_asks.data());
    out += fmt::format(
        "# HELP warden_limit_store_connects_total Connections made to the Redis limit store.\n"
        "# TYPE warden_limit_store_connects_total counter\nwarden_limit_store_connects_total {}\n"
        "# HELP warden_limit_leases_renewed_total Leases of long requests renewed in Redis.\n"
        "# TYPE warden_limit_leases_renewed_total counter\nwarden_limit_leases_renewed_total {}\n"
        "# HELP warden_limit_leases_lost_total Leases found ended when renewed (Redis "
        "unreachable for a lease).\n"
        "# TYPE warden_limit_leases_lost_total counter\nwarden_limit_leases_lost_total {}\n",
        limit_store_connects, limit_leases_renewed, limit_leases_lost);
  }
  counter_family("warden_inspect_findings_total",
                 "Sensitive data found, by class and direction (request or answer).", findings);
  out += fmt::format(
      "# HELP warden_requests_in_flight Requests being handled.\n"
      "# TYPE warden_requests_in_flight gauge\nwarden_requests_in_flight {}\n"
      "# HELP warden_connections_open Client connections open.\n"
      "# TYPE warden_connections_open gauge\nwarden_connections_open {}\n"
      "# HELP warden_connections_total Client connections accepted.\n"
      "# TYPE warden_connections_total counter\nwarden_connections_total {}\n"
      "# HELP warden_connections_rejected_total Connections refused at max_connections.\n"
      "# TYPE warden_connections_rejected_total counter\nwarden_connections_rejected_total {}\n"
      "# HELP warden_sse_events_total Server-sent events relayed to clients.\n"
      "# TYPE warden_sse_events_total counter\nwarden_sse_events_total {}\n"
      "# HELP warden_tls_handshake_failures_total Client TLS handshakes that failed or timed "
      "out.\n"
      "# TYPE warden_tls_handshake_failures_total counter\nwarden_tls_handshake_failures_total "
      "{}\n"
      "# HELP warden_config_reloads_total Configuration snapshots published after start.\n"
      "# TYPE warden_config_reloads_total counter\nwarden_config_reloads_total {}\n"
      "# HELP warden_config_reload_failures_total Reloads rejected (old snapshot kept).\n"
      "# TYPE warden_config_reload_failures_total counter\nwarden_config_reload_failures_total "
      "{}\n",
      in_flight, connections, connections_total, connections_rejected, sse_events,
      tls_handshake_failures, config_reloads, config_reload_failures);
  return out;
}

}  // namespace warden
