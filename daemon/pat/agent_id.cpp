// The agent id file and its binding to the machine; see agent_id.h.
#include "daemon/pat/agent_id.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <ctime>

#include "common/encoding.h"
#include "common/log.h"
#include "daemon/pat/pat_decisions.h"

namespace dbx {
namespace {

constexpr std::string_view kMachineIdPrefix = "machine-id:";
constexpr std::string_view kHostPrefix = "host:";
// The HMAC message: binds the digest to this use, as sd_id128_get_machine_app_specific() does.
constexpr std::string_view kMachineIdPurpose = "dbxcred agent binding";

Error agent_error(const std::string& what) {
  return make_error(ErrorCode::internal,
                    "agent id: " + what + "; no PAT is minted or deleted until fixed");
}

std::string errno_text() {
  return std::strerror(errno);
}

Result<std::string> random_hex32() {
  auto id = random_hex(16);
  if (!id) return agent_error("no randomness for a new agent id (OpenSSL RAND_bytes failed)");
  return std::move(*id);
}

std::string trimmed(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' '))
    text.pop_back();
  return text;
}

// A small file's content (at most `limit` bytes read); nullopt when it does not exist. A symlink
// is an error (O_NOFOLLOW): state_dir files are never links.
Result<std::optional<std::string>> read_small(const std::string& path, std::size_t limit) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    if (errno == ENOENT) return std::optional<std::string>();
    return agent_error("cannot open " + path + ": " + errno_text());
  }
  char buf[256];
  std::string text;
  while (text.size() <= limit) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const std::string why = errno_text();
      ::close(fd);
      std::string message = "cannot read ";
      message.append(path).append(": ").append(why);
      return agent_error(message);
    }
    if (n == 0) break;
    text.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return std::optional<std::string>(std::move(text));
}

Result<std::string> read_id(const std::string& path) {
  auto text = read_small(path, 64);
  if (!text) return text.error();
  if (!*text) return agent_error("cannot open " + path + ": " + std::strerror(ENOENT));
  const std::string id = trimmed(**text);
  if (!pat::is_valid_nonce(id))
    return agent_error(path +
                       " does not hold an agent id (32 lowercase hex digits); restore it "
                       "from a backup, or delete it to become a new agent (the PATs "
                       "of the old id are then left to expire)");
  return id;
}

void fsync_dir(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    (void)::fsync(fd);
    ::close(fd);
  }
}

// `<dir>/<name>` holds `line` + "\n" (0600), or nothing changed: tmp file, fsync, rename, fsync.
Status write_atomically(const std::string& dir, const std::string& name, const std::string& line) {
  const std::string path = dir + "/" + name;
  const std::string tmp = path + ".tmp";
  ::unlink(tmp.c_str());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return agent_error("cannot create " + tmp + ": " + errno_text());
  const std::string text = line + "\n";
  const bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) &&
                  ::fsync(fd) == 0;
  const int saved = errno;
  ::close(fd);
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = ok ? errno : saved;
    ::unlink(tmp.c_str());
    return agent_error("cannot write " + path + ": " + std::strerror(err));
  }
  fsync_dir(dir);
  return ok_status();
}

// The first path of `base`, `base.2`, `base.3`, … that does not exist.
std::string free_name(const std::string& base) {
  struct stat st {};
  if (::lstat(base.c_str(), &st) != 0) return base;
  for (int i = 2;; ++i) {
    std::string candidate = base + "." + std::to_string(i);
    if (::lstat(candidate.c_str(), &st) != 0) return candidate;
  }
}

std::string this_hostname() {
  char name[HOST_NAME_MAX + 1] = {};
  if (::gethostname(name, sizeof name - 1) != 0) return "unknown";
  return name;
}

// The machine id as systemd writes it (32 hex digits); "uninitialized" (an image before its
// first boot) and an empty file mean none.
Result<std::optional<std::string>> read_machine_id(const std::string& path) {
  auto text = read_small(path, 128);
  if (!text) return text.error();
  if (!*text) return std::optional<std::string>();
  std::string id = trimmed(**text);
  if (id.empty() || id == "uninitialized") return std::optional<std::string>();
  return std::optional<std::string>(std::move(id));
}

}  // namespace

