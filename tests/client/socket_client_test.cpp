#include "client/socket_client.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <thread>

namespace dbx::cli {
namespace {

// A one-connection HTTP server on a Unix socket in a fresh temporary directory: accepts, reads the
// request head, writes `pieces` one by one (or nothing), and closes.
class CannedServer {
 public:
  CannedServer() {
    char dir[] = "/tmp/dbxcred-client-test-XXXXXX";
    dir_ = ::mkdtemp(dir);
    path_ = dir_ + "/d.sock";
    fd_ = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path_.c_str(), sizeof addr.sun_path - 1);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    EXPECT_EQ(::listen(fd_, 4), 0);
  }
  ~CannedServer() {
    join();
    if (fd_ >= 0) ::close(fd_);
    ::unlink(path_.c_str());
    ::rmdir(dir_.c_str());
  }

  // Answers one connection. With `hold_open`, keeps it open without answering until the client
  // closes it (to test the timeout).
  void serve(std::vector<std::string> pieces, bool hold_open = false) {
    thread_ = std::thread([this, pieces = std::move(pieces), hold_open] {
      int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) return;
      char buf[4096];
      while (request.find("\r\n\r\n") == std::string::npos) {
        ssize_t n = ::read(c, buf, sizeof buf);
        if (n <= 0) break;
        request.append(buf, static_cast<std::size_t>(n));
      }
      for (const auto& p : pieces) {
        if (::write(c, p.data(), p.size()) < 0) break;
      }
      if (hold_open) {
        while (::read(c, buf, sizeof buf) > 0) {
        }
      }
      ::close(c);
    });
  }

  // Waits until the connection is served, so `request` is complete.
  void join() {
    if (thread_.joinable()) thread_.join();
  }

  // Stops listening but leaves the socket file: connecting is then refused.
  void stop_listening() {
    ::close(fd_);
    fd_ = -1;
  }

  const std::string& path() const { return path_; }
  std::string request;  // what the client sent, once serve() has finished

 private:
  std::string dir_;
  std::string path_;
  int fd_ = -1;
  std::thread thread_;
};

TEST(HttpGet, ReadsAContentLengthAnswer) {
  CannedServer server;
  server.serve({"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 15\r\n\r\n",
                R"({"status":"ok"})"});
  auto r = http_get(server.path(), "/healthz");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->header("content-type"), "application/json");
  EXPECT_EQ(r->body, R"({"status":"ok"})");
}

TEST(HttpGet, SendsTheContractsRequest) {
  CannedServer server;
  server.serve({"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}"});
  ASSERT_TRUE(http_get(server.path(), "/v1/workspaces/prod/pat?min_valid=600").ok());
  server.join();
  EXPECT_EQ(server.request,
            "GET /v1/workspaces/prod/pat?min_valid=600 HTTP/1.1\r\nHost: localhost\r\n"
            "Accept: application/json\r\nConnection: close\r\n\r\n");
}

TEST(HttpGet, ReadsAChunkedAnswerInPieces) {
  CannedServer server;
  server.serve({"HTTP/1.1 429 Too Many Requests\r\nTransfer-Encoding: chunked\r\n\r\n",
                "4\r\n{\"a\"", "\r\n", "3\r\n:1}\r\n", "0\r\n\r\n"});
  auto r = http_get(server.path(), "/v1/workspaces/prod/pat");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->status, 429);
  EXPECT_EQ(r->body, R"({"a":1})");
}

TEST(HttpGet, ReadsToCloseWithoutFraming) {
  CannedServer server;
  server.serve({"HTTP/1.1 500 Internal Server Error\r\n\r\n", "oops"});
  auto r = http_get(server.path(), "/v1/status");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->status, 500);
  EXPECT_EQ(r->body, "oops");
}

TEST(HttpGet, MissingSocketIsUnreachable) {
  auto r = http_get("/nonexistent/dbxcred-test/dbxcred.sock", "/v1/status");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().exit, Exit::unreachable);
  EXPECT_EQ(r.error().message,
            "cannot reach dbxcredd at /nonexistent/dbxcred-test/dbxcred.sock: No such file or "
            "directory; is the service running? (systemctl status dbxcredd)");
}

TEST(HttpGet, RefusedIsUnreachable) {
  CannedServer server;
  server.stop_listening();
  auto r = http_get(server.path(), "/v1/status");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().exit, Exit::unreachable);
  EXPECT_NE(r.error().message.find("Connection refused"), std::string::npos);
}

TEST(HttpGet, ClosedWithoutAnswerIsUnreachable) {
  CannedServer server;
  server.serve({});
  auto r = http_get(server.path(), "/v1/status");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().exit, Exit::unreachable);
  EXPECT_NE(r.error().message.find(": the connection closed without an answer; "),
            std::string::npos)
      << r.error().message;
}

TEST(HttpGet, TimeoutIsUnreachable) {
  CannedServer server;
  server.serve({"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n{"}, /*hold_open=*/true);
  auto r = http_get(server.path(), "/v1/status", std::chrono::milliseconds(200));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().exit, Exit::unreachable);
  EXPECT_NE(r.error().message.find("no answer within 1s"), std::string::npos) << r.error().message;
}

