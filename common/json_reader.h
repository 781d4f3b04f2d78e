// Reading a JSON object with validation that reports problems instead of throwing: each problem is
// one line that starts with its JSON path (`workspaces.prod.pat.lifetime: expected a duration
// ...`). Used by the config parser; knows nothing about the config schema itself.
#pragma once

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"

namespace dbx {

// Where problems go. Lines are kept in the order they were found.
struct ProblemSink {
  std::vector<std::string>& lines;
  void add(const std::string& path, const std::string& message) {
    lines.push_back(path + ": " + message);
  }
};

// "a.b" + "c" -> "a.b.c"; the root path is "".
std::string join_path(const std::string& parent, std::string_view key);

// A short, safe description of a value for "expected X, got Y": strings are quoted (and cut when
// long), containers are named ("an object"). Never call this on a secret: use kind_of() instead.
std::string describe(const boost::json::value& v);
// The value's kind only: "a string", "a number", "null", ...
std::string kind_of(const boost::json::value& v);

// Reads the members of one JSON object. Every key asked for is remembered as known; finish()
// reports the remaining keys as unknown. Absent keys and `null` count as "not given" for the
// optional getters; a wrong type is a problem and yields nullopt.
class ObjectReader {
 public:
  ObjectReader(const boost::json::object& object, std::string path, ProblemSink sink);

  const std::string& path() const { return path_; }
  std::string path(std::string_view key) const { return join_path(path_, key); }
  ProblemSink& sink() { return sink_; }
  void problem(std::string_view key, const std::string& message) { sink_.add(path(key), message); }

  // The raw member, or nullptr when absent or null. Marks the key as known.
  const boost::json::value* get(std::string_view key);
  bool has(std::string_view key) { return get(key) != nullptr; }

  std::optional<std::string> string(std::string_view key);
  // Like string(), but a problem never shows the value (for secrets).
  std::optional<std::string> secret_string(std::string_view key);
  std::optional<bool> boolean(std::string_view key);
  std::optional<std::int64_t> integer(std::string_view key, std::int64_t min, std::int64_t max);
  std::optional<Seconds> duration(std::string_view key);
  const boost::json::object* object(std::string_view key);
  std::optional<std::vector<std::string>> string_array(std::string_view key);
  std::optional<std::vector<std::int64_t>> integer_array(std::string_view key, std::int64_t min,
                                                         std::int64_t max);

  // Reports a missing required key: `<path>.<key>: missing (<why>)`.
  void missing(std::string_view key, const std::string& why);

  // Reports every member not asked for: `<path>.<key>: unknown key (known: a, b)`. `context`, when
  // given, is put before the list, e.g. "for a credential of type azure_cli".
  void finish(const std::string& context = "");

 private:
  const boost::json::object& object_;
  std::string path_;
  ProblemSink sink_;
  std::vector<std::string> known_;
};

// "a, b, c".
std::string join_list(const std::vector<std::string>& items, const char* separator = ", ");
// A string as a JSON literal, for echoing in problems.
std::string quoted(const std::string& s);

// Reads `key` as one of `allowed`; a wrong value is a problem that lists them.
std::optional<std::string> enum_string(ObjectReader& r, std::string_view key,
                                       const std::vector<std::string>& allowed);
// A string that must be present and non-empty: `missing (<why>)` otherwise.
std::optional<std::string> required_string(ObjectReader& r, std::string_view key,
                                           const std::string& why);
// A string that, when given, must not be empty.
std::optional<std::string> optional_nonempty(ObjectReader& r, std::string_view key);

enum class UrlKind { https_with_path, https_host_only, http_or_https };
// Checks a URL of the given kind and drops its trailing slashes; nullopt after a problem.
std::optional<std::string> url(ObjectReader& r, std::string_view key, UrlKind kind);

}  // namespace dbx
