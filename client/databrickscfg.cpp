#include "client/databrickscfg.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "client/daemon_api.h"
#include "common/text.h"

namespace dbx::cli {

namespace {

// The config file is small; anything bigger is not one.
constexpr std::streamsize kMaxConfigBytes = 1024 * 1024;

}  // namespace

std::optional<std::string> profile_host(std::string_view ini_text, std::string_view profile) {
  bool in_section = false;
  std::optional<std::string> host;
  std::size_t pos = 0;
  while (pos <= ini_text.size()) {
    std::size_t eol = ini_text.find('\n', pos);
    if (eol == std::string_view::npos) eol = ini_text.size();
    std::string_view line = trim_blanks(ini_text.substr(pos, eol - pos));
    if (!line.empty() && line.back() == '\r') line = trim_blanks(line.substr(0, line.size() - 1));
    pos = eol + 1;
    if (line.empty() || line[0] == '#' || line[0] == ';') continue;
    if (line.front() == '[' && line.back() == ']') {
      in_section = trim_blanks(line.substr(1, line.size() - 2)) == profile;
      continue;
    }
    if (!in_section) continue;
    std::size_t eq = line.find('=');
    if (eq == std::string_view::npos) continue;
    if (!iequals(trim_blanks(line.substr(0, eq)), "host")) continue;
    std::string_view value = trim_blanks(line.substr(eq + 1));
    if (!value.empty()) host = std::string(value);  // a later key wins, as in the SDKs' parser
  }
  return host;
}

std::optional<std::string> databrickscfg_path(const std::optional<std::string>& config_file_env,
                                              const std::optional<std::string>& home) {
  if (config_file_env && !config_file_env->empty()) {
    if (config_file_env->rfind("~/", 0) == 0) {
      if (!home) return std::nullopt;
      return *home + config_file_env->substr(1);
    }
    return *config_file_env;
  }
  if (!home || home->empty()) return std::nullopt;
  return *home + "/.databrickscfg";
}

Expected<std::string> read_profile_host(const std::string& path, std::string_view profile) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return Failure{Exit::failure, "cannot read " + one_line(path) + " for profile " +
                                      one_line(profile) + ": " + std::strerror(errno)};
  }
  std::string text(static_cast<std::size_t>(kMaxConfigBytes) + 1, '\0');
  in.read(text.data(), kMaxConfigBytes + 1);
  text.resize(static_cast<std::size_t>(in.gcount()));
  if (text.size() > static_cast<std::size_t>(kMaxConfigBytes)) {
    return Failure{Exit::failure,
                   one_line(path) + " is bigger than 1 MiB: not a Databricks config"};
  }
  auto host = profile_host(text, profile);
  if (!host) {
    return Failure{Exit::failure,
                   "profile " + one_line(profile) + " in " + one_line(path) +
                       " has no host; add host = https://adb-... to it, or pass --host"};
  }
  return *host;
}

}  // namespace dbx::cli
