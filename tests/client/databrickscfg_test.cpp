#include "client/databrickscfg.h"

#include <gtest/gtest.h>

#include "tests/temp_dir.h"

namespace dbx::cli {
namespace {

constexpr const char* kConfig =
    "; a comment\n"
    "[DEFAULT]\n"
    "host = https://adb-default.azuredatabricks.net\n"
    "\n"
    "[prod]\r\n"
    "  HOST=https://adb-1.azuredatabricks.net/  \r\n"
    "auth_type = databricks-cli\n"
    "# host = https://commented.example\n"
    "[prod-2]\n"
    "token = dapi-not-read\n";

TEST(Databrickscfg, ProfileHost) {
  EXPECT_EQ(profile_host(kConfig, "prod"), "https://adb-1.azuredatabricks.net/");
  EXPECT_EQ(profile_host(kConfig, "DEFAULT"), "https://adb-default.azuredatabricks.net");
  EXPECT_EQ(profile_host(kConfig, "prod-2"), std::nullopt);  // no host: not DEFAULT's
  EXPECT_EQ(profile_host(kConfig, "missing"), std::nullopt);
  EXPECT_EQ(profile_host(kConfig, "Prod"), std::nullopt);  // section names are exact
}

TEST(Databrickscfg, Path) {
  EXPECT_EQ(databrickscfg_path(std::nullopt, "/home/u"), "/home/u/.databrickscfg");
  EXPECT_EQ(databrickscfg_path("/etc/cfg", "/home/u"), "/etc/cfg");
  EXPECT_EQ(databrickscfg_path("~/x.cfg", "/home/u"), "/home/u/x.cfg");
  EXPECT_EQ(databrickscfg_path(std::nullopt, std::nullopt), std::nullopt);
}

TEST(Databrickscfg, ReadNamesFileAndProfileNeverValues) {
  dbx::testing::TempDir dir;
  const std::string path = dir.write("cfg", kConfig);
  auto host = read_profile_host(path, "prod");
  ASSERT_TRUE(host.ok()) << host.error().message;
  EXPECT_EQ(*host, "https://adb-1.azuredatabricks.net/");
  auto none = read_profile_host(path, "prod-2");
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.error().message.find("prod-2"), std::string::npos);
  EXPECT_NE(none.error().message.find(path), std::string::npos);
  EXPECT_EQ(none.error().message.find("dapi"), std::string::npos);
  EXPECT_FALSE(read_profile_host(dir / "absent", "prod").ok());
}

}  // namespace
}  // namespace dbx::cli
