#include "daemon/credentials/azure_cli_source.h"

#include <gtest/gtest.h>

#include <deque>

#include "tests/daemon/fake_runtime.h"

namespace dbx {
namespace {

using testing::FakeRuntime;

// Records what would run; the test answers.
class FakeRunner : public ProcessRunner {
 public:
  void run(ProcessSpec spec, ProcessCallback done) override {
    calls.push_back({std::move(spec), std::move(done)});
  }
  void answer(Result<ProcessResult> r) {
    auto c = std::move(calls.front());
    calls.pop_front();
    c.done(std::move(r));
  }
  struct Call {
    ProcessSpec spec;
    ProcessCallback done;
  };
  std::deque<Call> calls;
};

ProcessResult exited(int status, std::string out, std::string err = "") {
  ProcessResult r;
  r.exit_status = status;
  r.out = std::move(out);
  r.err = std::move(err);
  return r;
}

class AzureCliTest : public ::testing::Test {
 protected:
  FakeRuntime runtime;  // 1'800'000'000
  FakeRunner runner;
  std::optional<Result<AccessToken>> got;
  TokenCallback collect() {
    return [this](Result<AccessToken> r) { got = std::move(r); };
  }
};

TEST_F(AzureCliTest, RunsAzWithTheResourceTenantAndSubscription) {
  AzureCliSource source(runtime, runner, AzureCli{"cli", "/opt/az/bin/az", "t-1", "sub 2"});
  source.fetch("2ff814a6-3304-4ab8-85cb-cd0e6f879c1d", collect());
  ASSERT_EQ(runner.calls.size(), 1u);
  const ProcessSpec& spec = runner.calls.front().spec;
  EXPECT_EQ(spec.program, "/opt/az/bin/az");
  EXPECT_EQ(spec.args,
            (std::vector<std::string>{"account", "get-access-token", "--resource",
                                      "2ff814a6-3304-4ab8-85cb-cd0e6f879c1d", "--output", "json",
                                      "--tenant", "t-1", "--subscription", "sub 2"}));
  EXPECT_EQ(spec.timeout, kAzTimeout);
  runner.answer(exited(0, R"({"accessToken":"tok","expires_on":1800003000,"tokenType":"Bearer"})"));
  ASSERT_TRUE(got && got->ok()) << got->error().message;
  EXPECT_EQ((*got)->value, "tok");
  EXPECT_EQ(to_unix_seconds((*got)->expires_at), 1800003000);
}

TEST_F(AzureCliTest, DefaultsLeaveOutTenantAndSubscription) {
  AzureCliSource source(runtime, runner, AzureCli{"cli", "az", std::nullopt, std::nullopt});
  source.fetch("https://management.core.windows.net/", collect());
  EXPECT_EQ(runner.calls.front().spec.args.size(), 6u);
  EXPECT_EQ(runner.calls.front().spec.program, "az");
}

TEST_F(AzureCliTest, NotLoggedInBecomesAClearInstruction) {
  AzureCliSource source(runtime, runner, AzureCli{"cli", "az", std::nullopt, std::nullopt});
  source.fetch("r", collect());
  runner.answer(exited(1, "", "ERROR: Please run 'az login' to setup account.\n"));
  ASSERT_TRUE(got && !got->ok());
  EXPECT_EQ(got->error().code, ErrorCode::upstream_unavailable);
  EXPECT_NE(got->error().message.find("run `az login`"), std::string::npos);
}

TEST_F(AzureCliTest, TimeoutMissingProgramAndGarbageAreErrors) {
  AzureCliSource source(runtime, runner, AzureCli{"cli", "az", std::nullopt, std::nullopt});
  source.fetch("r", collect());
  ProcessResult killed;
  killed.timed_out = true;
  killed.term_signal = 9;
  runner.answer(killed);
  ASSERT_TRUE(got && !got->ok());
  EXPECT_NE(got->error().message.find("did not answer within 15 s"), std::string::npos);

  source.fetch("r", collect());
  runner.answer(make_error(ErrorCode::internal, "could not run az: spawn: No such file"));
  ASSERT_TRUE(got && !got->ok());
  EXPECT_EQ(got->error().code, ErrorCode::upstream_unavailable);
  EXPECT_NE(got->error().message.find("az_path"), std::string::npos);

  source.fetch("r", collect());
  runner.answer(exited(0, "WARNING: not json"));
  ASSERT_TRUE(got && !got->ok());
  EXPECT_NE(got->error().message.find("not JSON"), std::string::npos);
}

TEST_F(AzureCliTest, ErrorsNeverQuoteTheToken) {
  AzureCliSource source(runtime, runner, AzureCli{"cli", "az", std::nullopt, std::nullopt});
  source.fetch("r", collect());
  runner.answer(exited(0, R"({"accessToken":"SECRET-TOKEN","expiresOn":"N/A"})"));
  ASSERT_TRUE(got && !got->ok());
  EXPECT_EQ(got->error().message.find("SECRET-TOKEN"), std::string::npos);
}

}  // namespace
}  // namespace dbx
