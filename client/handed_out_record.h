// What `databricks-auth --force-refresh` compares with: the expiry of the token it last handed to
// this user for each workspace, kept in a small file of the user's own (no token in it, only a
// UNIX time). A missing, unreadable or foreign file reads as "nothing handed out yet", which makes
// --force-refresh a plain request: the record saves PAT mints, it guards no secret.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace dbx::cli {

class HandedOutRecord {
 public:
  virtual ~HandedOutRecord() = default;
  // expires_at (UNIX seconds) of the token last handed out for `workspace`, if known.
  virtual std::optional<std::int64_t> last(const std::string& workspace) = 0;
  // Best effort: a record that cannot be written only costs an extra refresh later.
  virtual void remember(const std::string& workspace, std::int64_t expires_at) = 0;
};

// Files `<dir>/databricks-auth.<workspace>` in `dir` ($XDG_RUNTIME_DIR/dbxcred, else
// $HOME/.cache/dbxcred; see record_dir()). The directory is created 0700; one that is not a
// directory owned by this uid, or that others may write to, is not used.
class FileHandedOutRecord : public HandedOutRecord {
 public:
  explicit FileHandedOutRecord(std::optional<std::string> dir) : dir_(std::move(dir)) {}
  std::optional<std::int64_t> last(const std::string& workspace) override;
  void remember(const std::string& workspace, std::int64_t expires_at) override;

  static std::optional<std::string> record_dir(const std::optional<std::string>& xdg_runtime_dir,
                                               const std::optional<std::string>& home);

 private:
  bool usable_dir(bool create);
  std::string file_for(const std::string& workspace) const;
  std::optional<std::string> dir_;
};

}  // namespace dbx::cli
