// The table of upstream error codes; see error_hints.h. Sources: Microsoft's AADSTS error
// reference, RFC 6749 section 5.2, the Databricks REST API error codes and PROTOCOLS.md.
#include "daemon/doctor/error_hints.h"

namespace dbx {

namespace {

// Most specific first: Entra answers "invalid_client: AADSTS7000215: …", and the AADSTS code says
// more than the OAuth error name.
constexpr ErrorHint kHints[] = {
    // Entra ID (login host)
    {"AADSTS7000215", "the client secret is wrong",
     "put the secret's value (not its id) in the credential's client_secret_file, or create a new "
     "client secret in the app registration"},
    {"AADSTS7000222", "the client secret has expired",
     "create a new client secret in the app registration and write it to client_secret_file"},
    {"AADSTS700016", "no application with this client_id in the tenant",
     "check the credential's client_id and tenant_id (the app must be registered or consented in "
     "that tenant)"},
    {"AADSTS700024", "the federated token has expired (client assertion outside its valid time)",
     "make the token_file's writer (kubelet, the CI runner) refresh it before it expires"},
    {"AADSTS70021", "no federated identity credential of the app matches the token",
     "add a federated credential whose issuer, subject and audience match the token in token_file"},
    {"AADSTS700027", "the client assertion's signature does not match a certificate of the app",
     "upload the public certificate of certificate_file to the app registration"},
    {"AADSTS90002", "the tenant does not exist",
     "check the credential's tenant_id and the cloud (endpoints.authority)"},
    {"AADSTS900023", "the tenant id is malformed",
     "set tenant_id to the tenant's GUID or domain name"},
    {"AADSTS7000112", "the application is disabled", "enable the app registration in the tenant"},
    {"AADSTS500011", "the resource is not known in the tenant",
     "check endpoints.databricks_resource and endpoints.management_resource for this cloud"},
    {"AADSTS50049", "the authority is not known", "check cloud and endpoints.authority"},
    // Databricks OAuth (workspace token endpoint)
    {"invalid_client", "the workspace refused the OAuth client (wrong client_id or secret)",
     "check client_id, and create a new OAuth secret for the service principal in the account "
     "console if the secret was deleted or has expired"},
    {"invalid_grant", "the workspace refused the token to exchange",
     "check that a federation policy matches the token's issuer, subject and audience and that the "
     "token in token_file has not expired"},
    {"invalid_scope", "the workspace refused the scope all-apis",
     "give the service principal access to the workspace's APIs"},
    {"unsupported_grant_type", "the workspace does not offer this grant",
     "use a workspace with OAuth enabled, or another credential type"},
    // Databricks REST API
    {"QUOTA_EXCEEDED", "the principal holds the maximum of 600 PATs in the workspace",
     "delete the PATs of retired agents (dbxcred pat reap --agent ID) or lower pat.max_active"},
    {"PERMISSION_DENIED", "the service principal lacks a permission in the workspace",
     "grant it the Can Use permission on personal access tokens (workspace settings) or make it a "
     "workspace user"},
    {"REQUEST_LIMIT_EXCEEDED", "the workspace rate-limited the calls",
     "nothing to change when it is rare; fewer agents per principal otherwise"},
    {"TEMPORARILY_UNAVAILABLE", "the workspace was temporarily unavailable",
     "retry later; check the Databricks status page if it lasts"},
    {"Invalid access token", "the workspace did not accept the bearer token",
     "add the service principal to the workspace, or set management_token: true with "
     "resource_id so the management headers are sent"},
    // Azure Resource Manager
    {"AuthorizationFailed", "the service principal may not read the workspace resource",
     "grant it the Reader (or Contributor) role on the workspace resource"},
    {"ResourceNotFound", "no workspace resource with this resource_id",
     "check the workspace's resource_id (subscription, resource group, name)"},
    {"InvalidAuthenticationToken", "ARM did not accept the management token",
     "check endpoints.resource_manager and endpoints.management_resource for this cloud"},
};

bool word_char(char c) {
  return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}

// Where `code` first occurs in `text` with no word character right before or after it (npos: not).
std::size_t find_word(std::string_view text, std::string_view code) {
  for (std::size_t at = text.find(code); at != std::string_view::npos;
       at = text.find(code, at + 1)) {
    const bool before = at > 0 && word_char(text[at - 1]);
    const std::size_t end = at + code.size();
    const bool after = end < text.size() && word_char(text[end]);
    if (!before && !after) return at;
  }
  return std::string_view::npos;
}

}  // namespace

std::optional<ErrorHint> explain_upstream_error(std::string_view error_text) {
  for (const ErrorHint& h : kHints)
    if (find_word(error_text, h.code) != std::string_view::npos) return h;
  return std::nullopt;
}

}  // namespace dbx
