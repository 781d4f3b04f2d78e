// NameService: the user and group database (NSS: files, LDAP, SSSD, systemd) as three lookups,
// injected so that the IdentityResolver is tested with a fake that answers late or fails.
// SystemNameService is the real one over the reentrant glibc calls.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"

namespace dbx {

struct UserEntry {
  std::string name;
  gid_t gid = static_cast<gid_t>(-1);  // the primary group of the passwd entry
};

// Each lookup answers the entry, nullopt when the database has none, or an Error (one line naming
// the call) when the lookup itself failed: EIO, an LDAP server that cannot be reached.
// Called on the IdentityResolver's worker threads, never on the event loop: implementations are
// thread-safe and may block.
class NameService {
 public:
  virtual ~NameService() = default;
  virtual Result<std::optional<UserEntry>> user(uid_t uid) = 0;
  virtual Result<std::optional<gid_t>> group_gid(const std::string& name) = 0;
  // The groups the group database lists `user` in, with `gid` (its primary group) included.
  virtual Result<std::vector<gid_t>> group_list(const std::string& user, gid_t gid) = 0;
};

class SystemNameService : public NameService {
 public:
  Result<std::optional<UserEntry>> user(uid_t uid) override;
  Result<std::optional<gid_t>> group_gid(const std::string& name) override;
  Result<std::vector<gid_t>> group_list(const std::string& user, gid_t gid) override;
};

// Runs an NSS *_r lookup `call(buffer, size)` (returning 0 or an errno value) with a buffer that
// starts at 1 KiB and doubles on ERANGE up to 16 MiB, so that a group with thousands of members
// (LDAP, SSSD) is read instead of failing closed. Returns the call's last result; the buffer
// handed to the last call stays valid in `buffer`.
int nss_call(std::vector<char>& buffer, const std::function<int(char*, std::size_t)>& call);

}  // namespace dbx
