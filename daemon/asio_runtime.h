// AsioRuntime: the Runtime the daemon really runs on — system clock, steady_timer timers and
// posted calls on one io_context, and jitter from a seeded std::mt19937_64. Asio stays out of
// this header so engine code including it stays cheap.
#pragma once

#include <functional>
#include <memory>
#include <random>

#include "daemon/runtime.h"

namespace boost::asio {
class io_context;
}

namespace dbx {

class AsioRuntime : public Runtime {
 public:
  explicit AsioRuntime(boost::asio::io_context& io);

  TimePoint now() const override;
  SteadyTime steady_now() const override;
  std::shared_ptr<Timer> after(Millis delay, std::function<void()> fn) override;
  void post(std::function<void()> fn) override;
  double random_unit() override;
  // The loop itself, for the few engine helpers that need Asio objects (the process runner).
  boost::asio::io_context& io() const { return io_; }

 private:
  boost::asio::io_context& io_;
  std::mt19937_64 rng_;
};

}  // namespace dbx
