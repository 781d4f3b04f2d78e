// The JWT client assertion of the certificate credential (PROTOCOLS.md): header with the
// certificate's thumbprint, claims aud/iss/sub/jti/nbf/exp/iat, signed PS256 (default) or RS256.
// OpenSSL does the crypto; a fresh assertion is made for every token request.
#pragma once

#include <openssl/types.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/result.h"

namespace dbx {

// How long an assertion is valid: Entra ID's documented 10 minutes.
inline constexpr Seconds kAssertionLifetime{600};

struct SigningCertificate {
  std::shared_ptr<EVP_PKEY> key;        // RSA private key
  std::vector<unsigned char> cert_der;  // the certificate registered with the app
};

// Reads a PEM holding the private key and the certificate (either order). Errors name the path.
Result<SigningCertificate> load_signing_certificate(const std::string& path);

// alg: "PS256" (header x5t#S256 = SHA-256 thumbprint) or "RS256" (header x5t = SHA-1 thumbprint).
Result<std::string> make_client_assertion(const SigningCertificate& cert,
                                          const std::string& client_id, const std::string& audience,
                                          TimePoint now, const std::string& alg);

}  // namespace dbx
