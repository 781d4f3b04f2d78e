// common/entra_reach: where an Entra token reaches, and the config rule built on it (issue 21,
// part 1; docs/SECURITY.md "Workspaces sharing a credential").
#include "common/entra_reach.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace dbx {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

AllowList uids(std::vector<std::uint32_t> u) {
  return AllowList{{}, {}, std::move(u)};
}

TEST(AdmitsAllOf, NoAllowListAdmitsEveryone) {
  EXPECT_TRUE(admits_all_of(std::nullopt, std::nullopt));
  EXPECT_TRUE(admits_all_of(std::nullopt, uids({1001})));
  EXPECT_FALSE(admits_all_of(uids({1001}), std::nullopt));
}

TEST(AdmitsAllOf, ListsAreComparedAsSetsWhateverTheOrder) {
  const AllowList a{{"alice", "bob"}, {"ci"}, {1001, 1002}};
  const AllowList b{{"bob", "alice", "bob"}, {"ci"}, {1002, 1001}};
  EXPECT_TRUE(admits_all_of(a, b));
  EXPECT_TRUE(admits_all_of(b, a));
  EXPECT_TRUE(admits_all_of(AllowList{{"alice", "bob"}, {}, {}}, AllowList{{"bob"}, {}, {}}));
  EXPECT_FALSE(admits_all_of(AllowList{{"bob"}, {}, {}}, AllowList{{"alice", "bob"}, {}, {}}));
  EXPECT_FALSE(admits_all_of(AllowList{{}, {"ci"}, {}}, AllowList{{}, {"ci", "ops"}, {}}));
  EXPECT_FALSE(admits_all_of(uids({1001}), uids({1001, 1002})));
}

TEST(AdmitsAllOf, NamesAreNotResolvedToUids) {
  // "builder" may well be uid 1001, but the configuration alone cannot tell: not the same.
  EXPECT_FALSE(admits_all_of(AllowList{{"builder"}, {}, {}}, uids({1001})));
}

TEST(AdmitsAllOf, AnEmptyListAdmitsNobody) {
  EXPECT_TRUE(admits_all_of(uids({1001}), AllowList{}));
  EXPECT_FALSE(admits_all_of(AllowList{}, uids({1001})));
}

TEST(AdmitsAllOf, ExecutablesMustCoverEveryProgramOfTheInnerList) {
  const ExecutableRule cli{"/usr/bin/databricks", std::nullopt};
  const ExecutableRule pinned{"/usr/bin/databricks", std::string(64, 'a')};
  const ExecutableRule other_hash{"/usr/bin/databricks", std::string(64, 'b')};
  const ExecutableRule deploy{"/opt/ci/deploy", std::nullopt};
  auto with = [](std::vector<ExecutableRule> e) { return AllowList{{}, {}, {1001}, std::move(e)}; };
  EXPECT_TRUE(admits_all_of(uids({1001}), with({cli})));   // any program covers one
  EXPECT_FALSE(admits_all_of(with({cli}), uids({1001})));  // one does not cover any
  EXPECT_TRUE(admits_all_of(with({cli, deploy}), with({deploy})));
  EXPECT_FALSE(admits_all_of(with({deploy}), with({cli, deploy})));
  EXPECT_TRUE(admits_all_of(with({cli}), with({pinned})));   // the path without a hash
  EXPECT_FALSE(admits_all_of(with({pinned}), with({cli})));  // a hash narrows it
  EXPECT_FALSE(admits_all_of(with({pinned}), with({other_hash})));
}

TEST(AdmitsAllOf, ExecutablesOnlyListsAdmitAnyIdentity) {
  const AllowList any_user_of_cli{
      {}, {}, {}, {ExecutableRule{"/usr/bin/databricks", std::nullopt}}};
  const AllowList bob_with_cli{
      {"bob"}, {}, {}, {ExecutableRule{"/usr/bin/databricks", std::nullopt}}};
  EXPECT_TRUE(admits_all_of(any_user_of_cli, bob_with_cli));
  EXPECT_FALSE(admits_all_of(bob_with_cli, any_user_of_cli));
}

CredentialConfig credential(CredentialType type) {
  CredentialConfig c;
  c.name = "sp";
  c.type = type;
  return c;
}

WorkspaceConfig workspace(const std::string& name, std::optional<AllowList> allow,
                          bool serve_entra_token = true) {
  WorkspaceConfig w;
  w.name = name;
  w.credential = "sp";
  w.allow = std::move(allow);
  w.serve_entra_token = serve_entra_token;
  return w;
}

Config two_workspaces(CredentialType type, WorkspaceConfig a, WorkspaceConfig b) {
  Config c;
  c.credentials.emplace("sp", credential(type));
  c.workspaces.emplace(a.name, std::move(a));
  c.workspaces.emplace(b.name, std::move(b));
  return c;
}

