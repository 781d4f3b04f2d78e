// PatManager, revocation and ledger recovery: CheckFsm's actions carried out (the periodic check
// that the current PAT still works at the workspace, what is done when it does not), and taking
// in the PATs a lost ledger knew. See pat_manager.h.
#include <spdlog/spdlog.h>

#include "common/duration.h"
#include "daemon/pat/pat_manager.h"

namespace dbx {

void PatManager::schedule_check() {
  if (check_timer_) check_timer_->cancel();
  check_timer_.reset();
  if (check_.stopped() || !current_) return;
  // Not jittered beyond +-10%: the interval is the bound on how long a revoked PAT is served.
  const double factor = 0.9 + 0.1 * rt_.random_unit();
  const auto delay = std::chrono::duration_cast<Millis>(policy_.check_interval * factor);
  check_timer_ = rt_.after(delay, guarded([this] {
                             check_timer_.reset();
                             check_current();
                           }));
}

void PatManager::check_current() {
  std::optional<std::string> id;
  if (current_) id = current_->token_id;
  const auto a = check_.resume(pat::check::Due{id});
  if (a.kind != pat::CheckAction::Kind::check) return carry_out(a, id.value_or(""));
  api_.check(current_->value, *id, guarded([this, token_id = *id](Result<bool> works) {
               std::optional<std::string> now_current;
               if (current_) now_current = current_->token_id;
               carry_out(check_.resume(pat::check::Checked{token_id, std::move(works),
                                                           std::move(now_current)}),
                         token_id);
             }));
}

void PatManager::carry_out(const pat::CheckAction& a, const std::string& token_id) {
  using Kind = pat::CheckAction::Kind;
  switch (a.kind) {
    case Kind::none:
    case Kind::check:  // only from Due, handled by check_current
      return;
    case Kind::rearm:
      // Nothing proved (no answer, 5xx, throttled): keep serving it, try again next interval.
      if (a.error)
        spdlog::warn("pat {}: could not check token {}: {}", workspace_, token_id,
                     a.error->message);
      return schedule_check();
    case Kind::revoked:
      return revoked();
  }
}

void PatManager::revoked() {
  ++revocations_;
  const std::string token_id = current_->token_id;
  const std::string nonce = current_->nonce;
  last_revocation_ = "token " + token_id + " was found revoked at the workspace at " +
                     std::to_string(to_unix_seconds(rt_.now())) +
                     " (refused or no longer listed); no longer served, a replacement is minted";
  spdlog::warn("pat {}: {}", workspace_, *last_revocation_);
  current_.reset();
  schedule_rotation();
  // It no longer works, so deleting it breaks no promise; it frees its place under max_active.
  delete_token(token_id, nonce, [this](Status) { want_mint(); });
}

void PatManager::adopt(const std::vector<PatInfo>& infos) {
  for (const auto& info : infos) {
    auto parts = pat::parse_comment(info.comment);
    if (!parts) continue;
    const TimePoint expires = info.expires.value_or(info.created + policy_.max_lifetime);
    spdlog::warn(
        "pat {}: token {} is ours but unknown to the ledger, which was missing at "
        "start: left to expire at {}",
        workspace_, info.token_id, to_unix_seconds(expires));
    if (auto s = ledger_.record_adopted(parts->nonce, info, expires); !s)
      spdlog::warn("pat {}: {}", workspace_, s.error().message);
  }
  if (auto s = ledger_.finish_adoption(); !s) {
    spdlog::warn("pat {}: {}", workspace_, s.error().message);
    return;
  }
  if (ledger_.adopted() > 0) {
    ledger_note_ = "the PAT ledger " + ledger_.path() + " was missing at start; " +
                   std::to_string(ledger_.adopted()) +
                   " PAT(s) of this agent it did not know are left to expire (they count "
                   "against max_active). Nothing to do unless this repeats: then find what "
                   "removes files from state_dir";
  }
}

}  // namespace dbx
