// The state_dir ownership rule; see state_dir_check.h.
#include "daemon/state_dir_check.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace dbx {
namespace {

std::string octal_mode(mode_t mode) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(mode & 07777));
  return buf;
}

Error refused(const std::string& path, const std::string& what) {
  return make_error(ErrorCode::internal, "state_dir: " + path + " " + what);
}

// `follow`: the state_dir itself may be a symlink (systemd's StateDirectory= with DynamicUser=
// makes one); the entries inside it may not.
Status check_one(const std::string& path, bool directory, bool follow, uid_t uid) {
  struct stat st {};
  const int rc = follow ? ::stat(path.c_str(), &st) : ::lstat(path.c_str(), &st);
  if (rc != 0) {
    if (errno == ENOENT) return ok_status();
    return refused(path, std::string("cannot be checked: ") + std::strerror(errno));
  }
  if (S_ISLNK(st.st_mode)) return refused(path, "is a symlink; it must be a plain file or folder");
  if (directory ? !S_ISDIR(st.st_mode) : !S_ISREG(st.st_mode))
    return refused(path, directory ? "is not a directory" : "is not a regular file");
  if (st.st_uid != uid || (st.st_mode & (S_IWGRP | S_IWOTH)) != 0)
    return refused(path, "is owned by uid " + std::to_string(st.st_uid) + " with mode " +
                             octal_mode(st.st_mode) + "; it must belong to the service user (uid " +
                             std::to_string(uid) +
                             ") and not be group- or world-writable (chown/chmod it)");
  return ok_status();
}

}  // namespace

Status check_state_dir_ownership(const std::string& state_dir, uid_t uid) {
  if (auto s = check_one(state_dir, true, true, uid); !s) return s;
  if (auto s = check_one(state_dir + "/pats", true, false, uid); !s) return s;
  if (auto s = check_one(state_dir + "/agent_id", false, false, uid); !s) return s;
  return check_one(state_dir + "/machine", false, false, uid);
}

}  // namespace dbx
