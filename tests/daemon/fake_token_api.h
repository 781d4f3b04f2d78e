// FakeTokenApi: a Databricks workspace's token store behind the TokenApi interface. Records every
// call; answers at once (through the runtime, never inline) or, when told to hold, lets the test
// answer, fail, or apply-and-drop each call — which is how tests simulate crashes mid-mint.
#pragma once

#include <algorithm>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "daemon/databricks/token_api.h"
#include "tests/daemon/fake_runtime.h"

namespace dbx::testing {

class FakeTokenApi : public TokenApi {
 public:
  struct Token {
    PatInfo info;
    std::string value;
  };
  struct HeldCreate {
    WorkspaceHeaders auth;
    Seconds lifetime;
    std::string comment;
    std::function<void(Result<MintedPat>)> done;
  };
  struct HeldRemove {
    std::string token_id;
    std::function<void(Status)> done;
  };

  explicit FakeTokenApi(FakeRuntime& rt) : rt_(rt) {}

  // ---- the workspace ----
  std::map<std::string, Token> tokens;  // server-side truth, by token id
  int quota = 600;                      // per principal, counting every unexpired token
  bool hold_creates = false;
  bool hold_removes = false;
  bool hold_lists = false;
  std::optional<Error> fail_next_create;  // answered instead of creating (no server effect)
  std::optional<Error> fail_auth;         // authenticate() fails (AAD down) until reset
  std::optional<Error> fail_next_list;
  std::optional<Error> fail_next_check;  // check() answers this (nothing proved)
  std::vector<std::string> broken;       // token ids that are listed but no longer work
  bool never_expire = false;             // token/create answers expiry_time -1

  // ---- what was called ----
  int auth_calls = 0;
  int create_calls = 0;
  int list_calls = 0;
  int check_calls = 0;
  std::vector<std::string> removed;      // every token/delete asked for, in order
  std::vector<Seconds> lifetimes;        // every lifetime asked for
  std::vector<std::string> create_auth;  // the Authorization each create was sent with
  std::deque<HeldCreate> held_creates;
  std::deque<HeldRemove> held_removes;
  std::deque<std::function<void(Result<std::vector<PatInfo>>)>> held_lists;

  // Each answer carries a header of its own ("Bearer aad-<n>"), so tests can tell which
  // authenticate() a create was sent with.
  void authenticate(std::function<void(Result<WorkspaceHeaders>)> done) override {
    ++auth_calls;
    Result<WorkspaceHeaders> h =
        fail_auth ? Result<WorkspaceHeaders>(*fail_auth)
                  : Result<WorkspaceHeaders>(WorkspaceHeaders{
                        "https://adb-1.azuredatabricks.net",
                        TimePoint::max(),
                        {{"Authorization", "Bearer aad-" + std::to_string(auth_calls)}}});
    rt_.post([done = std::move(done), h = std::move(h)]() mutable { done(std::move(h)); });
  }

  void create(WorkspaceHeaders auth, Seconds lifetime, const std::string& comment,
              std::function<void(Result<MintedPat>)> done) override {
    ++create_calls;
    lifetimes.push_back(lifetime);
    create_auth.push_back(auth.headers.empty() ? std::string() : auth.headers.front().second);
    if (hold_creates) {
      held_creates.push_back({std::move(auth), lifetime, comment, std::move(done)});
      return;
    }
    auto r = apply_create(lifetime, comment);
    rt_.post([done = std::move(done), r = std::move(r)]() mutable { done(std::move(r)); });
  }

  void list(std::function<void(Result<std::vector<PatInfo>>)> done) override {
    ++list_calls;
    if (hold_lists) {
      held_lists.push_back(std::move(done));
      return;
    }
    Result<std::vector<PatInfo>> r = fail_next_list ? Result<std::vector<PatInfo>>(*fail_next_list)
                                                    : Result<std::vector<PatInfo>>(valid_infos());
    fail_next_list.reset();
    rt_.post([done = std::move(done), r = std::move(r)]() mutable { done(std::move(r)); });
  }

