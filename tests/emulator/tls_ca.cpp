// Test CA and server certificate generation (see tls_ca.h).
#include "tests/emulator/tls_ca.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <memory>
#include <sstream>
#include <stdexcept>

namespace emu {
namespace {

using KeyPtr = std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)>;
using CertPtr = std::unique_ptr<X509, decltype(&X509_free)>;
using BioPtr = std::unique_ptr<BIO, decltype(&BIO_free)>;

[[noreturn]] void fail(const std::string& what) {
  unsigned long e = ERR_get_error();
  std::string detail;
  if (e != 0) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    detail = std::string(": ") + buf;
  }
  throw std::runtime_error(what + detail);
}

KeyPtr new_key() {
  KeyPtr key(EVP_EC_gen("P-256"), EVP_PKEY_free);
  if (!key) fail("cannot generate an EC P-256 key");
  return key;
}

void add_ext(X509* cert, X509V3_CTX* ctx, int nid, const std::string& value) {
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, ctx, nid, value.c_str());
  if (ext == nullptr) fail("cannot build certificate extension " + value);
  X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
}

// A v3 certificate for `key`, named `cn`, signed by (issuer, issuer_key); self-signed when
// issuer is null.
CertPtr make_cert(EVP_PKEY* key, const std::string& cn, X509* issuer, EVP_PKEY* issuer_key,
                  long days, bool is_ca, const std::string& san) {
  CertPtr cert(X509_new(), X509_free);
  X509_set_version(cert.get(), X509_VERSION_3);
  std::unique_ptr<BIGNUM, decltype(&BN_free)> serial(BN_new(), BN_free);
  BN_rand(serial.get(), 63, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY);
  BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(cert.get()));
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), days * 24 * 3600);
  X509_set_pubkey(cert.get(), key);
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("dbxcred emulator"), -1, -1, 0);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  X509* signer = issuer != nullptr ? issuer : cert.get();
  X509_set_issuer_name(cert.get(), X509_get_subject_name(signer));

  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, signer, cert.get(), nullptr, nullptr, 0);
  if (is_ca) {
    add_ext(cert.get(), &ctx, NID_basic_constraints, "critical,CA:TRUE,pathlen:0");
    add_ext(cert.get(), &ctx, NID_key_usage, "critical,keyCertSign,cRLSign");
    add_ext(cert.get(), &ctx, NID_subject_key_identifier, "hash");
  } else {
    add_ext(cert.get(), &ctx, NID_basic_constraints, "critical,CA:FALSE");
    add_ext(cert.get(), &ctx, NID_key_usage, "critical,digitalSignature,keyEncipherment");
    add_ext(cert.get(), &ctx, NID_ext_key_usage, "serverAuth");
    add_ext(cert.get(), &ctx, NID_subject_key_identifier, "hash");
    add_ext(cert.get(), &ctx, NID_authority_key_identifier, "keyid:always");
    add_ext(cert.get(), &ctx, NID_subject_alt_name, san);
  }
  if (X509_sign(cert.get(), issuer_key != nullptr ? issuer_key : key, EVP_sha256()) == 0) {
    fail("cannot sign the certificate " + cn);
  }
  return cert;
}

std::string bio_text(BIO* bio) {
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<std::size_t>(len));
}

std::string cert_pem(X509* cert) {
  BioPtr bio(BIO_new(BIO_s_mem()), BIO_free);
  PEM_write_bio_X509(bio.get(), cert);
  return bio_text(bio.get());
}

std::string key_pem(EVP_PKEY* key) {
  BioPtr bio(BIO_new(BIO_s_mem()), BIO_free);
  PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr);
  return bio_text(bio.get());
}

std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + p.string());
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write_file(const std::filesystem::path& p, const std::string& text, mode_t mode) {
  std::string tmp = p.string() + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) throw std::runtime_error("cannot create " + tmp);
  ::fchmod(fd, mode);
  bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  ok = ::close(fd) == 0 && ok;
  if (!ok || ::rename(tmp.c_str(), p.c_str()) != 0)
    throw std::runtime_error("cannot write " + p.string());
}

CertPtr parse_cert(const std::string& pem, const std::string& origin) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), BIO_free);
  CertPtr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr), X509_free);
  if (!cert) fail(origin + " holds no PEM certificate");
  return cert;
}

KeyPtr parse_key(const std::string& pem, const std::string& origin) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), BIO_free);
  KeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr), EVP_PKEY_free);
  if (!key) fail(origin + " holds no PEM private key");
  return key;
}

std::string san_entry(const std::string& s) {
  if (s.starts_with("DNS:") || s.starts_with("IP:")) return s;
  unsigned char buf[16];
  if (inet_pton(AF_INET, s.c_str(), buf) == 1 || inet_pton(AF_INET6, s.c_str(), buf) == 1) {
    return "IP:" + s;
  }
  return "DNS:" + s;
}

}  // namespace

TlsMaterial prepare_tls(const std::filesystem::path& state_dir,
                        const std::optional<std::filesystem::path>& ca_cert,
                        const std::optional<std::filesystem::path>& ca_key,
                        const std::vector<std::string>& extra_sans) {
  if (ca_cert.has_value() != ca_key.has_value()) {
    throw std::runtime_error("--ca-cert and --ca-key go together");
  }
  std::filesystem::path cert_path = ca_cert.value_or(state_dir / "ca.pem");
  std::filesystem::path key_path = ca_key.value_or(state_dir / "ca.key");

  KeyPtr ca_private(nullptr, EVP_PKEY_free);
  CertPtr ca(nullptr, X509_free);
  std::string ca_text;
  if (ca_cert || (std::filesystem::exists(cert_path) && std::filesystem::exists(key_path))) {
    // A given CA, or the one generated by an earlier run (clients may already trust it).
    ca_text = read_file(cert_path);
    ca = parse_cert(ca_text, cert_path.string());
    ca_private = parse_key(read_file(key_path), key_path.string());
    if (X509_check_private_key(ca.get(), ca_private.get()) != 1) {
      fail(key_path.string() + " is not the key of " + cert_path.string());
    }
  } else {
    ca_private = new_key();
    ca = make_cert(ca_private.get(), "dbxcred emulator test CA", nullptr, nullptr, 3650, true, "");
    ca_text = cert_pem(ca.get());
    write_file(key_path, key_pem(ca_private.get()), 0600);
    write_file(cert_path, ca_text, 0644);
  }

  std::string san = "DNS:localhost,IP:127.0.0.1";
  for (const auto& s : extra_sans) san += "," + san_entry(s);
  KeyPtr server_key = new_key();
  CertPtr server =
      make_cert(server_key.get(), "localhost", ca.get(), ca_private.get(), 365, false, san);

  TlsMaterial m;
  m.ca_file = std::filesystem::absolute(cert_path).lexically_normal().string();
  m.server_cert_pem = cert_pem(server.get()) + ca_text;
  m.server_key_pem = key_pem(server_key.get());
  return m;
}

}  // namespace emu
