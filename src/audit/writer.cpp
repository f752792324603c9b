#include <chrono>
#include <cstdio>

#include "audit/audit.h"

namespace warden::audit {

Writer::Writer(std::unique_ptr<Store> store, Durability durability, std::string instance,
               size_t max_buffer)
    : store_(std::move(store)),
      durability_(durability),
      instance_(std::move(instance)),
      max_buffer_(max_buffer) {}

bool Writer::start(std::string& error) {
  if (!store_->open(error)) return false;
  if (!store_->head(instance_, seq_, hash_, error)) return false;
  if (hash_.empty()) hash_ = std::string(64, '0');
  thread_ = std::thread([this] { run(); });
  return true;
}

Writer::~Writer() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

bool Writer::accepting() const {
  if (healthy_.load(std::memory_order_relaxed)) return true;
  if (durability_ == Durability::kStrict) return false;
  std::lock_guard lock(mu_);
  return queue_.size() < max_buffer_;
}

size_t Writer::queued() const {
  std::lock_guard lock(mu_);
  return queue_.size();
}

bool Writer::submit(Record record, std::function<void()> committed) {
  {
    std::lock_guard lock(mu_);
    if (queue_.size() >= max_buffer_) return false;
    if (!healthy_.load(std::memory_order_relaxed) && durability_ == Durability::kStrict)
      return false;
    queue_.push_back({std::move(record), std::move(committed)});
  }
  // Strict requests wait for their commit: wake the writer at once (group commit still batches
  // whatever else has arrived). Batched records wait for the 100 ms tick.
  if (durability_ == Durability::kStrict) cv_.notify_one();
  return true;
}

void Writer::run() {
  using namespace std::chrono_literals;
  std::vector<Item> batch;
  std::vector<StoredRow> rows;
  for (;;) {
    {
      std::unique_lock lock(mu_);
      cv_.wait_for(lock, durability_ == Durability::kStrict ? 100ms : 50ms, [&] {
        return stopping_ || (!queue_.empty() && durability_ == Durability::kStrict);
      });
      if (queue_.empty() && batch.empty()) {
        if (stopping_) return;
        continue;
      }
      while (!queue_.empty() && batch.size() < 16384) {
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    // Chain the batch: seq and hash are assigned here, off the request path.
    rows.clear();
    int64_t seq = seq_;
    std::string prev = hash_;
    for (Item& it : batch) {
      StoredRow r;
      r.chain = instance_;
      r.seq = ++seq;
      r.prev_hash = prev;
      r.record = it.record.canonical();
      r.hash = sha256_hex(prev, r.record);
      prev = r.hash;
      rows.push_back(std::move(r));
    }
    std::string error;
    if (store_->append(rows, error)) {
      seq_ = seq;
      hash_ = prev;
      committed_ += batch.size();
      if (!healthy_.exchange(true))
        std::fprintf(stderr, "{\"level\":\"info\",\"msg\":\"audit store recovered\"}\n");
      for (Item& it : batch) {
        if (it.committed) it.committed();
      }
      batch.clear();
      continue;
    }
    // Keep the batch (nothing is dropped) and retry; meanwhile the gateway fails closed.
    ++failures_;
    if (healthy_.exchange(false)) {
      std::fprintf(stderr, "{\"level\":\"error\",\"msg\":\"audit store failing: %s\"}\n",
                   error.c_str());
    }
    {
      std::unique_lock lock(mu_);
      if (stopping_ && failures_ > 50) return;  // shutting down with a dead store: give up
      cv_.wait_for(lock, 200ms, [&] { return stopping_; });
    }
  }
}

}  // namespace warden::audit
