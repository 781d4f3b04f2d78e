// Small text and JSON helpers shared by parsers of upstream answers and by on-disk names.
#pragma once

#include <boost/json/value.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace dbx {

// A JSON integer, an integral double, or a string holding an integer: upstreams are not consistent
// ("expires_in":"3599" in Entra v1, 3599 in v2). Anything else, or out of range: nullopt.
std::optional<std::int64_t> lenient_int(const boost::json::value& v);

// Percent-encodes every byte but ASCII letters, digits and the characters in `also_plain`
// (upper-case hex, as RFC 3986 recommends).
std::string percent_encode(std::string_view s, std::string_view also_plain);

}  // namespace dbx
