// The doctor's checks as the caller; see doctor_checks.h.
#include "client/doctor_checks.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include "client/socket_client.h"
#include "common/config.h"

namespace dbx::cli {

namespace {

std::string octal(unsigned mode) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04o", mode & 07777);
  return buf;
}

std::string uid_text(uid_t uid, const Caller& caller) {
  std::string out = "uid " + std::to_string(uid);
  if (uid == 0) return out + " (root)";
  if (caller.service_uid && uid == *caller.service_uid)
    return out + " (the service user " + std::string(kServiceUser) + ")";
  if (uid == caller.uid) return out + " (you)";
  return out;
}

// A problem line the caller's identity explains, not the file: a file it may not open, or a
// secret owned by the service user when the caller is someone else (the rule accepts only root
// and the reading process's own uid).
bool caller_bound(const std::string& line, const Caller& caller) {
  if (line.find(std::strerror(EACCES)) != std::string::npos) return true;
  if (caller.service_uid && caller.uid != *caller.service_uid &&
      line.find("is owned by uid " + std::to_string(*caller.service_uid) + ",") !=
          std::string::npos)
    return true;
  return false;
}

}  // namespace

std::vector<Finding> config_findings_as_caller(const std::string& path, const Caller& caller) {
  std::ifstream in(path);
  if (!in) {
    const int err = errno;
    if (err == EACCES)
      return {Finding{"config", path, Verdict::note,
                      path + " is not readable by " + uid_text(caller.uid, caller) +
                          ": not checked here (root and the service user get the daemon's check)",
                      ""}};
    return {Finding{"config", path, Verdict::note,
                    "cannot read " + path + ": " + std::strerror(err) +
                        " (pass --config PATH if the daemon uses another file)",
                    ""}};
  }
  std::stringstream text;
  text << in.rdbuf();
  ConfigProblems problems;
  const char* creds = std::getenv("CREDENTIALS_DIRECTORY");
  if (parse_config(text.str(), path, creds != nullptr ? creds : "", problems))
    return {Finding{"config", path, Verdict::ok,
                    path + " is valid (read by dbxcred as " + uid_text(caller.uid, caller) + ")",
                    ""}};
  std::vector<Finding> out;
  int skipped = 0;
  for (const auto& line : problems.lines) {
    if (caller_bound(line, caller)) {
      ++skipped;
      continue;
    }
    out.push_back(Finding{"config", path, Verdict::fail, line,
                          "correct it in " + path +
                              ", check with dbxcredd --check-config, then "
                              "systemctl reload dbxcredd"});
  }
  if (skipped > 0)
    out.push_back(Finding{"config", path, Verdict::note,
                          std::to_string(skipped) +
                              " secret file check(s) depend on who reads the file and were left "
                              "to the daemon's report (run dbxcred doctor as root)",
                          ""});
  return out;
}

Finding socket_directory_finding(const std::string& dir, unsigned mode, uid_t owner,
                                 const Caller& caller) {
  Finding f{"socket", dir, Verdict::ok, "", ""};
  const bool owner_ok =
      owner == 0 || (caller.service_uid && owner == *caller.service_uid) || owner == caller.uid;
  if ((mode & (S_IWGRP | S_IWOTH)) != 0) {
    f.verdict = Verdict::fail;
    f.message = "the socket directory " + dir + " is " +
                ((mode & S_IWOTH) != 0 ? "world-writable" : "group-writable") + " (mode " +
                octal(mode) +
                "): another user could put their own socket in its place, and the daemon "
                "refuses to serve from it";
    f.fix = "chmod go-w " + dir + ", or set socket.path in a directory such as /run/dbxcred";
    return f;
  }
  if (!owner_ok) {
    f.verdict = Verdict::fail;
    f.message = "the socket directory " + dir + " belongs to " + uid_text(owner, caller) +
                ", not to root or the service user";
    f.fix = "chown root " + dir + ", or set socket.path in a directory of root or " +
            std::string(kServiceUser);
    return f;
  }
  f.message = "the socket directory " + dir + " (mode " + octal(mode) + ", owner " +
              uid_text(owner, caller) + ") is writable only by its owner";
  return f;
}

std::vector<Finding> socket_findings(const std::string& socket_path, const Caller& caller,
                                     bool insecure) {
  std::vector<Finding> out;
  const auto slash = socket_path.rfind('/');
  const std::string dir = slash == std::string::npos ? "."
                          : slash == 0               ? "/"
                                                     : socket_path.substr(0, slash);
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) {
    out.push_back(
        Finding{"socket", socket_path, Verdict::fail,
                "the socket directory " + dir + " cannot be read: " + std::strerror(errno),
                "start the daemon (systemctl start dbxcredd), or pass --socket PATH"});
    return out;
  }
  out.push_back(socket_directory_finding(dir, st.st_mode, st.st_uid, caller));
  if (::lstat(socket_path.c_str(), &st) != 0) {
    out.push_back(Finding{"socket", socket_path, Verdict::fail,
                          "no socket at " + socket_path + ": " + std::strerror(errno),
                          "start the daemon (systemctl start dbxcredd), or pass --socket PATH / "
                          "set DBXCRED_SOCKET to the daemon's socket.path"});
    return out;
  }
  if (!S_ISSOCK(st.st_mode)) {
    out.push_back(Finding{"socket", socket_path, Verdict::fail, socket_path + " is not a socket",
                          "remove it and restart the daemon, or pass --socket PATH"});
    return out;
  }
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (socket_path.size() >= sizeof addr.sun_path) {
    out.push_back(Finding{
        "socket", socket_path, Verdict::fail,
        "the socket path is longer than " + std::to_string(sizeof addr.sun_path - 1) + " bytes",
        "use a shorter socket.path"});
    return out;
  }
  std::memcpy(addr.sun_path, socket_path.data(), socket_path.size());
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0 || ::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    const int err = errno;
    if (fd >= 0) ::close(fd);
    Finding f{"socket", socket_path, Verdict::fail,
              uid_text(caller.uid, caller) + " cannot connect to " + socket_path + ": " +
                  std::strerror(err),
              "start the daemon (systemctl start dbxcredd)"};
    if (err == EACCES)
      f.fix = "the socket's mode is " + octal(st.st_mode) + " (group " + std::to_string(st.st_gid) +
              "): add the user to that group (usually dbxcred) and log in again";
    out.push_back(std::move(f));
    return out;
  }
  ucred cred{};
  socklen_t len = sizeof cred;
  const bool known = ::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0;
  ::close(fd);
  if (!known) {
    out.push_back(
        Finding{"socket", socket_path, Verdict::fail, "cannot tell who serves " + socket_path, ""});
    return out;
  }
  Finding f{"socket", socket_path, Verdict::ok,
            socket_path + " (mode " + octal(st.st_mode) + ") is served by " +
                uid_text(cred.uid, caller) + ", pid " + std::to_string(cred.pid),
            ""};
  if (!trusted_server_uid(cred.uid, caller.uid, caller.service_uid)) {
    f.verdict = insecure ? Verdict::note : Verdict::fail;
    f.message = socket_path + " is served by " + uid_text(cred.uid, caller) + ", pid " +
                std::to_string(cred.pid) +
                ": not root, you or the service user, so another user may have taken the "
                "socket's place";
    f.fix =
        "stop that process and restart dbxcredd; make the socket directory writable only "
        "by root and " +
        std::string(kServiceUser);
  }
  out.push_back(std::move(f));
  return out;
}

}  // namespace dbx::cli
