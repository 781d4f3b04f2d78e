// The one rule for files that hold secrets, applied the same way when the configuration is loaded
// (config_files::check_secret_file) and on every read after (daemon/credentials/secret_file.h), so
// a file the config check accepts is one every refresh can read, and the reverse.
//
// The path is opened with O_NOFOLLOW (secrets) and the opened descriptor is fstat'ed: what is
// checked is the file that will be read, not whatever the path named a moment earlier.
#pragma once

#include <cstddef>
#include <string>

#include "common/result.h"

namespace dbx {

enum class FileRule {
  // client_secret_file, certificate_file: the file itself (no symlink), regular, owned by root or
  // the effective uid (the service user), no group or other permission bits, at most 1 MiB.
  secret,
  // token_file: its writer (kubelet, a CI runner) sets owner and mode and kubelet's projected
  // volumes are symlinks, so only "a regular file of at most 1 MiB" (a FIFO would block).
  token,
};

// An open descriptor (the caller closes it) and the file's size at open.
struct CheckedFile {
  int fd = -1;
  std::size_t size = 0;
};

// Opens `path` read-only under `rule`. Errors are one line naming the path and the rule broken
// ("… is a symbolic link: refused …", "… has group or other permission bits (mode 0640): refused;
// run chmod 600 …"), never the content.
Result<CheckedFile> open_checked_file(const std::string& path, FileRule rule);

}  // namespace dbx