TEST(EntraReach, DifferentAllowListsOnOneCredentialAreOneLineNamingBothAndTheCredential) {
  const Config c = two_workspaces(CredentialType::client_secret, workspace("open", uids({1001})),
                                  workspace("closed", uids({1002})));
  const auto lines = entra_reach_problems(c);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_THAT(lines[0], HasSubstr("workspaces.closed.serve_entra_token, "
                                  "workspaces.open.serve_entra_token: "));
  EXPECT_THAT(lines[0], HasSubstr("share credential sp"));
  EXPECT_THAT(lines[0], HasSubstr("set \"serve_entra_token\": false on closed and open"));
}

TEST(EntraReach, OnlyTheWorkspaceWhoseTokenReachesFewerUsersMustTurnItOff) {
  // closed admits uid 1002 only; open admits 1001 and 1002: closed's token reaches nobody new.
  const Config c =
      two_workspaces(CredentialType::client_secret, workspace("open", uids({1001, 1002})),
                     workspace("closed", uids({1002})));
  const auto lines = entra_reach_problems(c);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_THAT(lines[0], HasSubstr("workspaces.open.serve_entra_token: "));
  EXPECT_THAT(lines[0], Not(HasSubstr("workspaces.closed.serve_entra_token")));
  EXPECT_THAT(lines[0], HasSubstr("an Entra token served on open reaches closed"));
}

TEST(EntraReach, ServeEntraTokenFalseWhereItReachesFurtherIsAccepted) {
  EXPECT_THAT(entra_reach_problems(two_workspaces(CredentialType::client_secret,
                                                  workspace("open", uids({1001, 1002}), false),
                                                  workspace("closed", uids({1002})))),
              IsEmpty());
  EXPECT_THAT(entra_reach_problems(two_workspaces(CredentialType::azure_cli,
                                                  workspace("open", uids({1001}), false),
                                                  workspace("closed", uids({1002}), false))),
              IsEmpty());
  // Turning it off on the other one is not enough.
  EXPECT_THAT(entra_reach_problems(two_workspaces(CredentialType::client_secret,
                                                  workspace("open", uids({1001, 1002})),
                                                  workspace("closed", uids({1002}), false))),
              ElementsAre(HasSubstr("workspaces.open.serve_entra_token: ")));
}

TEST(EntraReach, TheSameListOrNoListIsAccepted) {
  EXPECT_THAT(entra_reach_problems(two_workspaces(CredentialType::client_secret,
                                                  workspace("a", uids({1001, 1002})),
                                                  workspace("b", uids({1002, 1001})))),
              IsEmpty());
  EXPECT_THAT(entra_reach_problems(two_workspaces(CredentialType::managed_identity,
                                                  workspace("a", std::nullopt),
                                                  workspace("b", std::nullopt))),
              IsEmpty());
  // a (everyone) reaches b (uid 1001 only): refused.
  EXPECT_THAT(entra_reach_problems(two_workspaces(CredentialType::managed_identity,
                                                  workspace("a", std::nullopt),
                                                  workspace("b", uids({1001})))),
              ElementsAre(HasSubstr("workspaces.a.serve_entra_token: ")));
}

TEST(EntraReach, DatabricksOAuthTokensAreBoundToTheirWorkspaceAndNotAffected) {
  for (CredentialType type :
       {CredentialType::databricks_oauth, CredentialType::databricks_federation}) {
    EXPECT_THAT(entra_reach_problems(two_workspaces(type, workspace("open", uids({1001})),
                                                    workspace("closed", uids({1002})))),
                IsEmpty());
  }
}

TEST(EntraReach, WorkspacesOnDifferentCredentialsDoNotMeet) {
  Config c = two_workspaces(CredentialType::client_secret, workspace("open", uids({1001})),
                            workspace("closed", uids({1002})));
  c.credentials.emplace("other", credential(CredentialType::client_secret));
  c.workspaces.at("closed").credential = "other";
  EXPECT_THAT(entra_reach_problems(c), IsEmpty());
}

TEST(ServedTokenKinds, ByCredentialTypePatAndTheKey) {
  const CredentialConfig sp = credential(CredentialType::client_secret);
  const CredentialConfig dbx = credential(CredentialType::databricks_oauth);
  WorkspaceConfig w = workspace("w", std::nullopt);
  EXPECT_THAT(served_token_kinds(w, &sp), ElementsAre("pat", "aad"));
  EXPECT_THAT(served_token_kinds(w, &dbx), ElementsAre("pat", "oauth"));
  w.serve_entra_token = false;
  EXPECT_THAT(served_token_kinds(w, &sp), ElementsAre("pat"));
  w.pat.enabled = false;
  EXPECT_THAT(served_token_kinds(w, &dbx), ElementsAre("oauth"));
  EXPECT_THAT(served_token_kinds(w, nullptr), IsEmpty());
}

}  // namespace
}  // namespace dbx
