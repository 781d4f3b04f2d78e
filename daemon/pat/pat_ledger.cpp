// The PAT write-ahead ledger: file format, atomic replace, loading and validation. See
// pat_ledger.h.
#include "daemon/pat/pat_ledger.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <cerrno>
#include <cstring>
#include <set>

#include "common/encoding.h"
#include "daemon/pat/agent_id.h"

namespace dbx {
namespace json = boost::json;
namespace {

// A ledger holds at most a few hundred small records (the Databricks quota is 600 tokens); anything
// larger is not a file we wrote.
constexpr std::size_t kMaxLedgerBytes = 4 * 1024 * 1024;

std::string errno_text(int err) {
  return std::strerror(err);
}

Error ledger_error(const std::string& what) {
  return make_error(ErrorCode::internal, "PAT ledger: " + what + "; no PAT is minted until fixed");
}

std::int64_t to_ms(TimePoint t) {
  return std::chrono::duration_cast<Millis>(t.time_since_epoch()).count();
}
TimePoint from_ms(std::int64_t ms) {
  return TimePoint(std::chrono::duration_cast<TimePoint::duration>(Millis(ms)));
}

// Closes an fd on scope exit.
struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

Status write_all(int fd, std::string_view data, const std::string& path) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return ledger_error("cannot write " + path + ": " + errno_text(errno));
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return ok_status();
}

Status ensure_dir(const std::string& dir) {
  struct stat st {};
  if (::lstat(dir.c_str(), &st) != 0) {
    if (errno != ENOENT) return ledger_error("cannot stat " + dir + ": " + errno_text(errno));
    if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST)
      return ledger_error("cannot create directory " + dir + ": " + errno_text(errno));
    if (::lstat(dir.c_str(), &st) != 0)
      return ledger_error("cannot stat " + dir + ": " + errno_text(errno));
  }
  if (!S_ISDIR(st.st_mode)) return ledger_error(dir + " is not a directory");
  if ((st.st_mode & 077) != 0) {
    // Token ids and timing of our PATs are not secrets, but the directory is ours alone: tighten a
    // directory we created earlier with a looser umask rather than refuse to start.
    if (::chmod(dir.c_str(), 0700) != 0)
      return ledger_error(
          dir + " is accessible by group or others and chmod 0700 failed: " + errno_text(errno));
  }
  return ok_status();
}

std::string serialize(const std::string& workspace, const std::vector<pat::PatRecord>& records,
                      bool adopting) {
  json::array entries;
  for (const auto& r : records) {
    json::object e;
    e["nonce"] = r.nonce;
    e["state"] = r.token_id ? "minted" : "intent";
    if (r.token_id)
      e["token_id"] = *r.token_id;
    else
      e["token_id"] = nullptr;
    e["created_ms"] = to_ms(r.created);
    if (r.expires)
      e["expires_ms"] = to_ms(*r.expires);
    else
      e["expires_ms"] = nullptr;
    e["promised_ms"] = r.promised == TimePoint{} ? 0 : to_ms(r.promised);
    entries.push_back(std::move(e));
  }
  json::object root;
  root["version"] = 1;
  root["workspace"] = workspace;
  root["adopting"] = adopting;
  root["entries"] = std::move(entries);
  return json::serialize(root) + "\n";
}

