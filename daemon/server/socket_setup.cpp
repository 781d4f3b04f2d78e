#include "daemon/server/socket_setup.h"

#include "daemon/server/name_service.h"

#include <fcntl.h>
#include <grp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace dbx {

namespace {

std::string errno_text() {
  return std::strerror(errno);
}

std::string octal(unsigned mode) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04o", mode & 07777);
  return buf;
}

Result<gid_t> group_id(const std::string& name) {
  std::vector<char> buf;
  struct group gr {};
  struct group* found = nullptr;
  const int rc = nss_call(
      buf, [&](char* b, std::size_t n) { return ::getgrnam_r(name.c_str(), &gr, b, n, &found); });
  if (rc != 0 || found == nullptr)
    return make_error(ErrorCode::internal, "socket.group: no group named \"" + name + "\"");
  return gr.gr_gid;
}

// True when `dir` is one of the directories systemd created for this service (RuntimeDirectory=,
// passed as $RUNTIME_DIRECTORY, colon-separated): its owner and mode are the unit's to decide.
bool is_runtime_directory(const std::string& dir) {
  const char* env = std::getenv("RUNTIME_DIRECTORY");
  if (env == nullptr) return false;
  std::string_view list = env;
  while (!list.empty()) {
    const auto colon = list.find(':');
    if (list.substr(0, colon) == dir) return true;
    if (colon == std::string_view::npos) break;
    list.remove_prefix(colon + 1);
  }
  return false;
}

// The socket's directory: created 0750 if missing; an existing one must belong to us (or root)
// and must be writable by nobody else: in a directory others may write (even a sticky one such as
// /tmp) another user can bind the socket's name first and answer our clients, and a group member
// can unlink the live socket and bind its own.
Status prepare_directory(const std::string& dir, std::optional<gid_t> gid) {
  struct stat st {};
  if (::lstat(dir.c_str(), &st) != 0) {
    if (errno != ENOENT)
      return make_error(ErrorCode::internal,
                        "cannot inspect socket directory " + dir + ": " + errno_text());
    if (::mkdir(dir.c_str(), 0750) != 0)
      return make_error(ErrorCode::internal,
                        "cannot create socket directory " + dir + ": " + errno_text());
    if (gid && ::chown(dir.c_str(), static_cast<uid_t>(-1), *gid) != 0)
      return make_error(ErrorCode::internal,
                        "cannot give socket directory " + dir + " to its group: " + errno_text());
    ::chmod(dir.c_str(), 0750);
    return ok_status();
  }
  if (!S_ISDIR(st.st_mode))
    return make_error(ErrorCode::internal, "socket directory " + dir + " is not a directory");
  if (is_runtime_directory(dir)) return ok_status();
  if (st.st_uid != ::geteuid() && st.st_uid != 0)
    return make_error(ErrorCode::internal, "socket directory " + dir + " belongs to uid " +
                                               std::to_string(st.st_uid) +
                                               ", not to us; refusing to serve from it");
  if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0)
    return make_error(ErrorCode::internal,
                      "socket directory " + dir + " is " +
                          ((st.st_mode & S_IWOTH) != 0 ? "world-writable" : "group-writable") +
                          " (mode " + octal(st.st_mode) +
                          "): another user could put their own socket in its place; use a "
                          "directory only root and the daemon's user may write (chmod go-w " +
                          dir + ", or a new one such as /run/dbxcred)");
  return ok_status();
}

}  // namespace

Result<int> open_listening_socket(const SocketConfig& config) {
  const std::string& path = config.path;
  sockaddr_un addr{};
  if (path.size() >= sizeof addr.sun_path)
    return make_error(ErrorCode::internal, "socket.path is too long: " + path);
  std::optional<gid_t> gid;
  if (config.group) {
    auto g = group_id(*config.group);
    if (!g) return g.error();
    gid = *g;
  }
  const auto slash = path.rfind('/');
  const std::string dir = slash == 0 ? "/" : path.substr(0, slash);
  if (auto s = prepare_directory(dir, gid); !s) return s.error();

  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);

  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode))
      return make_error(ErrorCode::internal,
                        "socket.path " + path + " exists and is not a socket; remove it");
    // A live daemon answers connect(); a stale socket file from a crash refuses it.
    int probe = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const bool live = ::connect(probe, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0;
    ::close(probe);
    if (live)
      return make_error(ErrorCode::internal,
                        "another dbxcredd is already serving " + path + "; stop it first");
    ::unlink(path.c_str());
  }

  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return make_error(ErrorCode::internal, "socket(): " + errno_text());
  // Bound with no permissions for anyone but us; opened up to socket.mode only after chmod/chown,
  // so there is no moment when the socket is more open than configured.
  const mode_t old = ::umask(0177);
  const int rc = ::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
  const int bind_errno = errno;
  ::umask(old);
  if (rc != 0) {
    ::close(fd);
    return make_error(ErrorCode::internal,
                      "cannot bind " + path + ": " + std::strerror(bind_errno));
  }
  if (gid && ::chown(path.c_str(), static_cast<uid_t>(-1), *gid) != 0) {
    std::string e = errno_text();
    ::close(fd);
    return make_error(ErrorCode::internal,
                      "cannot set group " + *config.group + " on " + path + ": " + e);
  }
  if (::chmod(path.c_str(), config.mode) != 0) {
    std::string e = errno_text();
    ::close(fd);
    return make_error(ErrorCode::internal, "cannot chmod " + path + ": " + e);
  }
  constexpr int kBacklog = 1024;  // build agents start many jobs at once
  if (::listen(fd, kBacklog) != 0) {
    std::string e = errno_text();
    ::close(fd);
    return make_error(ErrorCode::internal, "cannot listen on " + path + ": " + e);
  }
  return fd;
}

}  // namespace dbx
