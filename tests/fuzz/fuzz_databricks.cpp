// libFuzzer target: Databricks REST answers — token/create, token/list, token/delete through the
// real DatabricksTokenApi over a transport that answers with the input — and the error helpers.
#include <spdlog/spdlog.h>

#include <cstdint>

#include "daemon/databricks/databricks_errors.h"
#include "daemon/databricks/databricks_token_api.h"
#include "tests/daemon/fake_transport.h"
#include "tests/fuzz/fuzz_input.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  spdlog::set_level(spdlog::level::off);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  dbx::fuzz::Input in(data, size);
  const std::uint8_t which = in.byte();
  const int status = dbx::fuzz::status_from(in.byte());
  const std::string_view retry_after = in.line();
  const std::string body(in.rest());

  dbx::HttpResponse answer;
  answer.status = status;
  answer.body = body;
  if (!retry_after.empty()) answer.headers.emplace_back("Retry-After", std::string(retry_after));

  dbx::testing::FakeTransport transport;
  transport.set_auto_answer([&](const dbx::HttpRequest&) { return answer; });
  dbx::DatabricksTokenApi api(transport, "https://adb-1.2.azuredatabricks.net", [](auto done) {
    done(dbx::HttpHeaders{{"Authorization", "Bearer t"}});
  });
  bool called = false;
  switch (which % 3) {
    case 0:
      api.create(dbx::WorkspaceHeaders{"https://adb-1.2.azuredatabricks.net",
                                       dbx::TimePoint::max(),
                                       {{"Authorization", "Bearer t"}}},
                 dbx::Seconds(3600), "dbxcred fuzz", [&](dbx::Result<dbx::MintedPat> r) {
                   called = true;
                   if (r) {
                     DBX_FUZZ_CHECK(!r->value.empty());
                     DBX_FUZZ_CHECK(!r->info.token_id.empty());
                   }
                 });
      break;
    case 1:
      api.list([&](dbx::Result<std::vector<dbx::PatInfo>> r) {
        called = true;
        if (r)
          for (const auto& p : *r) DBX_FUZZ_CHECK(!p.token_id.empty());
      });
      break;
    default:
      api.remove("id-1", [&](dbx::Status) { called = true; });
      break;
  }
  DBX_FUZZ_CHECK(called);

  (void)dbx::databricks::parse_error_body(body);
  (void)dbx::databricks::parse_retry_after(answer);
  dbx::Error e =
      dbx::databricks::error_from_response("adb-1.2.azuredatabricks.net", "token/list", answer);
  DBX_FUZZ_CHECK(!e.message.empty());
  (void)dbx::databricks::redact_secrets(body);
  return 0;
}
