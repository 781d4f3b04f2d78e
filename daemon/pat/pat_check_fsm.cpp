// CheckFsm: what a check of the current PAT means. See pat_check_fsm.h.
#include "daemon/pat/pat_check_fsm.h"

#include <utility>

namespace dbx::pat {
namespace {
CheckAction act(CheckAction::Kind kind, std::optional<Error> error = std::nullopt) {
  CheckAction a;
  a.kind = kind;
  a.error = std::move(error);
  return a;
}
}  // namespace

CheckAction CheckFsm::resume(CheckEvent event) {
  return std::visit([this](const auto& e) { return on(e); }, event);
}

CheckAction CheckFsm::on(const check::Due& d) {
  if (stopped_ || !d.current) return {};
  if (checking_) return act(CheckAction::Kind::rearm);
  checking_ = true;
  return act(CheckAction::Kind::check);
}

CheckAction CheckFsm::on(const check::Checked& c) {
  checking_ = false;
  if (!c.current || *c.current != c.token_id) return {};  // rotated meanwhile
  if (!c.works) return act(CheckAction::Kind::rearm, c.works.error());
  if (*c.works) return act(CheckAction::Kind::rearm);
  return act(CheckAction::Kind::revoked);
}

CheckAction CheckFsm::on(const check::Stop&) {
  stopped_ = true;
  return {};
}

}  // namespace dbx::pat
