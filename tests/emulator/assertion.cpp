// Verification of certificate client assertions (see assertion.h).
#include "tests/emulator/assertion.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include <algorithm>
#include <boost/json.hpp>

namespace emu {
namespace {

constexpr char kB64Url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

int b64_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '-' || c == '+') return 62;
  if (c == '_' || c == '/') return 63;
  return -1;
}

std::string digest_b64url(const EVP_MD* md, const unsigned char* der, int der_len) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(der, static_cast<std::size_t>(der_len), out, &len, md, nullptr);
  return base64url_encode(out, len);
}

// Thumbprints arrive base64url (the standard) but some clients pad or use the standard alphabet.
std::string canonical_thumbprint(std::string_view t) {
  std::string out;
  for (char c : t) {
    if (c == '=') continue;
    out += c == '+' ? '-' : c == '/' ? '_' : c;
  }
  return out;
}

std::optional<std::int64_t> claim_seconds(const boost::json::object& claims, std::string_view k) {
  const boost::json::value* v = claims.if_contains(k);
  if (v == nullptr) return std::nullopt;
  if (v->is_int64()) return v->as_int64();
  if (v->is_uint64()) return static_cast<std::int64_t>(v->as_uint64());
  if (v->is_double()) return static_cast<std::int64_t>(v->as_double());
  return std::nullopt;
}

std::string claim_string(const boost::json::object& claims, std::string_view k) {
  const boost::json::value* v = claims.if_contains(k);
  return v != nullptr && v->is_string() ? std::string(v->as_string()) : std::string();
}

std::optional<boost::json::object> decode_json_part(std::string_view part) {
  auto raw = base64url_decode(part);
  if (!raw) return std::nullopt;
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(*raw, ec);
  if (ec || !v.is_object()) return std::nullopt;
  return v.as_object();
}

bool verify_signature(EVP_PKEY* key, bool pss, std::string_view signing_input,
                      const std::string& signature) {
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  EVP_PKEY_CTX* pctx = nullptr;
  if (EVP_DigestVerifyInit(ctx.get(), &pctx, EVP_sha256(), nullptr, key) != 1) return false;
  if (pss) {
    if (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
        EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, EVP_sha256()) != 1 ||
        EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_AUTO) != 1) {
      return false;
    }
  }
  return EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()),
                          signature.size(),
                          reinterpret_cast<const unsigned char*>(signing_input.data()),
                          signing_input.size()) == 1;
}

}  // namespace

std::string base64url_encode(const unsigned char* data, std::size_t len) {
  std::string out;
  out.reserve((len + 2) / 3 * 4);
  for (std::size_t i = 0; i < len; i += 3) {
    std::uint32_t n = static_cast<std::uint32_t>(data[i]) << 16;
    if (i + 1 < len) n |= static_cast<std::uint32_t>(data[i + 1]) << 8;
    if (i + 2 < len) n |= data[i + 2];
    out += kB64Url[(n >> 18) & 63];
    out += kB64Url[(n >> 12) & 63];
    if (i + 1 < len) out += kB64Url[(n >> 6) & 63];
    if (i + 2 < len) out += kB64Url[n & 63];
  }
  return out;
}

std::optional<std::string> base64url_decode(std::string_view s) {
  while (!s.empty() && s.back() == '=') s.remove_suffix(1);
  if (s.size() % 4 == 1) return std::nullopt;
  std::string out;
  std::uint32_t acc = 0;
  int bits = 0;
  for (char c : s) {
    int v = b64_value(c);
    if (v < 0) return std::nullopt;
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xff);
    }
  }
  return out;
}

std::optional<CertificateKey> load_certificate(std::string_view pem, std::string& error) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(
      BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), BIO_free);
  std::unique_ptr<X509, decltype(&X509_free)> cert(
      PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr), X509_free);
  if (!cert) {
    error = "certificate_pem holds no PEM certificate";
    return std::nullopt;
  }
  unsigned char* der = nullptr;
  int der_len = i2d_X509(cert.get(), &der);
  if (der_len <= 0) {
    error = "certificate could not be DER-encoded";
    return std::nullopt;
  }
  CertificateKey key;
  key.x5t = digest_b64url(EVP_sha1(), der, der_len);
  key.x5t_s256 = digest_b64url(EVP_sha256(), der, der_len);
  OPENSSL_free(der);
  EVP_PKEY* pk = X509_get_pubkey(cert.get());
  if (pk == nullptr) {
    error = "certificate has no usable public key";
    return std::nullopt;
  }
  key.public_key.reset(pk, EVP_PKEY_free);
  return key;
}

bool looks_like_jwt(std::string_view s) {
  return std::count(s.begin(), s.end(), '.') == 2;
}

AssertionCheck verify_client_assertion(std::string_view jwt, const CertificateKey& cert,
                                       std::string_view client_id,
                                       const std::vector<std::string>& audiences,
                                       std::int64_t now_unix_s) {
  auto fail = [](AssertionFailure f, std::string detail) { return AssertionCheck{f, detail}; };
  auto dot1 = jwt.find('.');
  auto dot2 = dot1 == std::string_view::npos ? dot1 : jwt.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos) return fail(AssertionFailure::malformed, "not a JWT");
  auto header = decode_json_part(jwt.substr(0, dot1));
  auto claims = decode_json_part(jwt.substr(dot1 + 1, dot2 - dot1 - 1));
  auto signature = base64url_decode(jwt.substr(dot2 + 1));
  if (!header || !claims || !signature) {
    return fail(AssertionFailure::malformed, "the JWT is not base64url-encoded JSON");
  }
  std::string alg = claim_string(*header, "alg");
  if (alg != "RS256" && alg != "PS256") {
    return fail(AssertionFailure::malformed, "unsupported alg '" + alg + "' (RS256 or PS256)");
  }
  std::string s256 = canonical_thumbprint(claim_string(*header, "x5t#S256"));
  std::string s1 = canonical_thumbprint(claim_string(*header, "x5t"));
  bool key_named =
      (!s256.empty() && s256 == cert.x5t_s256) || (s256.empty() && !s1.empty() && s1 == cert.x5t);
  if (!key_named) {
    return fail(AssertionFailure::key_not_found,
                "Client assertion contains an invalid signature. [Reason - The key was not "
                "found., Thumbprint of key used by client: '" +
                    (s256.empty() ? s1 : s256) + "']");
  }
  if (!verify_signature(cert.public_key.get(), alg == "PS256", jwt.substr(0, dot2), *signature)) {
    return fail(AssertionFailure::bad_signature,
                "Client assertion contains an invalid signature. [Reason - The provided "
                "signature value did not match the expected signature value.]");
  }
  std::string aud = claim_string(*claims, "aud");
  if (std::find(audiences.begin(), audiences.end(), aud) == audiences.end()) {
    return fail(AssertionFailure::wrong_audience,
                "Client assertion audience claim does not match Realm issuer. Review the "
                "documentation at https://aka.ms/certCredentials.");
  }
  if (claim_string(*claims, "iss") != client_id || claim_string(*claims, "sub") != client_id) {
    return fail(AssertionFailure::wrong_subject,
                "The client assertion's iss and sub claims must both be the client id.");
  }
  auto exp = claim_seconds(*claims, "exp");
  auto nbf = claim_seconds(*claims, "nbf");
  if (!exp || *exp <= now_unix_s || (nbf && *nbf > now_unix_s)) {
    return fail(AssertionFailure::time_invalid,
                "Client assertion is not within its valid time range.");
  }
  return {};
}

}  // namespace emu
