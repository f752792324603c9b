// Audit: records per second the SQLite sink sustains (batched and strict), and a generator of
// large audit files for timing `warden replay` (`audit_bench make-db FILE N`).
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <future>

#include "audit/audit.h"

namespace wa = warden::audit;

namespace {

wa::Record sample(int i) {
  wa::Record r;
  r.ts_ms = 1'790'000'000'000 + i;
  r.request_id = "req_" + std::to_string(i);
  r.instance = "bench";
  r.route = "chat";
  r.principal_id = "user-" + std::to_string(i % 50);
  r.principal_kind = "person";
  r.principal_team = i % 2 ? "risk" : "ops";
  r.model = i % 3 ? "bench" : "other";
  r.model_developer = "Bench";
  r.model_origin = "EU";
  r.candidates = {{"bench-local", "bench", "Bench", "DE", "local", 0, false},
                  {"bench-abroad", "bench", "Far", "US", "us", 30, false}};
  r.request_kind = "chat";
  r.decision = "permit";
  r.deployment = "bench-local";
  r.rules = {"allow-all"};
  if (i % 4 == 0) r.request_classes = {{"pii.email", 1}};
  r.prompt_tokens = 1150;
  r.completion_tokens = 160;
  r.status = 200;
  r.upstream_status = 200;
  r.latency_ms = 12.5;
  r.policy_version = "0123456789abcdef";
  return r;
}

void write_store(std::unique_ptr<wa::Store> store, int n, bool strict, int in_flight) {
  wa::Writer w(std::move(store), strict ? wa::Durability::kStrict : wa::Durability::kBatched,
               "bench-" + std::to_string(::getpid()) + "-" + std::to_string(n), 1u << 24);
  std::string error;
  if (!w.start(error)) throw std::runtime_error(error);
  std::atomic<int> done{0};
  for (int i = 0; i < n; ++i) {
    // At most `in_flight` records outstanding, like that many concurrent strict requests.
    while (i - done.load() >= in_flight) usleep(50);
    w.submit(sample(i), [&] { ++done; });
  }
  while (done.load() < n) usleep(100);
}

void write_db(const std::string& path, int n, bool strict, int in_flight) {
  write_store(wa::open_sqlite(path, strict), n, strict, in_flight);
}

void BM_SqliteSink(benchmark::State& state) {
  const bool strict = state.range(0) != 0;
  const int n = 50'000;
  for (auto _ : state) {
    const std::string path = "/tmp/warden-audit-bench-" + std::to_string(::getpid()) + ".db";
    std::filesystem::remove(path);
    write_db(path, n, strict, strict ? 64 : n);
    std::filesystem::remove(path);
    std::filesystem::remove(path + "-wal");
    std::filesystem::remove(path + "-shm");
  }
  state.counters["records_per_s"] =
      benchmark::Counter(static_cast<double>(n) * static_cast<double>(state.iterations()),
                         benchmark::Counter::kIsRate);
}
BENCHMARK(BM_SqliteSink)
    ->Arg(0)
    ->Arg(1)
    ->ArgName("strict")
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// The PostgreSQL sink, against the server scripts/test-services starts on 127.0.0.1.
void BM_PostgresSink(benchmark::State& state) {
  const char* env = std::getenv("WARDEN_TEST_POSTGRES");
  const std::string conninfo =
      env ? env : "host=127.0.0.1 port=5432 dbname=warden_test user=warden password=warden";
  std::string error;
  if (!wa::open_postgres(conninfo)->open(error)) {
    state.SkipWithError(("no PostgreSQL: " + error).c_str());
    return;
  }
  const bool strict = state.range(0) != 0;
  const int n = 50'000;
  for (auto _ : state) write_store(wa::open_postgres(conninfo), n, strict, strict ? 64 : n);
  state.counters["records_per_s"] =
      benchmark::Counter(static_cast<double>(n) * static_cast<double>(state.iterations()),
                         benchmark::Counter::kIsRate);
}
BENCHMARK(BM_PostgresSink)
    ->Arg(0)
    ->Arg(1)
    ->ArgName("strict")
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace

int main(int argc, char** argv) {
  if (argc == 4 && std::strcmp(argv[1], "make-db") == 0) {
    std::filesystem::remove(argv[2]);
    write_db(argv[2], std::atoi(argv[3]), false, std::atoi(argv[3]));
    return 0;
  }
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  return 0;
}
