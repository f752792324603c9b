// A deadline for a read: when it expires, a callback cancels the pending operation (so that the
// caller can still answer, e.g. 408). Only included by the files that arm one.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <memory>
#include <utility>

namespace warden {

// cancel() does not always complete a pending wait with an error: when the timer expired just
// before, its successful completion is already queued and runs after cancel() returned. The
// handler then finds its ticket disarmed and does nothing (the callback's captures, e.g. a
// request coroutine's locals, may be gone by then).
class Deadline {
 public:
  explicit Deadline(const boost::asio::any_io_executor& executor) : timer_(executor) {}
  ~Deadline() { cancel(); }
  Deadline(const Deadline&) = delete;
  Deadline& operator=(const Deadline&) = delete;

  // Runs `on_expiry` once when `after` has passed, unless cancel() or arm() came first.
  template <typename F>
  void arm(std::chrono::milliseconds after, F on_expiry) {
    cancel();
    ticket_ = std::make_shared<bool>(true);
    timer_.expires_after(after);
    timer_.async_wait(
        [ticket = ticket_, f = std::move(on_expiry)](const boost::system::error_code& ec) mutable {
          if (ec || !*ticket) return;
          *ticket = false;
          f();
        });
  }

  void cancel() {
    if (ticket_) *ticket_ = false;
    ticket_.reset();
    timer_.cancel();
  }

 private:
  boost::asio::steady_timer timer_;
  std::shared_ptr<bool> ticket_;
};

}  // namespace warden
