// The published configuration snapshot. The control thread publishes; each worker keeps its own
// copy of the pointer and refreshes it only when the version number moves, so a request costs one
// relaxed atomic load, not a lock.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>

#include "config/config.h"

namespace warden {

class SnapshotHolder {
 public:
  void publish(ConfigPtr config) {
    std::lock_guard lock(mu_);
    current_ = std::move(config);
    version_.fetch_add(1, std::memory_order_release);
  }
  ConfigPtr load() const {
    std::lock_guard lock(mu_);
    return current_;
  }
  uint64_t version() const { return version_.load(std::memory_order_acquire); }

 private:
  mutable std::mutex mu_;
  ConfigPtr current_;
  std::atomic<uint64_t> version_{0};
};

}  // namespace warden
