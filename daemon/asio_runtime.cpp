// AsioRuntime: see asio_runtime.h.
#include "daemon/asio_runtime.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <utility>

namespace dbx {
namespace {

namespace asio = boost::asio;

// A steady_timer plus a flag: asio's cancel() cannot stop a handler that is already queued, the
// flag can, so a cancelled timer never fires (the Timer contract).
class AsioTimer : public Timer {
 public:
  explicit AsioTimer(asio::io_context& io) : timer_(io) {}

  void start(Millis delay, std::function<void()> fn, const std::shared_ptr<AsioTimer>& self) {
    timer_.expires_after(delay);
    // The handler holds the timer alive until it runs, so dropping the returned Timer does not
    // cancel it (runtime.h).
    timer_.async_wait([self, fn = std::move(fn)](boost::system::error_code ec) {
      if (ec || self->cancelled_) return;
      self->cancelled_ = true;  // fired: a later cancel() is a no-op
      fn();
    });
  }

  void cancel() override {
    if (cancelled_) return;
    cancelled_ = true;
    timer_.cancel();
  }

 private:
  asio::steady_timer timer_;
  bool cancelled_ = false;
};

}  // namespace

namespace {
std::mt19937_64 seeded_engine() {
  std::random_device rd;
  std::seed_seq seq{rd(), rd(), rd(), rd()};
  return std::mt19937_64(seq);
}
}  // namespace

AsioRuntime::AsioRuntime(asio::io_context& io) : io_(io), rng_(seeded_engine()) {}

TimePoint AsioRuntime::now() const {
  return Clock::now();
}

SteadyTime AsioRuntime::steady_now() const {
  return SteadyClock::now();
}

std::shared_ptr<Timer> AsioRuntime::after(Millis delay, std::function<void()> fn) {
  auto t = std::make_shared<AsioTimer>(io_);
  t->start(delay, std::move(fn), t);
  return t;
}

void AsioRuntime::post(std::function<void()> fn) {
  asio::post(io_, std::move(fn));
}

double AsioRuntime::random_unit() {
  // 53 random bits -> [0, 1) exactly representable; generate_canonical may round up to 1.0 with
  // some standard libraries.
  return static_cast<double>(rng_() >> 11) * 0x1.0p-53;
}

}  // namespace dbx
