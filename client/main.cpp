// `dbxcred`: the companion CLI of dbxcredd. Reads argv and the environment, talks to the daemon's
// socket, prints to stdout, or execs a command with credentials in its environment. Every error is
// one stderr line "dbxcred: …" and an exit code from SPEC.md.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "client/args.h"
#include "client/commands.h"
#include "client/daemon_api.h"
#include "client/doctor.h"
#include "client/relay_exec.h"
#include "client/relay_handler.h"
#include "client/relay_server.h"
#include "client/session_command.h"
#include "client/socket_client.h"

namespace {

using dbx::cli::Exit;

std::optional<std::string> env_value(const char* name) {
  const char* v = std::getenv(name);
  if (!v || !*v) return std::nullopt;
  return std::string(v);
}

int fail(const dbx::cli::Failure& failure) {
  std::fprintf(stderr, "dbxcred: %s\n", failure.message.c_str());
  return dbx::cli::to_int(failure.exit);
}

int print(const std::string& text) {
  if (std::fwrite(text.data(), 1, text.size(), stdout) != text.size() || std::fflush(stdout) != 0) {
    std::fprintf(stderr, "dbxcred: cannot write to stdout: %s\n", std::strerror(errno));
    return dbx::cli::to_int(Exit::failure);
  }
  return 0;
}

// Replaces this process with argv[0] (searched in PATH), the credentials in its environment only.
int exec_with(const std::vector<std::string>& args, const dbx::cli::EnvVars& vars) {
  for (const auto& [name, value] : vars) {
    if (::setenv(name.c_str(), value.c_str(), 1) != 0) {
      return fail({Exit::failure, "cannot set " + name + ": " + std::strerror(errno)});
    }
  }
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  std::fflush(stdout);
  ::execvp(argv[0], argv.data());
  int err = errno;
  // The shell's conventions: 127 not found, 126 found but not runnable.
  std::string name = dbx::cli::one_line(args[0]);
  if (err == ENOENT) {
    std::fprintf(stderr, "dbxcred: %s: command not found\n", name.c_str());
    return 127;
  }
  std::fprintf(stderr, "dbxcred: cannot run %s: %s\n", name.c_str(), std::strerror(err));
  return 126;
}

// exec --sdk|--azure: CMD gets a relay of its own on 127.0.0.1, in this process's network
// namespace, for as long as it runs (client/relay_exec.h).
int exec_with_relay(const dbx::cli::Invocation& inv,
                    const std::optional<std::string>& env_workspace, const dbx::cli::DaemonApi& api,
                    const dbx::cli::Fetch& get) {
  auto secret = dbx::cli::random_secret();
  if (!secret) return fail(secret.error());
  auto target = dbx::cli::prepare_relay(inv, env_workspace, api, std::move(*secret));
  if (!target) return fail(target.error());
  auto listener = dbx::cli::RelayListener::open();
  if (!listener) return fail(listener.error());
  auto vars = dbx::cli::validate_env(dbx::cli::relay_env(*target, listener->port()));
  if (!vars) return fail(vars.error());
  dbx::cli::RelayHandler handler(std::move(*target), get);
  return dbx::cli::run_with_relay(
      inv.argv, *vars, *listener,
      [&handler](const dbx::InboundRequest& request) { return handler.handle(request); });
}

int run_session(const dbx::cli::Invocation& inv, const std::string& socket,
                const std::string& session, const std::optional<std::string>& env_workspace) {
  auto send = [&](std::string_view method, std::string_view target, std::string_view body) {
    dbx::cli::RequestOptions o{method, inv.insecure_socket};
    o.session = session;
    o.body = body;
    return dbx::cli::http_request(socket, target, o);
  };
  auto env = [](const char* name) { return env_value(name); };
  if (inv.command == dbx::cli::Command::session_end) {
    auto out = dbx::cli::run_session_end(env, send);
    if (!out) return fail(out.error());
    return print(*out);
  }
  const std::optional<std::string> workspace = inv.workspace ? inv.workspace : env_workspace;
  if (!workspace)
    return fail({Exit::usage, "session start needs -w WORKSPACE (or $DBXCRED_WORKSPACE)"});
  auto append = [](const std::string& path, const std::string& line) -> dbx::cli::Expected<bool> {
    // O_APPEND: the runner and other steps append to the same file.
    const int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
      return dbx::cli::Failure{
          Exit::failure,
          "cannot open $GITHUB_ENV (" + dbx::cli::one_line(path) + "): " + std::strerror(errno)};
    const bool ok = ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size());
    const int err = errno;
    ::close(fd);
    if (!ok)
      return dbx::cli::Failure{Exit::failure,
                               "cannot write to $GITHUB_ENV: " + std::string(std::strerror(err))};
    return true;
  };
  auto out = dbx::cli::run_session_start(inv, *workspace, env, send, append);
  if (!out) return fail(out.error());
  return print(*out);
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string_view> args(argv + 1, argv + argc);
  auto parsed = dbx::cli::parse_args(args);
  if (!parsed) return fail(parsed.error());
  const dbx::cli::Invocation& inv = *parsed;

  if (inv.command == dbx::cli::Command::help) {
    return print(inv.help_for ? dbx::cli::command_usage(*inv.help_for) : dbx::cli::usage_text());
  }
  if (inv.command == dbx::cli::Command::version) {
    return print(std::string("dbxcred ") + DBXCRED_VERSION + "\n");
  }

  std::string socket = inv.socket                    ? *inv.socket
                       : env_value("DBXCRED_SOCKET") ? *env_value("DBXCRED_SOCKET")
                                                     : std::string(dbx::cli::kDefaultSocketPath);
  std::optional<std::string> env_workspace = env_value("DBXCRED_WORKSPACE");
  const bool insecure = inv.insecure_socket;
  // A CI session's secret (`dbxcred session start`) goes with every request, in a header.
  const std::string session = env_value("DBXCRED_SESSION").value_or("");
  if (inv.command == dbx::cli::Command::session_start ||
      inv.command == dbx::cli::Command::session_end)
    return run_session(inv, socket, session, env_workspace);
  const dbx::cli::Fetch get = [socket, insecure, &session](std::string_view target) {
    dbx::cli::RequestOptions o{"GET", insecure};
    o.session = session;
    return dbx::cli::http_request(socket, target, o);
  };
  dbx::cli::DaemonApi api(get, [socket, insecure](std::string_view target) {
    return dbx::cli::http_request(socket, target, {"POST", insecure});
  });

  if (inv.command == dbx::cli::Command::doctor) {
    const auto run = dbx::cli::run_doctor(inv, socket, env_workspace, api);
    return print(run.out) != 0 ? 1 : dbx::cli::to_int(run.exit);
  }
  if (inv.command == dbx::cli::Command::exec && inv.env_source != dbx::cli::EnvSource::pat) {
    return exec_with_relay(inv, env_workspace, api, get);
  }
  if (inv.command == dbx::cli::Command::exec) {
    auto vars = dbx::cli::fetch_env_vars(inv, env_workspace, api);
    if (!vars) return fail(vars.error());
    return exec_with(inv.argv, *vars);
  }

  auto out = dbx::cli::run_command(inv, env_workspace, api, dbx::Clock::now());
  if (!out) return fail(out.error());
  return print(*out);
}