Result<std::string> load_or_create_agent_id(const std::string& state_dir) {
  const std::string path = state_dir + "/agent_id";
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) {
    if (errno == EEXIST) return read_id(path);
    return agent_error("cannot create " + path + ": " + errno_text());
  }
  auto id = random_hex32();
  if (!id) {
    ::close(fd);
    ::unlink(path.c_str());
    return id.error();
  }
  const std::string line = *id + "\n";
  const bool ok = ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size()) &&
                  ::fsync(fd) == 0;
  const int saved = errno;
  ::close(fd);
  if (!ok) {
    ::unlink(path.c_str());  // never leave a half-written id behind
    errno = saved;
    return agent_error("cannot write " + path + ": " + errno_text());
  }
  fsync_dir(state_dir);
  return *id;
}

std::string machine_id_record(std::string_view machine_id) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), machine_id.data(), static_cast<int>(machine_id.size()),
       reinterpret_cast<const unsigned char*>(kMachineIdPurpose.data()), kMachineIdPurpose.size(),
       md, &len);
  return std::string(kMachineIdPrefix) + hex(std::span<const unsigned char>(md, len));
}

MachineCheck check_machine(const std::optional<std::string>& stored, const MachineNow& now,
                           std::string_view fresh_random) {
  MachineCheck out;
  if (now.machine_id) {
    out.record = machine_id_record(*now.machine_id);
    out.same_machine = stored && *stored == out.record;
    return out;
  }
  // No machine id: a host record of the same host name is this machine's (a clone that keeps the
  // host name cannot be told apart: docs/SECURITY.md).
  const std::string host_prefix =
      std::string(kHostPrefix) + percent_encode(now.hostname, "._-") + ":";
  if (stored && stored->starts_with(host_prefix) &&
      pat::is_valid_nonce(std::string_view(*stored).substr(host_prefix.size()))) {
    out.record = *stored;
    out.same_machine = true;
    return out;
  }
  out.record = host_prefix + std::string(fresh_random);
  return out;
}

std::string machine_id_path() {
  const char* path = std::getenv("DBXCREDD_MACHINE_ID_FILE");
  return path && *path ? std::string(path) : std::string("/etc/machine-id");
}

Result<AgentBinding> bind_agent_to_machine(const std::string& state_dir,
                                           const std::string& machine_id_file) {
  const std::string agent_path = state_dir + "/agent_id";
  const std::string machine_path = state_dir + "/machine";
  auto machine_id = read_machine_id(machine_id_file);
  if (!machine_id) return machine_id.error();
  auto stored = read_small(machine_path, 256);
  if (!stored) return stored.error();
  std::optional<std::string> stored_record;
  if (*stored) stored_record = trimmed(**stored);
  auto old_text = read_small(agent_path, 64);
  if (!old_text) return old_text.error();
  std::optional<std::string> old_id;
  if (*old_text) {
    auto id = read_id(agent_path);
    if (!id) return id.error();
    old_id = std::move(*id);
  }
  auto random = random_hex32();
  if (!random) return random.error();
  const MachineCheck check =
      check_machine(stored_record, MachineNow{*machine_id, this_hostname()}, *random);

  AgentBinding out;
  out.machine_fingerprint = fingerprint(check.record);
  if (stored_record) out.recorded_fingerprint = fingerprint(*stored_record);
  if (old_id && check.same_machine) {
    out.agent_id = *old_id;
    return out;
  }
  // A new agent. Whatever ledger is here belongs to the old id (or to an unknown one): moved
  // aside, so that no record of it is ever revoked, reaped or deleted for room by this agent.
  const std::string pats = state_dir + "/pats";
  struct stat st {};
  if (::lstat(pats.c_str(), &st) == 0) {
    const std::string aside =
        free_name(state_dir + "/pats.agent-" + (old_id ? *old_id : std::string("unknown")));
    if (::rename(pats.c_str(), aside.c_str()) != 0)
      return agent_error("cannot move the previous agent's ledgers " + pats + " to " + aside +
                         ": " + errno_text());
    out.previous_ledger = aside;
  }
  auto id = random_hex32();
  if (!id) return id.error();
  if (auto s = write_atomically(state_dir, "agent_id", *id); !s) return s.error();
  if (auto s = write_atomically(state_dir, "machine", check.record); !s) return s.error();
  out.agent_id = std::move(*id);
  out.previous_agent_id = std::move(old_id);
  return out;
}

}  // namespace dbx
