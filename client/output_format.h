// Turning credentials into text for shells and tools: env (sh, fish, JSON) and headers (curl, http,
// JSON). Pure functions; they refuse values that cannot be printed safely rather than mangle them.
// Their output holds secrets and goes only to stdout; their Failures never quote a value.
#pragma once

#include <boost/json/object.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "client/args.h"
#include "client/failure.h"

namespace dbx::cli {

// Environment variables in the order they are printed or set.
using EnvVars = std::vector<std::pair<std::string, std::string>>;

// A POSIX sh single-quoted word: 'it'\''s'. Newlines and everything else stay literal.
std::string sh_quote(std::string_view value);
// A fish single-quoted word: only \ and ' are special inside, escaped as \\ and \'.
std::string fish_quote(std::string_view value);

// Checks names are shell identifiers and values hold no NUL (impossible in an environment).
Expected<EnvVars> validate_env(EnvVars vars);

// sh: "export NAME='value'" lines; fish: "set -gx NAME 'value'" lines; json: one object.
std::string format_env(const EnvVars& vars, Shell shell);

// Reads a JSON object of string values (the sdk-env and azure-env answers) as EnvVars; numbers
// and booleans are written out, anything else is a Failure naming the key.
Expected<EnvVars> env_from_object(const boost::json::object& object, std::string_view what);

// curl: "-H 'Name: value'" lines (sh-quoted); http: "Name: value" lines; json: the object.
// Values with line breaks are refused (they would inject headers).
Expected<std::string> format_headers(const boost::json::object& headers, HeaderFormat format);

}  // namespace dbx::cli
