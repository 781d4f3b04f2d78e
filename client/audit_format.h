// `dbxcred audit`: the records of /v1/audit as an aligned table (like `status`) or JSON lines.
#pragma once

#include <boost/json/object.hpp>
#include <string>

namespace dbx::cli {

// A header line and one row per record: time, uid, pid, outcome, kind, workspace, token (id or
// fingerprint), exe, reason. With `json`, one record per line as the daemon sent it.
std::string format_audit(const boost::json::object& answer, bool json);

}  // namespace dbx::cli
