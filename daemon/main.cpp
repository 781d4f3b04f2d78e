// dbxcredd: the daemon's entry point — command line, configuration, signals, systemd, the loop.
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio.hpp>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "common/config.h"
#include "common/log.h"
#include "daemon/asio_runtime.h"
#include "daemon/audit/audit_log.h"
#include "daemon/broker.h"
#include "daemon/clock_watch.h"
#include "daemon/pat/agent_id.h"
#include "daemon/server/executable_check.h"
#include "daemon/server/identity_resolver.h"
#include "daemon/server/loopback_server.h"
#include "daemon/server/rate_limit.h"
#include "daemon/server/router.h"
#include "daemon/server/socket_setup.h"
#include "daemon/server/unix_server.h"
#include "daemon/session/session_registry.h"
#include "daemon/state_dir_check.h"
#include "daemon/state_dir_lock.h"
#include "daemon/systemd.h"
#include "daemon/upstream/https_transport.h"
#include "daemon/upstream/metered_transport.h"

namespace {

constexpr const char* kDefaultConfig = "/etc/dbxcred/config.json";

constexpr const char* kUsage =
    R"(usage: dbxcredd [--config PATH] [--check-config] [--version] [--help]

The dbxcred daemon: fetches and caches Entra ID tokens and Databricks PATs and serves them to local
tools over a Unix socket. Runs in the foreground and logs to stderr (systemd Type=notify).

  --config PATH    configuration file (default /etc/dbxcred/config.json)
  --check-config   validate the configuration, print it with secrets masked, exit 0 (valid) or 2
  --version        print the version
  --help           this text

Signals: SIGHUP reloads the configuration (a bad one is logged and the old one stays in force);
SIGTERM/SIGINT stop accepting, finish requests in flight and exit 0.
)";

struct Options {
  std::string config = kDefaultConfig;
  bool check = false;
};

}  // namespace

