#include "client/output_format.h"

#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <cctype>

#include "client/daemon_api.h"

namespace dbx::cli {

namespace {

bool is_identifier(std::string_view name) {
  if (name.empty() || std::isdigit(static_cast<unsigned char>(name[0]))) return false;
  for (char c : name) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_')) return false;
  }
  return true;
}

// A header name is an HTTP token.
bool is_header_name(std::string_view name) {
  if (name.empty()) return false;
  for (char c : name) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) ||
          std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos))
      return false;
  }
  return true;
}

}  // namespace

std::string sh_quote(std::string_view value) {
  std::string out = "'";
  for (char c : value) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  out += '\'';
  return out;
}

std::string fish_quote(std::string_view value) {
  std::string out = "'";
  for (char c : value) {
    if (c == '\'' || c == '\\') out += '\\';
    out += c;
  }
  out += '\'';
  return out;
}

Expected<EnvVars> validate_env(EnvVars vars) {
  for (const auto& [name, value] : vars) {
    if (!is_identifier(name)) {
      return Failure{Exit::failure,
                     "dbxcredd sent a variable name that is not a shell identifier: \"" +
                         one_line(name) + "\""};
    }
    if (value.find('\0') != std::string::npos) {
      return Failure{Exit::failure, "dbxcredd sent a value for " + name + " with a NUL byte"};
    }
  }
  return vars;
}

std::string format_env(const EnvVars& vars, Shell shell) {
  std::string out;
  switch (shell) {
    case Shell::sh:
      for (const auto& [name, value] : vars) out += "export " + name + "=" + sh_quote(value) + "\n";
      break;
    case Shell::fish:
      for (const auto& [name, value] : vars)
        out += "set -gx " + name + " " + fish_quote(value) + "\n";
      break;
    case Shell::json: {
      boost::json::object object;
      for (const auto& [name, value] : vars) object[name] = value;
      out = boost::json::serialize(object) + "\n";
      break;
    }
  }
  return out;
}

Expected<EnvVars> env_from_object(const boost::json::object& object, std::string_view what) {
  EnvVars vars;
  for (const auto& [key, value] : object) {
    std::string name(key);
    if (value.is_string()) {
      vars.emplace_back(name, std::string(value.as_string()));
    } else if (value.is_int64() || value.is_uint64() || value.is_bool()) {
      vars.emplace_back(name, boost::json::serialize(value));
    } else {
      return Failure{Exit::failure, "dbxcredd sent " + std::string(what) + " with a value for \"" +
                                        one_line(name) + "\" that is not a string"};
    }
  }
  return validate_env(std::move(vars));
}

Expected<std::string> format_headers(const boost::json::object& headers, HeaderFormat format) {
  for (const auto& [key, value] : headers) {
    std::string name(key);
    if (!is_header_name(name)) {
      return Failure{Exit::failure,
                     "dbxcredd sent a header name that is not valid: \"" + one_line(name) + "\""};
    }
    if (!value.is_string()) {
      return Failure{Exit::failure, "dbxcredd sent a header " + name + " that is not a string"};
    }
    for (char c : value.as_string()) {
      if (c == '\r' || c == '\n' || c == '\0') {
        return Failure{Exit::failure, "dbxcredd sent a header " + name + " with a line break"};
      }
    }
  }
  std::string out;
  switch (format) {
    case HeaderFormat::curl:
      for (const auto& [key, value] : headers) {
        out += "-H " + sh_quote(std::string(key) + ": " + std::string(value.as_string())) + "\n";
      }
      break;
    case HeaderFormat::http:
      for (const auto& [key, value] : headers) {
        out += std::string(key) + ": " + std::string(value.as_string()) + "\n";
      }
      break;
    case HeaderFormat::json:
      out = boost::json::serialize(headers) + "\n";
      break;
  }
  return out;
}

}  // namespace dbx::cli