TEST(HttpGet, GarbageIsAFailureNotUnreachable) {
  CannedServer server;
  server.serve({"SSH-2.0-OpenSSH_9.2\r\n"}, /*hold_open=*/true);
  auto r = http_get(server.path(), "/v1/status");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().exit, Exit::failure);
  EXPECT_NE(r.error().message.find("malformed answer"), std::string::npos);
}

TEST(HttpGet, OverlongPathIsUnreachable) {
  auto r = http_get("/tmp/" + std::string(200, 'x'), "/v1/status");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().exit, Exit::unreachable);
  EXPECT_NE(r.error().message.find("longer than 107 bytes"), std::string::npos);
}

// Whom the CLI believes: root, the caller, the service user; nobody else (a squatter).
TEST(ServerTrust, RootTheCallerAndTheServiceUserOnly) {
  EXPECT_TRUE(trusted_server_uid(0, 1000, std::nullopt));
  EXPECT_TRUE(trusted_server_uid(1000, 1000, std::nullopt));
  EXPECT_TRUE(trusted_server_uid(998, 1000, 998u));
  EXPECT_FALSE(trusted_server_uid(65534, 1000, 998u));
  EXPECT_FALSE(trusted_server_uid(1001, 1000, std::nullopt));
  EXPECT_FALSE(trusted_server_uid(65534, 0, std::nullopt));
}

TEST(ServerTrust, TheInitialUserNamespaceIsTheIdentityMapOfAllUids) {
  EXPECT_TRUE(in_initial_user_namespace("         0          0 4294967295\n"));
  EXPECT_FALSE(in_initial_user_namespace("         0     231072      65536\n"));  // podman
  EXPECT_FALSE(in_initial_user_namespace("         0          0 4294967295\n      5 5 1\n"));
  EXPECT_FALSE(in_initial_user_namespace("         0       1000          1\n"));  // unshare -r
  EXPECT_FALSE(in_initial_user_namespace(""));  // unreadable: not known to be the initial one
}

// In a container's user namespace the host's daemon reads as the overflow uid: believed only
// there, and only on a socket nobody inside but the caller (or the namespace's root) could have
// put in place.
TEST(ServerTrust, AnUnmappedServerOnlyInAUserNamespaceAndOnlyInAClosedDirectory) {
  constexpr uid_t kOverflow = 65534;
  EXPECT_TRUE(trusted_unmapped_server(false, kOverflow, kOverflow, 0, kOverflow, 040755));
  EXPECT_TRUE(trusted_unmapped_server(false, kOverflow, kOverflow, 1000, 1000, 040700));
  EXPECT_TRUE(trusted_unmapped_server(false, kOverflow, kOverflow, 1000, 0, 040755));
  // Not in a user namespace: 65534 is the real `nobody`, a squatter.
  EXPECT_FALSE(trusted_unmapped_server(true, kOverflow, kOverflow, 1000, 0, 040755));
  // A mapped uid that is not root, the caller or the service user: another container user.
  EXPECT_FALSE(trusted_unmapped_server(false, 1001, kOverflow, 1000, kOverflow, 040755));
  // The directory is another container user's, or group/other-writable: it may be a squatter's.
  EXPECT_FALSE(trusted_unmapped_server(false, kOverflow, kOverflow, 1000, 1001, 040755));
  EXPECT_FALSE(trusted_unmapped_server(false, kOverflow, kOverflow, 1000, kOverflow, 041777));
  EXPECT_FALSE(trusted_unmapped_server(false, kOverflow, kOverflow, 1000, kOverflow, 040775));
}

TEST(ServerTrust, TheServiceUsersUidComesFromPasswdText) {
  const std::string passwd =
      "root:x:0:0:root:/root:/bin/bash\n"
      "dbxcred-e2e-other:x:990:990::/:/usr/sbin/nologin\n"
      "dbxcredx:x:991:991::/:/usr/sbin/nologin\n"
      "broken:x:notanumber:1::/:/bin/sh\n"
      "dbxcred:x:998:998:dbxcred credential broker:/var/lib/dbxcred:/usr/sbin/nologin";
  EXPECT_EQ(passwd_uid(passwd, "dbxcred"), std::optional<uid_t>(998));
  EXPECT_EQ(passwd_uid(passwd, "root"), std::optional<uid_t>(0));
  EXPECT_EQ(passwd_uid(passwd, "broken"), std::nullopt);
  EXPECT_EQ(passwd_uid(passwd, "nobody"), std::nullopt);
  EXPECT_EQ(passwd_uid("", "dbxcred"), std::nullopt);
}

// The in-process server runs as the test's own uid: believed, and the request method is sent.
TEST(HttpRequest, PostIsSentToATrustedServer) {
  CannedServer server;
  server.serve({"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}"});
  auto r = http_request(server.path(), "/v1/loopback-secrets/rotate", {"POST", false});
  ASSERT_TRUE(r.ok()) << r.error().message;
  server.join();
  EXPECT_EQ(server.request.rfind("POST /v1/loopback-secrets/rotate HTTP/1.1\r\n", 0), 0u);
}

}  // namespace
}  // namespace dbx::cli
