// Audit: records per second the SQLite sink sustains (batched and strict; signed checkpoints off
// and on), the record's size, the time to build one inclusion proof in a store of 1,000,000
// records, and a generator of large audit files for timing `warden replay`
// (`audit_bench make-db FILE N`).
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <future>
#include <unordered_set>

#include "audit/audit.h"

namespace wa = warden::audit;

namespace {

// `version` 5: every record whole; 6 (the current one): compact, the repeating sets stored once.
wa::Record sample(int i, int64_t version = wa::Record::kVersion) {
  wa::Record r;
  r.v = version;
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

// A signing key for the checkpoint runs, made once per process.
std::shared_ptr<const wa::Key> bench_key() {
  static std::shared_ptr<const wa::Key> key = [] {
    const std::string path = "/tmp/warden-bench-key-" + std::to_string(::getpid());
    wa::Key::generate(path);
    auto k = std::make_shared<const wa::Key>(wa::Key::load_private(path));
    std::filesystem::remove(path);
    std::filesystem::remove(path + ".pub");
    return k;
  }();
  return key;
}

void write_store(std::unique_ptr<wa::Store> store, int n, bool strict, int in_flight,
                 bool checkpoints = false, int64_t version = wa::Record::kVersion) {
  wa::CheckpointOptions cp;
  if (checkpoints) {
    cp.key = bench_key();
    cp.log = false;  // every 1,000 records (the default) or 10 s
  }
  wa::Writer w(std::move(store), strict ? wa::Durability::kStrict : wa::Durability::kBatched,
               "bench-" + std::to_string(::getpid()) + "-" + std::to_string(n), 1u << 24,
               std::move(cp));
  std::string error;
  if (!w.start(error)) throw std::runtime_error(error);
  std::atomic<int> done{0};
  for (int i = 0; i < n; ++i) {
    // At most `in_flight` records outstanding, like that many concurrent strict requests.
    while (i - done.load() >= in_flight) usleep(50);
    w.submit(sample(i, version), [&] { ++done; });
  }
  while (done.load() < n) usleep(100);
}

void write_db(const std::string& path, int n, bool strict, int in_flight, bool checkpoints = false,
              int64_t version = wa::Record::kVersion) {
  write_store(wa::open_sqlite(path, strict), n, strict, in_flight, checkpoints, version);
}

// A store of `n` records made directly — chained, hashed and Merkle'd as the writer does, in
// transactions of 20,000 rows without the writer's queue and thread — with a signed checkpoint
// at the end: the 1,000,000-record store for the proof benchmark and for replay, in a fraction
// of the time the writer takes.
void generate_db(const std::string& path, int n) {
  auto store = wa::open_sqlite(path, false);
  std::string error;
  if (!store->open(error)) throw std::runtime_error(error);
  const std::string chain = "bench-" + std::to_string(::getpid()) + "-gen";
  wa::merkle::Frontier frontier;
  std::string prev(64, '0');
  wa::Batch batch;
  std::unordered_set<std::string> sets;
  for (int i = 1; i <= n; ++i) {
    wa::StoredRow r;
    r.chain = chain;
    r.seq = i;
    r.prev_hash = prev;
    const size_t before = batch.attrs.size();
    r.record = sample(i).stored(batch.attrs);
    for (size_t k = before; k < batch.attrs.size();) {
      if (!sets.insert(batch.attrs[k].hash).second)
        batch.attrs.erase(batch.attrs.begin() + static_cast<std::ptrdiff_t>(k));
      else
        ++k;
    }
    r.hash = wa::sha256_hex(prev, r.record);
    prev = r.hash;
    frontier.append(wa::merkle::leaf_hash(r.record),
                    [&](const wa::merkle::Node& node) { batch.nodes.push_back(node); });
    batch.rows.push_back(std::move(r));
    if (i == n) {
      wa::Checkpoint c;
      c.chain = chain;
      c.seq = n;
      c.hash = prev;
      c.root = warden::to_hex(frontier.root());
      c.ts_ms = 1'790'000'000'000 + n;
      c.sign(*bench_key());
      batch.checkpoints.emplace_back(n, c.text());
    }
    if (batch.rows.size() == 20'000 || i == n) {
      if (!store->append(chain, batch, error)) throw std::runtime_error(error);
      batch = wa::Batch{};
    }
  }
}

void remove_db(const std::string& path) {
  for (const char* suffix : {"", "-wal", "-shm", ".lock"}) std::filesystem::remove(path + suffix);
}

// Args: strict, checkpoints, compact. The same run compares checkpoints off and on (target:
// <= 5% fewer records/s with them on) and records whole (v5) against compact (v6);
// bytes_per_record is the SQLite file (records, Merkle subtrees, checkpoints, attribute sets)
// over the records, canonical_bytes a record's full canonical JSON, stored_bytes what is stored
// of it.
void BM_SqliteSink(benchmark::State& state) {
  const bool strict = state.range(0) != 0;
  const bool checkpoints = state.range(1) != 0;
  const int64_t version = state.range(2) != 0 ? wa::Record::kVersion : 5;
  const int n = 50'000;
  double bytes = 0;
  for (auto _ : state) {
    const std::string path = "/tmp/warden-audit-bench-" + std::to_string(::getpid()) + ".db";
    remove_db(path);
    write_db(path, n, strict, strict ? 64 : n, checkpoints, version);
    state.PauseTiming();
    {
      // Fold the WAL into the file so its size is the store's.
      auto s = wa::open_sqlite(path, false, true);
      std::string error;
      s->open(error);
    }
    bytes = static_cast<double>(std::filesystem::file_size(path)) +
            (std::filesystem::exists(path + "-wal")
                 ? static_cast<double>(std::filesystem::file_size(path + "-wal"))
                 : 0.0);
    remove_db(path);
    state.ResumeTiming();
  }
  state.counters["records_per_s"] =
      benchmark::Counter(static_cast<double>(n) * static_cast<double>(state.iterations()),
                         benchmark::Counter::kIsRate);
  state.counters["bytes_per_record"] = bytes / n;
  state.counters["canonical_bytes"] = static_cast<double>(sample(1, version).canonical().size());
  std::vector<wa::AttrSet> sets;
  state.counters["stored_bytes"] = static_cast<double>(sample(1, version).stored(sets).size());
}
BENCHMARK(BM_SqliteSink)
    ->Args({0, 0, 0})
    ->Args({0, 0, 1})
    ->Args({0, 1, 1})
    ->Args({1, 0, 1})
    ->Args({1, 1, 1})
    ->ArgNames({"strict", "checkpoints", "compact"})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// One inclusion proof (with its verification) for a random record of a 1,000,000-record store;
// the store is generated once (generate_db) and kept for the run.
void BM_InclusionProof1M(benchmark::State& state) {
  const int n = 1'000'000;
  const std::string path = "/tmp/warden-audit-bench-1m-" + std::to_string(::getpid()) + ".db";
  remove_db(path);
  const auto t0 = std::chrono::steady_clock::now();
  generate_db(path, n);
  state.counters["generate_s"] =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  auto store = wa::open_sqlite(path, false, true);
  std::string error;
  if (!store->open(error)) {
    state.SkipWithError(error.c_str());
    return;
  }
  const std::string chain = store->chains().front();
  const auto source = wa::node_source(*store, chain);
  const auto root = wa::merkle::root_of(n, source);
  uint64_t x = 88172645463325252ull;
  int64_t path_len = 0;
  for (auto _ : state) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    const int64_t m = static_cast<int64_t>(x % n);
    const auto path = wa::merkle::inclusion_proof(m, n, source);
    const auto row = store->row(chain, m + 1);
    if (!path || !row ||
        !wa::merkle::verify_inclusion(m, n, wa::merkle::leaf_hash(row->record), *path, *root)) {
      state.SkipWithError("proof failed");
      break;
    }
    path_len = static_cast<int64_t>(path->size());
  }
  state.counters["path_hashes"] = static_cast<double>(path_len);
  store.reset();
  remove_db(path);
}
BENCHMARK(BM_InclusionProof1M)->Unit(benchmark::kMicrosecond)->Iterations(2000);

// The PostgreSQL sink, against the server scripts/test-services starts on 127.0.0.1.
void BM_PostgresSink(benchmark::State& state) {  // Arg: strict
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
    remove_db(argv[2]);
    generate_db(argv[2], std::atoi(argv[3]));
    return 0;
  }
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  return 0;
}
