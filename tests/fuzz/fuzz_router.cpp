// libFuzzer target: the socket's request router (Router::handle) with a real Broker over a fake
// runtime and a transport that answers every token request. Input: method line, target line, one
// byte picking the peer's uid.
#include <cstdint>
#include <optional>

#include <spdlog/spdlog.h>

#include "daemon/broker.h"
#include "daemon/server/router.h"
#include "tests/daemon/fake_runtime.h"
#include "tests/daemon/fake_transport.h"
#include "tests/fuzz/fuzz_input.h"

namespace {

dbx::Config fuzz_config() {
  dbx::Config c;
  c.instance = "fuzz";
  c.endpoints.authority = "https://login.example";
  c.endpoints.management_resource = "https://management.core.windows.net/";
  dbx::CredentialConfig sp;
  sp.name = "sp";
  sp.type = dbx::CredentialType::client_secret;
  sp.tenant_id = "tenant";
  sp.client_id = "client";
  sp.client_secret = "s3cret";
  c.credentials["sp"] = sp;
  dbx::WorkspaceConfig open;
  open.name = "open";
  open.credential = "sp";
  open.host = "https://adb-1.azuredatabricks.net";
  open.pat.enabled = false;
  c.workspaces["open"] = open;
  dbx::WorkspaceConfig closed = open;
  closed.name = "closed";
  closed.allow = dbx::AllowList{{"nobody-by-this-name"}, {}, {4242}, {}};
  c.workspaces["closed"] = closed;
  return c;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  spdlog::set_level(spdlog::level::off);  // the broker logs every token it fetches
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  dbx::fuzz::Input in(data, size);
  const uid_t uid = (in.byte() & 1) ? 4242 : 1000;
  const std::string method(in.line());
  const std::string target(in.line());

  dbx::testing::FakeRuntime rt;
  dbx::testing::FakeTransport transport;
  transport.set_auto_answer([](const dbx::HttpRequest&) -> dbx::Result<dbx::HttpResponse> {
    dbx::HttpResponse res;
    res.status = 200;
    res.body = R"({"access_token":"tok","expires_in":"3599","token_type":"Bearer"})";
    return res;
  });
  auto broker = std::make_shared<dbx::Broker>(rt, transport, fuzz_config());
  dbx::Router router(
      rt, [&broker] { return broker; }, rt.now());

  dbx::PeerIdentity peer;
  peer.uid = uid;
  peer.gid = uid;
  int answers = 0;
  std::optional<dbx::ApiResponse> out;
  router.handle(dbx::ApiRequest{method, target}, peer, [&](dbx::ApiResponse r) {
    ++answers;
    out = std::move(r);
  });
  rt.run_ready();
  rt.advance(dbx::Millis(60'000));
  DBX_FUZZ_CHECK(answers == 1);
  DBX_FUZZ_CHECK(out->status >= 200 && out->status <= 599);
  // The client secret never appears in an answer (unless the client sent it: a 404 quotes the
  // path).
  if (target.find("s3cret") == std::string::npos)
    DBX_FUZZ_CHECK(out->body.find("s3cret") == std::string::npos);
  return 0;
}
