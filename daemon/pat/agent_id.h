// The agent id: 32 random lowercase hex digits in `<state_dir>/agent_id` (0600), created once by
// the first daemon that finds none and read by every start after. It goes into the comment of every
// PAT the daemon mints (pat_decisions.h), so that two daemons with the same `instance` name, the
// same principal and workspace (cloned images, two daemons on one host) can each prove which PATs
// are their own. A state_dir that is lost takes the id with it: the PATs minted under the old id
// are then another agent's, never deleted by this one (they expire on their own).
#pragma once

#include <string>

#include "common/result.h"

namespace dbx {

// Reads the id, or creates it (O_EXCL, fsync) if the file does not exist. A file that exists but
// does not hold exactly one id (or is a symlink) is an error naming the path: the daemon must not
// guess who it is.
Result<std::string> load_or_create_agent_id(const std::string& state_dir);

}  // namespace dbx
