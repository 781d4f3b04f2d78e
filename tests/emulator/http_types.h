// Plain HTTP request/response structs shared by the emulator's handlers, plus the small parsers
// they need (query strings, form bodies, percent-decoding). No Beast here: server.cpp converts.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace emu {

struct HttpRequest {
  std::string method;                          // "GET", "POST", …
  std::string target;                          // path + query as sent
  std::string path;                            // percent-decoded path without the query
  std::map<std::string, std::string> query;    // decoded; first occurrence wins
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;

  // The header's value, or "" when absent (names are matched case-insensitively).
  std::string header(std::string_view name) const;
  std::optional<std::string> query_param(std::string_view name) const;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

// Builds a request from its parts: splits and decodes `target`, lower-cases header names.
HttpRequest make_request(std::string method, std::string target,
                         std::vector<std::pair<std::string, std::string>> headers,
                         std::string body);

std::string percent_decode(std::string_view s, bool plus_is_space);
// application/x-www-form-urlencoded (also used for query strings); first occurrence wins.
std::map<std::string, std::string> parse_form(std::string_view s);
std::string to_lower(std::string_view s);
bool iequals(std::string_view a, std::string_view b);
bool starts_with_icase(std::string_view s, std::string_view prefix);
std::vector<std::string> split_path(std::string_view path);  // "/a/b/" → {"a","b"}

HttpResponse json_response(int status, std::string body);

}  // namespace emu
