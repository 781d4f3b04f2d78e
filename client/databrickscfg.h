// The one thing databricks-auth reads from the Databricks config file (~/.databrickscfg, or
// $DATABRICKS_CONFIG_FILE): a profile's `host`, for `auth token --profile P`, which is all the
// SDKs pass when a profile is configured. Everything else in the file is ignored; no secret in it
// is read into memory beyond the parse.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "client/failure.h"

namespace dbx::cli {

// The `host` of section [profile] of an INI text (`key = value` lines, `#`/`;` comments, keys
// case-insensitive as in the SDKs' parser), or nullopt when the section or its host is missing.
std::optional<std::string> profile_host(std::string_view ini_text, std::string_view profile);

// $DATABRICKS_CONFIG_FILE (a leading ~/ is the home directory), else $HOME/.databrickscfg.
std::optional<std::string> databrickscfg_path(const std::optional<std::string>& config_file_env,
                                              const std::optional<std::string>& home);

// Reads `path` and returns the profile's host; a Failure names the file and the profile.
Expected<std::string> read_profile_host(const std::string& path, std::string_view profile);

}  // namespace dbx::cli
