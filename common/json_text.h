// JSON text as the config file holds it: comments and trailing commas allowed, syntax errors
// reported with line and column, duplicate keys refused.
#pragma once

#include <boost/json/value.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/json_reader.h"

namespace dbx {

// Parses `text`; on failure adds one line per problem to `sink` and returns nullopt:
// `line 3, column 9: invalid JSON: syntax error`, or `<path>: duplicate key ...` per duplicate.
std::optional<boost::json::value> parse_json_text(const std::string& text, ProblemSink& sink);

// The JSON paths of keys that appear twice in the same object ("workspaces.prod"), in document
// order. Boost.JSON keeps only the last of duplicate keys without a word, so a second "prod"
// workspace would silently replace the first. `text` must already be known to parse.
std::vector<std::string> find_duplicate_keys(std::string_view text);

}  // namespace dbx
