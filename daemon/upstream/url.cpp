// URL parsing and the proxy decision for the upstream client; see url.h.
#include "daemon/upstream/url.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <charconv>

#include "common/text.h"

namespace dbx {
namespace {

bool is_ipv4(std::string_view host) {
  in_addr a{};
  return ::inet_pton(AF_INET, std::string(host).c_str(), &a) == 1;
}

bool is_ipv6(std::string_view host) {
  in6_addr a{};
  return ::inet_pton(AF_INET6, std::string(host).c_str(), &a) == 1;
}

// Letters, digits, '-', '.', '_': what DNS names in URLs use. Anything else (spaces, CR/LF,
// '%') could smuggle text into the request line or a header.
bool valid_host_name(std::string_view host) {
  return !host.empty() && std::all_of(host.begin(), host.end(), [](unsigned char c) {
    return std::isalnum(c) || c == '-' || c == '.' || c == '_';
  });
}

// A request target must not contain blanks or control characters (request-line injection).
bool valid_target(std::string_view target) {
  return std::all_of(target.begin(), target.end(),
                     [](unsigned char c) { return c > 0x20 && c != 0x7f; });
}

Error url_error(std::string_view shown, std::string_view why) {
  return make_error(ErrorCode::bad_request,
                    "invalid URL \"" + std::string(shown) + "\": " + std::string(why));
}

// Splits "[userinfo@]host[:port]" into `url`; `shown` is used in error messages.
Result<std::monostate> parse_authority(std::string_view authority, std::uint16_t default_port,
                                       std::string_view shown, Url& url) {
  if (auto at = authority.rfind('@'); at != std::string_view::npos) {
    url.userinfo = std::string(authority.substr(0, at));
    authority.remove_prefix(at + 1);
  }
  std::string_view host;
  std::string_view port;
  bool has_port = false;
  if (!authority.empty() && authority.front() == '[') {
    auto close = authority.find(']');
    if (close == std::string_view::npos) return url_error(shown, "unterminated IPv6 literal");
    host = authority.substr(1, close - 1);
    std::string_view rest = authority.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return url_error(shown, "unexpected text after IPv6 literal");
      port = rest.substr(1);
      has_port = true;
    }
    if (!is_ipv6(host)) return url_error(shown, "invalid IPv6 literal");
  } else {
    auto colon = authority.find(':');
    host = authority.substr(0, colon);
    if (colon != std::string_view::npos) {
      port = authority.substr(colon + 1);
      has_port = true;
    }
    if (!valid_host_name(host)) {
      return url_error(shown, host.empty() ? "no host" : "invalid host name");
    }
  }
  url.host = lower(host);
  url.port = default_port;
  if (has_port && !port.empty()) {
    unsigned value = 0;
    auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (ec != std::errc() || end != port.data() + port.size() || value == 0 || value > 65535) {
      return url_error(shown, "invalid port");
    }
    url.port = static_cast<std::uint16_t>(value);
  }
  return std::monostate{};
}

}  // namespace

std::string Url::authority() const {
  std::string h = host_is_ipv6() ? "[" + host + "]" : host;
  return h + ":" + std::to_string(port);
}

std::string Url::host_header() const {
  std::string h = host_is_ipv6() ? "[" + host + "]" : host;
  const bool default_port = (scheme == "https" && port == 443) || (scheme == "http" && port == 80);
  return default_port ? h : h + ":" + std::to_string(port);
}

Result<Url> parse_url(std::string_view text) {
  Url url;
  auto sep = text.find("://");
  if (sep == std::string_view::npos) {
    return url_error(text.substr(0, text.find_first_of("/?#")), "not an absolute URL");
  }
  url.scheme = lower(text.substr(0, sep));
  std::string_view rest = text.substr(sep + 3);
  auto end = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, end);
  // What error messages show: scheme and host, never userinfo or the query.
  std::string_view no_user = authority.substr(authority.rfind('@') + 1);
  std::string shown = url.scheme + "://" + std::string(no_user);

  std::uint16_t default_port = 0;
  if (url.scheme == "https") {
    default_port = 443;
  } else if (url.scheme == "http") {
    default_port = 80;
  } else {
    return url_error(shown, "scheme must be http or https");
  }
  auto parsed = parse_authority(authority, default_port, shown, url);
  if (!parsed) return parsed.error();

  std::string_view target = end == std::string_view::npos ? "" : rest.substr(end);
  target = target.substr(0, target.find('#'));
  if (!valid_target(target)) return url_error(shown, "blank or control character in path");
  url.target =
      target.empty() || target.front() != '/' ? "/" + std::string(target) : std::string(target);
  return url;
}

