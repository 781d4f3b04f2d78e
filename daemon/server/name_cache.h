// NameCache: answers of the name service kept until they expire, bounded in size. The time is an
// argument (the Runtime's monotonic clock), so tests move it by hand. Loop thread only.
#pragma once

#include <cstddef>
#include <map>
#include <utility>

#include "daemon/runtime.h"

namespace dbx {

template <class Key, class Value>
class NameCache {
 public:
  explicit NameCache(std::size_t capacity) : capacity_(capacity) {}

  // The value stored for `key` if it has not expired at `now`, else nullptr (valid until the next
  // put).
  template <class K>
  const Value* fresh(const K& key, SteadyTime now) const {
    auto it = entries_.find(key);
    if (it == entries_.end() || it->second.expires <= now) return nullptr;
    return &it->second.value;
  }

  // Stores `value` until `expires`. Full: expired entries go first, then the one expiring soonest.
  void put(const Key& key, Value value, SteadyTime now, SteadyTime expires) {
    auto it = entries_.find(key);
    if (it == entries_.end() && entries_.size() >= capacity_) {
      std::erase_if(entries_, [now](const auto& kv) { return kv.second.expires <= now; });
      if (entries_.size() >= capacity_) {
        auto soonest = entries_.begin();
        for (auto e = entries_.begin(); e != entries_.end(); ++e)
          if (e->second.expires < soonest->second.expires) soonest = e;
        if (soonest != entries_.end()) entries_.erase(soonest);
      }
    }
    entries_.insert_or_assign(key, Entry{std::move(value), expires});
  }

  std::size_t size() const { return entries_.size(); }

 private:
  struct Entry {
    Value value;
    SteadyTime expires;
  };
  std::size_t capacity_;
  std::map<Key, Entry, std::less<>> entries_;
};

}  // namespace dbx
