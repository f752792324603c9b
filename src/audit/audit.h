// Audit: a tamper-evident record of every decision, written off the hot path by its own thread.
//
// Each instance keeps its own hash chain (chain id = instance id). Records are committed in
// batches: `batched` commits within 100 ms (a crash loses at most that window); `strict` makes
// the request wait until its record is committed before its response completes. When the store
// fails, `strict` refuses new requests (503) until it recovers; `batched` buffers up to a bound,
// then refuses too. No record is dropped silently.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "audit/record.h"

namespace warden::audit {

enum class Durability { kBatched, kStrict };

struct StoredRow {
  std::string chain;
  int64_t seq = 0;
  std::string prev_hash;
  std::string hash;
  std::string record;  // canonical JSON
};

// A place records are kept. Implementations: SQLite (embedded default), PostgreSQL.
class Store {
 public:
  virtual ~Store() = default;
  virtual bool open(std::string& error) = 0;
  // The head of `chain`: last seq and hash (0 and "" when empty).
  virtual bool head(const std::string& chain, int64_t& seq, std::string& hash,
                    std::string& error) = 0;
  // Appends all rows in one transaction.
  virtual bool append(const std::vector<StoredRow>& rows, std::string& error) = 0;
  // Reads rows in (chain, seq) order; `visit` returns false to stop.
  virtual bool scan(const std::function<bool(const StoredRow&)>& visit, std::string& error) = 0;
};

std::unique_ptr<Store> open_sqlite(const std::string& path, bool strict);
// `conninfo`: a libpq connection string ("host=127.0.0.1 dbname=warden user=…").
std::unique_ptr<Store> open_postgres(const std::string& conninfo);

class Writer {
 public:
  Writer(std::unique_ptr<Store> store, Durability durability, std::string instance,
         size_t max_buffer);
  ~Writer();  // commits what is queued, then stops
  Writer(const Writer&) = delete;
  Writer& operator=(const Writer&) = delete;

  bool start(std::string& error);
  // Queues `record`; `committed` runs on the writer thread once it is durable. Returns false
  // when the record is refused (store failing in strict mode, or the buffer is full).
  bool submit(Record record, std::function<void()> committed);
  // Whether new requests may be accepted (fail closed otherwise).
  bool accepting() const;
  Durability durability() const { return durability_; }

  uint64_t committed() const { return committed_.load(); }
  uint64_t failures() const { return failures_.load(); }
  size_t queued() const;

 private:
  void run();

  std::unique_ptr<Store> store_;
  Durability durability_;
  std::string instance_;
  size_t max_buffer_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  struct Item {
    Record record;
    std::function<void()> committed;
  };
  std::deque<Item> queue_;
  bool stopping_ = false;
  std::atomic<bool> healthy_{true};
  std::atomic<uint64_t> committed_{0};
  std::atomic<uint64_t> failures_{0};
  int64_t seq_ = 0;
  std::string hash_;
  std::thread thread_;
};

}  // namespace warden::audit
