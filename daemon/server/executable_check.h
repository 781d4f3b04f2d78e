// `allow.executables` (SPEC.md): does the connecting process run one of the listed programs?
// Paths are compared after resolving symlinks on both sides; a `sha256` entry also compares the
// content of the file the process runs, hashed once per (device, inode, size, mtime, ctime) and
// cached. Rule files are hashed when a configuration is loaded (prime), so a request hashes only a
// program it has not seen in that form (docs/AUDIT.md).
#pragma once

#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/config.h"
#include "daemon/server/peer_process.h"

namespace dbx {

class ExeHashCache {
 public:
  // The SHA-256 (hex) of the file at `path` whose identity is `key`, from the cache or read now;
  // nullopt when the file cannot be read or is no longer the file `key` describes.
  std::optional<std::string> sha256(const std::string& path, const FileKey& key);
  // Hashes the files of every sha256 rule of `config`, so requests find them cached.
  void prime(const Config& config);
  std::size_t size() const { return hashes_.size(); }
  std::size_t files_hashed() const { return files_hashed_; }

 private:
  // Programs change rarely; a bound keeps a host full of rebuilt binaries from growing the map.
  static constexpr std::size_t kMaxEntries = 256;
  std::map<FileKey, std::string> hashes_;
  std::size_t files_hashed_ = 0;
};

// The daemon's one cache (loop thread only): Workspace::authorize checks against it, main primes it
// at every configuration load.
ExeHashCache& exe_hash_cache();

struct ExecutableVerdict {
  bool allowed = false;
  std::string reason;  // when refused: why, one line, naming the program
};

// Checks `process` against `rules` (empty: any program is allowed).
ExecutableVerdict check_executables(const std::vector<ExecutableRule>& rules,
                                    const PeerProcess& process, ExeHashCache& hashes);

// SHA-256 of the content of the open file `fd`, as hex; nullopt on a read error.
std::optional<std::string> sha256_of_fd(int fd);

}  // namespace dbx
