#include "client/handed_out_record.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <charconv>
#include <cstdio>

#include "client/daemon_api.h"

namespace dbx::cli {

std::optional<std::string> FileHandedOutRecord::record_dir(
    const std::optional<std::string>& xdg_runtime_dir, const std::optional<std::string>& home) {
  if (xdg_runtime_dir && !xdg_runtime_dir->empty() && (*xdg_runtime_dir)[0] == '/')
    return *xdg_runtime_dir + "/dbxcred";
  if (home && !home->empty() && (*home)[0] == '/') return *home + "/.cache/dbxcred";
  return std::nullopt;
}

bool FileHandedOutRecord::usable_dir(bool create) {
  if (!dir_) return false;
  if (create) {
    // The parent (~/.cache) may be missing too; it gets the usual 0700 of a fresh cache.
    const std::string parent = dir_->substr(0, dir_->rfind('/'));
    if (!parent.empty()) ::mkdir(parent.c_str(), 0700);
    ::mkdir(dir_->c_str(), 0700);
  }
  struct stat st {};
  if (::lstat(dir_->c_str(), &st) != 0) return false;
  return S_ISDIR(st.st_mode) && st.st_uid == ::geteuid() && (st.st_mode & 022) == 0;
}

std::string FileHandedOutRecord::file_for(const std::string& workspace) const {
  return *dir_ + "/databricks-auth." + encode_path_segment(workspace);
}

std::optional<std::int64_t> FileHandedOutRecord::last(const std::string& workspace) {
  if (!usable_dir(false)) return std::nullopt;
  int fd = ::open(file_for(workspace).c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  char buf[32];
  ssize_t n = ::read(fd, buf, sizeof buf);
  ::close(fd);
  if (n <= 0) return std::nullopt;
  std::int64_t value = 0;
  auto [end, ec] = std::from_chars(buf, buf + n, value);
  if (ec != std::errc() || end == buf || value <= 0) return std::nullopt;
  return value;
}

void FileHandedOutRecord::remember(const std::string& workspace, std::int64_t expires_at) {
  if (!usable_dir(true)) return;
  const std::string path = file_for(workspace);
  const std::string tmp = path + "." + std::to_string(::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) return;
  const std::string text = std::to_string(expires_at) + "\n";
  const bool written = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  ::close(fd);
  // rename() replaces atomically: a concurrent reader sees the old or the new time, never half.
  if (!written || ::rename(tmp.c_str(), path.c_str()) != 0) ::unlink(tmp.c_str());
}

}  // namespace dbx::cli
