// The agent id: 32 random lowercase hex digits in `<state_dir>/agent_id` (0600), created once by
// the first daemon that finds none and read by every start after. It goes into the comment of every
// PAT the daemon mints (pat_decisions.h), so that two daemons with the same `instance` name, the
// same principal and workspace (cloned images, two daemons on one host) can each prove which PATs
// are their own. A state_dir that is lost takes the id with it: the PATs minted under the old id
// are then another agent's, never deleted by this one (they expire on their own).
//
// The id is bound to the machine (issue 21): `<state_dir>/machine` (0600) records which machine
// made it — a digest of /etc/machine-id, or where that is absent the host name plus a random value.
// An image built after the daemon ran once carries both files; a VM made from it finds another
// machine's record and becomes a new agent (bind_agent_to_machine), so that the VMs of one image
// never take each other's PATs for their own. The PATs of the old id are then another agent's.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "common/result.h"

namespace dbx {

// Reads the id, or creates it (O_EXCL, fsync) if the file does not exist. A file that exists but
// does not hold exactly one id (or is a symlink) is an error naming the path: the daemon must not
// guess who it is.
Result<std::string> load_or_create_agent_id(const std::string& state_dir);

// ---- Binding to the machine (pure) -------------------------------------------------------------
// The record of a machine, one line in `<state_dir>/machine`:
//   "machine-id:<64 hex>"        HMAC-SHA256 keyed with /etc/machine-id (which systemd asks to
//                                keep confidential: only this application-specific digest is
//                                stored, and only its fingerprint is logged)
//   "host:<host name>:<32 hex>"  where /etc/machine-id is absent or empty: the host name
//                                (percent-encoded) and a random value drawn when it was recorded
struct MachineNow {
  std::optional<std::string> machine_id;  // the content of /etc/machine-id, trimmed; nullopt: none
  std::string hostname;
};

std::string machine_id_record(std::string_view machine_id);

struct MachineCheck {
  // The stored agent id was made on this machine and may be kept.
  bool same_machine = false;
  // What `<state_dir>/machine` must hold (written when it differs from the stored one).
  std::string record;
};
// `stored`: the record found in state_dir (nullopt: none, i.e. a new state_dir or one written
// before the binding existed — its agent id cannot be proved to be this machine's, so it is
// replaced). `fresh_random`: 32 hex digits, used only for a new host record.
MachineCheck check_machine(const std::optional<std::string>& stored, const MachineNow& now,
                           std::string_view fresh_random);

// ---- Binding to the machine (I/O) --------------------------------------------------------------
struct AgentBinding {
  std::string agent_id;
  // Set when the state_dir held another agent id that this daemon no longer uses (another
  // machine's state_dir, or one from before the binding): its PATs are that agent's.
  std::optional<std::string> previous_agent_id;
  // Where the previous agent's ledger directory was moved (empty: there was none).
  std::string previous_ledger;
  std::string recorded_fingerprint;  // of the machine record found (empty: none)
  std::string machine_fingerprint;   // of this machine's record
};

// Where the machine id is read: $DBXCREDD_MACHINE_ID_FILE (a test option: the daemon's own
// environment, which only whoever starts the service sets), else /etc/machine-id.
std::string machine_id_path();

// Reads `<state_dir>/agent_id` and `<state_dir>/machine` and this machine's identity
// (`machine_id_file`; a missing or empty file means none). When the agent id is missing or was
// made on another machine (or its machine is unknown), makes a new agent id: the ledgers of the
// old one (`pats/`) are moved aside to `pats.agent-<old id>` — their PATs are the other agent's,
// never revoked or deleted by this one — then agent_id and machine are written (atomically, 0600,
// machine last, so a crash in between makes yet another new id, never keeps a copied one).
// Errors name the path; no PAT may be minted or deleted until fixed.
Result<AgentBinding> bind_agent_to_machine(const std::string& state_dir,
                                           const std::string& machine_id_file);

}  // namespace dbx
