// CheckFsm: the periodic check that the current PAT still works at the workspace (pat_decisions.h,
// "Revocation"), as a sans-I/O state machine like pat_mint_fsm.h. PatManager owns the timer and
// the PAT; the machine says what a check's answer means.
//
//   Due      the check timer fired: check the current PAT (`token_id`); none current or stopped:
//            nothing; a check still in flight: just re-arm the timer
//   Checked  the answer for `token_id`: the PAT was rotated meanwhile: nothing; nothing proved
//            (no answer, 5xx, throttled): keep serving it and re-arm; it works: re-arm; it no
//            longer works: revoked (stop serving it, delete it, mint a replacement)
//   Stop     no new check
#pragma once

#include <optional>
#include <string>
#include <variant>

#include "common/result.h"

namespace dbx::pat {

namespace check {
struct Due {
  std::optional<std::string> current;  // the current PAT's token id
};
struct Checked {
  std::string token_id;                // the PAT checked
  Result<bool> works;                  // TokenApi::check's answer
  std::optional<std::string> current;  // the current PAT's token id now
};
struct Stop {};
}  // namespace check

using CheckEvent = std::variant<check::Due, check::Checked, check::Stop>;

struct CheckAction {
  enum class Kind {
    none,    // nothing (no current PAT, rotated meanwhile, stopped)
    check,   // TokenApi::check the current PAT, then resume with check::Checked
    rearm,   // arm the check timer again (`error`: what could not be proved, if anything)
    revoked  // the current PAT no longer works
  };
  Kind kind = Kind::none;
  std::optional<Error> error;  // rearm after a check that proved nothing
};

class CheckFsm {
 public:
  CheckAction resume(CheckEvent event);
  bool checking() const { return checking_; }
  bool stopped() const { return stopped_; }

 private:
  CheckAction on(const check::Due&);
  CheckAction on(const check::Checked&);
  CheckAction on(const check::Stop&);

  bool checking_ = false;
  bool stopped_ = false;
};

}  // namespace dbx::pat
