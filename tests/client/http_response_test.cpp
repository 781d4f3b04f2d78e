#include "client/http_response.h"

#include <gtest/gtest.h>

namespace dbx::cli {
namespace {

using State = ParseResult::State;

TEST(ParseHttpResponse, ContentLength) {
  std::string raw =
      "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
      "11\r\n\r\n{\"a\":\"bc\"}\n";
  auto r = parse_http_response(raw, false);
  ASSERT_EQ(r.state, State::complete) << r.error;
  EXPECT_EQ(r.response.status, 200);
  EXPECT_EQ(r.response.body, "{\"a\":\"bc\"}\n");
  EXPECT_EQ(r.response.header("content-type"), "application/json");
  EXPECT_FALSE(r.response.header("X-Missing").has_value());
}

TEST(ParseHttpResponse, IncompleteUntilTheWholeBodyArrives) {
  std::string raw = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n01234";
  EXPECT_EQ(parse_http_response("HTTP/1.1 2", false).state, State::incomplete);
  EXPECT_EQ(parse_http_response("HTTP/1.1 200 OK\r\nContent-Le", false).state, State::incomplete);
  EXPECT_EQ(parse_http_response(raw, false).state, State::incomplete);
  auto truncated = parse_http_response(raw, true);
  EXPECT_EQ(truncated.state, State::malformed);
  EXPECT_NE(truncated.error.find("closed before"), std::string::npos);
  EXPECT_EQ(parse_http_response(raw + "56789", false).state, State::complete);
}

TEST(ParseHttpResponse, Chunked) {
  std::string raw =
      "HTTP/1.1 403 Forbidden\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5\r\n{\"err\r\n"
      "a;ext=1\r\nor\":\"nope\"\r\n"
      "1\r\n}\r\n"
      "0\r\nX-Trailer: t\r\n\r\n";
  auto r = parse_http_response(raw, false);
  ASSERT_EQ(r.state, State::complete) << r.error;
  EXPECT_EQ(r.response.status, 403);
  EXPECT_EQ(r.response.body, "{\"error\":\"nope\"}");

  // Every proper prefix is incomplete, and truncated at EOF.
  for (std::size_t n = 0; n < raw.size(); ++n) {
    EXPECT_EQ(parse_http_response(raw.substr(0, n), false).state, State::incomplete) << n;
    EXPECT_EQ(parse_http_response(raw.substr(0, n), true).state, State::malformed) << n;
  }
}

TEST(ParseHttpResponse, ChunkedWinsOverContentLength) {
  std::string raw =
      "HTTP/1.1 200 OK\r\nContent-Length: 100\r\nTransfer-Encoding: "
      "chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n";
  auto r = parse_http_response(raw, false);
  ASSERT_EQ(r.state, State::complete) << r.error;
  EXPECT_EQ(r.response.body, "ok");
}

TEST(ParseHttpResponse, NoFramingReadsToClose) {
  std::string raw = "HTTP/1.0 500 Internal Server Error\r\nConnection: close\r\n\r\nboom";
  EXPECT_EQ(parse_http_response(raw, false).state, State::incomplete);
  auto r = parse_http_response(raw, true);
  ASSERT_EQ(r.state, State::complete) << r.error;
  EXPECT_EQ(r.response.status, 500);
  EXPECT_EQ(r.response.body, "boom");
}

TEST(ParseHttpResponse, NoContentHasNoBody) {
  auto r = parse_http_response("HTTP/1.1 204 No Content\r\n\r\n", false);
  ASSERT_EQ(r.state, State::complete);
  EXPECT_EQ(r.response.body, "");
}

TEST(ParseHttpResponse, Malformed) {
  const char* cases[] = {
      "SSH-2.0-OpenSSH_9.2\r\n",
      "HTTP/2 200\r\n\r\n",
      "HTTP/1.1 20 OK\r\n\r\n",
      "HTTP/1.1 2000 OK\r\n\r\n",
      "HTTP/1.1 abc OK\r\n\r\n",
      "HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",
      "HTTP/1.1 200 OK\r\n: empty name\r\n\r\n",
      "HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nabc",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabcd\r\n0\r\n\r\n",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffff\r\n",
  };
  for (const char* raw : cases) {
    auto r = parse_http_response(raw, false);
    EXPECT_EQ(r.state, State::malformed) << raw;
    EXPECT_FALSE(r.error.empty()) << raw;
  }
}

TEST(ParseHttpResponse, BodiesAreCappedAtOneMiB) {
  auto r = parse_http_response("HTTP/1.1 200 OK\r\nContent-Length: 1048577\r\n\r\n", false);
  EXPECT_EQ(r.state, State::malformed);
  EXPECT_NE(r.error.find("1 MiB"), std::string::npos);

  std::string chunked = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
  std::string chunk(64 * 1024, 'x');
  for (int i = 0; i < 17; ++i) chunked += "10000\r\n" + chunk + "\r\n";
  EXPECT_EQ(parse_http_response(chunked, false).state, State::malformed);

  std::string unframed = "HTTP/1.1 200 OK\r\n\r\n" + std::string(kMaxBodyBytes + 1, 'x');
  EXPECT_EQ(parse_http_response(unframed, true).state, State::malformed);

  std::string exact =
      "HTTP/1.1 200 OK\r\nContent-Length: 1048576\r\n\r\n" + std::string(kMaxBodyBytes, 'x');
  EXPECT_EQ(parse_http_response(exact, false).state, State::complete);
}

TEST(ParseHttpResponse, HeaderSectionIsCapped) {
  std::string raw = "HTTP/1.1 200 OK\r\nX: " + std::string(kMaxHeaderBytes, 'a');
  EXPECT_EQ(parse_http_response(raw, false).state, State::malformed);
}

}  // namespace
}  // namespace dbx::cli
