// The rule of entra_reach.h.
#include "common/entra_reach.h"

#include <algorithm>

namespace dbx {

namespace {

template <typename T>
bool includes_all(const std::vector<T>& outer, const std::vector<T>& inner) {
  return std::all_of(inner.begin(), inner.end(), [&](const T& x) {
    return std::find(outer.begin(), outer.end(), x) != outer.end();
  });
}

bool no_identity_part(const AllowList& l) {
  return l.uids.empty() && l.users.empty() && l.groups.empty();
}

// Workspace::authorize: with executables listed and no uids, users or groups, any identity passes.
bool any_identity(const AllowList& l) {
  return no_identity_part(l) && !l.executables.empty();
}
// An allow list of nothing at all admits nobody (but uid 0).
bool admits_nobody(const AllowList& l) {
  return no_identity_part(l) && l.executables.empty();
}

bool covers(const ExecutableRule& outer, const ExecutableRule& inner) {
  return outer.path == inner.path && (!outer.sha256 || outer.sha256 == inner.sha256);
}

bool executables_cover(const AllowList& outer, const AllowList& inner) {
  if (outer.executables.empty()) return true;  // any program
  if (inner.executables.empty()) return false;
  return std::all_of(inner.executables.begin(), inner.executables.end(),
                     [&](const ExecutableRule& i) {
                       return std::any_of(outer.executables.begin(), outer.executables.end(),
                                          [&](const ExecutableRule& o) { return covers(o, i); });
                     });
}

bool identities_cover(const AllowList& outer, const AllowList& inner) {
  if (any_identity(outer)) return true;
  if (any_identity(inner)) return false;
  return includes_all(outer.uids, inner.uids) && includes_all(outer.users, inner.users) &&
         includes_all(outer.groups, inner.groups);
}

const CredentialConfig* credential_of(const Config& config, const WorkspaceConfig& ws) {
  const auto it = config.credentials.find(ws.credential);
  return it == config.credentials.end() ? nullptr : &it->second;
}

std::string key_path(const std::string& workspace) {
  return "workspaces." + workspace + ".serve_entra_token";
}

constexpr const char* kAdvice = ", or give each its own service principal (docs/SECURITY.md)";

// Built with += (one buffer): clang-tidy's performance-inefficient-string-concatenation.
std::string both_reach_line(const WorkspaceConfig& x, const WorkspaceConfig& y) {
  std::string line = key_path(x.name);
  line += ", ";
  line += key_path(y.name);
  line += ": workspaces ";
  line += x.name;
  line += " and ";
  line += y.name;
  line += " share credential ";
  line += x.credential;
  line +=
      " but not their allow lists: an Entra token served on either reaches the other "
      "(its PATs included); set \"serve_entra_token\": false on ";
  line += x.name;
  line += " and ";
  line += y.name;
  line += kAdvice;
  return line;
}

// `from`'s Entra token reaches `to`, which does not admit all of from's users.
std::string one_reaches_line(const WorkspaceConfig& from, const WorkspaceConfig& to) {
  std::string line = key_path(from.name);
  line += ": workspaces ";
  line += from.name;
  line += " and ";
  line += to.name;
  line += " share credential ";
  line += from.credential;
  line += ", and ";
  line += to.name;
  line += " does not admit everyone ";
  line += from.name;
  line += " admits: an Entra token served on ";
  line += from.name;
  line += " reaches ";
  line += to.name;
  line += " (its PATs included); set \"serve_entra_token\": false on ";
  line += from.name;
  line += kAdvice;
  return line;
}

}  // namespace

bool admits_all_of(const std::optional<AllowList>& outer, const std::optional<AllowList>& inner) {
  if (!outer) return true;
  if (!inner) return false;  // inner admits everyone, outer does not
  if (admits_nobody(*inner)) return true;
  return identities_cover(*outer, *inner) && executables_cover(*outer, *inner);
}

bool serves_entra_token(const WorkspaceConfig& ws, const CredentialConfig* credential) {
  return credential != nullptr && !is_databricks_oauth(credential->type) && ws.serve_entra_token;
}

std::vector<std::string> served_token_kinds(const WorkspaceConfig& ws,
                                            const CredentialConfig* credential) {
  std::vector<std::string> kinds;
  if (credential == nullptr) return kinds;
  if (ws.pat.enabled) kinds.emplace_back("pat");
  if (is_databricks_oauth(credential->type)) kinds.emplace_back("oauth");
  if (serves_entra_token(ws, credential)) kinds.emplace_back("aad");
  return kinds;
}

std::vector<std::string> entra_reach_problems(const Config& config) {
  std::vector<std::string> lines;
  for (auto a = config.workspaces.begin(); a != config.workspaces.end(); ++a) {
    for (auto b = std::next(a); b != config.workspaces.end(); ++b) {
      const WorkspaceConfig& x = a->second;
      const WorkspaceConfig& y = b->second;
      if (x.credential != y.credential) continue;
      const CredentialConfig* credential = credential_of(config, x);
      // x's token reaches y, whose allow list does not take in all of x's users; and back.
      const bool x_reaches = serves_entra_token(x, credential) && !admits_all_of(y.allow, x.allow);
      const bool y_reaches = serves_entra_token(y, credential) && !admits_all_of(x.allow, y.allow);
      if (!x_reaches && !y_reaches) continue;
      lines.push_back(x_reaches && y_reaches
                          ? both_reach_line(x, y)
                          : one_reaches_line(x_reaches ? x : y, x_reaches ? y : x));
    }
  }
  return lines;
}

}  // namespace dbx
