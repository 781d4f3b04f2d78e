// ProcessRunner: runs a helper program (the Azure CLI) without blocking the event loop — no shell,
// stdin from /dev/null, stdout and stderr captured through pipes, the daemon's environment passed
// through unchanged, a timeout after which the whole process group is killed. The callback runs on
// the loop thread. Asio stays out of this header: AsioProcessRunner lives in process_runner.cpp.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/result.h"
#include "daemon/runtime.h"

namespace dbx {

struct ProcessSpec {
  std::string program;            // a path, or a name looked up in PATH (execvp rules)
  std::vector<std::string> args;  // without argv[0]; never put a secret here (visible in ps)
  Millis timeout{15000};
  // Output beyond this is dropped (the process keeps running); az prints a few kB.
  std::size_t max_output = 1 << 20;
};

struct ProcessResult {
  int exit_status = -1;    // the exit status, or -1 when killed by a signal
  int term_signal = 0;     // the signal that ended it, 0 if it exited
  bool timed_out = false;  // we killed it at the timeout
  std::string out;         // stdout (may hold a token: never log it)
  std::string err;         // stderr
};

// The error side means the program could not be started (not found, not executable, no fds).
using ProcessCallback = std::function<void(Result<ProcessResult>)>;

class ProcessRunner {
 public:
  virtual ~ProcessRunner() = default;
  // Starts the process; `done` is called once on the loop thread, never inline. Destroying the
  // runner kills the processes still running and drops their callbacks.
  virtual void run(ProcessSpec spec, ProcessCallback done) = 0;
};

// The real runner on the daemon's event loop, or nullptr when `runtime` is not an AsioRuntime
// (unit tests inject their own ProcessRunner).
std::unique_ptr<ProcessRunner> make_process_runner(Runtime& runtime);

}  // namespace dbx
