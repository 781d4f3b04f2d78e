// AsioProcessRunner: posix_spawn + pipes read by Asio on the loop thread. See process_runner.h.
#include "daemon/credentials/process_runner.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cerrno>
#include <cstring>
#include <set>

#include "daemon/asio_runtime.h"

extern char** environ;

namespace dbx {
namespace {

namespace asio = boost::asio;
using boost::system::error_code;

// How often we look for the exit status once both pipes are closed. A process normally exits at
// the moment its pipes close, so the first look almost always finds it.
constexpr Millis kReapPoll{10};

// Signals whose handlers or "ignored" state must not leak into the child (asio and the daemon
// install some; an ignored SIGPIPE would change how a Python program behaves on a closed pipe).
constexpr int kResetSignals[] = {SIGHUP,  SIGINT,  SIGQUIT, SIGTERM, SIGPIPE,
                                 SIGCHLD, SIGUSR1, SIGUSR2, SIGALRM};

class Job : public std::enable_shared_from_this<Job> {
 public:
  Job(asio::io_context& io, std::size_t max_output, ProcessCallback done,
      std::weak_ptr<int> runner_alive)
      : out_(io),
        err_(io),
        timeout_(io),
        reap_(io),
        max_output_(max_output),
        done_(std::move(done)),
        runner_alive_(std::move(runner_alive)) {}

  void start(pid_t pid, int out_fd, int err_fd, Millis timeout) {
    pid_ = pid;
    out_.assign(out_fd);
    err_.assign(err_fd);
    read(out_, out_buf_, result_.out);
    read(err_, err_buf_, result_.err);
    timeout_.expires_after(timeout);
    timeout_.async_wait([self = shared_from_this()](error_code ec) {
      if (!ec && !self->reaped_) self->on_timeout();
    });
  }

  // The runner is going away: end the process; its callback is dropped (runner_alive expired).
  void abandon() {
    if (!reaped_) kill_group();
  }

 private:
  using Buffer = std::array<char, 4096>;

  void read(asio::posix::stream_descriptor& d, Buffer& buf, std::string& sink) {
    d.async_read_some(asio::buffer(buf), [self = shared_from_this(), &d, &buf, &sink](
                                             error_code ec, std::size_t n) {
      if (!ec) {
        const std::size_t room = self->max_output_ - std::min(self->max_output_, sink.size());
        sink.append(buf.data(), std::min(n, room));
        self->read(d, buf, sink);
        return;
      }
      // EOF, or the descriptor was closed at the timeout.
      error_code ignored;
      if (d.is_open()) d.close(ignored);
      if (--self->open_pipes_ == 0) self->try_reap();
    });
  }

  void try_reap() {
    int status = 0;
    const pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      reaped_ = true;
      if (WIFEXITED(status)) {
        result_.exit_status = WEXITSTATUS(status);
      } else if (WIFSIGNALED(status)) {
        result_.term_signal = WTERMSIG(status);
      }
      return finish();
    }
    if (r < 0) {  // ECHILD: nothing left to wait for (should not happen: no one else reaps)
      reaped_ = true;
      return finish();
    }
    // Closed its pipes but still running (or not yet reapable): look again shortly. The timeout
    // still applies.
    reap_.expires_after(kReapPoll);
    reap_.async_wait([self = shared_from_this()](error_code ec) {
      if (!ec) self->try_reap();
    });
  }

  void on_timeout() {
    result_.timed_out = true;
    kill_group();
    // Closing our ends ends the reads even if a grandchild still holds the pipes.
    error_code ignored;
    if (out_.is_open()) out_.close(ignored);
    if (err_.is_open()) err_.close(ignored);
  }

  void kill_group() {
    ::kill(-pid_, SIGKILL);  // the child leads its own group (POSIX_SPAWN_SETPGROUP)
    ::kill(pid_, SIGKILL);
  }

  void finish() {
    timeout_.cancel();
    if (finished_) return;
    finished_ = true;
    if (runner_alive_.expired()) return;
    auto done = std::move(done_);
    done(std::move(result_));
  }

