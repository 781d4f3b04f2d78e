// The file-system side of config validation (internal to common/config_*.cpp): resolving the
// relative paths a config may hold, and refusing secrets that group or others can read.
#pragma once

#include <optional>
#include <string>

#include "common/json_reader.h"

namespace dbx::config_files {

// The absolute, normalised form of `path` (relative: against the working directory).
std::string absolute_path(const std::string& path);

// The folder of an (absolute) config file path.
std::string folder_of(const std::string& config_path);

// `path` if absolute, else `base`/`path`; normalised either way.
std::string resolve_under(const std::string& base, const std::string& path);

// A secret file must pass the rule every later read applies (open_checked_file, FileRule::secret:
// not a symlink, a regular file, owned by root or the service user, no group/other permission
// bits) and not be empty. Reports at `json_path`; returns true when the file passed.
bool check_secret_file(const std::string& file, const std::string& json_path, ProblemSink& sink);

// A config holding an inline secret must not be readable by group or others. When the config's
// mode cannot be checked (no such file) the secret is refused too: we cannot vouch for it.
bool check_config_holding_secret(const std::string& config_path, const std::string& json_path,
                                 ProblemSink& sink);

// "0644"-style rendering of a mode's permission bits.
std::string octal_mode(unsigned mode);

// The host name for Config::instance; "localhost" when it cannot be read.
std::string host_name();

}  // namespace dbx::config_files
