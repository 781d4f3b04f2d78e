// URL parsing and the proxy decision (daemon/upstream/url.h).
#include "daemon/upstream/url.h"

#include <gtest/gtest.h>

namespace dbx {
namespace {

TEST(ParseUrl, HttpsDefaults) {
  auto u = parse_url("https://login.microsoftonline.com/tenant/oauth2/v2.0/token");
  ASSERT_TRUE(u.ok()) << u.error().message;
  EXPECT_EQ(u->scheme, "https");
  EXPECT_EQ(u->host, "login.microsoftonline.com");
  EXPECT_EQ(u->port, 443);
  EXPECT_EQ(u->target, "/tenant/oauth2/v2.0/token");
  EXPECT_EQ(u->host_header(), "login.microsoftonline.com");
  EXPECT_EQ(u->authority(), "login.microsoftonline.com:443");
}

TEST(ParseUrl, HttpWithPortAndQuery) {
  auto u = parse_url(
      "http://169.254.169.254:80/metadata/identity/oauth2/token?api-version=2018-02-01&resource=R");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->scheme, "http");
  EXPECT_EQ(u->host, "169.254.169.254");
  EXPECT_EQ(u->port, 80);
  EXPECT_EQ(u->target, "/metadata/identity/oauth2/token?api-version=2018-02-01&resource=R");
  EXPECT_EQ(u->host_header(), "169.254.169.254");
}

TEST(ParseUrl, NonDefaultPortInHostHeader) {
  auto u = parse_url("https://LocalHost:8443");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->host, "localhost");
  EXPECT_EQ(u->port, 8443);
  EXPECT_EQ(u->target, "/");
  EXPECT_EQ(u->host_header(), "localhost:8443");
}

TEST(ParseUrl, QueryWithoutPathAndFragment) {
  auto u = parse_url("https://h.example?a=b#frag");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->target, "/?a=b");
  auto v = parse_url("https://h.example/p#frag");
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->target, "/p");
}

TEST(ParseUrl, Ipv6Literal) {
  auto u = parse_url("https://[::1]:8443/x");
  ASSERT_TRUE(u.ok()) << u.error().message;
  EXPECT_EQ(u->host, "::1");
  EXPECT_TRUE(u->host_is_ipv6());
  EXPECT_EQ(u->port, 8443);
  EXPECT_EQ(u->authority(), "[::1]:8443");
  EXPECT_EQ(u->host_header(), "[::1]:8443");
  auto v = parse_url("http://[fe80::1]/");
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->port, 80);
  EXPECT_EQ(v->host_header(), "[fe80::1]");
}

TEST(ParseUrl, Userinfo) {
  auto u = parse_url("http://user:p%40ss@proxy.corp:3128");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->userinfo, "user:p%40ss");
  EXPECT_EQ(u->host, "proxy.corp");
  EXPECT_EQ(u->port, 3128);
}

TEST(ParseUrl, Rejects) {
  for (const char* bad :
       {"login.microsoftonline.com/x", "ftp://h/x", "https:///x", "https://h:0/",
        "https://h:65536/", "https://h:12a/", "https://[::1/", "https://[zz]/", "https://h x/",
        "https://h/a b", "https://h/a\r\nX: y", "https://[::1]x/"}) {
    auto u = parse_url(bad);
    EXPECT_FALSE(u.ok()) << bad;
    if (!u.ok()) {
      EXPECT_EQ(u.error().code, ErrorCode::bad_request);
    }
  }
}

TEST(ParseUrl, ErrorNeverQuotesUserinfoOrQuery) {
  auto u = parse_url("https://user:hunter2@h x/?code=s3cret");
  ASSERT_FALSE(u.ok());
  EXPECT_EQ(u.error().message.find("hunter2"), std::string::npos) << u.error().message;
  EXPECT_EQ(u.error().message.find("s3cret"), std::string::npos) << u.error().message;
}

