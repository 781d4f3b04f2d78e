// The configuration most daemon unit tests start from: instance "test", a fake Entra authority
// (https://login.example, the FakeTransport's to answer), one client-secret service principal
// "sp" (tenant "tenant", client "client", secret "s3cret") and workspaces on it.
#pragma once

#include <string>

#include "common/config.h"

namespace dbx::testing {

inline CredentialConfig secret_sp(const std::string& name = "sp") {
  CredentialConfig sp;
  sp.name = name;
  sp.type = CredentialType::client_secret;
  sp.tenant_id = "tenant";
  sp.client_id = "client";
  sp.client_secret = "s3cret";
  return sp;
}

// A workspace of `credential` at a static host; PATs on (the config default).
inline WorkspaceConfig workspace_on(const std::string& name, const std::string& credential = "sp",
                                    const std::string& host = "https://adb-1.azuredatabricks.net") {
  WorkspaceConfig ws;
  ws.name = name;
  ws.credential = credential;
  ws.host = host;
  return ws;
}

// Instance "test", the fake authority and management resource, credential "sp", no workspace.
inline Config config_with_sp() {
  Config c;
  c.instance = "test";
  c.endpoints.authority = "https://login.example";
  c.endpoints.management_resource = "https://management.core.windows.net/";
  c.credentials["sp"] = secret_sp();
  return c;
}

}  // namespace dbx::testing
