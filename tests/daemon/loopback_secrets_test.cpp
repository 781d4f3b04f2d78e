#include "daemon/loopback_secrets.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace dbx {
namespace {

class LoopbackSecretsTest : public ::testing::Test {
 protected:
  LoopbackSecretsTest()
      : dir(std::filesystem::temp_directory_path() /
            ("loopback-secrets-test-" + std::to_string(::getpid()))) {
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
  }
  ~LoopbackSecretsTest() override { std::filesystem::remove_all(dir); }
  std::string path(const char* name) const { return (dir / name).string(); }
  std::filesystem::path dir;
};

TEST_F(LoopbackSecretsTest, CreatedOnceWith256BitsAndMode0600ThenReadBack) {
  auto first = load_or_create_secret(path("s.secret"));
  ASSERT_TRUE(first) << first.error().message;
  EXPECT_EQ(first->size(), 64u);
  EXPECT_EQ(first->find_first_not_of("0123456789abcdef"), std::string::npos);
  struct stat st {};
  ASSERT_EQ(::stat(path("s.secret").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  auto again = load_or_create_secret(path("s.secret"));
  ASSERT_TRUE(again);
  EXPECT_EQ(*again, *first);  // survives a restart
  // Deleting the file rotates it.
  std::filesystem::remove(path("s.secret"));
  auto rotated = load_or_create_secret(path("s.secret"));
  ASSERT_TRUE(rotated);
  EXPECT_NE(*rotated, *first);
  // No temporary files left behind.
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir), {}), 1);
}

TEST_F(LoopbackSecretsTest, RefusesLooseModeAndGarbageNamingTheFix) {
  { std::ofstream(path("loose.secret")) << std::string(64, 'a') << "\n"; }
  ::chmod(path("loose.secret").c_str(), 0644);
  auto loose = load_or_create_secret(path("loose.secret"));
  ASSERT_FALSE(loose);
  EXPECT_NE(loose.error().message.find("chmod 600"), std::string::npos);
  EXPECT_EQ(loose.error().message.find(std::string(64, 'a')), std::string::npos);

  { std::ofstream(path("short.secret")) << "abc\n"; }
  ::chmod(path("short.secret").c_str(), 0600);
  auto garbage = load_or_create_secret(path("short.secret"));
  ASSERT_FALSE(garbage);
  EXPECT_NE(garbage.error().message.find("delete it"), std::string::npos);
}

TEST_F(LoopbackSecretsTest, OnlyConfiguredListenersGetASecret) {
  ListenConfig listen;
  listen.metadata_service = MetadataServiceListen{1234};
  auto s = load_loopback_secrets(dir.string(), listen);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->metadata_service.size(), 64u);
  EXPECT_TRUE(s->managed_identity.empty());
  EXPECT_TRUE(std::filesystem::exists(dir / kMetadataServiceSecretFile));
  EXPECT_FALSE(std::filesystem::exists(dir / kManagedIdentitySecretFile));
}

TEST_F(LoopbackSecretsTest, RotationReplacesTheChosenSecretsOnDiskStill0600) {
  ListenConfig listen;
  listen.metadata_service = MetadataServiceListen{1234};
  listen.managed_identity = ManagedIdentityListen{};
  auto before = load_loopback_secrets(dir.string(), listen);
  ASSERT_TRUE(before);
  auto md_only = rotate_loopback_secrets(dir.string(), listen, {true, false});
  ASSERT_TRUE(md_only) << md_only.error().message;
  EXPECT_NE(md_only->metadata_service, before->metadata_service);
  EXPECT_EQ(md_only->managed_identity, before->managed_identity);
  auto reread = load_loopback_secrets(dir.string(), listen);
  ASSERT_TRUE(reread);
  EXPECT_EQ(reread->metadata_service, md_only->metadata_service);  // survives a restart
  struct stat st {};
  ASSERT_EQ(::stat(path(kMetadataServiceSecretFile).c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  auto both = rotate_loopback_secrets(dir.string(), listen, {true, true});
  ASSERT_TRUE(both);
  EXPECT_NE(both->metadata_service, md_only->metadata_service);
  EXPECT_NE(both->managed_identity, before->managed_identity);
  // No temporary file is left beside them.
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir), {}), 2);
}

TEST(SecretMatches, ExactOnlyAndNeverEmpty) {
  EXPECT_TRUE(secret_matches("abc", "abc"));
  EXPECT_FALSE(secret_matches("abd", "abc"));
  EXPECT_FALSE(secret_matches("ab", "abc"));
  EXPECT_FALSE(secret_matches("abcd", "abc"));
  EXPECT_FALSE(secret_matches("", ""));
}

// Per-workspace metadata-service secrets: HMAC-SHA256 of the workspace name under the stored one.
TEST(WorkspaceSecret, DerivedPerWorkspaceStableAndOffWithoutAStoredSecret) {
  const std::string stored(64, 'a');
  const std::string a = workspace_secret(stored, "a");
  EXPECT_EQ(a.size(), 64u);
  EXPECT_EQ(a, workspace_secret(stored, "a"));
  EXPECT_NE(a, workspace_secret(stored, "b"));
  EXPECT_NE(a, workspace_secret(std::string(64, 'b'), "a")) << "rotates with the stored secret";
  EXPECT_NE(a, stored);
  EXPECT_EQ(workspace_secret("", "a"), "");
  EXPECT_FALSE(secret_matches("", workspace_secret("", "a")));
}

}  // namespace
}  // namespace dbx
