// Human-readable renderings of /v1/status and /v1/workspaces. The status JSON is rendered
// generically (an indented, aligned key/value tree) so fields the daemon adds or drops never break
// the CLI; epoch-second times become ISO-8601 UTC plus a relative "in 41m".
#pragma once

#include <boost/json/object.hpp>
#include <cstdint>
#include <string>

#include "common/clock.h"

namespace dbx::cli {

// "2024-05-01T12:00:00Z"
std::string iso8601_utc(std::int64_t unix_seconds);
// "in 41m", "3h12m ago", "now": seconds dropped beyond a minute, minutes beyond a day.
std::string relative_time(std::int64_t delta_seconds);

std::string format_status(const boost::json::object& status, TimePoint now);

// One workspace per line: name, host, "pat yes|no", in aligned columns, no header line.
std::string format_workspaces(const boost::json::object& answer);

}  // namespace dbx::cli
