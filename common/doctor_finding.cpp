// Findings of `dbxcred doctor`; see doctor_finding.h.
#include "common/doctor_finding.h"

namespace dbx {

namespace {

std::string flat(std::string_view s) {
  std::string out(s.substr(0, 2000));
  for (char& c : out)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = ' ';
  return out;
}

std::optional<std::string> text(const boost::json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  if (v == nullptr || !v->is_string()) return std::nullopt;
  return std::string(v->get_string());
}

}  // namespace

std::string_view to_string(Verdict v) {
  switch (v) {
    case Verdict::ok:
      return "ok";
    case Verdict::fail:
      return "fail";
    case Verdict::note:
      return "note";
  }
  return "note";
}

boost::json::object to_json(const Finding& f) {
  return boost::json::object{{"check", f.check},
                             {"subject", f.subject},
                             {"status", to_string(f.verdict)},
                             {"message", f.message},
                             {"fix", f.fix}};
}

std::optional<Finding> finding_from_json(const boost::json::object& o) {
  auto check = text(o, "check");
  auto status = text(o, "status");
  auto message = text(o, "message");
  if (!check || !status || !message) return std::nullopt;
  Finding f;
  if (*status == "ok") {
    f.verdict = Verdict::ok;
  } else if (*status == "fail") {
    f.verdict = Verdict::fail;
  } else if (*status == "note") {
    f.verdict = Verdict::note;
  } else {
    return std::nullopt;
  }
  f.check = std::move(*check);
  f.subject = text(o, "subject").value_or("");
  f.message = std::move(*message);
  f.fix = text(o, "fix").value_or("");
  return f;
}

std::string finding_line(const Finding& f) {
  std::string out = f.verdict == Verdict::ok     ? "ok    "
                    : f.verdict == Verdict::fail ? "FAIL  "
                                                 : "note  ";
  out += flat(f.check);
  if (!f.subject.empty()) out += " " + flat(f.subject);
  out += ": " + flat(f.message);
  if (!f.fix.empty()) out += "; fix: " + flat(f.fix);
  return out;
}

}  // namespace dbx
