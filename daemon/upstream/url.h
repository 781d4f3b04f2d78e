// URLs as the upstream client needs them (scheme, host, port, target) and the proxy decision
// (NO_PROXY, loopback, IMDS). Pure string work: no Asio/Beast, so it is tested without sockets.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/result.h"

namespace dbx {

struct Url {
  std::string scheme;    // "http" or "https", lower case
  std::string userinfo;  // "user:pass" as written (percent-encoded), empty if none
  std::string host;      // lower case; an IPv6 literal without its brackets
  std::uint16_t port = 0;
  std::string target;  // path and query, at least "/"; the fragment is dropped

  bool host_is_ipv6() const { return host.find(':') != std::string::npos; }
  // "host:port" with brackets around an IPv6 literal: what CONNECT and error messages show.
  std::string authority() const;
  // The Host header: the port is left out when it is the scheme's default.
  std::string host_header() const;
};

// Parses an absolute http:// or https:// URL. Errors (code bad_request) quote the URL only up to
// its host, because a query may hold a secret.
Result<Url> parse_url(std::string_view text);

// Parses an HTTPS_PROXY value: "http://[user:pass@]host[:port]" or "host:port" (scheme http
// assumed). Only http:// proxies are supported (the tunnel itself is TLS). Default port 1080, as
// in curl.
Result<Url> parse_proxy_url(std::string_view text);

// Decodes %XX escapes (used for proxy credentials). Invalid escapes are kept as written.
std::string percent_decode(std::string_view text);

// True if `host` is an IP literal (v4, or v6 without brackets).
bool is_ip_literal(std::string_view host);

// True if `host` matches a NO_PROXY list: comma-separated entries, surrounding blanks ignored;
// "*" matches everything; a host name matches itself and its subdomains (a leading "." or "*."
// is optional); an IP literal matches exactly; a ":port" suffix and IPv6 brackets are ignored.
// Case-insensitive. CIDR ranges are not supported (they never match).
bool no_proxy_matches(std::string_view no_proxy, std::string_view host);

// True for hosts that never go through a proxy: loopback (localhost, 127.0.0.0/8, ::1) and the
// Azure IMDS address 169.254.169.254 (PROTOCOLS.md: IMDS is never proxied).
bool is_local_or_imds(std::string_view host);

// THE proxy decision (HttpsTransport, and `dbxcred doctor` naming the route): an https URL goes
// through the configured proxy unless its host is local/IMDS or NO_PROXY names it.
bool uses_proxy(const Url& url, bool have_proxy, std::string_view no_proxy);

}  // namespace dbx
