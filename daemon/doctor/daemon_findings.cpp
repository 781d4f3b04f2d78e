// The daemon's own findings for `dbxcred doctor`; see daemon_findings.h.
#include "daemon/doctor/daemon_findings.h"

#include <initializer_list>
#include <set>
#include <string>
#include <string_view>

#include "daemon/doctor/error_hints.h"
#include "daemon/server/port_holder.h"

namespace dbx {

namespace {

// The concatenation of `parts`, built in one string (findings are made in loops).
std::string cat(std::initializer_list<std::string_view> parts) {
  std::string out;
  for (std::string_view p : parts) out += p;
  return out;
}

// An error text with its code explained: the meaning is added to the message, the fix returned.
std::string explained(const std::string& error, std::string& fix) {
  if (auto hint = explain_upstream_error(error)) {
    fix = std::string(hint->fix);
    return error + " (" + std::string(hint->code) + ": " + std::string(hint->meaning) + ")";
  }
  return error;
}

std::string in_seconds(TimePoint later, TimePoint now) {
  const auto s = std::chrono::duration_cast<Seconds>(later - now).count();
  if (s < 0) return "expired " + std::to_string(-s) + " s ago";
  return "valid for " + std::to_string(s) + " s more";
}

}  // namespace

std::vector<Finding> access_findings(const Broker& broker, const PeerIdentity& peer,
                                     std::string_view only) {
  std::vector<Finding> out;
  int allowed = 0;
  const std::string who = "uid " + std::to_string(peer.uid) +
                          (peer.user.empty() ? std::string() : " (" + peer.user + ")");
  for (const auto& [name, cfg] : broker.config().workspaces) {
    if (!only.empty() && name != only) continue;
    const Workspace* ws = broker.workspace(name);
    if (ws == nullptr) continue;
    Finding f{"access", name, Verdict::ok, "", ""};
    const AccessDecision d = ws->authorize(peer);
    const bool programs = cfg.allow && !cfg.allow->executables.empty();
    if (d) {
      ++allowed;
      f.message = cat({who, " may use workspace ", name, " (", d.reason, ")"});
      if (programs && peer.uid != 0)
        f.message += "; allow.executables applies to each program that connects (here dbxcred)";
    } else {
      f.verdict = only.empty() ? Verdict::note : Verdict::fail;
      f.message = cat({who, " may not use workspace ", name, ": ", d.reason});
      f.fix = ws->denied_message(peer);
    }
    out.push_back(std::move(f));
  }
  if (!only.empty() && out.empty())
    out.push_back(Finding{"access", std::string(only), Verdict::fail,
                          "no workspace named " + std::string(only) + " in this daemon",
                          "pick one of dbxcred workspaces, or add it to the configuration"});
  else if (allowed == 0 && only.empty())
    out.push_back(Finding{"access", "", Verdict::fail, "no workspace lets " + who + " in",
                          "ask the operator to add you to a workspace's allow list"});
  return out;
}

std::vector<Finding> config_findings(const Broker& broker) {
  const std::string& path = broker.config().source_path;
  if (path.empty()) return {};
  ConfigProblems problems;
  if (load_config(path, problems))
    return {Finding{"config", path, Verdict::ok,
                    path + " is valid: a reload (systemctl reload dbxcredd) would take it", ""}};
  std::vector<Finding> out;
  for (const auto& line : problems.lines)
    out.push_back(Finding{"config", path, Verdict::fail,
                          cat({path, ": ", line, " (the next reload would be refused)"}),
                          "correct it in " + path + ", then check with dbxcredd --check-config"});
  return out;
}

std::vector<Finding> credential_findings(const Broker& broker, TimePoint now,
                                         std::string_view only_workspace) {
  std::set<std::string, std::less<>> wanted;
  for (const auto& [name, cfg] : broker.config().workspaces)
    if (only_workspace.empty() || name == only_workspace) wanted.insert(cfg.credential);
  std::vector<Finding> out;
  broker.for_each_cache(
      [&](const std::string& name, const std::string& type, const TokenCache& cache) {
        if (!wanted.contains(name)) return;
        const TokenCacheStatus s = cache.status();
        Finding f{"credential", name, Verdict::ok, "", ""};
        const std::string what = "credential " + name + " (" + type + "), resource " + s.resource;
        if (s.last_error) {
          f.verdict = Verdict::fail;
          f.message = what + ": the last fetch failed (" + std::to_string(s.consecutive_failures) +
                      " in a row): " + explained(*s.last_error, f.fix);
          if (f.fix.empty()) f.fix = "see the daemon's log: journalctl -u dbxcredd";
        } else if (s.expires_at) {
          f.message = what + ": token " + in_seconds(*s.expires_at, now);
        } else {
          f.verdict = Verdict::note;
          f.message = what + ": no token fetched yet" + (s.in_flight ? " (fetching now)" : "");
        }
        out.push_back(std::move(f));
      });
  return out;
}

std::vector<Finding> pat_findings(const Broker& broker, std::string_view only_workspace) {
  std::vector<Finding> out;
  for (const auto& [name, cfg] : broker.config().workspaces) {
    if (!only_workspace.empty() && name != only_workspace) continue;
    const Workspace* ws = broker.workspace(name);
    if (ws == nullptr) continue;
    const auto p = ws->pat_status();
    if (!p) continue;
    Finding f{"pat", name, Verdict::ok, "", ""};
    const std::string share = std::to_string(p->active) + " of pat.max_active " +
                              std::to_string(p->max_active) + " PATs held by this agent";
    if (p->last_error) {
      f.verdict = Verdict::fail;
      f.message =
          cat({"workspace ", name, ": the last PAT mint failed: ", explained(*p->last_error, f.fix),
               "; ", share});
      if (f.fix.empty()) f.fix = "see the daemon's log: journalctl -u dbxcredd";
    } else if (!p->ledger_ok) {
      f.verdict = Verdict::fail;
      f.message = "workspace " + name + ": the PAT ledger in state_dir is not usable" +
                  (p->ledger_note ? ": " + *p->ledger_note : std::string());
      f.fix = "check state_dir (owner, free space) and the daemon's log";
    } else if (p->max_active > 0 && p->active >= p->max_active) {
      f.verdict = Verdict::fail;
      f.message = cat({"workspace ", name, ": ", share, ": no room to rotate"});
      f.fix = "raise workspaces." + name + ".pat.max_active, or lower pat.lifetime";
    } else {
      f.message = cat({"workspace ", name, ": ", share});
    }
    out.push_back(std::move(f));
  }
  return out;
}

std::vector<Finding> loopback_findings(const Config& config, const std::string& proc) {
  std::vector<std::pair<std::string, std::uint16_t>> ports;
  if (config.listen.metadata_service)
    ports.emplace_back("listen.metadata_service", config.listen.metadata_service->port);
  if (config.listen.managed_identity)
    ports.emplace_back("listen.managed_identity", config.listen.managed_identity->port);
  if (config.listen.metrics) ports.emplace_back("listen.metrics", config.listen.metrics->port);
  std::vector<Finding> out;
  for (const auto& [key, port] : ports) {
    const std::string where = "127.0.0.1:" + std::to_string(port) + " (" + key + ")";
    Finding f{"loopback", std::to_string(port), Verdict::ok, "", ""};
    const auto l = find_port_listener(port, proc);
    if (!l) {
      f.verdict = Verdict::fail;
      f.message = "nothing listens on " + where + ": SDKs pointed at it fail";
      f.fix = "restart dbxcredd (under systemd: systemctl enable --now dbxcredd.socket holds it)";
    } else if (process_holds_socket("self", l->inode, proc)) {
      f.message = where + " is held by this daemon";
      if (process_holds_socket("1", l->inode, proc))
        f.message += " and by systemd (dbxcredd.socket): it stays held across restarts";
    } else {
      f.verdict = Verdict::fail;
      f.message = where + " is taken by " + describe_port_holder(port, proc) +
                  ", not by this daemon: its clients may be talking to someone else";
      f.fix =
          "stop that process, then restart dbxcredd; rotate the loopback secrets "
          "(dbxcred rotate-secrets)";
    }
    out.push_back(std::move(f));
  }
  return out;
}

}  // namespace dbx
