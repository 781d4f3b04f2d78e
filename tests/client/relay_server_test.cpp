#include "client/relay_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <thread>

namespace dbx::cli {
namespace {

int connect_to(std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// Reads until `count` answers ending in their body are in, or the peer closes (2 s at most).
std::string read_answers(int fd, std::size_t count, bool until_close = false) {
  std::string in;
  for (;;) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 2000) <= 0) break;
    char buf[4096];
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    in.append(buf, static_cast<std::size_t>(n));
    std::size_t seen = 0;
    for (std::size_t pos = 0; (pos = in.find("}", pos)) != std::string::npos; ++pos) ++seen;
    if (!until_close && seen >= count) break;
  }
  return in;
}

void send_all(int fd, const std::string& s) {
  ASSERT_EQ(::send(fd, s.data(), s.size(), MSG_NOSIGNAL), static_cast<ssize_t>(s.size()));
}

class RelayServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto l = RelayListener::open();
    ASSERT_TRUE(l.ok()) << l.error().message;
    listener_.emplace(std::move(*l));
    port_ = listener_->port();
    ASSERT_EQ(::pipe2(wake_, O_CLOEXEC | O_NONBLOCK), 0);
    server_ = std::thread([this] {
      listener_->serve(
          [this](const InboundRequest& r) {
            ++handled_;
            return RelayAnswer{200, "{\"target\":\"" + std::string(r.target) + "\"}", {}};
          },
          wake_[0], [this] { return stop_.load(); });
    });
  }
  void TearDown() override {
    stop();
    ::close(wake_[0]);
    ::close(wake_[1]);
  }
  void stop() {
    if (!server_.joinable()) return;
    stop_ = true;
    const char b = 1;
    ASSERT_EQ(::write(wake_[1], &b, 1), 1);
    server_.join();
  }
  std::optional<RelayListener> listener_;
  std::uint16_t port_ = 0;
  int wake_[2] = {-1, -1};
  std::thread server_;
  std::atomic<bool> stop_{false};
  std::atomic<int> handled_{0};
};

TEST_F(RelayServerTest, KeepAliveAnswersEveryRequestOnOneConnection) {
  ASSERT_NE(port_, 0);
  const int fd = connect_to(port_);
  ASSERT_GE(fd, 0);
  // Two requests in one write (pipelined), then a third.
  send_all(fd,
           "GET /a HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\nGET /b HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
  std::string two = read_answers(fd, 2);
  EXPECT_NE(two.find("{\"target\":\"/a\"}"), std::string::npos) << two;
  EXPECT_NE(two.find("{\"target\":\"/b\"}"), std::string::npos) << two;
  EXPECT_EQ(two.find("Connection: close"), std::string::npos);
  send_all(fd, "GET /c HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
  std::string last = read_answers(fd, 1, true);
  EXPECT_EQ(last.rfind("HTTP/1.1 200 OK\r\n", 0), 0U) << last;
  EXPECT_NE(last.find("Content-Length: 15\r\n"), std::string::npos) << last;
  EXPECT_NE(last.find("Connection: close\r\n"), std::string::npos) << last;
  EXPECT_EQ(handled_.load(), 3);
  ::close(fd);
}

TEST_F(RelayServerTest, GarbageIsA400AndClosedWithoutTheHandler) {
  const int fd = connect_to(port_);
  ASSERT_GE(fd, 0);
  send_all(fd, "GET /a HTTP/1.1\nHost: x\n\n");  // LF only: refused by the strict parser
  std::string answer = read_answers(fd, 1, true);
  EXPECT_EQ(answer.rfind("HTTP/1.1 400 ", 0), 0U) << answer;
  EXPECT_EQ(handled_.load(), 0);
  ::close(fd);
}

TEST_F(RelayServerTest, ASlowClientDoesNotHoldOthersUp) {
  const int slow = connect_to(port_);
  ASSERT_GE(slow, 0);
  send_all(slow, "GET /slow HTTP/1.1\r\n");  // and nothing more
  const int fd = connect_to(port_);
  ASSERT_GE(fd, 0);
  send_all(fd, "GET /quick HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
  EXPECT_NE(read_answers(fd, 1).find("/quick"), std::string::npos);
  ::close(fd);
  ::close(slow);
}

TEST_F(RelayServerTest, AfterServeReturnsThePortRefuses) {
  const int fd = connect_to(port_);
  ASSERT_GE(fd, 0);
  send_all(fd, "GET /a HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
  ASSERT_NE(read_answers(fd, 1).find("/a"), std::string::npos);  // accepted, kept alive
  stop();
  // The open connection is closed, and new ones are refused.
  char b;
  pollfd p{fd, POLLIN, 0};
  ASSERT_EQ(::poll(&p, 1, 2000), 1);
  EXPECT_EQ(::recv(fd, &b, 1, 0), 0);
  ::close(fd);
  EXPECT_EQ(connect_to(port_), -1);
}

TEST(RelayAnswerFormat, ExtraHeadersAreOneLineEach) {
  RelayAnswer a{429, "{}", {{"Retry-After", "3\r\nX-Injected: 1"}}};
  const std::string out = format_relay_answer(a, false);
  EXPECT_EQ(out.rfind("HTTP/1.1 429 Too Many Requests\r\n", 0), 0U);
  EXPECT_EQ(out.find("\r\nX-Injected"), std::string::npos);
  EXPECT_NE(out.find("Content-Length: 2\r\n"), std::string::npos);
}

}  // namespace
}  // namespace dbx::cli
