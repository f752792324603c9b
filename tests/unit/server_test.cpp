#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include <thread>

#include "server/config_watch.h"
#include "server/deadline.h"

namespace warden {
namespace {

namespace net = boost::asio;
using namespace std::chrono_literals;

// The interleaving of a read that completes just as its deadline expires: the timer's successful
// completion is already queued when the reader (a handler queued before it) cancels the deadline.
TEST(Deadline, AnExpiredDeadlineCancelledBeforeItsHandlerRanDoesNotFire) {
  net::io_context ioc;
  Deadline deadline(ioc.get_executor());
  int fired = 0;
  bool cancelled = false;
  net::post(ioc, [&] {
    deadline.cancel();  // the read completed first
    cancelled = true;
  });
  deadline.arm(0ms, [&] { ++fired; });
  // Make sure the timer is due when the event loop first looks: its completion is then queued
  // behind the handler above, which runs first.
  std::this_thread::sleep_for(5ms);
  ioc.run();
  EXPECT_TRUE(cancelled);
  EXPECT_EQ(fired, 0);
}

TEST(Deadline, FiresOnceWhenNotCancelledAndNotAfterRearming) {
  net::io_context ioc;
  Deadline deadline(ioc.get_executor());
  int first = 0;
  int second = 0;
  deadline.arm(0ms, [&] { ++first; });
  ioc.run();
  EXPECT_EQ(first, 1);
  ioc.restart();
  deadline.arm(0ms, [&] { ++first; });
  deadline.arm(1h, [&] { ++second; });  // re-arming disarms the first
  net::post(ioc, [&] { deadline.cancel(); });
  ioc.run();
  EXPECT_EQ(first, 1);
  EXPECT_EQ(second, 0);
}

// A file being written is read part-way by the polls; only bytes two polls agree on are reloaded.
TEST(ConfigWatch, AFileSeenPartWayIsNotReloadedUntilTwoPollsReadTheSameBytes) {
  ConfigWatch watch("server: {}\nkeys: [a, b]\n");
  EXPECT_FALSE(watch.poll("server: {}\nkeys: [a, b]\n"));  // unchanged
  EXPECT_FALSE(watch.poll("server: {}\n"));                // the writer truncated it
  EXPECT_FALSE(watch.poll("server: {}\nkeys: [a"));        // and is still writing
  EXPECT_FALSE(watch.poll(std::nullopt));                  // gone for a moment (replaced)
  EXPECT_FALSE(watch.poll("server: {}\nkeys: [a, c]\n"));
  const auto reload = watch.poll("server: {}\nkeys: [a, c]\n");
  ASSERT_TRUE(reload.has_value());
  EXPECT_EQ(*reload, "server: {}\nkeys: [a, c]\n");
  EXPECT_FALSE(watch.poll("server: {}\nkeys: [a, c]\n"));  // reloaded once
  // What a SIGHUP reloaded is not reloaded again by the poll.
  watch.reloaded("server: {}\n");
  EXPECT_FALSE(watch.poll("server: {}\n"));
  EXPECT_FALSE(watch.poll("server: {}\n"));
}

}  // namespace
}  // namespace warden
