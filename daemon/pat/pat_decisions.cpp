// Pure PAT lifecycle decisions; see pat_decisions.h.
#include "daemon/pat/pat_decisions.h"

#include <algorithm>
#include <map>

#include "common/duration.h"
#include "common/encoding.h"

namespace dbx::pat {
namespace {

// Leaves [A-Za-z0-9._-] as is; everything else (':' and '%' above all) becomes %XX.
std::string encode_field(std::string_view s) {
  return percent_encode(s, "._-");
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::optional<std::string> decode_field(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == ':') return std::nullopt;
    if (s[i] != '%') {
      out += s[i];
      continue;
    }
    if (i + 2 >= s.size()) return std::nullopt;
    const int hi = hex_value(s[i + 1]);
    const int lo = hex_value(s[i + 2]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return out;
}

std::string secs(Seconds s) {
  return format_duration(s) + " (" + std::to_string(s.count()) + " s)";
}

}  // namespace

std::string make_comment(std::string_view instance, std::string_view workspace,
                         std::string_view agent, std::string_view nonce) {
  std::string out(kCommentProduct);
  out += ':';
  out += encode_field(instance);
  out += ':';
  out += encode_field(workspace);
  out += ':';
  out += agent;
  out += ':';
  out += nonce;
  return out;
}

std::optional<CommentParts> parse_comment(std::string_view comment) {
  // Four (older format) or five ':'-separated fields; the encoded fields cannot contain ':'.
  std::vector<std::string_view> fields;
  std::size_t start = 0;
  while (true) {
    const std::size_t pos = comment.find(':', start);
    if (pos == std::string_view::npos) {
      fields.push_back(comment.substr(start));
      break;
    }
    fields.push_back(comment.substr(start, pos - start));
    start = pos + 1;
    if (fields.size() > 5) return std::nullopt;
  }
  if ((fields.size() != 4 && fields.size() != 5) || fields[0] != kCommentProduct)
    return std::nullopt;
  const bool with_agent = fields.size() == 5;
  if (fields[1].empty() || fields[2].empty() || !is_valid_nonce(fields.back())) return std::nullopt;
  if (with_agent && !is_valid_nonce(fields[3])) return std::nullopt;
  auto instance = decode_field(fields[1]);
  auto workspace = decode_field(fields[2]);
  if (!instance || !workspace) return std::nullopt;
  return CommentParts{std::move(*instance), std::move(*workspace),
                      with_agent ? std::string(fields[3]) : std::string(),
                      std::string(fields.back())};
}

bool take_forced(ForcedBucket& b, TimePoint now) {
  if (b.updated == TimePoint{}) b.updated = now;
  if (now > b.updated) {
    const double refill = std::chrono::duration<double>(now - b.updated) /
                          std::chrono::duration<double>(kForcedRefill);
    b.tokens = std::min<double>(kForcedBurst, b.tokens + refill);
  }
  b.updated = std::max(b.updated, now);
  if (b.tokens < 1.0 - 1e-9) return false;  // refills are fractions: allow rounding
  b.tokens = std::max(0.0, b.tokens - 1.0);
  return true;
}

Seconds forced_retry_after(const ForcedBucket& b, TimePoint now) {
  const double missing = std::max(0.0, 1.0 - b.tokens);
  const auto wait =
      std::chrono::duration<double>(kForcedRefill) * missing -
      std::chrono::duration<double>(std::max(TimePoint::duration(0), now - b.updated));
  return std::max(Seconds(1), std::chrono::ceil<Seconds>(wait));
}

bool is_valid_nonce(std::string_view nonce) {
  return nonce.size() == 32 && std::all_of(nonce.begin(), nonce.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

bool satisfies(TimePoint now, TimePoint expires, Seconds min_valid) {
  return expires - now >= std::max(min_valid, kMinServeRemaining);
}

Seconds effective_rotate_before(const PatPolicy& policy, TimePoint created, TimePoint expires) {
  const auto half_life = std::chrono::duration_cast<Seconds>(expires - created) / 2;
  return std::max(Seconds(0), std::min(policy.rotate_before, half_life));
}

TimePoint rotation_due_at(const PatPolicy& policy, TimePoint created, TimePoint expires) {
  return expires - effective_rotate_before(policy, created, expires);
}

TimePoint rotation_start_at(const PatPolicy& policy, TimePoint created, TimePoint expires,
                            double jitter_unit) {
  const Seconds lead = effective_rotate_before(policy, created, expires);
  const auto early = std::chrono::duration_cast<Millis>(std::chrono::duration<double>(
      static_cast<double>(lead.count()) * kRotationJitter * std::clamp(jitter_unit, 0.0, 1.0)));
  return rotation_due_at(policy, created, expires) - early;
}

Result<Seconds> lifetime_to_request(const PatPolicy& policy, Seconds min_valid) {
  if (min_valid < Seconds(0)) {
    return make_error(ErrorCode::bad_request, "min_valid must not be negative");
  }
  const Seconds needed = min_valid + kMintMargin;
  if (needed > policy.max_lifetime) {
    const Seconds most = std::max(Seconds(0), policy.max_lifetime - kMintMargin);
    return make_error(ErrorCode::bad_request,
                      "min_valid " + secs(min_valid) + " is more than a PAT can give here: " +
                          "pat.max_lifetime is " + secs(policy.max_lifetime) +
                          " and a PAT is minted with a " + secs(kMintMargin) +
                          " margin; ask for at most " + secs(most) + " or raise pat.max_lifetime");
  }
  return std::min(std::max(policy.lifetime, needed), policy.max_lifetime);
}

bool is_expired(TimePoint now, const PatRecord& r) {
  return r.expires && *r.expires <= now;
}

int active_count(TimePoint now, const std::vector<PatRecord>& records) {
  return static_cast<int>(std::count_if(records.begin(), records.end(),
                                        [&](const PatRecord& r) { return !is_expired(now, r); }));
}

MintPlan plan_mint(TimePoint now, int max_active, const std::vector<PatRecord>& records,
                   const std::optional<std::string>& current_nonce) {
  MintPlan plan;
  plan.active = active_count(now, records);
  const int must_free = plan.active + 1 - max_active;
  if (must_free <= 0) {
    plan.can_mint = true;
    return plan;
  }
  std::vector<const PatRecord*> candidates;
  for (const auto& r : records) {
    if (is_expired(now, r) || !r.token_id) continue;
    if (current_nonce && r.nonce == *current_nonce) continue;
    if (r.promised > now) continue;  // served with a min_valid that still runs
    candidates.push_back(&r);
  }
  if (static_cast<int>(candidates.size()) < must_free) return plan;  // can_mint stays false
  std::stable_sort(candidates.begin(), candidates.end(),
                   [](const PatRecord* a, const PatRecord* b) { return a->created < b->created; });
  for (int i = 0; i < must_free; ++i) plan.delete_first.push_back(candidates[i]->nonce);
  plan.can_mint = true;
  return plan;
}

std::vector<PatRecord> expired_records(TimePoint now, const std::vector<PatRecord>& records) {
  std::vector<PatRecord> out;
  for (const auto& r : records)
    if (r.token_id && is_expired(now, r)) out.push_back(r);
  return out;
}

ReconcilePlan plan_reconcile(TimePoint now, const Identity& us,
                             const std::vector<PatRecord>& records,
                             const std::vector<PatInfo>& listed,
                             const std::set<std::string>& protected_nonces, bool adopting) {
  ReconcilePlan plan;
  std::map<std::string, const PatRecord*> by_nonce;
  for (const auto& r : records) by_nonce[r.nonce] = &r;
  std::set<std::string> listed_ids;
  std::set<std::string> listed_nonces;

  for (const auto& info : listed) {
    listed_ids.insert(info.token_id);
    auto parts = parse_comment(info.comment);
    if (!parts || parts->instance != us.instance || parts->workspace != us.workspace ||
        (!parts->agent.empty() && parts->agent != us.agent)) {
      ++plan.foreign;  // another tool, a human, another agent or workspace: never touched
      continue;
    }
    auto it = by_nonce.find(parts->nonce);
    if (parts->agent.empty() && it == by_nonce.end()) {
      // The older format: ours only if the ledger knows it; else maybe another daemon's with the
      // same instance (left to expire).
      ++plan.foreign;
      continue;
    }
    listed_nonces.insert(parts->nonce);
    if (protected_nonces.count(parts->nonce)) continue;
    if (it == by_nonce.end()) {
      if (adopting) {
        plan.adopt.push_back(info);  // may be in use: the ledger that knew it is lost
        continue;
      }
      plan.deletions.push_back(
          {info.token_id, std::nullopt, "orphan: our comment but the ledger has no such nonce"});
      continue;
    }
    const PatRecord& rec = *it->second;
    if (!rec.token_id) {
      // Created, but the id never reached the ledger: its value was never handed out.
      plan.deletions.push_back(
          {info.token_id, rec.nonce, "minted before a crash or failure; never served"});
    } else if (*rec.token_id != info.token_id) {
      plan.deletions.push_back(
          {info.token_id, std::nullopt, "second token with a nonce the ledger maps elsewhere"});
    } else if (is_expired(now, rec) || (info.expires && *info.expires <= now)) {
      plan.deletions.push_back({info.token_id, rec.nonce, "expired"});
    }
    // else: known to the ledger and valid; kept until it expires (jobs may hold it).
  }

  for (const auto& r : records) {
    if (protected_nonces.count(r.nonce)) continue;
    if (r.token_id && !listed_ids.count(*r.token_id) && is_expired(now, r)) {
      // token/list shows valid tokens only; delete it anyway (already gone counts as success) so
      // no expired token of ours lingers in the workspace.
      plan.deletions.push_back({*r.token_id, r.nonce, "expired"});
    } else if (r.token_id ? !listed_ids.count(*r.token_id) : !listed_nonces.count(r.nonce)) {
      // Gone from the workspace (deleted by someone), or a create that never took effect.
      plan.forget.push_back(r.nonce);
    }
  }
  return plan;
}

Result<ReapPlan> plan_reap(std::string_view agent, std::string_view own_agent,
                           const std::vector<PatInfo>& listed, const std::set<std::string>& ours) {
  if (!is_valid_nonce(agent))
    return make_error(ErrorCode::bad_request,
                      "agent must be an agent id (32 lowercase hex digits, the 4th field of a "
                      "dbxcred PAT comment)");
  if (agent == own_agent)
    return make_error(ErrorCode::bad_request,
                      "agent " + std::string(agent) +
                          " is this daemon's own: it deletes its PATs itself as they expire or "
                          "are superseded (some hold promises); nothing was reaped");
  ReapPlan plan;
  for (const auto& info : listed) {
    const auto parts = parse_comment(info.comment);
    if (parts && parts->agent == agent && !ours.count(info.token_id))
      plan.token_ids.push_back(info.token_id);
    else
      ++plan.kept;
  }
  return plan;
}

}  // namespace dbx::pat