Result<Url> parse_proxy_url(std::string_view text) {
  text = trim_blanks(text);
  std::string with_scheme = text.find("://") == std::string_view::npos
                                ? "http://" + std::string(text)
                                : std::string(text);
  std::string scheme = lower(std::string_view(with_scheme).substr(0, with_scheme.find("://")));
  if (scheme != "http") {
    return make_error(ErrorCode::bad_request,
                      "unsupported proxy scheme \"" + scheme + "\": use an http:// proxy URL");
  }
  // Parse as http, then apply the proxy default port when none was written.
  std::string_view rest = std::string_view(with_scheme).substr(7);
  std::string_view authority = rest.substr(0, rest.find_first_of("/?#"));
  std::string_view host_port = authority.substr(authority.rfind('@') + 1);
  bool has_port = host_port.empty()          ? false
                  : host_port.front() == '[' ? host_port.find("]:") != std::string_view::npos
                                             : host_port.find(':') != std::string_view::npos;
  auto url = parse_url(with_scheme);
  if (!url) {
    return make_error(ErrorCode::bad_request, "invalid proxy URL: " + url.error().message);
  }
  if (!has_port) url->port = 1080;
  url->target = "/";
  return url;
}

std::string percent_decode(std::string_view text) {
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size() && hex(text[i + 1]) >= 0 && hex(text[i + 2]) >= 0) {
      out.push_back(static_cast<char>(hex(text[i + 1]) * 16 + hex(text[i + 2])));
      i += 2;
    } else {
      out.push_back(text[i]);
    }
  }
  return out;
}

bool is_ip_literal(std::string_view host) {
  return is_ipv4(host) || is_ipv6(host);
}

bool no_proxy_matches(std::string_view no_proxy, std::string_view host_in) {
  std::string host = lower(host_in);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  while (!host.empty() && host.back() == '.') host.pop_back();  // "example.com." is the same
  if (host.empty()) return false;

  std::string_view rest = no_proxy;
  while (!rest.empty()) {
    auto comma = rest.find(',');
    std::string entry = lower(trim_blanks(rest.substr(0, comma)));
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    if (entry.empty()) continue;
    if (entry == "*") return true;
    // Strip brackets or a port: "[::1]:8080" -> "::1", "host:8080" -> "host", "::1" stays.
    if (entry.front() == '[') {
      auto close = entry.find(']');
      entry = entry.substr(1, close == std::string::npos ? std::string::npos : close - 1);
    } else if (std::count(entry.begin(), entry.end(), ':') == 1) {
      entry = entry.substr(0, entry.find(':'));
    }
    if (is_ip_literal(entry) || is_ip_literal(host)) {
      if (entry == host) return true;
      continue;
    }
    if (entry.rfind("*.", 0) == 0) entry.erase(0, 1);
    if (!entry.empty() && entry.front() == '.') entry.erase(0, 1);
    while (!entry.empty() && entry.back() == '.') entry.pop_back();
    if (entry.empty()) continue;
    if (host == entry) return true;
    if (host.size() > entry.size() && host.ends_with(entry) &&
        host[host.size() - entry.size() - 1] == '.') {
      return true;
    }
  }
  return false;
}

bool is_local_or_imds(std::string_view host_in) {
  std::string host = lower(host_in);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  while (!host.empty() && host.back() == '.') host.pop_back();
  if (host == "localhost" || host.ends_with(".localhost")) return true;
  if (host == "169.254.169.254") return true;
  in_addr v4{};
  if (::inet_pton(AF_INET, host.c_str(), &v4) == 1) {
    return (ntohl(v4.s_addr) >> 24) == 127;
  }
  in6_addr v6{};
  if (::inet_pton(AF_INET6, host.c_str(), &v6) == 1) {
    if (IN6_IS_ADDR_LOOPBACK(&v6)) return true;
    // IPv4-mapped ::ffff:127.x.y.z and ::ffff:169.254.169.254.
    if (IN6_IS_ADDR_V4MAPPED(&v6)) {
      const unsigned char* b = v6.s6_addr;
      return b[12] == 127 || (b[12] == 169 && b[13] == 254 && b[14] == 169 && b[15] == 254);
    }
  }
  return false;
}

bool uses_proxy(const Url& url, bool have_proxy, std::string_view no_proxy) {
  return have_proxy && url.scheme == "https" && !is_local_or_imds(url.host) &&
         !no_proxy_matches(no_proxy, url.host);
}

}  // namespace dbx
