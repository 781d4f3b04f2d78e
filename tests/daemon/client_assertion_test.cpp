#include "daemon/credentials/client_assertion.h"

#include "common/encoding.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include <unistd.h>

#include <boost/json.hpp>
#include <filesystem>

namespace dbx {
namespace {

namespace json = boost::json;

// Certificate files must be private (0600) to be read, which a checkout does not keep: a copy.
std::string private_copy(const std::string& name) {
  const std::string from = std::string(DBXCRED_FIXTURES_DIR) + "/certs/" + name;
  const std::string to = std::filesystem::temp_directory_path().string() + "/dbxcred-" +
                         std::to_string(::getpid()) + "-" + name;
  std::filesystem::copy_file(from, to, std::filesystem::copy_options::overwrite_existing);
  std::filesystem::permissions(
      to, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  return to;
}
const std::string kCert = private_copy("sp.pem");
const std::string kOther = private_copy("other-sp.pem");
const TimePoint kNow = from_unix_seconds(1'800'000'000);
const std::string kAud = "https://login.microsoftonline.com/tenant/oauth2/token";

struct Jwt {
  json::object header, claims;
  std::string signing_input, signature;
};

Jwt split(const std::string& jwt) {
  auto a = jwt.find('.');
  auto b = jwt.find('.', a + 1);
  Jwt j;
  j.header = json::parse(base64url_decode(jwt.substr(0, a)).value_or("")).as_object();
  j.claims = json::parse(base64url_decode(jwt.substr(a + 1, b - a - 1)).value_or("")).as_object();
  j.signing_input = jwt.substr(0, b);
  j.signature = base64url_decode(jwt.substr(b + 1)).value_or("");
  return j;
}

bool verify(const SigningCertificate& cert, const Jwt& j, bool pss) {
  const unsigned char* p = cert.cert_der.data();
  X509* x = d2i_X509(nullptr, &p, static_cast<long>(cert.cert_der.size()));
  EVP_PKEY* pub = X509_get_pubkey(x);
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_PKEY_CTX* pctx = nullptr;
  EVP_DigestVerifyInit(ctx, &pctx, EVP_sha256(), nullptr, pub);
  if (pss) {
    EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING);
    EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST);
  }
  const int ok = EVP_DigestVerify(
      ctx, reinterpret_cast<const unsigned char*>(j.signature.data()), j.signature.size(),
      reinterpret_cast<const unsigned char*>(j.signing_input.data()), j.signing_input.size());
  EVP_MD_CTX_free(ctx);
  EVP_PKEY_free(pub);
  X509_free(x);
  return ok == 1;
}

std::string thumbprint(const EVP_MD* md, const SigningCertificate& c) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(c.cert_der.data(), c.cert_der.size(), out, &len, md, nullptr);
  return base64url(std::string(reinterpret_cast<char*>(out), len));
}

TEST(ClientAssertion, Ps256LayoutAndSignature) {
  auto cert = load_signing_certificate(kCert);
  ASSERT_TRUE(cert.ok()) << cert.error().message;
  auto jwt = make_client_assertion(*cert, "client-1", kAud, kNow, "PS256");
  ASSERT_TRUE(jwt.ok());
  Jwt j = split(*jwt);
  EXPECT_EQ(j.header.at("alg"), "PS256");
  EXPECT_EQ(j.header.at("typ"), "JWT");
  EXPECT_EQ(std::string(j.header.at("x5t#S256").as_string()), thumbprint(EVP_sha256(), *cert));
  EXPECT_FALSE(j.header.contains("x5t"));
  EXPECT_EQ(std::string(j.claims.at("aud").as_string()), kAud);
  EXPECT_EQ(j.claims.at("iss"), "client-1");
  EXPECT_EQ(j.claims.at("sub"), "client-1");
  EXPECT_EQ(j.claims.at("nbf").as_int64(), 1'800'000'000);
  EXPECT_EQ(j.claims.at("iat").as_int64(), 1'800'000'000);
  EXPECT_EQ(j.claims.at("exp").as_int64(), 1'800'000'600);
  EXPECT_EQ(j.claims.at("jti").as_string().size(), 36u);
  EXPECT_TRUE(verify(*cert, j, true));
  EXPECT_FALSE(verify(*cert, j, false));  // it really is PSS, not PKCS#1 v1.5
}

TEST(ClientAssertion, Rs256UsesSha1Thumbprint) {
  auto cert = load_signing_certificate(kCert);
  ASSERT_TRUE(cert.ok());
  Jwt j = split(*make_client_assertion(*cert, "c", kAud, kNow, "RS256"));
  EXPECT_EQ(j.header.at("alg"), "RS256");
  EXPECT_EQ(std::string(j.header.at("x5t").as_string()), thumbprint(EVP_sha1(), *cert));
  EXPECT_TRUE(verify(*cert, j, false));
}

TEST(ClientAssertion, FreshJtiEveryTime) {
  auto cert = load_signing_certificate(kCert);
  ASSERT_TRUE(cert.ok());
  auto a = split(*make_client_assertion(*cert, "c", kAud, kNow, "PS256"));
  auto b = split(*make_client_assertion(*cert, "c", kAud, kNow, "PS256"));
  EXPECT_NE(a.claims.at("jti"), b.claims.at("jti"));
}

TEST(ClientAssertion, WrongKeyDoesNotVerify) {
  auto cert = load_signing_certificate(kCert);
  auto other = load_signing_certificate(kOther);  // certificate first, then key: also loads
  ASSERT_TRUE(cert.ok());
  ASSERT_TRUE(other.ok()) << other.error().message;
  Jwt j = split(*make_client_assertion(*other, "c", kAud, kNow, "PS256"));
  EXPECT_FALSE(verify(*cert, j, true));
}

TEST(ClientAssertion, UnreadableFilesAreClearErrors) {
  auto missing = load_signing_certificate("/nonexistent/sp.pem");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message.find("/nonexistent/sp.pem"), std::string::npos);
}

}  // namespace
}  // namespace dbx
