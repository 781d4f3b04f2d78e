// AsioRuntime over a real io_context: timers fire in due order, cancel() stops them, post() never
// runs inline, random_unit() stays in [0, 1).
#include "daemon/asio_runtime.h"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <string>
#include <vector>

namespace dbx {
namespace {

TEST(AsioRuntime, TimersFireInDueOrder) {
  boost::asio::io_context io;
  AsioRuntime rt(io);
  std::vector<int> fired;
  auto t3 = rt.after(Millis(30), [&] { fired.push_back(3); });
  auto t1 = rt.after(Millis(1), [&] { fired.push_back(1); });
  auto t2 = rt.after(Millis(15), [&] { fired.push_back(2); });
  io.run();
  EXPECT_EQ(fired, (std::vector<int>{1, 2, 3}));
}

TEST(AsioRuntime, CancelledTimerNeverFires) {
  boost::asio::io_context io;
  AsioRuntime rt(io);
  std::vector<std::string> fired;
  auto keep = rt.after(Millis(5), [&] { fired.push_back("kept"); });
  auto dropped = rt.after(Millis(1), [&] { fired.push_back("cancelled"); });
  dropped->cancel();
  dropped->cancel();  // idempotent
  io.run();
  EXPECT_EQ(fired, (std::vector<std::string>{"kept"}));
  keep->cancel();  // after firing: a no-op
}

TEST(AsioRuntime, CancelFromAnEarlierCallbackDueAtTheSameTime) {
  // Both timers are due; the first cancels the second, whose handler may already be queued.
  boost::asio::io_context io;
  AsioRuntime rt(io);
  std::shared_ptr<Timer> second;
  int second_fired = 0;
  auto first = rt.after(Millis(0), [&] { second->cancel(); });
  second = rt.after(Millis(0), [&] { ++second_fired; });
  io.run();
  EXPECT_EQ(second_fired, 0);
}

TEST(AsioRuntime, DroppingTheTimerDoesNotCancelIt) {
  boost::asio::io_context io;
  AsioRuntime rt(io);
  bool fired = false;
  rt.after(Millis(1), [&] { fired = true; });  // handle discarded
  io.run();
  EXPECT_TRUE(fired);
}

TEST(AsioRuntime, PostNeverRunsInline) {
  boost::asio::io_context io;
  AsioRuntime rt(io);
  std::vector<int> order;
  rt.post([&] {
    rt.post([&] { order.push_back(2); });
    order.push_back(1);
  });
  EXPECT_TRUE(order.empty());
  io.run();
  EXPECT_EQ(order, (std::vector<int>{1, 2}));
}

TEST(AsioRuntime, NowIsTheSystemClock) {
  boost::asio::io_context io;
  AsioRuntime rt(io);
  auto before = Clock::now();
  auto t = rt.now();
  EXPECT_LE(before, t);
  EXPECT_LE(t, Clock::now());
}

TEST(AsioRuntime, RandomUnitInRange) {
  boost::asio::io_context io;
  AsioRuntime rt(io);
  double lo = 1, hi = 0;
  for (int i = 0; i < 10000; ++i) {
    double r = rt.random_unit();
    ASSERT_GE(r, 0.0);
    ASSERT_LT(r, 1.0);
    lo = std::min(lo, r);
    hi = std::max(hi, r);
  }
  EXPECT_LT(lo, 0.01);  // spread, not a constant
  EXPECT_GT(hi, 0.99);
}

}  // namespace
}  // namespace dbx
