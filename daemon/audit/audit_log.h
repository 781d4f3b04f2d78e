// AuditLog: where audit records go (SPEC.md "Audit"; docs/AUDIT.md). record() formats the record
// into a buffer (no syscall, so the cached-PAT path stays fast); the buffer is written out on a
// short timer (kFlushInterval), when it holds kFlushBatch records, before /v1/audit answers, and
// at exit.
// A crash loses at most the records of the last flush interval. Sinks: the audit file (JSON
// lines, 0600, reopened on SIGHUP), the journal (native protocol, under systemd), and a ring of
// recent records in memory for GET /v1/audit. Lives on the loop thread, like the engine.
#pragma once

#include <cstddef>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "daemon/audit/audit_record.h"
#include "daemon/runtime.h"

namespace dbx {

class AuditLog {
 public:
  // Short enough that `tail -f` and the journal look live; long enough that a burst of requests
  // shares one write.
  static constexpr Millis kFlushInterval{1000};
  // About 40 KB of JSON lines: under load, a write every ~128 requests, each short enough (tens
  // of microseconds) that the clients waiting meanwhile do not see it in their p99, as they did
  // with 1,024 records (300 KB, half a millisecond of page-cache work) at a time.
  static constexpr std::size_t kFlushBatch = 128;
  // What /v1/audit can show: the last hour at most, and at most this many records (about 1 MiB).
  static constexpr std::size_t kRingCapacity = 4096;
  static constexpr Seconds kRingAge{3600};

  // `journal_socket`: "" for none (not under systemd), else the journal's native socket.
  AuditLog(Runtime& runtime, std::string journal_socket);
  ~AuditLog();
  AuditLog(const AuditLog&) = delete;
  AuditLog& operator=(const AuditLog&) = delete;

  // Opens (or, for SIGHUP, reopens) the audit file; nullopt: no file. On failure the file in use
  // stays in use and the error says why.
  Status open_file(const std::optional<std::string>& path);
  const std::optional<std::string>& file_path() const { return path_; }

  // Appends `r` (its time, when unset, is now) to the buffer.
  void record(AuditRecord r);
  // Writes out every buffered record now (timer, /v1/audit, exit).
  void flush();

  // The records of the ring not older than `since`, oldest first (flushes first).
  std::vector<AuditRecord> since(TimePoint since);

  // Counters for /metrics and tests.
  std::uint64_t recorded() const { return recorded_; }
  std::uint64_t write_errors() const { return write_errors_; }

  // The journal's socket when running under systemd (its socket exists and $INVOCATION_ID or
  // $JOURNAL_STREAM says systemd started us), else "".
  static std::string systemd_journal_socket();

 private:
  void write_file(const std::string& text);

  Runtime& runtime_;
  std::string journal_socket_;
  int journal_fd_ = -1;
  int file_fd_ = -1;
  std::optional<std::string> path_;
  std::size_t pending_ = 0;                   // records since the last flush
  std::string file_buffer_;                   // their JSON lines, for the file
  std::vector<std::string> journal_pending_;  // their journal datagrams
  std::deque<AuditRecord> ring_;
  std::shared_ptr<Timer> flush_timer_;
  std::uint64_t recorded_ = 0;
  std::uint64_t write_errors_ = 0;
};

// Opens `path` for appending the way an audit file must be: O_NOFOLLOW (a symlink planted there is
// refused), created 0600, an existing file must be a regular file of this user and is set to 0600.
Result<int> open_audit_file(const std::string& path);

}  // namespace dbx