int main(int argc, char** argv) {
  Options opt;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--help" || a == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    }
    if (a == "--version") {
      std::printf("dbxcredd %s\n", DBXCRED_VERSION);
      return 0;
    }
    if (a == "--check-config") {
      opt.check = true;
    } else if (a == "--config" && i + 1 < argc) {
      opt.config = argv[++i];
    } else if (a.rfind("--config=", 0) == 0) {
      opt.config = a.substr(9);
    } else {
      std::fprintf(stderr, "dbxcredd: unknown argument \"%s\"; see dbxcredd --help\n", a.c_str());
      return 2;
    }
  }

  dbx::ConfigProblems problems;
  auto config = dbx::load_config(opt.config, problems);
  if (!config) {
    for (const auto& line : problems.lines) std::fprintf(stderr, "dbxcredd: %s\n", line.c_str());
    return 2;
  }
  if (opt.check) {
    std::fputs(dbx::render_config_masked(*config).c_str(), stdout);
    return 0;
  }

  // Tokens live in this process's memory: no core dumps, no ptrace by other users.
  ::prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  // Every client connection is a descriptor: allow as many as the hard limit lets us, so that
  // limits.max_connections (not EMFILE) is what turns clients away.
  if (struct rlimit nofile{};
      ::getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < nofile.rlim_max) {
    nofile.rlim_cur = nofile.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &nofile);
  }
  dbx::setup_logging(config->log.level, config->log.format);

  // The state directory holds the PAT ledgers, the agent id and the loopback secrets: ours alone,
  // and one daemon's. Locked before listening, so a second daemon leaves the first one's socket be.
  auto state_lock = dbx::lock_state_dir(config->state_dir);
  if (!state_lock) {
    std::fprintf(stderr, "dbxcredd: %s\n", state_lock.error().message.c_str());
    return 1;
  }
  // Another user who could write in it could plant a ledger or an agent id (docs/SECURITY.md).
  if (auto s = dbx::check_state_dir_ownership(config->state_dir, ::geteuid()); !s) {
    std::fprintf(stderr, "dbxcredd: %s\n", s.error().message.c_str());
    return 1;
  }
  // The agent id is this machine's: a state_dir copied from another one (an image built after the
  // daemon ran) makes a new agent, so that the clones never delete each other's PATs.
  auto agent = dbx::bind_agent_to_machine(config->state_dir, dbx::machine_id_path());
  if (!agent) {
    std::fprintf(stderr, "dbxcredd: %s\n", agent.error().message.c_str());
    return 1;
  }
  if (agent->previous_agent_id) {
    const std::string moved = agent->previous_ledger.empty()
                                  ? std::string()
                                  : "; its ledgers are kept in " + agent->previous_ledger;
    if (!agent->recorded_fingerprint.empty())
      spdlog::warn(
          "state_dir {} came from another machine (recorded machine {}, this machine {}): this "
          "daemon is now agent {}; the PATs of agent {} are left to that agent, never deleted "
          "here{} (`dbxcred pat reap --agent {}` deletes them once it is gone)",
          config->state_dir, agent->recorded_fingerprint, agent->machine_fingerprint,
          agent->agent_id, *agent->previous_agent_id, moved, *agent->previous_agent_id);
    else
      spdlog::warn(
          "state_dir {} has no machine record (written by an older dbxcred, or copied): this "
          "daemon is now agent {} on machine {}; the PATs of agent {} are left to expire, never "
          "deleted here{}",
          config->state_dir, agent->agent_id, agent->machine_fingerprint, *agent->previous_agent_id,
          moved);
  }

  // Listen first: clients can connect while the TLS trust store loads (tens of ms), and their
  // requests wait in the backlog until the loop runs (docs/BENCHMARKS.md, "socket ready").
  // Under systemd the loopback ports may be passed too (dbxcredd-*.socket): adopted below.
  auto activated = dbx::sort_activated_sockets(dbx::systemd_listen_fds());
  if (!activated) {
    std::fprintf(stderr, "dbxcredd: %s\n", activated.error().message.c_str());
    return 1;
  }
  int fd = -1;
  if (activated->api) {
    fd = *activated->api;
    spdlog::info("using the socket passed by systemd");
  } else {
    auto listening = dbx::open_listening_socket(config->socket);
    if (!listening) {
      std::fprintf(stderr, "dbxcredd: %s\n", listening.error().message.c_str());
      return 1;
    }
    fd = *listening;
  }

  boost::asio::io_context io(1);
  dbx::AsioRuntime runtime(io);
  auto transport_options = dbx::HttpsTransport::Options::from_environment();
  transport_options.ca_file = config->tls_ca_file;
  dbx::HttpsTransport transport(io, transport_options);
  if (transport.setup_error()) {
    std::fprintf(stderr, "dbxcredd: %s\n", transport.setup_error()->message.c_str());
    return 1;
  }

  // Every upstream call is counted (status, latency, quota refusals) for /metrics.
  dbx::UpstreamMetrics upstream_metrics;
  dbx::MeteredTransport metered(transport, runtime, upstream_metrics);

  const std::string config_path = opt.config;
  auto broker = std::make_shared<dbx::Broker>(runtime, metered, *config);
  dbx::Router router(
      runtime, [&broker] { return broker; }, runtime.now());
  // Accountability (docs/AUDIT.md): audit records, allow.executables' hashes, per-uid rate limit.
  dbx::AuditLog audit(runtime, dbx::AuditLog::systemd_journal_socket());
  if (auto s = audit.open_file(config->audit.path); !s) {
    std::fprintf(stderr, "dbxcredd: %s\n", s.error().message.c_str());
    return 1;
  }
  dbx::ExeHashCache& exe_hashes = dbx::exe_hash_cache();
  exe_hashes.prime(*config);
  dbx::UidRateLimiter rate_limiter(config->limits.requests_per_second_per_uid,
                                   config->limits.request_burst_per_uid);
  router.set_accountability(&audit, &rate_limiter);
  // CI sessions (issue 23): in memory only, kept across reloads, forgotten at exit.
  dbx::SessionRegistry sessions(runtime, metered, config->request_deadline);
  router.set_sessions(&sessions);
  const dbx::ServerLimits limits = dbx::server_limits(config->limits);
  // User and group lookups (NSS) run on the resolver's workers, never on the loop; its cache holds
  // the answers for kNamePositiveTtl (docs/SECURITY.md "Who may use a workspace").
  dbx::SystemNameService name_service;
  dbx::IdentityResolver identities(runtime, name_service, config->request_deadline);
  identities.set_names(dbx::allow_names(*config));
  dbx::UnixServer server(io, runtime, router, identities, limits);
  dbx::LoopbackListeners loopback(
      io, runtime, router, [&broker] { return broker; }, limits);
  router.set_loopback([&loopback] { return loopback.state(); }, &loopback.routes().counters());
  loopback.routes().set_audit(&audit);
  router.set_upstream_metrics(&upstream_metrics);
  router.set_secret_rotation([&loopback] { return loopback.rotate_secrets(); });
  // Under the packaged units a loopback port systemd does not hold is free while we restart.
  if (activated->api) {
    const std::pair<const char*, int> configured[] = {
        {"metadata_service",
         config->listen.metadata_service ? config->listen.metadata_service->port : -1},
        {"managed_identity",
         config->listen.managed_identity ? config->listen.managed_identity->port : -1}};
    for (const auto& [name, port] : configured) {
      if (port < 0 || activated->loopback.contains(name)) continue;
      std::string unit = std::string("dbxcredd-") + name + ".socket";
      std::replace(unit.begin(), unit.end(), '_', '-');
      spdlog::warn(
          "listen.{}: systemd does not hold 127.0.0.1:{}, so another local user can bind it while "
          "dbxcredd restarts and collect SDK secrets; systemctl enable --now {}",
          name, port, unit);
    }
  }
  loopback.adopt(std::move(activated->loopback));
  if (auto s = loopback.apply(*config); !s) {
    // stderr is the log: one line, not a log line and a copy of it.
    std::fprintf(stderr, "dbxcredd: %s\n", s.error().message.c_str());
    return 1;
  }

  server.serve(fd);
  broker->start();
  // A wall-clock step or a resume from suspend: refresh, rotation and reaping are re-evaluated at
  // once instead of when the (monotonic) timers would have fired (docs/HARDENING.md "Clock").
  dbx::ClockWatch clock_watch(runtime, [&broker](dbx::Millis step) {
    spdlog::warn(
        "the wall clock jumped {} s {} (clock set, or resume from suspend): re-planning "
        "refreshes, rotations and reaping",
        std::abs(step.count()) / 1000, step.count() > 0 ? "forward" : "backward");
    broker->reschedule(step);
  });
  clock_watch.start();
  spdlog::info("dbxcredd {} serving {} workspace(s) on {}", DBXCRED_VERSION,
               config->workspaces.size(), config->socket.path);
  dbx::sd_notify_state("READY=1\nSTATUS=serving " + std::to_string(config->workspaces.size()) +
                       " workspace(s)");

  // SIGHUP: reload. A bad new configuration is logged and the old one stays in force; a good one
  // replaces the broker, which takes over the unchanged credentials (cached tokens) and workspaces
  // (current PATs) of the old one. Socket and TLS settings apply on restart only.
  // Brokers replaced by a reload, alive while requests they serve are in flight.
  std::vector<std::weak_ptr<dbx::Broker>> retired;
  auto reload = [&] {
    dbx::sd_notify_state("RELOADING=1");
    dbx::ConfigProblems p;
    auto next = dbx::load_config(config_path, p);
    // The audit file is reopened on every SIGHUP (logrotate moved it away), also when the new
    // configuration is refused; a file that cannot be opened leaves the one in use in use.
    if (auto s = audit.open_file(next ? next->audit.path : audit.file_path()); !s)
      spdlog::error("reload: {}; audit records still go to the file opened before",
                    s.error().message);
    if (!next) {
      for (const auto& line : p.lines) spdlog::error("reload refused: {}", line);
      spdlog::error("reload refused: the previous configuration stays in force");
      dbx::sd_notify_state("READY=1\nSTATUS=reload refused (see the log); serving " +
                           std::to_string(broker->config().workspaces.size()) + " workspace(s)");
      return;
    }
    if (next->socket.path != config->socket.path || next->socket.mode != config->socket.mode ||
        next->socket.group != config->socket.group || next->tls_ca_file != config->tls_ca_file ||
        next->limits.max_connections != config->limits.max_connections ||
        next->limits.max_connections_per_uid != config->limits.max_connections_per_uid ||
        next->limits.requests_per_second_per_uid != config->limits.requests_per_second_per_uid ||
        next->limits.request_burst_per_uid != config->limits.request_burst_per_uid)
      spdlog::warn("reload: socket, tls and limits settings take effect on restart only");
    if (next->state_dir != config->state_dir) {
      // The lock is on the state_dir this process started with: another one stays unlocked.
      spdlog::warn("reload: state_dir takes effect on restart only; still {}", config->state_dir);
      next->state_dir = config->state_dir;
    }
    spdlog::default_logger()->set_level(spdlog::level::from_str(next->log.level));
    exe_hashes.prime(*next);
    auto replacement = std::make_shared<dbx::Broker>(runtime, metered, *next, broker.get());
    spdlog::info(
        "configuration reloaded: {} workspace(s), {} credential(s); kept the cached tokens of {} "
        "credential(s) and the PATs of {} workspace(s)",
        next->workspaces.size(), next->credentials.size(), replacement->kept_credentials(),
        replacement->kept_workspaces());
    std::erase_if(retired, [](const auto& b) { return b.expired(); });
    retired.push_back(broker);
    broker = std::move(replacement);
    broker->start();
    identities.set_names(dbx::allow_names(*next));
    // Loopback secrets are re-read (a deleted one is made anew: rotation); ports are re-bound.
    if (auto s = loopback.apply(*next); !s) spdlog::error("reload: {}", s.error().message);
    dbx::sd_notify_state("READY=1\nSTATUS=serving " + std::to_string(next->workspaces.size()) +
                         " workspace(s)");
  };

  // SIGTERM/SIGINT: stop accepting and close idle connections, let requests in flight finish for at
  // most kDrainLimit, then leave the loop and exit 0. A second signal ends the drain at once.
  constexpr dbx::Millis kDrainLimit{5000};
  constexpr dbx::Millis kDrainPoll{20};
  bool stopping = false;
  std::shared_ptr<dbx::Timer> drain_timer;
  std::function<void()> drain;
  auto drain_until = runtime.now() + kDrainLimit;
  drain = [&] {
    if (server.connections() == 0) return io.stop();
    if (runtime.now() >= drain_until) {
      spdlog::warn("stopping with {} request(s) still in flight after {} ms", server.connections(),
                   kDrainLimit.count());
      return io.stop();
    }
    drain_timer = runtime.after(kDrainPoll, drain);
  };

  boost::asio::signal_set signals(io, SIGTERM, SIGINT, SIGHUP);
  std::function<void(const boost::system::error_code&, int)> on_signal =
      [&](const boost::system::error_code& ec, int sig) {
        if (ec) return;
        if (sig == SIGHUP) {
          if (!stopping) reload();
          signals.async_wait(on_signal);
          return;
        }
        if (stopping) {
          spdlog::warn("second signal {}: stopping now", sig);
          io.stop();
          return;
        }
        stopping = true;
        spdlog::info("stopping on signal {}: finishing {} open connection(s)", sig,
                     server.connections());
        dbx::sd_notify_state("STOPPING=1");
        server.stop();
        loopback.stop();
        drain_until = runtime.now() + kDrainLimit;
        drain();
        signals.async_wait(on_signal);
      };
  signals.async_wait(on_signal);

  std::shared_ptr<dbx::Timer> watchdog;
  if (auto usec = dbx::systemd_watchdog_usec()) {
    const auto half = dbx::Millis(*usec / 2000);
    std::function<void()> pet = [&] {
      dbx::sd_notify_state("WATCHDOG=1");
      watchdog = runtime.after(half, pet);
    };
    watchdog = runtime.after(half, pet);
  }

  io.run();
  // Requests still waiting hold their broker through callbacks the broker owns: drop those, so
  // that every broker (and its tokens) is released before exit.
  for (const auto& old : retired)
    if (auto b = old.lock()) b->abandon_waiters();
  broker->abandon_waiters();
  sessions.clear();
  audit.flush();
  return 0;
}
