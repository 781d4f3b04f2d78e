#include "daemon/server/request_parser.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace dbx {
namespace {

using Kind = RequestParse::Kind;

RequestParse parse(std::string_view data, RequestLimits limits = {}) {
  return parse_request(data, limits);
}

void expect_error(std::string_view data, int status, RequestLimits limits = {}) {
  const RequestParse p = parse(data, limits);
  ASSERT_EQ(p.kind, Kind::error) << data;
  EXPECT_EQ(p.status, status) << data;
  EXPECT_FALSE(p.message.empty());
}

TEST(RequestParser, ASimpleGet) {
  const std::string raw = "GET /v1/workspaces/prod/pat?min_valid=60 HTTP/1.1\r\nHost: x\r\n\r\n";
  const RequestParse p = parse(raw);
  ASSERT_EQ(p.kind, Kind::complete);
  EXPECT_EQ(p.size, raw.size());
  EXPECT_EQ(p.request.method, "GET");
  EXPECT_EQ(p.request.target, "/v1/workspaces/prod/pat?min_valid=60");
  EXPECT_EQ(p.request.header("host"), "x");
  EXPECT_TRUE(p.request.keep_alive);
  EXPECT_TRUE(p.request.body.empty());
}

TEST(RequestParser, EveryPrefixIsIncompleteNeverAnError) {
  const std::string raw =
      "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nX-Y:  spaced value \t\r\n\r\nhello";
  for (std::size_t n = 0; n < raw.size(); ++n)
    EXPECT_EQ(parse(raw.substr(0, n)).kind, Kind::incomplete) << n;
  const RequestParse p = parse(raw);
  ASSERT_EQ(p.kind, Kind::complete);
  EXPECT_EQ(p.request.body, "hello");
  EXPECT_EQ(p.request.header("X-Y"), "spaced value");
}

TEST(RequestParser, PipelinedRequestsAreParsedOneAtATime) {
  const std::string first = "GET /a HTTP/1.1\r\n\r\n";
  const std::string raw = first + "GET /b HTTP/1.1\r\n\r\n";
  const RequestParse p = parse(raw);
  ASSERT_EQ(p.kind, Kind::complete);
  EXPECT_EQ(p.size, first.size());
  EXPECT_EQ(p.request.target, "/a");
  EXPECT_EQ(parse(std::string_view(raw).substr(p.size)).request.target, "/b");
}

TEST(RequestParser, HeadersInOrderAndCaseInsensitiveLookup) {
  const RequestParse p =
      parse("GET / HTTP/1.1\r\nmetadata: true\r\nX-IDENTITY-HEADER:abc\r\nEmpty:\r\n\r\n");
  ASSERT_EQ(p.kind, Kind::complete);
  std::vector<std::pair<std::string, std::string>> seen;
  p.request.for_each_header([&](std::string_view n, std::string_view v) {
    seen.emplace_back(std::string(n), std::string(v));
  });
  const std::vector<std::pair<std::string, std::string>> want = {
      {"metadata", "true"}, {"X-IDENTITY-HEADER", "abc"}, {"Empty", ""}};
  EXPECT_EQ(seen, want);
  EXPECT_EQ(p.request.header("Metadata"), "true");
  EXPECT_EQ(p.request.header("x-identity-header"), "abc");
  EXPECT_FALSE(p.request.header("Host").has_value());
}

TEST(RequestParser, KeepAliveFollowsVersionAndConnection) {
  auto keep = [](std::string_view raw) {
    const RequestParse p = parse(raw);
    EXPECT_EQ(p.kind, Kind::complete) << raw;
    return p.request.keep_alive;
  };
  EXPECT_TRUE(keep("GET / HTTP/1.1\r\n\r\n"));
  EXPECT_FALSE(keep("GET / HTTP/1.1\r\nConnection: close\r\n\r\n"));
  EXPECT_FALSE(keep("GET / HTTP/1.1\r\nConnection: Upgrade, CLOSE\r\n\r\n"));
  EXPECT_FALSE(keep("GET / HTTP/1.0\r\n\r\n"));
  EXPECT_TRUE(keep("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
}

TEST(RequestParser, GarbageIsRefusedFromItsFirstBytes) {
  // A TLS ClientHello on the plain socket: no need to wait for a blank line.
  expect_error(std::string("\x16\x03\x01\x02\x00", 5), 400);
  expect_error(" GET / HTTP/1.1", 400);
  expect_error("GET  / HTTP/1.1", 400);
  expect_error("GET /\x01 HTTP/1.1", 400);
  expect_error("GET / HTTP/2", 400);
  expect_error("GET / XTTP", 400);
  expect_error(std::string(40, 'G'), 400);  // no method is that long
}

TEST(RequestParser, MalformedLinesAre400) {
  expect_error("GET / HTTP/1.1\n\n", 400);                  // bare LF
  expect_error("GET / HTTP/1.1\r\nHost: a\n\r\n", 400);     // bare LF in a header
  expect_error("GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400);  // blank before the colon
  expect_error("GET / HTTP/1.1\r\nNoColon\r\n\r\n", 400);
  expect_error("GET / HTTP/1.1\r\n: v\r\n\r\n", 400);
  expect_error("GET / HTTP/1.1\r\nA: b\r\n folded\r\n\r\n", 400);  // obsolete line folding
  expect_error("GET / HTTP/1.1\r\nA: b\x7f\r\n\r\n", 400);
  expect_error(std::string("GET / HTTP/1.1\r\nA: b\0c\r\n\r\n", 25), 400);
  expect_error("GET / HTTP/1.1\r\nA: b\rc\r\n\r\n", 400);
  expect_error("GET / HTTP/1.1 extra\r\n\r\n", 400);
  expect_error("GET / HTTP/1.1\rX", 400);  // a CR not followed by LF, before the line ends
}

TEST(RequestParser, ContentLengthIsStrict) {
  expect_error("POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400);
  expect_error("POST / HTTP/1.1\r\nContent-Length: 1x\r\n\r\n", 400);
  expect_error("POST / HTTP/1.1\r\nContent-Length:\r\n\r\n", 400);
  expect_error("POST / HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n", 400);
  expect_error("POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", 400);
  const RequestParse same =
      parse("POST / HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nab");
  EXPECT_EQ(same.kind, Kind::complete);
  EXPECT_EQ(same.request.body, "ab");
}

TEST(RequestParser, TransferEncodingIsNotSupported) {
  expect_error("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 501);
}

TEST(RequestParser, SizeLimits) {
  RequestLimits small{64, 10};
  const std::string big_header = "GET / HTTP/1.1\r\nX: " + std::string(60, 'a') + "\r\n\r\n";
  expect_error(big_header, 431, small);
  // Too large even before the headers end: refused without waiting for more.
  expect_error(big_header.substr(0, 70), 431, small);
  // Exactly at the limit passes.
  const std::string at_limit = "GET / HTTP/1.1\r\nX: " + std::string(64 - 23, 'a') + "\r\n\r\n";
  ASSERT_EQ(at_limit.size(), 64u);
  EXPECT_EQ(parse(at_limit, small).kind, Kind::complete);
  // The body limit is checked from the header, before the body arrives.
  expect_error("POST / HTTP/1.1\r\nContent-Length: 11\r\n\r\n", 413, small);
  EXPECT_EQ(parse("POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\n0123456789", small).kind,
            Kind::complete);
}

TEST(RequestParser, ObsTextInValuesIsAccepted) {
  const RequestParse p = parse("GET / HTTP/1.1\r\nUser-Agent: caf\xc3\xa9\r\n\r\n");
  ASSERT_EQ(p.kind, Kind::complete);
  EXPECT_EQ(p.request.header("user-agent"), "caf\xc3\xa9");
}

}  // namespace
}  // namespace dbx
