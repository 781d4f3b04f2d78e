// The findings `dbxcred doctor` gets from the daemon that need no upstream call: who may use each
// workspace (for every caller), and for root and the service user the configuration file as a
// reload would read it now, each credential's last fetch and error (its code explained:
// error_hints.h) and each workspace's PATs. Upstream reachability is doctor_probes.h.
#pragma once

#include <string_view>
#include <vector>

#include "common/doctor_finding.h"
#include "daemon/broker.h"
#include "daemon/server/peer.h"

namespace dbx {

// One finding per workspace (only `only` when not empty): allowed (ok, naming the rule that let
// the caller in) or not (a fail when the caller asked for that workspace, else a note), and a fail
// when no workspace lets the caller in at all.
std::vector<Finding> access_findings(const Broker& broker, const PeerIdentity& peer,
                                     std::string_view only);

// The configuration file on disk, parsed as the next reload (SIGHUP) would: one fail per problem,
// or one ok. Reads the file: call it for root and the service user only.
std::vector<Finding> config_findings(const Broker& broker);

// Per credential and resource: the token's expiry, or the last error with its code explained.
std::vector<Finding> credential_findings(const Broker& broker, TimePoint now,
                                         std::string_view only_workspace);

// Per workspace with PATs: the last mint error, and this agent's share of max_active.
std::vector<Finding> pat_findings(const Broker& broker, std::string_view only_workspace);

// Per configured loopback port (listen.*): held by this daemon (and by systemd's dbxcredd.socket,
// where /proc/1 tells), nothing listening, or taken by someone else. `proc` is /proc (tests: a
// fake tree).
std::vector<Finding> loopback_findings(const Config& config, const std::string& proc = "/proc");

}  // namespace dbx
