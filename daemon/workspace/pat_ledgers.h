// PatLedgers: the process's PatLedger objects, one per (state_dir, workspace) for the life of the
// process. A workspace that a reload retires and re-adds (or changes) gets the very ledger its
// predecessor had, so the old PatManager's answers still in flight and the new one's writes go
// through one object whose records equal the file — never two ledgers rewriting the same file.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <utility>

#include "daemon/pat/pat_ledger.h"

namespace dbx {

class PatLedgers {
 public:
  // The ledger of `workspace` in `state_dir`, created and load()ed on first use (a load error is
  // logged and kept by the ledger, which then refuses every change).
  std::shared_ptr<PatLedger> get(const std::string& state_dir, const std::string& workspace);
  std::size_t size() const { return ledgers_.size(); }

 private:
  std::map<std::pair<std::string, std::string>, std::shared_ptr<PatLedger>> ledgers_;
};

}  // namespace dbx
