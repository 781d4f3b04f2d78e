#include "common/config_files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "common/config.h"
#include "common/secret_file_rule.h"

namespace dbx::config_files {

namespace fs = std::filesystem;

namespace {
// "Readable by group or others" is exactly these bits (SPEC.md: secret hygiene). Write/execute
// bits for group/others are not a disclosure and are left to the operator.
constexpr mode_t kForeignReadBits = S_IRGRP | S_IROTH;

std::string strip_trailing_slash(std::string p) {
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  return p;
}
}  // namespace

std::string absolute_path(const std::string& path) {
  std::error_code ec;
  fs::path p = fs::absolute(fs::path(path), ec);
  if (ec) p = fs::path(path);
  return strip_trailing_slash(p.lexically_normal().string());
}

std::string folder_of(const std::string& config_path) {
  fs::path parent = fs::path(config_path).parent_path();
  return parent.empty() ? absolute_path(".") : parent.string();
}

std::string resolve_under(const std::string& base, const std::string& path) {
  fs::path p(path);
  if (p.is_relative()) p = fs::path(base) / p;
  return strip_trailing_slash(p.lexically_normal().string());
}

std::string octal_mode(unsigned mode) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04o", mode & 07777u);
  return buf;
}

bool check_secret_file(const std::string& file, const std::string& json_path, ProblemSink& sink) {
  auto opened = open_checked_file(file, FileRule::secret);
  if (!opened) {
    sink.add(json_path, opened.error().message);
    return false;
  }
  ::close(opened->fd);
  if (opened->size == 0) {
    sink.add(json_path, file + " is empty");
    return false;
  }
  return true;
}

bool check_config_holding_secret(const std::string& config_path, const std::string& json_path,
                                 ProblemSink& sink) {
  struct stat st {};
  if (config_path.empty() || ::stat(config_path.c_str(), &st) != 0) {
    std::string why = config_path.empty() ? "no config file" : std::strerror(errno);
    sink.add(json_path, "inline secret, but the mode of the config " + config_path +
                            " cannot be checked (" + why + "); use client_secret_file");
    return false;
  }
  if ((st.st_mode & kForeignReadBits) != 0) {
    sink.add(json_path, "inline secret in a config readable by group or others (mode " +
                            octal_mode(st.st_mode) +
                            "); move it to client_secret_file or chmod 600 " + config_path);
    return false;
  }
  return true;
}

std::string host_name() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0 || buf[0] == '\0') return "localhost";
  return buf;
}

}  // namespace dbx::config_files

namespace dbx {

std::optional<Config> load_config(const std::string& path, ConfigProblems& problems) {
  std::string absolute = config_files::absolute_path(path);
  auto fail = [&] {
    problems.lines.push_back(absolute + ": cannot read the config: " + std::strerror(errno));
    return std::nullopt;
  };
  int fd = ::open(absolute.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return fail();
  std::string text;
  char buf[16384];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int saved = errno;
      ::close(fd);
      errno = saved;
      return fail();
    }
    if (n == 0) break;
    text.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  const char* credentials_directory = std::getenv("CREDENTIALS_DIRECTORY");
  return parse_config(text, absolute, credentials_directory ? credentials_directory : "", problems);
}

}  // namespace dbx