  asio::posix::stream_descriptor out_, err_;
  asio::steady_timer timeout_, reap_;
  Buffer out_buf_{}, err_buf_{};
  std::size_t max_output_;
  ProcessCallback done_;
  std::weak_ptr<int> runner_alive_;
  ProcessResult result_;
  pid_t pid_ = -1;
  int open_pipes_ = 2;
  bool reaped_ = false;
  bool finished_ = false;
};

// Owns a pipe's two descriptors until they are handed on.
struct Pipe {
  int fd[2] = {-1, -1};
  ~Pipe() {
    for (int f : fd)
      if (f >= 0) ::close(f);
  }
  int release_read() { return std::exchange(fd[0], -1); }
};

class AsioProcessRunner : public ProcessRunner {
 public:
  AsioProcessRunner(asio::io_context& io, Runtime& runtime) : io_(io), runtime_(runtime) {}

  ~AsioProcessRunner() override {
    alive_.reset();
    for (auto& weak : jobs_)
      if (auto job = weak.lock()) job->abandon();
  }

  void run(ProcessSpec spec, ProcessCallback done) override {
    auto fail = [&](int err, const char* what) {
      Error e = make_error(ErrorCode::internal, "could not run " + spec.program + ": " + what +
                                                    ": " + std::strerror(err));
      runtime_.post([done = std::move(done), e = std::move(e)] { done(e); });
    };
    Pipe out, err;
    if (::pipe2(out.fd, O_CLOEXEC) != 0 || ::pipe2(err.fd, O_CLOEXEC) != 0)
      return fail(errno, "pipe");

    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&actions, out.fd[1], 1);
    posix_spawn_file_actions_adddup2(&actions, err.fd[1], 2);
    // Sockets and files of the daemon must not leak into the child.
    posix_spawn_file_actions_addclosefrom_np(&actions, 3);

    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    // Own process group, so a timeout kills whatever az started too; no blocked signals and
    // default dispositions, whatever the daemon's loop set up.
    posix_spawnattr_setflags(
        &attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    posix_spawnattr_setpgroup(&attr, 0);
    sigset_t none;
    sigemptyset(&none);
    posix_spawnattr_setsigmask(&attr, &none);
    sigset_t defaults;
    sigemptyset(&defaults);
    for (int s : kResetSignals) sigaddset(&defaults, s);
    posix_spawnattr_setsigdefault(&attr, &defaults);

    std::vector<std::string> argv_storage;
    argv_storage.reserve(spec.args.size() + 1);
    argv_storage.push_back(spec.program);
    for (auto& a : spec.args) argv_storage.push_back(a);
    std::vector<char*> argv;
    for (auto& a : argv_storage) argv.push_back(a.data());
    argv.push_back(nullptr);

    pid_t pid = -1;
    // The environment is passed through as it is: az finds its login under $HOME/.azure (or
    // $AZURE_CONFIG_DIR) and prints local times in our $TZ, which the parser then uses too.
    const int rc =
        ::posix_spawnp(&pid, spec.program.c_str(), &actions, &attr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
    if (rc != 0) return fail(rc, "spawn");

    // Our copies of the write ends must go, else the reads never see EOF.
    ::close(std::exchange(out.fd[1], -1));
    ::close(std::exchange(err.fd[1], -1));
    auto job = std::make_shared<Job>(io_, spec.max_output, std::move(done), alive_);
    job->start(pid, out.release_read(), err.release_read(), spec.timeout);
    prune();
    jobs_.push_back(job);
  }

 private:
  void prune() {
    std::erase_if(jobs_, [](const std::weak_ptr<Job>& j) { return j.expired(); });
  }

  asio::io_context& io_;
  Runtime& runtime_;
  std::shared_ptr<int> alive_ = std::make_shared<int>(0);
  std::vector<std::weak_ptr<Job>> jobs_;
};

}  // namespace

std::unique_ptr<ProcessRunner> make_process_runner(Runtime& runtime) {
  auto* asio_runtime = dynamic_cast<AsioRuntime*>(&runtime);
  if (asio_runtime == nullptr) return nullptr;
  return std::make_unique<AsioProcessRunner>(asio_runtime->io(), runtime);
}

}  // namespace dbx