// Returns the problem ("entries[2].nonce: expected 32 hex digits"), or nullopt.
std::optional<std::string> parse_records(const std::string& text, const std::string& workspace,
                                         std::vector<pat::PatRecord>& out, bool& adopting) {
  boost::system::error_code ec;
  json::value root = json::parse(text, ec);
  if (ec) return "not valid JSON (" + ec.message() + ")";
  if (!root.is_object()) return "expected a JSON object";
  const auto& obj = root.as_object();
  const auto* version = obj.if_contains("version");
  if (!version || lenient_int(*version) != 1) return "version: expected 1";
  const auto* ws = obj.if_contains("workspace");
  if (!ws || !ws->is_string() || ws->as_string() != workspace)
    return "workspace: expected \"" + workspace + "\"";
  if (const auto* a = obj.if_contains("adopting"); a && !a->is_null()) {
    if (!a->is_bool()) return "adopting: expected true or false";
    adopting = a->as_bool();
  }
  const auto* entries = obj.if_contains("entries");
  if (!entries || !entries->is_array()) return "entries: expected an array";
  std::set<std::string> seen;
  std::size_t i = 0;
  for (const auto& v : entries->as_array()) {
    const std::string at = "entries[" + std::to_string(i++) + "]";
    if (!v.is_object()) return at + ": expected an object";
    const auto& e = v.as_object();
    pat::PatRecord r;
    const auto* nonce = e.if_contains("nonce");
    if (!nonce || !nonce->is_string() || !pat::is_valid_nonce(nonce->as_string()))
      return at + ".nonce: expected 32 lowercase hex digits";
    r.nonce = std::string(nonce->as_string());
    if (!seen.insert(r.nonce).second) return at + ".nonce: duplicate";
    const auto* state = e.if_contains("state");
    if (!state || !state->is_string() ||
        (state->as_string() != "intent" && state->as_string() != "minted"))
      return at + ".state: expected \"intent\" or \"minted\"";
    const bool minted = state->as_string() == "minted";
    const auto* id = e.if_contains("token_id");
    if (minted) {
      if (!id || !id->is_string() || id->as_string().empty())
        return at + ".token_id: a minted entry needs a token id";
      r.token_id = std::string(id->as_string());
    } else if (id && !id->is_null()) {
      return at + ".token_id: an intent has no token id";
    }
    const auto* created = e.if_contains("created_ms");
    if (!created || !lenient_int(*created)) return at + ".created_ms: expected an integer";
    r.created = from_ms(*lenient_int(*created));
    const auto* expires = e.if_contains("expires_ms");
    if (expires && !expires->is_null()) {
      if (!lenient_int(*expires)) return at + ".expires_ms: expected an integer or null";
      r.expires = from_ms(*lenient_int(*expires));
    }
    const auto* promised = e.if_contains("promised_ms");
    if (promised == nullptr) {
      // Written by a version that kept no promises: it may have served this PAT with any
      // min_valid, so it is promised until it expires.
      if (minted) r.promised = r.expires.value_or(TimePoint::max());
    } else {
      if (!lenient_int(*promised)) return at + ".promised_ms: expected an integer";
      if (*lenient_int(*promised) != 0) r.promised = from_ms(*lenient_int(*promised));
    }
    out.push_back(std::move(r));
  }
  return std::nullopt;
}

}  // namespace

PatLedger::PatLedger(std::string state_dir, std::string workspace)
    : state_dir_(std::move(state_dir)),
      dir_(state_dir_ + "/pats"),
      workspace_(std::move(workspace)) {
  path_ = dir_ + "/" + file_name(workspace_);
}

std::string PatLedger::file_name(const std::string& workspace) {
  std::string out = percent_encode(workspace, "._-");
  if (!out.empty() && out[0] == '.') out.replace(0, 1, "%2E");  // never a hidden file or ".."
  return out + ".json";
}

Status PatLedger::load() {
  records_.clear();
  load_error_.reset();
  adopting_ = false;
  adopted_ = 0;
  auto fail = [&](Error e) {
    load_error_ = e;
    return Status(std::move(e));
  };
  if (auto s = ensure_dir(dir_); !s) return fail(s.error());
  auto agent = load_or_create_agent_id(state_dir_);
  if (!agent) return fail(agent.error());
  agent_id_ = std::move(*agent);

  Fd f{::open(path_.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW)};
  if (f.fd < 0) {
    if (errno == ENOENT) {
      // A new workspace, or a file that was lost: PATs of this agent that token/list shows may
      // be held by jobs. The first reconcile takes them in instead of deleting them.
      adopting_ = true;
      return ok_status();
    }
    return fail(ledger_error("cannot open " + path_ + ": " + errno_text(errno) +
                             " (fix its ownership or mode, or move it aside: the PATs it knew are "
                             "then left to expire)"));
  }
  std::string text;
  char buf[65536];
  while (true) {
    const ssize_t n = ::read(f.fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail(ledger_error("cannot read " + path_ + ": " + errno_text(errno)));
    }
    if (n == 0) break;
    text.append(buf, static_cast<std::size_t>(n));
    if (text.size() > kMaxLedgerBytes)
      return fail(ledger_error(path_ + " is larger than 4 MiB, not a ledger this daemon wrote"));
  }
  std::vector<pat::PatRecord> records;
  bool adopting = false;
  if (auto problem = parse_records(text, workspace_, records, adopting)) {
    return fail(
        make_error(ErrorCode::internal, "PAT ledger " + path_ + " is corrupt (" + *problem +
                                            "); PAT minting for workspace '" + workspace_ +
                                            "' is stopped. Compare it with the workspace's tokens "
                                            "(ours are commented dbxcred:...), "
                                            "then repair or move the file aside and restart "
                                            "(its PATs are then left to expire)"));
  }
  records_ = std::move(records);
  adopting_ = adopting;
  return ok_status();
}

