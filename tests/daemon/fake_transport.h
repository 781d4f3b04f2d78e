// FakeTransport: records every request; the test answers them one by one (or sets an auto-answer).
#pragma once

#include <deque>
#include <functional>
#include <optional>
#include <string>
#include <utility>

#include "daemon/upstream/transport.h"

namespace dbx::testing {

class FakeTransport : public Transport {
 public:
  struct Pending {
    HttpRequest request;
    HttpCallback done;
  };

  void send(HttpRequest request, HttpCallback done) override {
    ++sent_;
    if (auto_answer_) {
      auto r = auto_answer_(request);
      done(std::move(r));
      return;
    }
    pending_.push_back(Pending{std::move(request), std::move(done)});
  }

  std::deque<Pending>& pending() { return pending_; }
  int sent() const { return sent_; }

  // Answers the oldest pending request.
  void reply(int status, std::string body, HttpHeaders headers = {}) {
    auto p = std::move(pending_.front());
    pending_.pop_front();
    HttpResponse r;
    r.status = status;
    r.body = std::move(body);
    r.headers = std::move(headers);
    p.done(std::move(r));
  }
  void fail(Error e) {
    auto p = std::move(pending_.front());
    pending_.pop_front();
    p.done(std::move(e));
  }

  void set_auto_answer(std::function<Result<HttpResponse>(const HttpRequest&)> f) {
    auto_answer_ = std::move(f);
  }

 private:
  std::deque<Pending> pending_;
  int sent_ = 0;
  std::function<Result<HttpResponse>(const HttpRequest&)> auto_answer_;
};

}  // namespace dbx::testing
