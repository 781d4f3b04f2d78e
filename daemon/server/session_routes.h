// The socket API of CI sessions (daemon/session/session_registry.h; SPEC proposal in
// docs/CI.md):
//   POST   /v1/sessions           {"kind":"github"|"azure-devops","workspace","request_url",
//                                  "request_token","audience"?,"service_connection_id"?}
//          → {"session":"dbxs_…","id","workspace","issuer","subject","expires_at"}
//   DELETE /v1/sessions/current   with X-Dbxcred-Session → {"ended": id}
//   GET    /v1/workspaces/{ws}/token|aad|headers with X-Dbxcred-Session: the session's tokens.
// Kept out of router.cpp so that the router only dispatches here.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string_view>

#include "daemon/audit/audit_record.h"
#include "daemon/broker.h"
#include "daemon/server/peer.h"
#include "daemon/server/router.h"
#include "daemon/session/session_registry.h"

namespace dbx {

bool is_sessions_path(std::string_view path);

// POST /v1/sessions and DELETE /v1/sessions/current. `record` gets the session's description.
void answer_sessions(SessionRegistry* sessions, const std::shared_ptr<Broker>& broker,
                     const ApiRequest& request, std::string_view path, const PeerIdentity& peer,
                     const std::shared_ptr<AuditRecord>& record,
                     std::function<void(ApiResponse)> done);

// A workspace call carrying a session secret (`ws` already looked up). `min_valid` as asked.
void answer_session_call(SessionRegistry* sessions, const std::shared_ptr<Broker>& broker,
                         const Workspace& ws, std::string_view action,
                         std::optional<Seconds> min_valid, std::string_view secret,
                         const PeerIdentity& peer, const std::shared_ptr<AuditRecord>& record,
                         std::function<void(ApiResponse)> done);

// The 403 of a sessions-only workspace asked without a session secret.
Error session_required(const Workspace& ws);

}  // namespace dbx
