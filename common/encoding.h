// The one place for byte encodings (hex, base64, base64url, random hex) and small text/JSON helpers
// shared by parsers of upstream answers and by on-disk names.
#pragma once

#include <boost/json/value.hpp>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace dbx {

// A JSON integer, an integral double, or a string holding an integer: upstreams are not consistent
// ("expires_in":"3599" in Entra v1, 3599 in v2). Anything else, or out of range: nullopt.
std::optional<std::int64_t> lenient_int(const boost::json::value& v);

// Percent-encodes every byte but ASCII letters, digits and the characters in `also_plain`
// (upper-case hex, as RFC 3986 recommends).
std::string percent_encode(std::string_view s, std::string_view also_plain);

// Lower-case hex of the bytes ("" for none).
std::string hex(std::span<const unsigned char> bytes);
std::string hex(std::string_view bytes);
// True when `s` is exactly `digits` lower-case hex digits.
bool is_lower_hex(std::string_view s, std::size_t digits);
// `bytes` random bytes from OpenSSL's CSPRNG as lower-case hex (2 * bytes digits); nullopt when
// OpenSSL has no randomness. The raw bytes are cleansed.
std::optional<std::string> random_hex(std::size_t bytes);

// RFC 4648 base64 with padding (HTTP Basic credentials).
std::string base64(std::string_view bytes);
// RFC 4648 section 5 base64url without padding (JWTs).
std::string base64url(std::string_view bytes);
// The inverse of base64url (padding not accepted); nullopt on any other character.
std::optional<std::string> base64url_decode(std::string_view text);

}  // namespace dbx
