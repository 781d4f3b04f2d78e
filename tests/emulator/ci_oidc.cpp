// The emulated CI OIDC issuers (see ci_oidc.h).
#include "tests/emulator/ci_oidc.h"

#include <openssl/evp.h>
#include <openssl/rsa.h>

#include <boost/json.hpp>

#include "tests/emulator/assertion.h"
#include "tests/emulator/state.h"

namespace emu {
namespace {

constexpr std::string_view kHeader = R"({"alg":"RS256","typ":"JWT","kid":"dbxcred-emulator-ci"})";

std::string b64(std::string_view s) {
  return base64url_encode(reinterpret_cast<const unsigned char*>(s.data()), s.size());
}

std::optional<boost::json::object> payload_of(std::string_view jwt) {
  auto dot1 = jwt.find('.');
  auto dot2 = dot1 == std::string_view::npos ? dot1 : jwt.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos) return std::nullopt;
  auto raw = base64url_decode(jwt.substr(dot1 + 1, dot2 - dot1 - 1));
  if (!raw) return std::nullopt;
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(*raw, ec);
  if (ec || !v.is_object()) return std::nullopt;
  return v.as_object();
}

std::string str(const boost::json::object& o, std::string_view k) {
  const auto* v = o.if_contains(k);
  return v != nullptr && v->is_string() ? std::string(v->as_string()) : std::string();
}

}  // namespace

CiOidc::CiOidc() : key_(EVP_RSA_gen(2048), EVP_PKEY_free) {}

std::string CiOidc::sign(const std::string& header_json, const std::string& payload_json) const {
  const std::string input = b64(header_json) + "." + b64(payload_json);
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  std::size_t len = 0;
  std::string sig;
  if (EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key_.get()) == 1 &&
      EVP_DigestSign(ctx.get(), nullptr, &len, reinterpret_cast<const unsigned char*>(input.data()),
                     input.size()) == 1) {
    sig.resize(len);
    if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len,
                       reinterpret_cast<const unsigned char*>(input.data()), input.size()) != 1)
      sig.clear();
    sig.resize(len);
  }
  return input + "." + b64(sig);
}

bool CiOidc::verify(std::string_view jwt) const {
  auto dot2 = jwt.rfind('.');
  if (dot2 == std::string_view::npos || !looks_like_jwt(jwt)) return false;
  auto sig = base64url_decode(jwt.substr(dot2 + 1));
  if (!sig) return false;
  const std::string_view input = jwt.substr(0, dot2);
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  if (EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key_.get()) != 1)
    return false;
  return EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(sig->data()),
                          sig->size(), reinterpret_cast<const unsigned char*>(input.data()),
                          input.size()) == 1;
}

const CiJob& CiOidc::add_job(CiJob job, TimePoint now) {
  // The request token is a JWT like the runners' own: its exp says when the job ends.
  const boost::json::object claims{
      {"jti", random_guid()},
      {"iat", dbx::to_unix_seconds(now)},
      {"exp", dbx::to_unix_seconds(job.ends_at)},
      {"scp", job.kind == CiKind::github ? "Actions.GenericRead" : "app_token"}};
  job.request_token = sign(std::string(kHeader), boost::json::serialize(claims));
  auto [it, _] = jobs_.insert_or_assign(job.request_token, std::move(job));
  return it->second;
}

const CiJob* CiOidc::find_job(std::string_view request_token, CiKind kind, TimePoint now) const {
  auto it = jobs_.find(request_token);
  if (it == jobs_.end() || it->second.kind != kind || it->second.ends_at <= now) return nullptr;
  return &it->second;
}

void CiOidc::end_job(std::string_view request_token) {
  if (auto it = jobs_.find(request_token); it != jobs_.end()) jobs_.erase(it);
}

bool CiOidc::signs_for(std::string_view issuer) const {
  for (const auto& [t, job] : jobs_)
    if (job.issuer == issuer) return true;
  return false;
}

std::string CiOidc::mint(const CiJob& job, std::string_view audience, TimePoint now) {
  const std::int64_t now_s = dbx::to_unix_seconds(now);
  boost::json::object claims{{"jti", random_guid()},    {"iss", job.issuer}, {"sub", job.subject},
                             {"aud", audience},         {"iat", now_s},      {"nbf", now_s},
                             {"exp", now_s + lifetime_}};
  if (job.kind == CiKind::github) {
    ++counters_.github_fetches;
    claims["repository"] = job.repository;
    claims["repository_owner"] = job.repository.substr(0, job.repository.find('/'));
    claims["ref"] = "refs/heads/main";
    claims["workflow"] = "ci";
    claims["run_id"] = "1";
  } else {
    ++counters_.azure_devops_fetches;
    claims["pipeline"] = job.pipeline;
  }
  return sign(std::string(kHeader), boost::json::serialize(claims));
}

std::optional<std::pair<long, std::string>> CiOidc::check(
    std::string_view jwt, const std::vector<FederatedCredential>& creds, TimePoint now) {
  auto claims = payload_of(jwt);
  if (!claims) return std::make_pair(50027L, std::string("Invalid JWT token."));
  if (!verify(jwt))
    return std::make_pair(700027L, std::string("Client assertion contains an invalid signature."));
  const std::int64_t now_s = dbx::to_unix_seconds(now);
  const auto* exp = claims->if_contains("exp");
  if (exp == nullptr || !exp->is_int64() || exp->as_int64() <= now_s)
    return std::make_pair(700024L,
                          std::string("Client assertion is not within its valid time range."));
  const std::string iss = str(*claims, "iss"), sub = str(*claims, "sub"), aud = str(*claims, "aud");
  if (!creds.empty()) {
    bool issuer = false, subject = false, audience = false;
    for (const auto& c : creds) {
      if (c.issuer != iss) continue;
      issuer = true;
      if (c.subject != sub) continue;
      subject = true;
      audience = audience || c.audience == aud;
    }
    const std::string none = "No matching federated identity record found for presented assertion ";
    if (!issuer) return std::make_pair(700211L, none + "issuer '" + iss + "'.");
    if (!subject) return std::make_pair(700213L, none + "subject '" + sub + "'.");
    if (!audience) return std::make_pair(700212L, none + "audience '" + aud + "'.");
  }
  ++counters_.exchanges;
  if (++uses_[str(*claims, "jti")] > 1) ++counters_.reused;
  return std::nullopt;
}

}  // namespace emu
