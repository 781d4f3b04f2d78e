#include "daemon/audit/audit_log.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace dbx {

namespace {

constexpr const char* kIdentifier = "dbxcredd";

int open_journal(const std::string& path) {
  if (path.empty() || path.size() >= sizeof(sockaddr_un{}.sun_path)) return -1;
  const int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.data(), path.size());
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

}  // namespace

Result<int> open_audit_file(const std::string& path) {
  const int fd =
      ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0600);
  if (fd < 0)
    return make_error(ErrorCode::internal, "audit.path: cannot open " + path + ": " +
                                               std::strerror(errno) +
                                               (errno == ELOOP ? " (a symlink is refused)" : ""));
  struct stat st {};
  std::string problem;
  if (::fstat(fd, &st) != 0) {
    problem = std::strerror(errno);
  } else if (!S_ISREG(st.st_mode)) {
    problem = "not a regular file";
  } else if (st.st_uid != ::geteuid()) {
    problem = "owned by uid " + std::to_string(st.st_uid) + ", not by the daemon's user";
  } else if ((st.st_mode & 07777) != 0600 && ::fchmod(fd, 0600) != 0) {
    problem = std::string("cannot set its mode to 0600: ") + std::strerror(errno);
  }
  if (!problem.empty()) {
    ::close(fd);
    return make_error(ErrorCode::internal, "audit.path: " + path + ": " + problem);
  }
  return fd;
}

AuditLog::AuditLog(Runtime& runtime, std::string journal_socket)
    : runtime_(runtime), journal_socket_(std::move(journal_socket)) {
  journal_fd_ = open_journal(journal_socket_);
}

AuditLog::~AuditLog() {
  flush();
  if (flush_timer_) flush_timer_->cancel();
  if (file_fd_ >= 0) ::close(file_fd_);
  if (journal_fd_ >= 0) ::close(journal_fd_);
}

std::string AuditLog::systemd_journal_socket() {
  const char* invocation = std::getenv("INVOCATION_ID");
  const char* stream = std::getenv("JOURNAL_STREAM");
  if ((invocation == nullptr || *invocation == '\0') && (stream == nullptr || *stream == '\0'))
    return {};
  const char* path = "/run/systemd/journal/socket";
  struct stat st {};
  if (::stat(path, &st) != 0 || !S_ISSOCK(st.st_mode)) return {};
  return path;
}

Status AuditLog::open_file(const std::optional<std::string>& path) {
  flush();  // what was recorded so far goes to the file it was recorded for
  if (!path) {
    if (file_fd_ >= 0) ::close(file_fd_);
    file_fd_ = -1;
    path_.reset();
    return ok_status();
  }
  auto fd = open_audit_file(*path);
  if (!fd) return fd.error();
  if (file_fd_ >= 0) ::close(file_fd_);
  file_fd_ = *fd;
  path_ = path;
  return ok_status();
}

void AuditLog::record(AuditRecord r) {
  ++recorded_;
  if (r.time == TimePoint{}) r.time = runtime_.now();
  // Formatted now, a record at a time, so that a flush is only a write: formatting a whole batch
  // at once stalled the loop for a millisecond, which the waiting connections saw as their p99.
  if (file_fd_ >= 0) append_audit_json_line(r, file_buffer_);
  if (journal_fd_ >= 0) journal_pending_.push_back(journal_datagram(r, kIdentifier));
  ring_.push_back(std::move(r));
  if (ring_.size() > kRingCapacity) ring_.pop_front();
  if (++pending_ >= kFlushBatch) return flush();
  if (!flush_timer_)
    flush_timer_ = runtime_.after(kFlushInterval, [this] {
      flush_timer_.reset();
      flush();
    });
}

void AuditLog::flush() {
  if (flush_timer_) {
    flush_timer_->cancel();
    flush_timer_.reset();
  }
  if (pending_ == 0) return;
  pending_ = 0;
  if (!file_buffer_.empty()) {
    if (file_fd_ >= 0) write_file(file_buffer_);
    file_buffer_.clear();
  }
  for (const std::string& d : journal_pending_)
    if (::send(journal_fd_, d.data(), d.size(), MSG_NOSIGNAL) < 0) ++write_errors_;
  journal_pending_.clear();
  const TimePoint oldest = runtime_.now() - kRingAge;
  while (!ring_.empty() && ring_.front().time < oldest) ring_.pop_front();
}

void AuditLog::write_file(const std::string& text) {
  std::size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(file_fd_, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      if (++write_errors_ == 1 || write_errors_ % 100 == 0)
        spdlog::error("audit: cannot write to {}: {} ({} failed writes)", path_.value_or("?"),
                      std::strerror(errno), write_errors_);
      return;
    }
    done += static_cast<std::size_t>(n);
  }
}

std::vector<AuditRecord> AuditLog::since(TimePoint since) {
  flush();
  std::vector<AuditRecord> out;
  for (const AuditRecord& r : ring_)
    if (r.time >= since) out.push_back(r);
  return out;
}

}  // namespace dbx
