// reload_plan: what a reload keeps, builds anew and retires, as a pure function of two configs.
#include "daemon/workspace/reload_plan.h"

#include <gtest/gtest.h>

namespace dbx {
namespace {

using Names = std::set<std::string>;

Config base() {
  Config c;
  c.instance = "agent";
  c.state_dir = "/var/lib/dbxcred";
  CredentialConfig sp;
  sp.name = "sp";
  sp.tenant_id = "t";
  sp.client_id = "c";
  c.credentials["sp"] = sp;
  CredentialConfig mi;
  mi.name = "mi";
  mi.type = CredentialType::managed_identity;
  c.credentials["mi"] = mi;
  WorkspaceConfig prod;
  prod.name = "prod";
  prod.credential = "sp";
  prod.host = "https://adb-1.azuredatabricks.net";
  c.workspaces["prod"] = prod;
  WorkspaceConfig arm = prod;
  arm.name = "arm";
  arm.credential = "mi";
  arm.host.reset();
  arm.resource_id = "/subscriptions/s/resourceGroups/r/providers/Microsoft.Databricks/workspaces/w";
  c.workspaces["arm"] = arm;
  return c;
}

TEST(ReloadPlan, AnUnchangedConfigKeepsEverything) {
  const auto p = reload_plan(base(), base());
  EXPECT_EQ(p.kept_credentials, (Names{"mi", "sp"}));
  EXPECT_EQ(p.kept_workspaces, (Names{"arm", "prod"}));
  EXPECT_TRUE(p.new_credentials.empty() && p.retired_credentials.empty());
  EXPECT_TRUE(p.new_workspaces.empty() && p.retired_workspaces.empty());
}

TEST(ReloadPlan, AllowListServeEntraTokenAndPatPolicyChangesKeepTheWorkspace) {
  Config next = base();
  next.workspaces["prod"].allow = AllowList{{"alice"}, {}, {}};
  next.workspaces["prod"].serve_entra_token = false;  // applied by Workspace::reconfigure
  next.workspaces["prod"].pat.lifetime = Seconds(7200);
  next.workspaces["prod"].pat.max_active = 5;
  const auto p = reload_plan(base(), next);
  EXPECT_EQ(p.kept_workspaces, (Names{"arm", "prod"}));
}

TEST(ReloadPlan, IdentityChangesRetireAndRebuildTheWorkspace) {
  auto changed = [](auto edit) {
    Config next = base();
    edit(next);
    return reload_plan(base(), next);
  };
  for (const auto& p : {
           changed(
               [](Config& c) { c.workspaces["prod"].host = "https://adb-2.azuredatabricks.net"; }),
           changed([](Config& c) { c.workspaces["prod"].management_token = true; }),
           changed([](Config& c) { c.workspaces["prod"].pat.enabled = false; }),
           changed([](Config& c) { c.workspaces["prod"].credential = "mi"; }),
           changed([](Config& c) { c.workspaces["prod"].resource_id = "/subscriptions/x"; }),
       }) {
    EXPECT_EQ(p.kept_workspaces, Names{"arm"});
    EXPECT_EQ(p.retired_workspaces, Names{"prod"});
    EXPECT_EQ(p.new_workspaces, Names{"prod"});
  }
  // state_dir and instance: every workspace (its ledger file, its PAT comments).
  for (const auto& p : {changed([](Config& c) { c.state_dir = "/srv/dbxcred"; }),
                        changed([](Config& c) { c.instance = "other"; })}) {
    EXPECT_TRUE(p.kept_workspaces.empty());
    EXPECT_EQ(p.retired_workspaces, (Names{"arm", "prod"}));
    EXPECT_EQ(p.kept_credentials, (Names{"mi", "sp"})) << "tokens do not depend on them";
  }
}

TEST(ReloadPlan, AChangedCredentialTakesItsWorkspacesAlong) {
  Config next = base();
  next.credentials["sp"].client_id = "another";
  const auto p = reload_plan(base(), next);
  EXPECT_EQ(p.kept_credentials, Names{"mi"});
  EXPECT_EQ(p.new_credentials, Names{"sp"});
  EXPECT_EQ(p.retired_credentials, Names{"sp"});
  EXPECT_EQ(p.kept_workspaces, Names{"arm"});
  EXPECT_EQ(p.retired_workspaces, Names{"prod"});
  EXPECT_EQ(p.new_workspaces, Names{"prod"});
}

TEST(ReloadPlan, EndpointsAndDeadlineRebuildEveryCredential) {
  Config next = base();
  next.endpoints.authority = "https://login.other";
  EXPECT_TRUE(reload_plan(base(), next).kept_credentials.empty());
  next = base();
  next.request_deadline = Seconds(99);
  const auto p = reload_plan(base(), next);
  EXPECT_TRUE(p.kept_credentials.empty());
  EXPECT_TRUE(p.kept_workspaces.empty());
}

TEST(ReloadPlan, AddedAndRemovedNames) {
  Config next = base();
  next.workspaces.erase("arm");
  next.credentials.erase("mi");
  WorkspaceConfig dev = next.workspaces["prod"];
  dev.name = "dev";
  next.workspaces["dev"] = dev;
  const auto p = reload_plan(base(), next);
  EXPECT_EQ(p.kept_workspaces, Names{"prod"});
  EXPECT_EQ(p.new_workspaces, Names{"dev"});
  EXPECT_EQ(p.retired_workspaces, Names{"arm"});
  EXPECT_EQ(p.retired_credentials, Names{"mi"});
  EXPECT_EQ(p.kept_credentials, Names{"sp"});
}

}  // namespace
}  // namespace dbx
