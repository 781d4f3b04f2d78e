// SystemNameService: see name_service.h.
#include "daemon/server/name_service.h"

#include <grp.h>
#include <pwd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace dbx {

namespace {

// getpwuid_r and getgrnam_r say "no such entry" with a null result and 0, or (depending on the
// NSS module) with one of these (getpwnam(3)): not a failure of the lookup.
bool means_not_found(int rc) {
  return rc == 0 || rc == ENOENT || rc == ESRCH || rc == EBADF || rc == EPERM;
}

Error lookup_failed(const std::string& call, int rc) {
  return make_error(ErrorCode::internal, call + ": " + std::strerror(rc));
}

}  // namespace

int nss_call(std::vector<char>& buffer, const std::function<int(char*, std::size_t)>& call) {
  constexpr std::size_t kMax = std::size_t{16} << 20;
  if (buffer.size() < 1024) buffer.resize(1024);
  for (;;) {
    const int rc = call(buffer.data(), buffer.size());
    if (rc != ERANGE || buffer.size() >= kMax) return rc;
    buffer.resize(buffer.size() * 2);
  }
}

Result<std::optional<UserEntry>> SystemNameService::user(uid_t uid) {
  std::vector<char> buf;
  struct passwd pw {};
  struct passwd* found = nullptr;
  const int rc =
      nss_call(buf, [&](char* b, std::size_t n) { return ::getpwuid_r(uid, &pw, b, n, &found); });
  if (found != nullptr && rc == 0)
    return std::optional<UserEntry>(UserEntry{pw.pw_name, pw.pw_gid});
  if (means_not_found(rc)) return std::optional<UserEntry>();
  return lookup_failed("getpwuid_r(" + std::to_string(uid) + ")", rc);
}

Result<std::optional<gid_t>> SystemNameService::group_gid(const std::string& name) {
  std::vector<char> buf;
  struct group gr {};
  struct group* found = nullptr;
  const int rc = nss_call(
      buf, [&](char* b, std::size_t n) { return ::getgrnam_r(name.c_str(), &gr, b, n, &found); });
  if (found != nullptr && rc == 0) return std::optional<gid_t>(gr.gr_gid);
  if (means_not_found(rc)) return std::optional<gid_t>();
  return lookup_failed("getgrnam_r(\"" + name + "\")", rc);
}

Result<std::vector<gid_t>> SystemNameService::group_list(const std::string& user, gid_t gid) {
  // Grown until the list fits (it may grow between two calls). getgrouplist has no error result:
  // a module that fails contributes no groups.
  std::vector<gid_t> groups;
  int n = 64;
  for (int tries = 0; tries < 8; ++tries) {
    groups.resize(static_cast<std::size_t>(n));
    if (::getgrouplist(user.c_str(), gid, groups.data(), &n) >= 0) {
      groups.resize(static_cast<std::size_t>(std::max(n, 0)));
      return groups;
    }
    n = std::max(n, static_cast<int>(groups.size()) * 2);
  }
  return make_error(ErrorCode::internal,
                    "getgrouplist(\"" + user + "\"): the list kept growing while it was read");
}

}  // namespace dbx
