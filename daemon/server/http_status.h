// The reason phrase of an HTTP status code, for the daemon's listeners and the CLI's relay (which
// compiles this file too, as it does request_parser.cpp).
#pragma once

#include <string_view>

namespace dbx {

// "Not Found" for 404; "Unknown" for a code not listed.
std::string_view reason_phrase(int status);

}  // namespace dbx
