// The emulator's request handling, independent of the network: classify a request, count it and
// pick its fault (admit), then answer it (handle). server.cpp waits out a fault's delay between
// the two, so a delayed request is still really handled at the end of its delay.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include <boost/json/value.hpp>

#include "tests/emulator/faults.h"
#include "tests/emulator/http_types.h"
#include "tests/emulator/state.h"

namespace emu {

struct Admission {
  std::optional<Endpoint> endpoint;  // nullopt: control API or unknown path (never faulted)
  std::optional<Fault> fault;
  std::int64_t delay_ms() const { return fault ? fault->delay_ms : 0; }
  bool drop() const { return fault && fault->drop; }
};

class Emulator {
 public:
  Admission admit(const HttpRequest& req, TimePoint now);
  HttpResponse handle(const HttpRequest& req, const Admission& admission, TimePoint now);

  // Exposed for tests of the handlers without the network.
  State& state() { return state_; }

 private:
  HttpResponse dispatch(const HttpRequest& req, std::optional<Endpoint> endpoint, TimePoint now);
  HttpResponse injected(Endpoint endpoint, const Fault& fault) const;

  // azure_handlers.cpp
  HttpResponse handle_aad(const HttpRequest& req, TimePoint now);
  HttpResponse handle_imds(const HttpRequest& req, TimePoint now);
  HttpResponse handle_arm(const HttpRequest& req, TimePoint now);
  // databricks_handlers.cpp
  HttpResponse handle_databricks(const HttpRequest& req, Endpoint endpoint, TimePoint now);
  // oidc_handlers.cpp
  HttpResponse handle_oidc_discovery(const HttpRequest& req, TimePoint now);
  HttpResponse handle_oidc_token(const HttpRequest& req, TimePoint now);
  HttpResponse handle_oidc_control(const HttpRequest& req, TimePoint now);
  // The principal of a Databricks OAuth token issued by `host`, if it is live.
  std::optional<std::string> oauth_principal(std::string_view host, std::string_view token,
                                             TimePoint now) const;
  // ci_oidc_handlers.cpp
  HttpResponse handle_github_oidc(const HttpRequest& req, TimePoint now);
  HttpResponse handle_ado_oidc(const HttpRequest& req, TimePoint now);
  HttpResponse handle_ci_control(const HttpRequest& req, TimePoint now);
  // control_handlers.cpp
  HttpResponse handle_control(const HttpRequest& req, TimePoint now);

  State state_;
  FaultTable faults_;
  Counters counters_;
};

// Which emulated endpoint a request is for (by path only); nullopt for anything else.
std::optional<Endpoint> classify(const HttpRequest& req);

// The token of an `Authorization: Bearer <token>` header (scheme case-insensitive), else "".
std::string bearer_token(const HttpRequest& req);

HttpResponse json_reply(int status, const boost::json::value& body);
// Entra ID's error body: {"error","error_description":"AADSTSnnn: …\r\nTrace ID:
// …","error_codes",…}
HttpResponse aad_error(int status, std::string_view error, long code, std::string_view text,
                       TimePoint now);
// Databricks' error body: {"error_code":…,"message":…}; error_code a string or an integer.
HttpResponse databricks_error(int status, const boost::json::value& error_code,
                              std::string_view message);
// ARM's error body: {"error":{"code","message"}}.
HttpResponse arm_error(int status, std::string_view code, std::string_view message);

}  // namespace emu
