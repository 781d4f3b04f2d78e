// The loopback listeners' secrets: the path segment of the metadata-service URL and the
// X-IDENTITY-HEADER of the managed-identity endpoint (the metadata-service URL carries a secret per
// workspace derived from the stored one: workspace_secret()). 256 random bits each, hex-encoded,
// kept in state_dir (mode 0600) so they survive restarts — SDK processes started before a restart
// keep working — and re-read on reload. Rotation: `dbxcred rotate-secrets`, a start that finds a
// listener's port taken (whoever holds it may have seen SDK requests), or deleting the file and
// sending SIGHUP (docs/SDK.md, docs/SECURITY.md).
// Handed out only through the socket (sdk-env, azure-env), so the socket's access rules decide
// who may use them; compared in constant time.
#pragma once

#include <string>
#include <string_view>

#include "common/config.h"
#include "common/result.h"

namespace dbx {

struct LoopbackSecrets {
  std::string metadata_service;  // "" when listen.metadata_service is not configured
  std::string managed_identity;  // "" when listen.managed_identity is not configured
};

// File names under state_dir.
inline constexpr const char* kMetadataServiceSecretFile = "metadata-service.secret";
inline constexpr const char* kManagedIdentitySecretFile = "managed-identity.secret";

// Reads the secret in `path`, or creates it (O_EXCL, 0600) with 256 fresh random bits. Refuses a
// file that others may read or that does not hold 64 hex digits, naming the file and the fix.
Result<std::string> load_or_create_secret(const std::string& path);

// Replaces the secret in `path` with 256 fresh random bits (0600, written aside, fsynced and
// renamed over the old file, so a reader sees the old secret or the new one, never a part).
Result<std::string> replace_secret(const std::string& path);

// Which secrets to replace: the metadata service's, the managed-identity endpoint's, or both.
struct SecretsToRotate {
  bool metadata_service = false;
  bool managed_identity = false;
};

// Replaces the chosen secrets of the listeners `listen` configures on disk; returns all the
// current secrets (the others as loaded). A listener that is not configured is not touched.
Result<LoopbackSecrets> rotate_loopback_secrets(const std::string& state_dir,
                                                const ListenConfig& listen, SecretsToRotate which);

// The secrets of the listeners `listen` configures (the others stay "").
Result<LoopbackSecrets> load_loopback_secrets(const std::string& state_dir,
                                              const ListenConfig& listen);

// The metadata-service secret of one workspace, handed out by sdk-env: hex of
// HMAC-SHA256(stored secret, "dbxcred metadata-service workspace:" + workspace). Derived, so it
// is as stable as the stored secret (restarts) and rotates with it; one workspace's secret tells
// nothing about another's or about the stored one. "" when `stored` is "" (listener off).
std::string workspace_secret(std::string_view stored, std::string_view workspace);

// Constant-time equality (CRYPTO_memcmp); an empty `expected` never matches.
bool secret_matches(std::string_view given, std::string_view expected);

}  // namespace dbx
