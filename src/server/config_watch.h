// When a polled configuration file may be reloaded. An editor or a deployment tool writing the
// file in place is seen part-way by a poll (a truncated file can still be valid YAML: a policy
// without its last rules, keys without the last one). So a change is reloaded only once two
// polls in a row read the same bytes, and the bytes reloaded are exactly those read.
#pragma once

#include <optional>
#include <string>
#include <utility>

namespace warden {

class ConfigWatch {
 public:
  explicit ConfigWatch(std::string current) : current_(std::move(current)) {}

  // `now`: the file's bytes at this poll (nullopt: it could not be read). Returns the bytes to
  // reload from when they differ from the current ones and are what the previous poll read.
  std::optional<std::string> poll(std::optional<std::string> now) {
    if (!now || *now == current_) {
      pending_.reset();
      return std::nullopt;
    }
    if (pending_ && *pending_ == *now) {
      pending_.reset();
      current_ = *now;
      return current_;
    }
    pending_ = std::move(now);
    return std::nullopt;
  }

  // The bytes a reload (SIGHUP) just read: not reloaded again by the poll.
  void reloaded(std::string bytes) {
    current_ = std::move(bytes);
    pending_.reset();
  }

 private:
  std::string current_;
  std::optional<std::string> pending_;
};

}  // namespace warden
