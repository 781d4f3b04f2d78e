// Waiters: add, expire by deadline, settle; completions run inline from the settling event.
#include "daemon/cache/waiters.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/daemon/fake_runtime.h"

namespace dbx {
namespace {

using testing::FakeRuntime;

TEST(Waiters, SettleAnswersEveryoneInOrderAndNeverFromAdd) {
  FakeRuntime rt;
  Waiters<int> w(rt, [](const std::monostate&) { return -1; });
  std::vector<std::string> log;
  w.add(Seconds(10), {}, [&](int v) { log.push_back("a" + std::to_string(v)); });
  w.add(Seconds(10), {}, [&](int v) { log.push_back("b" + std::to_string(v)); });
  rt.run_ready();
  EXPECT_TRUE(log.empty()) << "add() never answers";
  EXPECT_EQ(w.size(), 2u);
  w.settle_all(7);
  EXPECT_EQ(log, (std::vector<std::string>{"a7", "b7"})) << "inline, in arrival order";
  EXPECT_TRUE(w.empty());
  rt.advance(Millis(20'000));
  EXPECT_EQ(log.size(), 2u) << "a settled waiter's deadline does nothing";
}

TEST(Waiters, DeadlineExpiresOnlyThatWaiter) {
  FakeRuntime rt;
  Waiters<int, int> w(rt, [](const int& info) { return -info; });
  std::vector<int> got;
  w.add(Seconds(1), 1, [&](int v) { got.push_back(v); });
  w.add(Seconds(5), 2, [&](int v) { got.push_back(v); });
  rt.advance(Millis(1'000));
  EXPECT_EQ(got, std::vector<int>{-1});
  EXPECT_EQ(w.size(), 1u);
  rt.advance(Millis(4'000));
  EXPECT_EQ(got, (std::vector<int>{-1, -2}));
}

TEST(Waiters, SettleIfKeepsTheOthersAndADoneMayAddAgain) {
  FakeRuntime rt;
  Waiters<int, int> w(rt, [](const int&) { return 0; });
  std::vector<int> got;
  for (int need : {1, 5, 2})
    w.add(Seconds(10), need, [&, need](int v) {
      got.push_back(v);
      if (need == 1) w.add(Seconds(10), 9, [&](int x) { got.push_back(100 + x); });
    });
  // Settle those that need at most 2.
  EXPECT_EQ(w.settle_if([](const int& need) -> std::optional<int> {
    if (need <= 2) return need * 10;
    return std::nullopt;
  }),
            2u);
  EXPECT_EQ(got, (std::vector<int>{10, 20}));
  std::vector<int> infos;
  w.for_each([&](const int& i) { infos.push_back(i); });
  EXPECT_EQ(infos, (std::vector<int>{5, 9})) << "kept in order, the new one after";
  w.settle_all(3);
  EXPECT_EQ(got, (std::vector<int>{10, 20, 3, 103}));
}

TEST(Waiters, AbandonAndDestructionDropWaitersUnanswered) {
  FakeRuntime rt;
  int answered = 0;
  {
    Waiters<int> w(rt, [](const std::monostate&) { return 0; });
    w.add(Seconds(1), {}, [&](int) { ++answered; });
    w.abandon();
    EXPECT_TRUE(w.empty());
    w.add(Seconds(1), {}, [&](int) { ++answered; });
  }
  rt.advance(Millis(2'000));  // timers of a destroyed list do nothing
  EXPECT_EQ(answered, 0);
}

}  // namespace
}  // namespace dbx
