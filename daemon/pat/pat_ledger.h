// PatLedger: the write-ahead ledger of one workspace's PATs, `<state_dir>/pats/<workspace>.json`
// (directory 0700, file 0600). The rule it exists for: no PAT is ever minted that the ledger on
// disk does not know about — the intent (nonce) is durable before token/create is sent, the token
// id after the answer. It holds NO token values: those live in PatManager's memory only.
//
// Every change rewrites the whole file atomically: write `<file>.tmp`, fsync, rename over the file,
// fsync the directory. The in-memory records change only once that succeeded, so they always equal
// what is on disk. A corrupt file is reported, never discarded: the ledger then refuses every
// change (so nothing is minted for the workspace) until an operator has looked at it.
//
// File format (version 1):
//   {"version":1,"workspace":"prod","adopting":false,"entries":[
//     {"nonce":"<32 hex>","state":"intent"|"minted","token_id":"…"|null,
//      "created_ms":<epoch ms>,"expires_ms":<epoch ms>|null,"promised_ms":<epoch ms>}, …]}
// "promised_ms" (0: never served) is absent in files of older versions: such an entry counts as
// promised until it expires. "adopting" (absent: false) is true from a load that found no file
// until the first reconcile has taken in the PATs of this agent the lost file knew.
//
// The agent id: `<state_dir>/agent_id` (0600), 32 random hex digits created by the first load
// that finds none and read by every later one; it goes into the comment of every PAT we mint so
// that daemons sharing an `instance` name never take each other's PATs for their own.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "daemon/databricks/token_api.h"
#include "daemon/pat/pat_decisions.h"

namespace dbx {

class PatLedger {
 public:
  // Does no I/O; call load() before use.
  PatLedger(std::string state_dir, std::string workspace);

  // Creates `<state_dir>/pats` (0700) if needed and reads the file; a missing file is an empty
  // ledger. Errors (unusable directory, unreadable or corrupt file) name the path and the problem,
  // and leave the ledger unusable: every later change returns that error.
  Status load();
  bool usable() const { return !load_error_; }
  // Why the ledger is unusable (the load() error), if it is.
  const std::optional<Error>& load_error() const { return load_error_; }

  // This agent's id (see above); empty until a load() succeeded.
  const std::string& agent_id() const { return agent_id_; }
  // The file was missing at load (lost, or the workspace is new): until finish_adoption(), PATs
  // of this agent the ledger does not know are taken in (record_adopted), never deleted.
  bool adopting() const { return adopting_; }
  // How many PATs were taken in since the file was found missing (for status).
  int adopted() const { return adopted_; }

  const std::vector<pat::PatRecord>& records() const { return records_; }
  const pat::PatRecord* find(const std::string& nonce) const;
  const std::string& path() const { return path_; }

  // Write-ahead: the nonce of a mint about to be sent, with the time of the intent.
  Status record_intent(const std::string& nonce, TimePoint now);
  // The answer of token/create for that nonce: id, creation and expiry.
  Status record_minted(const std::string& nonce, const PatInfo& info);
  // Raises the promise of a minted record to `until` (never lowers it).
  Status record_promise(const std::string& nonce, TimePoint until);
  // A PAT of ours the lost ledger knew (reconcile while adopting): promised until it expires
  // (`expires`: its expiry, or created + the configured lifetime when it has none).
  Status record_adopted(const std::string& nonce, const PatInfo& info, TimePoint expires);
  // The first reconcile after a missing file has run: the ledger is authoritative again.
  Status finish_adoption();
  // Forgets records (their tokens are deleted or gone). Unknown nonces are ignored.
  Status remove(const std::vector<std::string>& nonces);
  Status remove(const std::string& nonce) { return remove(std::vector<std::string>{nonce}); }

  // File name used for a workspace: names outside [A-Za-z0-9._-] (or starting with '.') are
  // percent-encoded so a workspace name can never leave the pats directory.
  static std::string file_name(const std::string& workspace);

 private:
  Status check_usable() const;
  Status load_agent_id();
  // Atomic write, then take `next` (and `adopting`) as the state.
  Status commit(std::vector<pat::PatRecord> next, std::optional<bool> adopting = std::nullopt);

  std::string state_dir_;
  std::string dir_;
  std::string agent_id_;
  bool adopting_ = false;
  int adopted_ = 0;
  std::string path_;
  std::string workspace_;
  std::vector<pat::PatRecord> records_;
  std::optional<Error> load_error_ = make_error(ErrorCode::internal, "PAT ledger not loaded yet");
};

}  // namespace dbx
