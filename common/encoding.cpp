#include "common/encoding.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <charconv>
#include <limits>
#include <vector>

namespace dbx {

namespace {
constexpr char kLowerHex[] = "0123456789abcdef";
constexpr char kBase64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr char kBase64Url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

// Groups of 3 bytes to 4 characters of `alphabet`; the last group padded with '=' or cut short.
std::string encode64(std::string_view bytes, const char* alphabet, bool pad) {
  std::string out;
  out.reserve(4 * ((bytes.size() + 2) / 3));
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  std::size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    const unsigned v = (unsigned{p[i]} << 16) | (unsigned{p[i + 1]} << 8) | p[i + 2];
    for (int shift = 18; shift >= 0; shift -= 6) out += alphabet[(v >> shift) & 63];
  }
  const std::size_t rest = bytes.size() - i;
  if (rest == 0) return out;
  unsigned v = unsigned{p[i]} << 16;
  if (rest == 2) v |= unsigned{p[i + 1]} << 8;
  out += alphabet[(v >> 18) & 63];
  out += alphabet[(v >> 12) & 63];
  if (rest == 2) out += alphabet[(v >> 6) & 63];
  if (pad) out.append(3 - rest, '=');
  return out;
}
}  // namespace

std::string hex(std::span<const unsigned char> bytes) {
  std::string out;
  out.reserve(2 * bytes.size());
  for (unsigned char b : bytes) {
    out += kLowerHex[b >> 4];
    out += kLowerHex[b & 0xf];
  }
  return out;
}

std::string hex(std::string_view bytes) {
  return hex(std::span(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size()));
}

bool is_lower_hex(std::string_view s, std::size_t digits) {
  return s.size() == digits && s.find_first_not_of(kLowerHex) == std::string_view::npos;
}

std::optional<std::string> random_hex(std::size_t bytes) {
  std::vector<unsigned char> raw(bytes);
  if (RAND_bytes(raw.data(), static_cast<int>(raw.size())) != 1) return std::nullopt;
  std::string out = hex(std::span<const unsigned char>(raw));
  OPENSSL_cleanse(raw.data(), raw.size());
  return out;
}

std::string base64(std::string_view bytes) {
  return encode64(bytes, kBase64, true);
}

std::string base64url(std::string_view bytes) {
  return encode64(bytes, kBase64Url, false);
}

std::optional<std::string> base64url_decode(std::string_view text) {
  std::string out;
  unsigned buf = 0;
  int bits = 0;
  for (char c : text) {
    const char* at = c == 0 ? nullptr : std::char_traits<char>::find(kBase64Url, 64, c);
    if (at == nullptr) return std::nullopt;
    buf = (buf << 6) | static_cast<unsigned>(at - kBase64Url);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((buf >> bits) & 0xff);
    }
  }
  return out;
}

std::optional<std::int64_t> lenient_int(const boost::json::value& v) {
  if (v.is_int64()) return v.as_int64();
  if (v.is_uint64()) {
    if (v.as_uint64() > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
      return std::nullopt;
    return static_cast<std::int64_t>(v.as_uint64());
  }
  if (v.is_double()) {
    const double d = v.as_double();
    // Outside ±2^53 a double is no longer an exact integer; beyond int64 the cast is undefined.
    if (!(d >= -9.0e15 && d <= 9.0e15)) return std::nullopt;
    if (d != static_cast<double>(static_cast<std::int64_t>(d))) return std::nullopt;
    return static_cast<std::int64_t>(d);
  }
  if (v.is_string()) {
    const auto& s = v.as_string();
    std::int64_t out = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    if (s.empty() || ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
    return out;
  }
  return std::nullopt;
}

std::string percent_encode(std::string_view s, std::string_view also_plain) {
  static constexpr char kHex[] = "0123456789ABCDEF";  // upper case here, as RFC 3986 recommends
  std::string out;
  out.reserve(s.size());
  for (unsigned char c : s) {
    const bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                       (c != 0 && also_plain.find(static_cast<char>(c)) != std::string_view::npos);
    if (plain) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 0xf];
    }
  }
  return out;
}

}  // namespace dbx
