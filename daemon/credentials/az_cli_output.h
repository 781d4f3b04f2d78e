// Parsing `az account get-access-token --output json` (PROTOCOLS.md "Azure CLI"): `expires_on`
// (epoch, az >= 2.54) when present, else `expiresOn`, a naive LOCAL time of the az process
// ("2026-11-28 07:16:30.921462"), which Debian 12's az 2.45 prints alone.
#pragma once

#include <string_view>

#include "daemon/credentials/credential_source.h"

namespace dbx {

// az prints expiresOn truncated to the second and sometimes a second early: we take one second off
// the parsed instant so a token is never believed to live longer than it does.
inline constexpr Seconds kAzExpirySlack{1};

// Parses az's stdout. Local times are read in the current TZ (az runs with our environment); in the
// hour a DST change repeats, the earlier reading is taken (the conservative one).
Result<AccessToken> parse_az_token_output(std::string_view stdout_text, TimePoint now);

// Maps az's failure (exit status, stderr) to a user-facing error: "Please run 'az login'" becomes a
// clear instruction; otherwise the last ERROR line of stderr.
Error az_failure(int exit_status, std::string_view stderr_text, std::string_view credential);

// Local broken-down time to an instant, in the current TZ; nullopt if it does not exist (the hour
// skipped by a DST change).
std::optional<TimePoint> local_time_to_instant(int year, int month, int day, int hour, int minute,
                                               int second);

}  // namespace dbx
