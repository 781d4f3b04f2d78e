// The ownership rule of the state_dir (issue 21): state_dir, `pats/` and `agent_id` (and the
// `machine` record beside it) must belong to the daemon's own uid (the service user) and must not
// be group- or world-writable. Another user who could write there could plant a ledger (whose
// records the daemon would delete as its own) or an agent id (to make the daemon take another
// agent's PATs for its own). Checked once at start, before anything in it is read.
#pragma once

#include <sys/types.h>
#include <string>

#include "common/result.h"

namespace dbx {

// ok, or one line naming the first path that breaks the rule, its owner and mode, and the fix.
// Entries that do not exist yet are fine (the daemon makes them 0700/0600); a symlink in place of
// `pats/`, `agent_id` or `machine` is refused. `uid`: the daemon's (geteuid()).
Status check_state_dir_ownership(const std::string& state_dir, uid_t uid);

}  // namespace dbx