const pat::PatRecord* PatLedger::find(const std::string& nonce) const {
  for (const auto& r : records_)
    if (r.nonce == nonce) return &r;
  return nullptr;
}

Status PatLedger::check_usable() const {
  if (load_error_) return *load_error_;
  return ok_status();
}

Status PatLedger::record_intent(const std::string& nonce, TimePoint now) {
  if (auto s = check_usable(); !s) return s;
  if (!pat::is_valid_nonce(nonce) || find(nonce))
    return make_error(ErrorCode::internal, "PAT ledger: bad or duplicate nonce (a bug)");
  auto next = records_;
  next.push_back(pat::PatRecord{nonce, std::nullopt, now, std::nullopt});
  return commit(std::move(next));
}

Status PatLedger::record_minted(const std::string& nonce, const PatInfo& info) {
  if (auto s = check_usable(); !s) return s;
  auto next = records_;
  for (auto& r : next) {
    if (r.nonce != nonce) continue;
    r.token_id = info.token_id;
    r.created = info.created;
    r.expires = info.expires;
    return commit(std::move(next));
  }
  return make_error(ErrorCode::internal, "PAT ledger: no intent recorded for this mint (a bug)");
}

Status PatLedger::record_promise(const std::string& nonce, TimePoint until) {
  if (auto s = check_usable(); !s) return s;
  auto next = records_;
  for (auto& r : next) {
    if (r.nonce != nonce) continue;
    if (r.promised >= until) return ok_status();
    r.promised = until;
    return commit(std::move(next));
  }
  return make_error(ErrorCode::internal, "PAT ledger: no record for this PAT (a bug)");
}

Status PatLedger::record_adopted(const std::string& nonce, const PatInfo& info, TimePoint expires) {
  if (auto s = check_usable(); !s) return s;
  if (!pat::is_valid_nonce(nonce) || find(nonce))
    return make_error(ErrorCode::internal, "PAT ledger: bad or duplicate nonce (a bug)");
  auto next = records_;
  next.push_back(pat::PatRecord{nonce, info.token_id, info.created, expires, expires});
  if (auto s = commit(std::move(next)); !s) return s;
  ++adopted_;
  return ok_status();
}

Status PatLedger::finish_adoption() {
  if (auto s = check_usable(); !s) return s;
  if (!adopting_) return ok_status();
  return commit(records_, false);
}

Status PatLedger::remove(const std::vector<std::string>& nonces) {
  if (auto s = check_usable(); !s) return s;
  std::set<std::string> drop(nonces.begin(), nonces.end());
  auto next = records_;
  const auto before = next.size();
  std::erase_if(next, [&](const pat::PatRecord& r) { return drop.count(r.nonce) > 0; });
  if (next.size() == before) return ok_status();
  return commit(std::move(next));
}

Status PatLedger::commit(std::vector<pat::PatRecord> next, std::optional<bool> adopting) {
  if (auto s = ensure_dir(dir_); !s) return s;
  const bool adopting_next = adopting.value_or(adopting_);
  const std::string data = serialize(workspace_, next, adopting_next);
  const std::string tmp = path_ + ".tmp";
  {
    Fd f{::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600)};
    if (f.fd < 0) return ledger_error("cannot create " + tmp + ": " + errno_text(errno));
    if (auto s = write_all(f.fd, data, tmp); !s) return s;
    if (::fsync(f.fd) != 0) return ledger_error("cannot fsync " + tmp + ": " + errno_text(errno));
    const int fd = f.fd;
    f.fd = -1;
    if (::close(fd) != 0) return ledger_error("cannot close " + tmp + ": " + errno_text(errno));
  }
  if (::rename(tmp.c_str(), path_.c_str()) != 0)
    return ledger_error("cannot rename " + tmp + " to " + path_ + ": " + errno_text(errno));
  // The file now holds `next`: keep memory equal to it even if the directory fsync fails. The
  // caller still gets the error (the change may not survive a power loss), so it does not mint; a
  // stray intent is harmless, reconcile forgets it when token/list shows no such token.
  records_ = std::move(next);
  adopting_ = adopting_next;
  Fd d{::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)};
  if (d.fd < 0 || ::fsync(d.fd) != 0)
    return ledger_error("cannot fsync directory " + dir_ + ": " + errno_text(errno));
  return ok_status();
}

}  // namespace dbx