  void remove(const std::string& token_id, std::function<void(Status)> done) override {
    removed.push_back(token_id);
    if (hold_removes) {
      held_removes.push_back({token_id, std::move(done)});
      return;
    }
    tokens.erase(token_id);  // unknown ids are RESOURCE_DOES_NOT_EXIST: success
    rt_.post([done = std::move(done)] { done(ok_status()); });
  }

  void check(const std::string& value, const std::string& token_id,
             std::function<void(Result<bool>)> done) override {
    ++check_calls;
    Result<bool> r = false;
    if (fail_next_check) {
      r = *fail_next_check;
      fail_next_check.reset();
    } else {
      auto it = tokens.find(token_id);
      const bool valid = it != tokens.end() && it->second.value == value &&
                         (!it->second.info.expires || *it->second.info.expires > rt_.now());
      r = valid && std::find(broken.begin(), broken.end(), token_id) == broken.end();
    }
    rt_.post([done = std::move(done), r = std::move(r)]() mutable { done(std::move(r)); });
  }

  // ---- driving held calls ----
  // Applies the oldest held create server-side and delivers its answer.
  void answer_create() {
    auto h = pop(held_creates);
    h.done(apply_create(h.lifetime, h.comment));
  }
  // The create reached the server and took effect, but its answer never arrives (dropped
  // connection, or the daemon died before it could record the id).
  void apply_create_and_drop() {
    auto h = pop(held_creates);
    (void)apply_create(h.lifetime, h.comment);
  }
  // The create took effect server-side, but the answer is an error (e.g. the connection dropped).
  void apply_create_and_fail(Error e) {
    auto h = pop(held_creates);
    (void)apply_create(h.lifetime, h.comment);
    h.done(std::move(e));
  }
  // The answer is an error; nothing happened server-side.
  void fail_create(Error e) { pop(held_creates).done(std::move(e)); }
  // Lost before reaching the server: nothing happens, no answer (the daemon died).
  void drop_create() { (void)pop(held_creates); }
  void answer_remove() {
    auto h = pop(held_removes);
    tokens.erase(h.token_id);
    h.done(ok_status());
  }
  void answer_list() { pop(held_lists)(valid_infos()); }
  // A crash: every held call is forgotten, no answer will come.
  void drop_held() {
    held_creates.clear();
    held_removes.clear();
    held_lists.clear();
  }

  // ---- inspecting the workspace ----
  std::vector<PatInfo> valid_infos() const {
    std::vector<PatInfo> out;
    for (const auto& [id, t] : tokens)
      if (!t.info.expires || *t.info.expires > rt_.now()) out.push_back(t.info);
    return out;
  }
  int count_unexpired_with_prefix(const std::string& prefix) const {
    int n = 0;
    for (const auto& info : valid_infos())
      if (info.comment.rfind(prefix, 0) == 0) ++n;
    return n;
  }
  // A token someone else made (a human, another tool or agent).
  std::string add_foreign(const std::string& comment, Seconds lifetime) {
    std::string id = "foreign-" + std::to_string(next_id_++);
    tokens[id] = Token{PatInfo{id, comment, rt_.now(), rt_.now() + lifetime}, "dapi-foreign"};
    return id;
  }

 private:
  template <class T>
  static T pop(std::deque<T>& q) {
    T t = std::move(q.front());
    q.pop_front();
    return t;
  }

  Result<MintedPat> apply_create(Seconds lifetime, const std::string& comment) {
    if (fail_next_create) {
      Error e = *fail_next_create;
      fail_next_create.reset();
      return e;
    }
    if (static_cast<int>(valid_infos().size()) >= quota) {
      Error e = make_error(ErrorCode::quota_exhausted,
                           "Databricks token/create at https://adb-1.azuredatabricks.net failed: "
                           "HTTP 400 QUOTA_EXCEEDED: Cannot create more than 600 tokens");
      e.upstream_status = 400;
      return e;
    }
    const std::string id = "tok-" + std::to_string(next_id_++);
    PatInfo info{id, comment, rt_.now(), rt_.now() + lifetime};
    if (never_expire) info.expires.reset();
    const std::string value = "dapi-secret-" + id;
    tokens[id] = Token{info, value};
    return MintedPat{value, info};
  }

  FakeRuntime& rt_;
  int next_id_ = 1;
};

}  // namespace dbx::testing
