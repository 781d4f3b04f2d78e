#include "daemon/clock_watch.h"

#include <utility>

namespace dbx {

ClockWatch::ClockWatch(Runtime& runtime, OnStep on_step, Millis tick, Millis threshold)
    : rt_(runtime),
      on_step_(std::move(on_step)),
      tick_(tick),
      threshold_(threshold),
      wall_(runtime.now()),
      steady_(runtime.steady_now()) {}

ClockWatch::~ClockWatch() {
  if (timer_) timer_->cancel();
}

void ClockWatch::start() {
  wall_ = rt_.now();
  steady_ = rt_.steady_now();
  arm();
}

void ClockWatch::arm() {
  if (timer_) timer_->cancel();
  timer_ = rt_.after(tick_, [this] {
    timer_.reset();
    check();
    arm();
  });
}

void ClockWatch::check() {
  const TimePoint wall = rt_.now();
  const SteadyTime steady = rt_.steady_now();
  const auto step = std::chrono::duration_cast<Millis>((wall - wall_) - (steady - steady_));
  wall_ = wall;
  steady_ = steady;
  if (step >= threshold_ || step <= -threshold_) on_step_(step);
}

}  // namespace dbx
