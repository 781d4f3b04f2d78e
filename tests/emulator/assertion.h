// Certificate client assertions (RFC 7523 JWTs signed with a registered certificate's key), as
// Entra ID checks them: thumbprint header, RS256/PS256 signature, aud/iss/sub, exp/nbf.
#pragma once

#include <openssl/types.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace emu {

struct CertificateKey {
  std::shared_ptr<EVP_PKEY> public_key;
  std::string x5t;       // base64url(SHA-1 of the DER), unpadded
  std::string x5t_s256;  // base64url(SHA-256 of the DER), unpadded
};

// Parses the first certificate of a PEM text; nullopt and `error` set when there is none.
std::optional<CertificateKey> load_certificate(std::string_view pem, std::string& error);

enum class AssertionFailure {
  none,
  malformed,       // not a JWT, bad JSON, unsupported alg
  key_not_found,   // thumbprint does not name the registered certificate
  bad_signature,   // signature does not verify with the registered key
  wrong_audience,  // aud is not this token endpoint
  wrong_subject,   // iss or sub is not the client id
  time_invalid,    // expired or not yet valid
};

struct AssertionCheck {
  AssertionFailure failure = AssertionFailure::none;
  std::string detail;  // human text for error_description; never contains the assertion
  bool ok() const { return failure == AssertionFailure::none; }
};

bool looks_like_jwt(std::string_view s);

AssertionCheck verify_client_assertion(std::string_view jwt, const CertificateKey& cert,
                                       std::string_view client_id,
                                       const std::vector<std::string>& audiences,
                                       std::int64_t now_unix_s);

std::string base64url_encode(const unsigned char* data, std::size_t len);
std::optional<std::string> base64url_decode(std::string_view s);

}  // namespace emu
