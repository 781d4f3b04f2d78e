#include "daemon/doctor/error_hints.h"

#include <gtest/gtest.h>

#include <string>

namespace dbx {
namespace {

TEST(ErrorHints, EntraCodesAreExplainedWithTheSettingToChange) {
  auto h = explain_upstream_error(
      "credential sp: Entra ID answered 401: invalid_client: AADSTS7000215: Invalid client secret "
      "provided.");
  ASSERT_TRUE(h);
  // Entra's own code says more than the OAuth error name before it.
  EXPECT_EQ(h->code, "AADSTS7000215");
  EXPECT_NE(std::string(h->fix).find("client_secret_file"), std::string::npos);
}

TEST(ErrorHints, EachDocumentedCodeHasItsOwnHint) {
  for (std::string_view code : {"AADSTS700016", "AADSTS700024", "AADSTS90002", "invalid_client",
                                "QUOTA_EXCEEDED", "AuthorizationFailed"}) {
    auto h = explain_upstream_error("upstream said " + std::string(code) + ": text");
    ASSERT_TRUE(h) << code;
    EXPECT_EQ(h->code, code);
    EXPECT_FALSE(h->meaning.empty());
    EXPECT_FALSE(h->fix.empty());
  }
  EXPECT_NE(explain_upstream_error("AADSTS700024")->meaning,
            explain_upstream_error("AADSTS700016")->meaning);
}

TEST(ErrorHints, ACodeMatchesOnlyAsAWholeWord) {
  // AADSTS70002 (unknown) is a prefix of AADSTS700024; AADSTS7000215 is not in AADSTS70002150.
  EXPECT_FALSE(explain_upstream_error("AADSTS70002150: something"));
  auto h = explain_upstream_error("AADSTS900023x AADSTS90002: tenant not found");
  ASSERT_TRUE(h);
  EXPECT_EQ(h->code, "AADSTS90002");
  EXPECT_FALSE(explain_upstream_error("my_invalid_client_thing"));
}

TEST(ErrorHints, AnOAuthErrorAloneIsExplainedAsTheWorkspaceOAuthRefusal) {
  auto h = explain_upstream_error(
      "credential dbx: the workspace answered 401: invalid_client: Client authentication failed");
  ASSERT_TRUE(h);
  EXPECT_EQ(h->code, "invalid_client");
  EXPECT_NE(std::string(h->fix).find("OAuth secret"), std::string::npos);
}

TEST(ErrorHints, UnknownTextHasNoHint) {
  EXPECT_FALSE(explain_upstream_error(""));
  EXPECT_FALSE(explain_upstream_error("connect to login.example: connection refused"));
}

}  // namespace
}  // namespace dbx
