// The emulator's TLS material: a test CA (loaded, reused from the state directory, or generated
// there with OpenSSL 3's EVP APIs) and a fresh server certificate it signs for localhost and
// 127.0.0.1 (plus any extra SANs). Throws std::runtime_error with a readable message on failure.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace emu {

struct TlsMaterial {
  std::string ca_file;          // absolute path of the CA certificate clients should trust
  std::string server_cert_pem;  // server certificate followed by the CA certificate
  std::string server_key_pem;
};

TlsMaterial prepare_tls(const std::filesystem::path& state_dir,
                        const std::optional<std::filesystem::path>& ca_cert,
                        const std::optional<std::filesystem::path>& ca_key,
                        const std::vector<std::string>& extra_sans);

}  // namespace emu
