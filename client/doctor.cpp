// `dbxcred doctor`; see doctor.h.
#include "client/doctor.h"

#include <unistd.h>

#include <boost/json/serialize.hpp>
#include <fstream>
#include <sstream>

#include "client/socket_client.h"

namespace dbx::cli {

std::vector<Finding> daemon_findings(const DaemonApi& api,
                                     const std::optional<std::string>& workspace) {
  std::string target = "/v1/doctor";
  if (workspace) target += "?workspace=" + encode_path_segment(*workspace);
  auto answer = api.get_object(target);
  if (!answer) {
    const Failure& e = answer.error();
    std::string fix = "see the daemon's log: journalctl -u dbxcredd";
    if (e.exit == Exit::unreachable) fix = "see the socket findings above";
    if (e.message.find("no such path") != std::string::npos)
      fix = "this daemon has no GET /v1/doctor (older than this dbxcred): upgrade it";
    else if (e.exit == Exit::denied)
      fix = "pick a workspace that dbxcred workspaces lists";
    return {Finding{"daemon", "", Verdict::fail,
                    "the daemon's checks could not be had: " + e.message, fix}};
  }
  std::vector<Finding> out;
  if (const auto* list = answer->if_contains("findings"); list && list->is_array())
    for (const auto& v : list->as_array())
      if (v.is_object())
        if (auto f = finding_from_json(v.as_object())) out.push_back(std::move(*f));
  const auto* full = answer->if_contains("full");
  if (full && full->is_bool() && !full->as_bool())
    out.push_back(Finding{"daemon", "", Verdict::note,
                          "the credential, PAT and upstream checks are for root and the service "
                          "user: run sudo dbxcred doctor for the full report",
                          ""});
  return out;
}

std::string render_findings(const std::vector<Finding>& findings, bool json) {
  if (json) {
    boost::json::array list;
    for (const auto& f : findings) list.push_back(to_json(f));
    return boost::json::serialize(boost::json::object{{"ok", doctor_exit(findings) == Exit::ok},
                                                      {"findings", std::move(list)}}) +
           "\n";
  }
  std::string out;
  int failed = 0;
  for (const auto& f : findings) {
    out += finding_line(f) + "\n";
    if (f.verdict == Verdict::fail) ++failed;
  }
  out += failed == 0 ? "every check passed\n" : std::to_string(failed) + " check(s) failed\n";
  return out;
}

Exit doctor_exit(const std::vector<Finding>& findings) {
  for (const auto& f : findings)
    if (f.verdict == Verdict::fail) return Exit::failure;
  return Exit::ok;
}

DoctorRun run_doctor(const Invocation& inv, const std::string& socket_path,
                     const std::optional<std::string>& env_workspace, const DaemonApi& api) {
  Caller caller;
  caller.uid = ::getuid();
  if (std::ifstream in("/etc/passwd"); in) {
    std::stringstream text;
    text << in.rdbuf();
    caller.service_uid = passwd_uid(text.str(), kServiceUser);
  }
  std::vector<Finding> all =
      config_findings_as_caller(inv.config_path.value_or(std::string(kDefaultConfigPath)), caller);
  for (auto& f : socket_findings(socket_path, caller, inv.insecure_socket))
    all.push_back(std::move(f));
  std::optional<std::string> workspace = inv.workspace;
  if (!workspace && env_workspace && !env_workspace->empty()) workspace = env_workspace;
  for (auto& f : daemon_findings(api, workspace)) all.push_back(std::move(f));
  return DoctorRun{render_findings(all, inv.json), doctor_exit(all)};
}

}  // namespace dbx::cli
