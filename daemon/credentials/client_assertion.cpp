#include "daemon/credentials/client_assertion.h"

#include "common/encoding.h"
#include "daemon/credentials/secret_file.h"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include <boost/json.hpp>
#include <cstdio>

namespace dbx {

namespace json = boost::json;

Result<SigningCertificate> load_signing_certificate(const std::string& path) {
  // The same checks as every secret file (no symlink, owner, mode), on the descriptor read.
  auto pem = read_secret_file(path);
  if (!pem) return pem.error();
  std::unique_ptr<BIO, int (*)(BIO*)> f(
      BIO_new_mem_buf(pem.value().data(), static_cast<int>(pem.value().size())), &BIO_free);
  if (!f) return make_error(ErrorCode::internal, "cannot read certificate file " + path);
  SigningCertificate out;
  // Walk every PEM block: the key and the certificate may come in either order.
  while (true) {
    char* name = nullptr;
    char* header = nullptr;
    unsigned char* data = nullptr;
    long len = 0;
    if (PEM_read_bio(f.get(), &name, &header, &data, &len) != 1) break;
    std::string n = name;
    const unsigned char* p = data;
    if (n == "CERTIFICATE" && out.cert_der.empty()) {
      out.cert_der.assign(data, data + len);
    } else if (n == "PRIVATE KEY" || n == "RSA PRIVATE KEY") {
      EVP_PKEY* k = n == "PRIVATE KEY" ? d2i_AutoPrivateKey(nullptr, &p, len)
                                       : d2i_PrivateKey(EVP_PKEY_RSA, nullptr, &p, len);
      if (k != nullptr) out.key.reset(k, &EVP_PKEY_free);
    }
    OPENSSL_free(name);
    OPENSSL_free(header);
    OPENSSL_clear_free(data, static_cast<std::size_t>(len));
  }
  wipe(pem.value());
  if (!out.key)
    return make_error(ErrorCode::internal,
                      "certificate file " + path + " holds no readable unencrypted private key");
  if (EVP_PKEY_get_base_id(out.key.get()) != EVP_PKEY_RSA)
    return make_error(ErrorCode::internal,
                      "certificate file " + path + ": Entra ID needs an RSA key");
  if (out.cert_der.empty())
    return make_error(ErrorCode::internal, "certificate file " + path + " holds no certificate");
  return out;
}

namespace {

std::string digest(const EVP_MD* md, const std::vector<unsigned char>& data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), out, &len, md, nullptr);
  return std::string(reinterpret_cast<char*>(out), len);
}

std::string random_guid() {
  unsigned char b[16];
  RAND_bytes(b, sizeof b);
  b[6] = (b[6] & 0x0f) | 0x40;  // version 4
  b[8] = (b[8] & 0x3f) | 0x80;  // RFC 4122 variant
  char s[37];
  std::snprintf(s, sizeof s, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
                b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12],
                b[13], b[14], b[15]);
  return s;
}

}  // namespace

Result<std::string> make_client_assertion(const SigningCertificate& cert,
                                          const std::string& client_id, const std::string& audience,
                                          TimePoint now, const std::string& alg) {
  json::object header{{"alg", alg}, {"typ", "JWT"}};
  if (alg == "PS256") {
    header["x5t#S256"] = base64url(digest(EVP_sha256(), cert.cert_der));
  } else if (alg == "RS256") {
    header["x5t"] = base64url(digest(EVP_sha1(), cert.cert_der));
  } else {
    return make_error(ErrorCode::internal, "unsupported assertion algorithm " + alg);
  }
  const auto t = to_unix_seconds(now);
  json::object claims{{"aud", audience},
                      {"iss", client_id},
                      {"sub", client_id},
                      {"jti", random_guid()},
                      {"nbf", t},
                      {"iat", t},
                      {"exp", t + kAssertionLifetime.count()}};
  const std::string signing_input =
      base64url(json::serialize(header)) + "." + base64url(json::serialize(claims));

  std::unique_ptr<EVP_MD_CTX, void (*)(EVP_MD_CTX*)> ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  EVP_PKEY_CTX* pctx = nullptr;
  if (EVP_DigestSignInit(ctx.get(), &pctx, EVP_sha256(), nullptr, cert.key.get()) != 1)
    return make_error(ErrorCode::internal, "cannot sign the client assertion");
  if (alg == "PS256") {
    if (EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) != 1 ||
        EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) != 1)
      return make_error(ErrorCode::internal, "cannot set PSS padding for the client assertion");
  }
  std::size_t sig_len = 0;
  if (EVP_DigestSign(ctx.get(), nullptr, &sig_len,
                     reinterpret_cast<const unsigned char*>(signing_input.data()),
                     signing_input.size()) != 1)
    return make_error(ErrorCode::internal, "cannot sign the client assertion");
  std::string sig(sig_len, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &sig_len,
                     reinterpret_cast<const unsigned char*>(signing_input.data()),
                     signing_input.size()) != 1)
    return make_error(ErrorCode::internal, "cannot sign the client assertion");
  sig.resize(sig_len);
  return signing_input + "." + base64url(sig);
}

}  // namespace dbx
