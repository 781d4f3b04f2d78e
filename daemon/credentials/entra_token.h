// Entra ID (Azure AD) token answers and errors: the v1/v2 client-credentials wire format
// (PROTOCOLS.md), shared by every credential source that speaks it (secret, certificate, workload
// identity, IMDS). Pure functions: body + receive time in, AccessToken or Error out.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "daemon/credentials/credential_source.h"
#include "daemon/upstream/transport.h"

namespace dbx {

// Longest token lifetime we believe. Entra ID issues 60-90 min (up to 24 h with CAE); anything
// longer, or already expired, means a broken or hostile answer, and we must not serve such a token.
inline constexpr Seconds kMaxTokenLifetime{86400};

// Parses a v1 answer (numbers as strings), a v2 answer (numbers as numbers) or an IMDS answer.
// Expiry comes from expires_in relative to `received` (hosts' clocks drift); expires_on is used
// only when expires_in is missing.
Result<AccessToken> parse_token_answer(std::string_view body, TimePoint received);

// Turns a non-200 answer of a token endpoint into an Error for users: the `error` code and the
// first line of `error_description` (which starts with the AADSTS code), HTTP status, Retry-After.
// `what` says who failed, e.g. "Entra ID token request for client 1234… (credential ci-sp)".
Error token_endpoint_error(const HttpResponse& response, std::string_view what);

// application/x-www-form-urlencoded body; every value is percent-encoded.
std::string form_encode(const std::vector<std::pair<std::string, std::string>>& fields);

// "https://x/" -> "https://x": resources with and without the trailing slash are the same.
std::string normalize_resource(std::string_view resource);

// v2 scope for a v1 resource: GUID -> "GUID/.default", URL -> "URL/.default" (no double slash).
std::string scope_for_resource(std::string_view resource);

}  // namespace dbx
