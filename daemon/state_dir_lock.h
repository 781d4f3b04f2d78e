// The state_dir lock: `<state_dir>/dbxcredd.lock` (0600) held with flock() for the life of the
// daemon and holding its pid, so that a second daemon on the same state_dir (whose ledgers and
// agent id would then be shared by two processes) refuses to start, naming the holder.
#pragma once

#include <string>

#include "common/result.h"

namespace dbx {

// Creates state_dir (0700) if needed and takes the lock. Returns the lock's descriptor (kept open,
// close-on-exec, until exit), or one line naming the state_dir and the pid holding it.
Result<int> lock_state_dir(const std::string& state_dir);

}  // namespace dbx
