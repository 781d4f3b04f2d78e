// ClockWatch: a wall-clock step either way, and a suspend, are reported with their size at the
// next tick; NTP-sized drift and plain time passing are not.
#include "daemon/clock_watch.h"

#include <gtest/gtest.h>

#include <vector>

#include "tests/daemon/fake_runtime.h"

namespace dbx {
namespace {

using namespace std::chrono_literals;

class ClockWatchTest : public ::testing::Test {
 protected:
  ClockWatchTest() : watch(rt, [this](Millis step) { steps.push_back(step); }) { watch.start(); }

  testing::FakeRuntime rt;
  std::vector<Millis> steps;
  ClockWatch watch;
};

TEST_F(ClockWatchTest, TimePassingIsNoStep) {
  rt.advance(std::chrono::hours(3));
  EXPECT_TRUE(steps.empty());
}

TEST_F(ClockWatchTest, ReportsAForwardStepAtTheNextTick) {
  rt.advance(1s);
  rt.step_wall(std::chrono::hours(1));
  EXPECT_TRUE(steps.empty());
  rt.advance(ClockWatch::kTick);
  EXPECT_EQ(steps, std::vector<Millis>{std::chrono::hours(1)});
  rt.advance(ClockWatch::kTick * 10);  // reported once
  EXPECT_EQ(steps.size(), 1u);
}

TEST_F(ClockWatchTest, ReportsABackwardStep) {
  rt.step_wall(-std::chrono::minutes(10));
  rt.advance(ClockWatch::kTick);
  EXPECT_EQ(steps, std::vector<Millis>{-std::chrono::minutes(10)});
}

TEST_F(ClockWatchTest, ReportsAResumeFromSuspend) {
  rt.advance(3s);
  rt.suspend(std::chrono::hours(8));
  rt.advance(ClockWatch::kTick);
  EXPECT_EQ(steps, std::vector<Millis>{std::chrono::hours(8)});
}

TEST_F(ClockWatchTest, IgnoresDriftBelowTheThreshold) {
  rt.step_wall(ClockWatch::kThreshold - 1ms);
  rt.advance(ClockWatch::kTick);
  rt.step_wall(-(ClockWatch::kThreshold - 1ms));
  rt.advance(ClockWatch::kTick);
  EXPECT_TRUE(steps.empty());
}

}  // namespace
}  // namespace dbx
