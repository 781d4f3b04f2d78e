#include "daemon/credentials/azure_cli_source.h"

#include "daemon/credentials/az_cli_output.h"

namespace dbx {

std::vector<std::string> az_token_args(const AzureCli& cli, const std::string& resource) {
  std::vector<std::string> args{"account", "get-access-token", "--resource",
                                resource,  "--output",         "json"};
  if (cli.tenant_id) {
    args.push_back("--tenant");
    args.push_back(*cli.tenant_id);
  }
  if (cli.subscription) {
    args.push_back("--subscription");
    args.push_back(*cli.subscription);
  }
  return args;
}

AzureCliSource::AzureCliSource(Runtime& runtime, ProcessRunner& runner, AzureCli cli)
    : runtime_(runtime), runner_(runner), cli_(std::move(cli)) {}

void AzureCliSource::fetch(const std::string& resource, TokenCallback done) {
  ProcessSpec spec;
  spec.program = cli_.az_path;
  spec.args = az_token_args(cli_, resource);
  spec.timeout = kAzTimeout;
  std::weak_ptr<int> weak = alive_;
  runner_.run(std::move(spec), [this, weak, done = std::move(done)](Result<ProcessResult> r) {
    if (weak.expired()) return;
    const std::string prefix =
        "Azure CLI (credential " + cli_.credential + ", " + cli_.az_path + ")";
    if (!r) {
      Error e = r.error();
      e.code = ErrorCode::upstream_unavailable;
      e.message = prefix + ": " + e.message + " — is the Azure CLI installed and az_path right?";
      return done(std::move(e));
    }
    if (r->timed_out)
      return done(make_error(ErrorCode::upstream_unavailable,
                             prefix + " did not answer within " +
                                 std::to_string(kAzTimeout.count() / 1000) + " s and was killed"));
    if (r->term_signal != 0)
      return done(make_error(ErrorCode::upstream_unavailable,
                             prefix + " was killed by signal " + std::to_string(r->term_signal)));
    if (r->exit_status != 0) return done(az_failure(r->exit_status, r->err, cli_.credential));
    auto t = parse_az_token_output(r->out, runtime_.now());
    if (!t) {
      Error e = t.error();
      e.message = prefix + ": " + e.message;
      return done(std::move(e));
    }
    done(std::move(t));
  });
}

}  // namespace dbx
