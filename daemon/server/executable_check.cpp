#include "daemon/server/executable_check.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <memory>

#include "common/encoding.h"

namespace dbx {

namespace {

// The rule's path with every symlink resolved; "" when it does not exist.
std::string resolved(const std::string& path) {
  char buf[PATH_MAX];
  if (::realpath(path.c_str(), buf) == nullptr) return {};
  return buf;
}

}  // namespace

std::optional<std::string> sha256_of_fd(int fd) {
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1) return std::nullopt;
  std::vector<unsigned char> buf(1 << 16);
  for (;;) {
    const ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return std::nullopt;
    if (n == 0) break;
    EVP_DigestUpdate(ctx.get(), buf.data(), static_cast<std::size_t>(n));
  }
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_DigestFinal_ex(ctx.get(), md, &len) != 1) return std::nullopt;
  return hex(std::span<const unsigned char>(md, len));
}

std::optional<std::string> ExeHashCache::sha256(const std::string& path, const FileKey& key) {
  if (auto it = hashes_.find(key); it != hashes_.end()) return it->second;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) return std::nullopt;
  struct stat st {};
  std::optional<std::string> hash;
  // The file opened must be the one the key describes (the process's executable), not whatever
  // the path names by now.
  if (::fstat(fd, &st) == 0 && file_key(st) == key) hash = sha256_of_fd(fd);
  ::close(fd);
  if (!hash) return std::nullopt;
  ++files_hashed_;
  if (hashes_.size() >= kMaxEntries) hashes_.erase(hashes_.begin());
  hashes_.emplace(key, *hash);
  return hash;
}

ExeHashCache& exe_hash_cache() {
  static ExeHashCache cache;
  return cache;
}

void ExeHashCache::prime(const Config& config) {
  for (const auto& [name, ws] : config.workspaces) {
    if (!ws.allow) continue;
    for (const ExecutableRule& rule : ws.allow->executables) {
      if (!rule.sha256) continue;
      const std::string path = resolved(rule.path);
      struct stat st {};
      if (path.empty() || ::stat(path.c_str(), &st) != 0) continue;
      sha256(path, file_key(st));
    }
  }
}

ExecutableVerdict check_executables(const std::vector<ExecutableRule>& rules,
                                    const PeerProcess& process, ExeHashCache& hashes) {
  if (rules.empty()) return {true, ""};
  if (!process.known()) return {false, "the calling program cannot be identified: " + process.why};
  bool path_matched = false;
  bool by_content = false;
  for (const ExecutableRule& rule : rules) {
    if (rule.path.empty() && rule.sha256) {
      // Content alone. Opened through /proc/<pid>/exe: the path the daemon sees may be another
      // mount namespace's; the file key check keeps it the file that was identified.
      by_content = true;
      const auto hash = hashes.sha256(
          process.pid > 0 ? "/proc/" + std::to_string(process.pid) + "/exe" : process.exe,
          process.file);
      if (hash && *hash == *rule.sha256) return {true, ""};
      continue;
    }
    // A path rule names a file of this daemon's mount namespace.
    if (!process.reachable) continue;
    if (resolved(rule.path) != process.exe) continue;
    path_matched = true;
    if (!rule.sha256) return {true, ""};
    const auto hash = hashes.sha256(process.exe, process.file);
    if (!hash)
      return {false, "the content of " + process.exe +
                         " cannot be read to check its sha256 (replaced while running?)"};
    if (*hash == *rule.sha256) return {true, ""};
  }
  if (path_matched)
    return {false,
            "program " + process.exe + " does not have the sha256 that allow.executables lists"};
  if (!process.reachable)
    return {false, "the calling program cannot be identified by its path: " + process.why};
  return {false, "program " + process.exe + " is not in allow.executables" +
                     (by_content ? " (and its sha256 is none of those listed)" : "")};
}

}  // namespace dbx
