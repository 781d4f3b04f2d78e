// GET /v1/doctor[?workspace=W] (`dbxcred doctor`): findings, one per check, each saying in plain
// words what is wrong and what to change (common/doctor_finding.h). Every caller gets whether it
// may use each workspace and which rule decided; root and the daemon's own user get the full
// report: the configuration file as a reload would read it, each credential's last fetch and error
// (explained: daemon/doctor/error_hints.h), the PATs, and upstream probes made now through the
// daemon's transport (reachability with timings, clock skew, the service principal's standing in
// each workspace, the PAT quota: daemon/doctor/doctor_probes.h).
#pragma once

#include <functional>
#include <memory>
#include <string_view>

#include "daemon/broker.h"
#include "daemon/runtime.h"
#include "daemon/server/peer.h"
#include "daemon/server/router.h"
#include "daemon/upstream/transport.h"

namespace dbx {

// Answers 200 {"full":bool,"findings":[…]} (404 for an unknown ?workspace=). `done` is called
// once, after the probes (at most kProbeTimeout plus a token fetch) for the full report.
void answer_doctor(const std::shared_ptr<Broker>& broker, Runtime& runtime, std::string_view query,
                   const PeerIdentity& peer, std::function<void(ApiResponse)> done);

}  // namespace dbx