TEST(ParseProxyUrl, Forms) {
  auto a = parse_proxy_url("http://proxy.corp:3128");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->host, "proxy.corp");
  EXPECT_EQ(a->port, 3128);
  auto b = parse_proxy_url("proxy.corp:8080");
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->scheme, "http");
  EXPECT_EQ(b->port, 8080);
  auto c = parse_proxy_url("http://u:p@proxy.corp/");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->port, 1080);
  EXPECT_EQ(c->userinfo, "u:p");
  auto d = parse_proxy_url("http://[::1]");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->port, 1080);
  EXPECT_FALSE(parse_proxy_url("https://proxy.corp:443").ok());
  EXPECT_FALSE(parse_proxy_url("socks5://proxy.corp:1080").ok());
}

TEST(PercentDecode, Basics) {
  EXPECT_EQ(percent_decode("p%40ss%3a"), "p@ss:");
  EXPECT_EQ(percent_decode("100%"), "100%");
  EXPECT_EQ(percent_decode("%zz"), "%zz");
}

TEST(NoProxy, DomainSuffix) {
  const char* list = "example.com, .corp.internal,*.azure.net";
  EXPECT_TRUE(no_proxy_matches(list, "example.com"));
  EXPECT_TRUE(no_proxy_matches(list, "api.example.com"));
  EXPECT_TRUE(no_proxy_matches(list, "API.Example.COM"));
  EXPECT_FALSE(no_proxy_matches(list, "badexample.com"));
  EXPECT_FALSE(no_proxy_matches(list, "example.com.evil.org"));
  EXPECT_TRUE(no_proxy_matches(list, "corp.internal"));
  EXPECT_TRUE(no_proxy_matches(list, "vault.corp.internal"));
  EXPECT_TRUE(no_proxy_matches(list, "adb-1.7.azure.net"));
  EXPECT_FALSE(no_proxy_matches(list, "login.microsoftonline.com"));
}

TEST(NoProxy, StarPortsAndEmpty) {
  EXPECT_TRUE(no_proxy_matches("*", "anything.example"));
  EXPECT_TRUE(no_proxy_matches("foo, *", "anything.example"));
  EXPECT_TRUE(no_proxy_matches("example.com:8443", "example.com"));
  EXPECT_FALSE(no_proxy_matches("", "example.com"));
  EXPECT_FALSE(no_proxy_matches(" , ,", "example.com"));
  EXPECT_FALSE(no_proxy_matches("*.", "example.com"));
}

TEST(NoProxy, IpAddresses) {
  EXPECT_TRUE(no_proxy_matches("10.0.0.5", "10.0.0.5"));
  EXPECT_FALSE(no_proxy_matches("10.0.0.5", "10.0.0.50"));
  EXPECT_FALSE(no_proxy_matches("0.0.5", "10.0.0.5"));  // no suffix matching for IPs
  EXPECT_TRUE(no_proxy_matches("::1", "::1"));
  EXPECT_TRUE(no_proxy_matches("[2001:db8::1]:443", "2001:db8::1"));
  EXPECT_TRUE(no_proxy_matches("2001:db8::1", "[2001:db8::1]"));
  EXPECT_FALSE(no_proxy_matches("10.0.0.0/8", "10.1.2.3"));  // CIDR not supported
}

TEST(LocalOrImds, Hosts) {
  EXPECT_TRUE(is_local_or_imds("localhost"));
  EXPECT_TRUE(is_local_or_imds("LOCALHOST."));
  EXPECT_TRUE(is_local_or_imds("127.0.0.1"));
  EXPECT_TRUE(is_local_or_imds("127.10.20.30"));
  EXPECT_TRUE(is_local_or_imds("::1"));
  EXPECT_TRUE(is_local_or_imds("[::1]"));
  EXPECT_TRUE(is_local_or_imds("::ffff:127.0.0.1"));
  EXPECT_TRUE(is_local_or_imds("169.254.169.254"));
  EXPECT_FALSE(is_local_or_imds("169.254.169.253"));
  EXPECT_FALSE(is_local_or_imds("128.0.0.1"));
  EXPECT_FALSE(is_local_or_imds("localhost.example.com"));
  EXPECT_FALSE(is_local_or_imds("login.microsoftonline.com"));
}

TEST(IpLiteral, Detects) {
  EXPECT_TRUE(is_ip_literal("127.0.0.1"));
  EXPECT_TRUE(is_ip_literal("::1"));
  EXPECT_FALSE(is_ip_literal("localhost"));
  EXPECT_FALSE(is_ip_literal("1.2.3"));
}

}  // namespace
}  // namespace dbx
