// One PatLedger per (state_dir, workspace) for the life of the process.
#include "daemon/workspace/pat_ledgers.h"

#include <spdlog/spdlog.h>

namespace dbx {

std::shared_ptr<PatLedger> PatLedgers::get(const std::string& state_dir,
                                           const std::string& workspace) {
  // Keyed by the file the ledger writes, so two names that encode alike could not share one.
  auto& slot = ledgers_[{state_dir, PatLedger::file_name(workspace)}];
  if (!slot) {
    slot = std::make_shared<PatLedger>(state_dir, workspace);
    if (auto s = slot->load(); !s) spdlog::error("{}", s.error().message);
  }
  return slot;
}

}  // namespace dbx
