// What an upstream error code means and what to change: one table (error_hints.cpp) of the codes
// Entra ID (AADSTS…), Databricks OAuth (RFC 6749 error), the Databricks REST API (error_code) and
// Azure Resource Manager send, for `dbxcred doctor`. Pure: text in, hint out.
#pragma once

#include <optional>
#include <string_view>

namespace dbx {

struct ErrorHint {
  std::string_view code;     // as the upstream sends it: "AADSTS7000215", "invalid_client", …
  std::string_view meaning;  // what it says, in plain words
  std::string_view fix;      // what to change
};

// The hint for the most specific known code in `error_text` (an error message as the daemon keeps
// it, e.g. a token cache's last_error): an AADSTS code before an OAuth error name such as
// invalid_client. A code matches as a whole word: AADSTS70002 is not found in "AADSTS700024".
// nullopt when no known code is in it.
std::optional<ErrorHint> explain_upstream_error(std::string_view error_text);

}  // namespace dbx
