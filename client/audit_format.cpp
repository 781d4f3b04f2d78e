#include "client/audit_format.h"

#include <algorithm>
#include <array>
#include <boost/json/serialize.hpp>
#include <vector>

#include "client/daemon_api.h"

namespace dbx::cli {

namespace {

namespace json = boost::json;

std::string cell(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  if (v == nullptr || v->is_null()) return "-";
  if (v->is_string()) {
    std::string s = one_line(v->as_string());
    return s.empty() ? "-" : s;
  }
  return json::serialize(*v);
}

}  // namespace

std::string format_audit(const json::object& answer, bool as_json) {
  const json::value* records = answer.if_contains("records");
  if (records == nullptr || !records->is_array()) return as_json ? "" : "no audit records\n";
  std::string out;
  if (as_json) {
    for (const auto& r : records->as_array()) out += json::serialize(r) + "\n";
    return out;
  }
  constexpr std::size_t kColumns = 9;
  using Row = std::array<std::string, kColumns>;
  std::vector<Row> rows{
      Row{"TIME", "UID", "PID", "OUTCOME", "KIND", "WORKSPACE", "TOKEN", "EXE", "REASON"}};
  for (const auto& r : records->as_array()) {
    if (!r.is_object()) continue;
    const json::object& o = r.as_object();
    std::string token = cell(o, "token_id");
    if (token == "-") token = cell(o, "fingerprint");
    std::string workspace = cell(o, "workspace");
    if (const std::string endpoint = cell(o, "endpoint"); endpoint != "-")
      workspace += workspace == "-" ? endpoint : " via " + endpoint;
    rows.push_back(Row{cell(o, "time"), cell(o, "uid"), cell(o, "pid"), cell(o, "outcome"),
                       cell(o, "kind"), workspace, token, cell(o, "exe"), cell(o, "reason")});
  }
  if (rows.size() == 1) return "no audit records\n";
  std::array<std::size_t, kColumns> width{};
  for (const Row& row : rows)
    for (std::size_t i = 0; i < kColumns; ++i) width[i] = std::max(width[i], row[i].size());
  for (const Row& row : rows) {
    std::string line;
    for (std::size_t i = 0; i < kColumns; ++i) {
      line += row[i];
      if (i + 1 < kColumns) line += std::string(width[i] - row[i].size() + 2, ' ');
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line + "\n";
  }
  return out;
}

}  // namespace dbx::cli
