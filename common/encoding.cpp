#include "common/encoding.h"

#include <charconv>
#include <limits>

namespace dbx {

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
  static constexpr char kHex[] = "0123456789ABCDEF";
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
