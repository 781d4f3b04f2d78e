// `dbxcred doctor [-w W] [--config PATH] [--json]`: the caller's own checks (doctor_checks.h)
// and the daemon's (GET /v1/doctor), printed one line per finding or as JSON; exit 0 when every
// check passed, 1 otherwise.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "client/args.h"
#include "client/daemon_api.h"
#include "client/doctor_checks.h"
#include "common/doctor_finding.h"

namespace dbx::cli {

// The daemon's findings for `workspace` (all when nullopt). A daemon that cannot be asked is one
// fail naming why (the socket findings say more).
std::vector<Finding> daemon_findings(const DaemonApi& api,
                                     const std::optional<std::string>& workspace);

// One line per finding and a summary line; or {"ok":bool,"findings":[…]} with `json`.
std::string render_findings(const std::vector<Finding>& findings, bool json);

// Exit::ok when no finding failed, else Exit::failure.
Exit doctor_exit(const std::vector<Finding>& findings);

struct DoctorRun {
  std::string out;
  Exit exit = Exit::ok;
};

// Everything: the checks as the caller (config, socket), then the daemon's.
DoctorRun run_doctor(const Invocation& inv, const std::string& socket_path,
                     const std::optional<std::string>& env_workspace, const DaemonApi& api);

}  // namespace dbx::cli
