// The real AsioProcessRunner on a real io_context (this test may include Asio: it tests the one
// file that uses it for processes).
#include "daemon/credentials/process_runner.h"

#include <gtest/gtest.h>
#include <signal.h>

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdlib>

#include "daemon/asio_runtime.h"

namespace dbx {
namespace {

class ProcessRunnerTest : public ::testing::Test {
 protected:
  boost::asio::io_context io;
  AsioRuntime runtime{io};
  std::unique_ptr<ProcessRunner> runner = make_process_runner(runtime);

  Result<ProcessResult> run(ProcessSpec spec) {
    std::optional<Result<ProcessResult>> got;
    runner->run(std::move(spec), [&](Result<ProcessResult> r) { got = std::move(r); });
    EXPECT_FALSE(got) << "the callback must not run inline";
    io.run_for(std::chrono::seconds(20));
    io.restart();
    if (!got) return make_error(ErrorCode::internal, "no callback");
    return std::move(*got);
  }
};

TEST_F(ProcessRunnerTest, CapturesStdoutStderrAndExitStatus) {
  ASSERT_NE(runner, nullptr);
  auto r = run({"/bin/sh", {"-c", "echo out; echo err >&2; exit 3"}});
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->exit_status, 3);
  EXPECT_EQ(r->term_signal, 0);
  EXPECT_FALSE(r->timed_out);
  EXPECT_EQ(r->out, "out\n");
  EXPECT_EQ(r->err, "err\n");
}

TEST_F(ProcessRunnerTest, ArgumentsReachTheProgramVerbatimWithoutAShell) {
  auto r = run({"printf", {"[%s]", "a b", "$(touch /tmp/x);", "*", "'q'"}});
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->exit_status, 0);
  EXPECT_EQ(r->out, "[a b][$(touch /tmp/x);][*]['q']");
}

TEST_F(ProcessRunnerTest, TimeoutKillsTheWholeProcessGroup) {
  const auto start = std::chrono::steady_clock::now();
  // The shell's child keeps the pipes open too: killing only the shell would not end the read.
  ProcessSpec spec{"/bin/sh", {"-c", "sleep 30 & sleep 30; echo never"}};
  spec.timeout = Millis(300);
  auto r = run(spec);
  const auto took = std::chrono::steady_clock::now() - start;
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_TRUE(r->timed_out);
  EXPECT_EQ(r->term_signal, SIGKILL);
  EXPECT_EQ(r->exit_status, -1);
  EXPECT_EQ(r->out, "");
  EXPECT_LT(took, std::chrono::seconds(5));
}

TEST_F(ProcessRunnerTest, AMissingProgramIsAnError) {
  auto r = run({"/nonexistent/az", {"account"}});
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("/nonexistent/az"), std::string::npos);
  auto p = run({"dbxcred-no-such-program-in-path", {}});
  EXPECT_FALSE(p.ok());
}

TEST_F(ProcessRunnerTest, EnvironmentPassesThroughAndStdinIsEmpty) {
  ::setenv("DBXCRED_RUNNER_TEST", "hello there", 1);
  auto r = run({"/bin/sh", {"-c", "printf '%s|' \"$DBXCRED_RUNNER_TEST\"; cat; echo end"}});
  ::unsetenv("DBXCRED_RUNNER_TEST");
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->out, "hello there|end\n");
}

TEST_F(ProcessRunnerTest, NoDescriptorOfTheDaemonLeaksIntoTheChild) {
  // Only 0, 1, 2 (and ls's own directory fd) may be open in the child.
  auto r = run({"/bin/sh", {"-c", "ls /proc/self/fd | wc -l"}});
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_LE(std::atoi(r->out.c_str()), 4) << r->out;
}

TEST_F(ProcessRunnerTest, OutputBeyondTheLimitIsDropped) {
  ProcessSpec spec{"/bin/sh", {"-c", "head -c 100000 /dev/zero; exit 0"}};
  spec.max_output = 1000;
  auto r = run(spec);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->out.size(), 1000u);
  EXPECT_EQ(r->exit_status, 0);
}

TEST_F(ProcessRunnerTest, DestroyingTheRunnerKillsItsProcessesAndDropsCallbacks) {
  bool called = false;
  runner->run({"/bin/sh", {"-c", "sleep 30"}}, [&](Result<ProcessResult>) { called = true; });
  io.run_for(std::chrono::milliseconds(100));
  const auto start = std::chrono::steady_clock::now();
  runner.reset();
  io.run_for(std::chrono::seconds(2));
  EXPECT_FALSE(called);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
}

}  // namespace
}  // namespace dbx
