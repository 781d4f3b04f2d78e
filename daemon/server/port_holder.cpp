#include "daemon/server/port_holder.h"

#include <pwd.h>
#include <sys/types.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <system_error>

namespace dbx {

namespace {

constexpr const char* kListen = "0A";  // TCP_LISTEN in /proc/net/tcp's "st" column

using Listener = PortListener;

// The listening entry for `port` in /proc/net/tcp or tcp6, if any.
bool find_listener(const std::string& table, std::uint16_t port, Listener& out) {
  std::ifstream in(table);
  std::string line;
  std::getline(in, line);  // header
  char want[8];
  std::snprintf(want, sizeof want, ":%04X", static_cast<unsigned>(port));
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string slot, local, remote, state, queues, timer, retransmits, inode;
    unsigned long uid = 0, timeout = 0;
    if (!(fields >> slot >> local >> remote >> state >> queues >> timer >> retransmits >> uid >>
          timeout >> inode))
      continue;
    if (state != kListen || local.size() < 5 || local.compare(local.size() - 5, 5, want) != 0)
      continue;
    out = {uid, inode};
    return true;
  }
  return false;
}

std::string user_name(unsigned long uid) {
  passwd pw{};
  passwd* found = nullptr;
  char buf[1024];
  if (::getpwuid_r(static_cast<uid_t>(uid), &pw, buf, sizeof buf, &found) == 0 && found)
    return std::string(" (") + found->pw_name + ")";
  return "";
}

}  // namespace

std::optional<PortListener> find_port_listener(std::uint16_t port, const std::string& proc) {
  Listener l;
  if (find_listener(proc + "/net/tcp", port, l) || find_listener(proc + "/net/tcp6", port, l))
    return l;
  return std::nullopt;
}

bool process_holds_socket(const std::string& pid, const std::string& inode,
                          const std::string& proc) {
  const std::string target = "socket:[" + inode + "]";
  std::error_code ec;
  const std::filesystem::path fds = std::filesystem::path(proc) / pid / "fd";
  for (const auto& fd : std::filesystem::directory_iterator(fds, ec)) {
    std::error_code link_ec;
    if (std::filesystem::read_symlink(fd.path(), link_ec).string() == target) return true;
  }
  return false;
}

std::string describe_port_holder(std::uint16_t port, const std::string& proc) {
  Listener l;
  if (!find_listener(proc + "/net/tcp", port, l) && !find_listener(proc + "/net/tcp6", port, l))
    return "";
  std::string owner = "uid " + std::to_string(l.uid) + user_name(l.uid);
  const std::string target = "socket:[" + l.inode + "]";
  std::error_code ec;
  for (const auto& p : std::filesystem::directory_iterator(proc, ec)) {
    const std::string pid = p.path().filename().string();
    if (pid.empty() || pid.find_first_not_of("0123456789") != std::string::npos) continue;
    std::error_code fd_ec;
    for (const auto& fd : std::filesystem::directory_iterator(p.path() / "fd", fd_ec)) {
      std::error_code link_ec;
      if (std::filesystem::read_symlink(fd.path(), link_ec).string() != target) continue;
      std::string comm;
      std::ifstream(p.path() / "comm") >> comm;
      std::string holder = "pid ";
      holder.append(pid);
      if (!comm.empty()) holder.append(" (").append(comm).append(")");
      holder.append(" of ").append(owner);
      return holder;
    }
  }
  return owner;
}

}  // namespace dbx
