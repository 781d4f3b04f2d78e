// HttpListener over a socketpair, with the FakeRuntime's clock: requests sent in pieces, pipelined
// requests answered in order (inline and later), each phase's timeout (a silent new connection,
// the header, the body, keep-alive idle, a write the client does not take), a write that would
// block, a wall-clock step that must close nothing, the connection cap and a graceful stop.
#include "daemon/server/http_listener.h"

#include <dirent.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "daemon/server/request_sender.h"
#include "tests/daemon/fake_runtime.h"

namespace dbx {
namespace {

using namespace std::chrono_literals;

class Listening : public ::testing::Test {
 protected:
  void SetUp() override {
    limits_.header_timeout_seconds = 5;
    limits_.idle_timeout_seconds = 60;
  }
  void TearDown() override {
    for (int fd : clients_) ::close(fd);
    if (listener_) listener_->stop();
    pump();
  }

  void make_listener() {
    listener_ =
        HttpListener::create(HttpListener::Protocol::unix_stream, io_, rt_, limits_, [this](int) {
          return HttpListener::Admission{
              [this](const InboundRequest& req, std::function<void(ApiResponse)> done) {
                seen_.emplace_back(req.target);
                senders_.push_back(req.sender != nullptr ? req.sender->pid : -1);
                ApiResponse r{200, body_.empty() ? std::string(req.target) : body_, "text/plain"};
                if (answer_later_) {
                  held_.push_back([done = std::move(done), r]() mutable { done(std::move(r)); });
                  return;
                }
                done(std::move(r));
              },
              std::nullopt};
        });
  }

  // A new client connection; returns the client's end.
  int connect() {
    if (!listener_) make_listener();
    int fds[2];
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
    if (server_sndbuf_) {
      ::setsockopt(fds[1], SOL_SOCKET, SO_SNDBUF, &server_sndbuf_, sizeof server_sndbuf_);
      ::setsockopt(fds[0], SOL_SOCKET, SO_RCVBUF, &server_sndbuf_, sizeof server_sndbuf_);
    }
    listener_->adopt(fds[1]);
    clients_.push_back(fds[0]);
    pump();
    return fds[0];
  }

  // Runs what is ready on the loop (socket events and posted resumptions) until nothing is.
  void pump() {
    for (int i = 0; i < 100; ++i) {
      io_.restart();
      rt_.run_ready();
      if (io_.poll() == 0) {
        io_.restart();
        return;
      }
    }
  }

  void advance(Millis d) {
    rt_.advance(d);
    pump();
  }

  // Sends and lets the listener take the bytes in.
  void send(int fd, std::string_view bytes) {
    ASSERT_EQ(::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(bytes.size()));
    pump();
  }

  // Everything the client can read now (the loop pumped between reads).
  std::string receive(int fd) {
    std::string got;
    char buf[65536];
    for (;;) {
      pump();
      const ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
      if (n <= 0) return got;
      got.append(buf, static_cast<std::size_t>(n));
    }
  }

  // True when the server closed its end (the client reads end of stream, after any data).
  bool closed(int fd) {
    receive(fd);
    char c;
    return ::recv(fd, &c, 1, MSG_DONTWAIT | MSG_PEEK) == 0;
  }

  static std::size_t answers(const std::string& bytes) {
    std::size_t n = 0;
    for (auto at = bytes.find("HTTP/1.1 "); at != std::string::npos;
         at = bytes.find("HTTP/1.1 ", at + 1))
      ++n;
    return n;
  }

  boost::asio::io_context io_;
  testing::FakeRuntime rt_;
  ServerLimits limits_;
  std::shared_ptr<HttpListener> listener_;
  std::vector<int> clients_;
  std::vector<std::string> seen_;
  std::vector<pid_t> senders_;  // per request: the sender's pid the listener gave (-1: none)
  std::vector<std::function<void()>> held_;
  bool answer_later_ = false;
  std::string body_;  // empty: answer the request's target
  int server_sndbuf_ = 0;
};

// Sends `bytes` on `fd` from a child process, which exits after; returns its pid.
pid_t send_from_child(int fd, std::string_view bytes) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    const bool sent =
        ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(bytes.size());
    ::_exit(sent ? 0 : 1);
  }
  int status = -1;
  ::waitpid(pid, &status, 0);
  EXPECT_EQ(status, 0);
  return pid;
}

