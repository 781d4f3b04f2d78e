// One finding of `dbxcred doctor`: a check, what it looked at, its verdict, and in plain words
// what was found and what to change. The daemon (GET /v1/doctor) and the CLI (its own checks as
// the caller) make the same objects; the CLI prints them as one line each or as JSON.
#pragma once

#include <boost/json/object.hpp>
#include <optional>
#include <string>
#include <string_view>

namespace dbx {

enum class Verdict {
  ok,    // the check passed
  fail,  // something is wrong: `fix` says what to change; the doctor exits 1
  note,  // not checked, or neither right nor wrong (a workspace the caller is not meant to use)
};

std::string_view to_string(Verdict v);

struct Finding {
  // "config", "socket", "access", "credential", "pat", "reach", "clock", "standing", "quota"
  std::string check;
  std::string subject;  // what it is about: a workspace or credential name, a host, a path
  Verdict verdict = Verdict::ok;
  std::string message;  // what was found; never a secret
  std::string fix;      // what to change ("" when nothing)
};

// {"check","subject","status":"ok"|"fail"|"note","message","fix"}
boost::json::object to_json(const Finding& f);
// The reverse; nullopt when `o` lacks check, status or message, or the status is unknown.
std::optional<Finding> finding_from_json(const boost::json::object& o);

// "FAIL  access prod: uid 1000 may not use workspace prod: …; fix: …" — one line: control
// characters of daemon-supplied text become spaces.
std::string finding_line(const Finding& f);

}  // namespace dbx
