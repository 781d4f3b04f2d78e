// Loopback secrets on disk: create-once with O_EXCL, strict mode and content checks on read.
#include "daemon/loopback_secrets.h"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "common/encoding.h"

namespace dbx {

namespace {

constexpr std::size_t kSecretBytes = 32;  // 256 bits
constexpr std::size_t kSecretHexChars = 2 * kSecretBytes;

Error file_error(const std::string& path, const std::string& what) {
  return make_error(ErrorCode::internal, "loopback secret " + path + ": " + what);
}

Result<std::string> generate_secret() {
  auto out = random_hex(kSecretBytes);
  if (!out)
    return make_error(ErrorCode::internal, "no random bytes for a loopback secret (OpenSSL RAND)");
  return std::move(*out);
}

Result<std::string> read_secret(int fd, const std::string& path) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) return file_error(path, std::strerror(errno));
  if (!S_ISREG(st.st_mode)) return file_error(path, "not a regular file");
  if ((st.st_mode & 077) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%03o", static_cast<unsigned>(st.st_mode & 0777));
    return file_error(path, std::string("open to group or others (mode ") + mode +
                                "); chmod 600 it, or delete it and reload to make a new one");
  }
  if (st.st_uid != ::geteuid()) return file_error(path, "owned by another user; delete it");
  std::string text(kSecretHexChars + 2, '\0');
  ssize_t n = ::read(fd, text.data(), text.size());
  if (n < 0) return file_error(path, std::strerror(errno));
  text.resize(static_cast<std::size_t>(n));
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  if (!is_lower_hex(text, kSecretHexChars))
    return file_error(path, "does not hold 64 hex digits; delete it and reload to make a new one");
  return text;
}

// Writes `secret` to a temporary file (0600) beside `path`, fsynced; returns its name.
Result<std::string> write_aside(const std::string& path, const std::string& secret) {
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return file_error(tmp, std::strerror(errno));
  const std::string line = secret + "\n";
  const bool written = ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size());
  const bool synced = written && ::fsync(fd) == 0;
  const int err = errno;
  ::close(fd);
  if (!synced) {
    ::unlink(tmp.c_str());
    return file_error(tmp, std::strerror(err));
  }
  return tmp;
}

}  // namespace

Result<std::string> replace_secret(const std::string& path) {
  auto secret = generate_secret();
  if (!secret) return secret.error();
  auto tmp = write_aside(path, *secret);
  if (!tmp) return tmp.error();
  if (::rename(tmp->c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp->c_str());
    return file_error(path, std::strerror(err));
  }
  return secret;
}

Result<LoopbackSecrets> rotate_loopback_secrets(const std::string& state_dir,
                                                const ListenConfig& listen, SecretsToRotate which) {
  auto current = load_loopback_secrets(state_dir, listen);
  // An unusable file (wrong mode, garbage) is what rotation replaces: no need to read it first.
  LoopbackSecrets out = current ? std::move(*current) : LoopbackSecrets{};
  if (!current && !(which.metadata_service && which.managed_identity)) return current.error();
  if (listen.metadata_service && which.metadata_service) {
    auto s = replace_secret(state_dir + "/" + kMetadataServiceSecretFile);
    if (!s) return s.error();
    out.metadata_service = std::move(*s);
  }
  if (listen.managed_identity && which.managed_identity) {
    auto s = replace_secret(state_dir + "/" + kManagedIdentitySecretFile);
    if (!s) return s.error();
    out.managed_identity = std::move(*s);
  }
  return out;
}

Result<std::string> load_or_create_secret(const std::string& path) {
  for (int attempt = 0; attempt < 2; ++attempt) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd >= 0) {
      auto secret = read_secret(fd, path);
      ::close(fd);
      return secret;
    }
    if (errno != ENOENT) return file_error(path, std::strerror(errno));

    auto secret = generate_secret();
    if (!secret) return secret.error();
    // Written to a temporary name and linked into place, so a reader never sees half a secret
    // and two daemons racing on the same state_dir agree on one (link fails if it exists).
    auto tmp = write_aside(path, *secret);
    if (!tmp) return tmp.error();
    const int linked = ::link(tmp->c_str(), path.c_str());
    const int link_errno = errno;
    ::unlink(tmp->c_str());
    if (linked == 0) return secret;
    if (link_errno != EEXIST) return file_error(path, std::strerror(link_errno));
    // Someone else created it in between: read theirs.
  }
  return file_error(path, "created and removed concurrently; try again");
}

Result<LoopbackSecrets> load_loopback_secrets(const std::string& state_dir,
                                              const ListenConfig& listen) {
  LoopbackSecrets out;
  if (listen.metadata_service) {
    auto s = load_or_create_secret(state_dir + "/" + kMetadataServiceSecretFile);
    if (!s) return s.error();
    out.metadata_service = std::move(*s);
  }
  if (listen.managed_identity) {
    auto s = load_or_create_secret(state_dir + "/" + kManagedIdentitySecretFile);
    if (!s) return s.error();
    out.managed_identity = std::move(*s);
  }
  return out;
}

std::string workspace_secret(std::string_view stored, std::string_view workspace) {
  if (stored.empty()) return "";
  std::string message = "dbxcred metadata-service workspace:";
  message.append(workspace);
  std::array<unsigned char, EVP_MAX_MD_SIZE> mac{};
  unsigned int len = 0;
  if (HMAC(EVP_sha256(), stored.data(), static_cast<int>(stored.size()),
           reinterpret_cast<const unsigned char*>(message.data()), message.size(), mac.data(),
           &len) == nullptr)
    return "";  // never matches (secret_matches refuses an empty expected secret)
  std::string out = hex(std::span<const unsigned char>(mac.data(), len));
  OPENSSL_cleanse(mac.data(), mac.size());
  return out;
}

bool secret_matches(std::string_view given, std::string_view expected) {
  if (expected.empty() || given.size() != expected.size()) return false;
  return CRYPTO_memcmp(given.data(), expected.data(), expected.size()) == 0;
}

}  // namespace dbx