std::size_t open_fds() {
  std::size_t n = 0;
  DIR* d = ::opendir("/proc/self/fd");
  while (d != nullptr && ::readdir(d) != nullptr) ++n;
  if (d != nullptr) ::closedir(d);
  return n;
}

// Each request carries the process that sent its bytes, not the one that made the connection.
TEST_F(Listening, GivesEachRequestItsSendersPid) {
  const int fd = connect();
  send(fd, "GET /mine HTTP/1.1\r\nHost: x\r\n\r\n");
  const pid_t child = send_from_child(fd, "GET /child HTTP/1.1\r\nHost: x\r\n\r\n");
  pump();
  EXPECT_EQ(answers(receive(fd)), 2u);
  ASSERT_EQ(senders_.size(), 2u);
  EXPECT_EQ(senders_[0], ::getpid());
  EXPECT_EQ(senders_[1], child);
}

TEST_F(Listening, ServesARequestSplitOverTwoReadsFromOneSender) {
  const int fd = connect();
  send(fd, "GET /split HTTP/1.1\r\nHo");
  send(fd, "st: x\r\n\r\n");
  EXPECT_NE(receive(fd).find("200 OK"), std::string::npos);
  ASSERT_EQ(senders_.size(), 1u);
  EXPECT_EQ(senders_[0], ::getpid());
}

// One process begins a request, another finishes it: no one's request; 400 and close.
TEST_F(Listening, RefusesARequestWhoseBytesCameFromTwoSenders) {
  const int fd = connect();
  send(fd, "GET /split HTTP/1.1\r\nHo");
  send_from_child(fd, "st: x\r\n\r\n");
  pump();
  const std::string got = receive(fd);
  EXPECT_NE(got.find("400 Bad Request"), std::string::npos) << got;
  EXPECT_NE(got.find("more than one process"), std::string::npos) << got;
  EXPECT_TRUE(seen_.empty());
  EXPECT_TRUE(closed(fd));
}

// The pidfds the kernel attaches to every read are closed or kept once per sender: none leaks.
TEST_F(Listening, LeaksNoDescriptorOverManyRequestsAndConnections) {
  connect();  // the listener made, its first connection open
  const std::size_t before = open_fds();
  for (int i = 0; i < 50; ++i) {
    const int fd = connect();
    for (int j = 0; j < 10; ++j) send(fd, "GET /n HTTP/1.1\r\nHost: x\r\n\r\n");
    send_from_child(fd, "GET /c HTTP/1.1\r\nHost: x\r\n\r\n");
    EXPECT_EQ(answers(receive(fd)), 11u);
    ::close(fd);
    clients_.pop_back();
    pump();
  }
  EXPECT_EQ(seen_.size(), 550u);
  EXPECT_EQ(listener_->connections(), 1u);
  EXPECT_EQ(open_fds(), before);
}

// Descriptors a client passes along with its bytes (SCM_RIGHTS) are closed, not collected.
TEST_F(Listening, ClosesDescriptorsAClientPassesWithItsRequest) {
  const int fd = connect();
  // A first request without descriptors: the listener keeps the sender's pidfd from then on.
  send(fd, "GET /first HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(answers(receive(fd)), 1u);
  const std::size_t before = open_fds();
  for (int i = 0; i < 20; ++i) {
    char request[] = "GET /r HTTP/1.1\r\nHost: x\r\n\r\n";
    iovec iov{request, sizeof request - 1};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    cmsghdr* h = CMSG_FIRSTHDR(&msg);
    h->cmsg_level = SOL_SOCKET;
    h->cmsg_type = SCM_RIGHTS;
    h->cmsg_len = CMSG_LEN(sizeof(int));
    const int passed = STDERR_FILENO;
    std::memcpy(CMSG_DATA(h), &passed, sizeof passed);
    ASSERT_EQ(::sendmsg(fd, &msg, MSG_NOSIGNAL), static_cast<ssize_t>(iov.iov_len));
    pump();
  }
  EXPECT_EQ(answers(receive(fd)), 20u);
  EXPECT_EQ(open_fds(), before);
}

TEST_F(Listening, ServesARequestThatArrivesInPieces) {
  const int c = connect();
  send(c, "GET /pie");
  EXPECT_EQ(receive(c), "");
  send(c, "ces HTTP/1.1\r\nHo");
  EXPECT_EQ(receive(c), "");
  send(c, "st: x\r\n");
  EXPECT_EQ(receive(c), "");
  EXPECT_TRUE(seen_.empty());
  send(c, "\r\n");
  const std::string got = receive(c);
  EXPECT_EQ(seen_, std::vector<std::string>{"/pieces"});
  EXPECT_EQ(got.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << got;
  EXPECT_TRUE(got.ends_with("\r\n\r\n/pieces")) << got;
  EXPECT_FALSE(closed(c));
}

// The wait for a kept-alive connection's next request reads into a 512-byte buffer: requests of
// every size around it, sent at once after a first answer, are served whole.
TEST_F(Listening, ServesRequestsLongerThanTheWaitBufferOnAKeptAliveConnection) {
  const int c = connect();
  send(c, "GET /first HTTP/1.1\r\n\r\n");
  EXPECT_EQ(answers(receive(c)), 1u);
  for (std::size_t size : {100u, 511u, 512u, 513u, 1024u, 6000u}) {
    const std::string head = "GET /" + std::to_string(size) + " HTTP/1.1\r\nX-Pad: ";
    const std::string tail = "\r\n\r\n";
    send(c, head + std::string(size - std::min(size, head.size() + tail.size()), 'p') + tail);
    const std::string got = receive(c);
    EXPECT_EQ(answers(got), 1u) << size;
    EXPECT_TRUE(got.ends_with("\r\n\r\n/" + std::to_string(size))) << size;
  }
  EXPECT_EQ(seen_.size(), 7u);
  EXPECT_FALSE(closed(c));
}

TEST_F(Listening, AnswersPipelinedRequestsInOrderWhenAnsweredAtOnce) {
  const int c = connect();
  send(c, "GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\nGET /3 HTTP/1.1\r\n\r\n");
  const std::string got = receive(c);
  EXPECT_EQ(seen_, (std::vector<std::string>{"/1", "/2", "/3"}));
  EXPECT_EQ(answers(got), 3u);
  EXPECT_LT(got.find("\r\n\r\n/1"), got.find("\r\n\r\n/2"));
  EXPECT_LT(got.find("\r\n\r\n/2"), got.find("\r\n\r\n/3"));
}

TEST_F(Listening, AnswersPipelinedRequestsInOrderWhenAnsweredLater) {
  answer_later_ = true;
  const int c = connect();
  send(c, "GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\nGET /3 HTTP/1.1\r\n\r\n");
  EXPECT_EQ(receive(c), "");
  // One request at a time: the next is not routed before the previous one is answered.
  ASSERT_EQ(seen_, std::vector<std::string>{"/1"});
  std::string got;
  for (std::size_t i = 0; i < 3; ++i) {
    ASSERT_EQ(held_.size(), i + 1);
    held_[i]();
    got += receive(c);
    EXPECT_EQ(answers(got), i + 1);
  }
  EXPECT_EQ(seen_, (std::vector<std::string>{"/1", "/2", "/3"}));
  EXPECT_LT(got.find("\r\n\r\n/1"), got.find("\r\n\r\n/2"));
  EXPECT_LT(got.find("\r\n\r\n/2"), got.find("\r\n\r\n/3"));
}

TEST_F(Listening, ClosesAConnectionThatNeverSendsAByteAfterTheIdleTimeout) {
  const int c = connect();
  advance(59s);
  EXPECT_FALSE(closed(c));
  advance(2s);
  EXPECT_TRUE(closed(c));
  EXPECT_EQ(listener_->connections(), 0u);
}

TEST_F(Listening, ClosesAKeptAliveConnectionAfterTheIdleTimeout) {
  const int c = connect();
  advance(30s);
  send(c, "GET /a HTTP/1.1\r\n\r\n");
  EXPECT_EQ(answers(receive(c)), 1u);
  advance(59s);  // counted from the answer, not from the connection
  EXPECT_FALSE(closed(c));
  advance(2s);
  EXPECT_TRUE(closed(c));
}

TEST_F(Listening, ClosesAHeaderThatTricklesInAfterTheHeaderTimeout) {
  const int c = connect();
  send(c, "GET /slow HTTP/1.1\r\n");
  advance(3s);
  send(c, "X-A: 1\r\n");  // more bytes do not extend it: the whole request has 5 s
  advance(1900ms);
  EXPECT_FALSE(closed(c));
  advance(200ms);
  EXPECT_TRUE(closed(c));
  EXPECT_TRUE(seen_.empty());
}

TEST_F(Listening, ClosesABodyThatDoesNotArriveWithinTheHeaderTimeout) {
  const int c = connect();
  send(c, "POST /b HTTP/1.1\r\nContent-Length: 10\r\n\r\n12345");
  advance(4900ms);
  EXPECT_FALSE(closed(c));
  advance(200ms);
  EXPECT_TRUE(closed(c));
  EXPECT_TRUE(seen_.empty());
}

TEST_F(Listening, WritesAnAnswerLargerThanTheSocketTakesWithoutBlocking) {
  server_sndbuf_ = 4096;
  body_.assign(1 << 20, 'x');
  const int c = connect();
  send(c, "GET /big HTTP/1.1\r\n\r\n");
  pump();  // returns: the listener waits for the socket instead of blocking the loop
  std::string got;
  for (int i = 0; i < 10000 && got.size() < body_.size(); ++i) got += receive(c);
  ASSERT_TRUE(got.ends_with(body_));
  EXPECT_EQ(answers(got.substr(0, 100)), 1u);
  // The connection goes on after the rest was written.
  body_ = "small";
  send(c, "GET /next HTTP/1.1\r\n\r\n");
  EXPECT_TRUE(receive(c).ends_with("\r\n\r\nsmall"));
}

TEST_F(Listening, ClosesAConnectionThatDoesNotTakeItsAnswerAfterTheWriteTimeout) {
  server_sndbuf_ = 4096;
  body_.assign(1 << 20, 'x');
  const int c = connect();
  send(c, "GET /big HTTP/1.1\r\n\r\n");
  pump();
  EXPECT_EQ(listener_->connections(), 1u);
  advance(http_listener::kWriteTimeout - 100ms);
  EXPECT_EQ(listener_->connections(), 1u);
  advance(200ms);
  EXPECT_EQ(listener_->connections(), 0u);
  (void)c;
}

TEST_F(Listening, AWallClockStepClosesNothing) {
  const int c = connect();
  send(c, "GET /a HTTP/1.1\r\n\r\n");
  EXPECT_EQ(answers(receive(c)), 1u);
  rt_.step_wall(std::chrono::hours(2));
  advance(1s);
  rt_.step_wall(-std::chrono::hours(4));
  advance(1s);
  EXPECT_FALSE(closed(c));
  send(c, "GET /b HTTP/1.1\r\n\r\n");
  EXPECT_EQ(answers(receive(c)), 1u);
}

TEST_F(Listening, RefusesConnectionsOverTheCapWith503) {
  limits_.max_connections = 1;
  const int first = connect();
  const int second = connect();
  const std::string got = receive(second);
  EXPECT_EQ(got.rfind("HTTP/1.1 503 ", 0), 0u) << got;
  EXPECT_NE(got.find("Connection: close"), std::string::npos);
  EXPECT_TRUE(closed(second));
  EXPECT_FALSE(closed(first));
}

TEST_F(Listening, StopClosesIdleConnectionsAndFinishesRequestsInFlight) {
  answer_later_ = true;
  const int idle = connect();
  const int busy = connect();
  send(busy, "GET /inflight HTTP/1.1\r\n\r\n");
  pump();
  ASSERT_EQ(held_.size(), 1u);
  listener_->stop();
  EXPECT_TRUE(closed(idle));
  held_[0]();
  const std::string got = receive(busy);
  EXPECT_EQ(answers(got), 1u);
  EXPECT_NE(got.find("Connection: close"), std::string::npos);
  EXPECT_TRUE(closed(busy));
}

}  // namespace
}  // namespace dbx
