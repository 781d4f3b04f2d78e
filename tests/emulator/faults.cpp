// Fault queues and request counters (see faults.h).
#include "tests/emulator/faults.h"

#include <boost/json.hpp>

namespace emu {

std::string_view endpoint_name(Endpoint e) {
  return kEndpointNames[static_cast<std::size_t>(e)];
}

std::optional<Endpoint> endpoint_from_name(std::string_view name) {
  for (std::size_t i = 0; i < kEndpointCount; ++i) {
    if (kEndpointNames[i] == name) return static_cast<Endpoint>(i);
  }
  return std::nullopt;
}

std::optional<std::pair<Endpoint, Fault>> Fault::from_json(const boost::json::value& v,
                                                           std::string& error) {
  if (!v.is_object()) {
    error = "expected a JSON object";
    return std::nullopt;
  }
  const auto& o = v.as_object();
  Fault f;
  std::optional<Endpoint> endpoint;
  for (const auto& [key, val] : o) {
    if (key == "endpoint") {
      if (val.is_string()) endpoint = endpoint_from_name(val.as_string());
      if (!endpoint) {
        error = "endpoint: expected one of";
        for (std::size_t i = 0; i < kEndpointCount; ++i) {
          error += std::string(i == 0 ? " " : "|") + std::string(kEndpointNames[i]);
        }
        return std::nullopt;
      }
    } else if (key == "status") {
      if (!val.is_int64() || val.as_int64() < 100 || val.as_int64() > 599) {
        error = "status: expected an HTTP status code";
        return std::nullopt;
      }
      f.status = static_cast<int>(val.as_int64());
    } else if (key == "body") {
      if (!val.is_string()) {
        error = "body: expected a string";
        return std::nullopt;
      }
      f.body = std::string(val.as_string());
    } else if (key == "headers") {
      if (!val.is_object()) {
        error = "headers: expected an object of strings";
        return std::nullopt;
      }
      for (const auto& [hk, hv] : val.as_object()) {
        if (!hv.is_string()) {
          error = "headers." + std::string(hk) + ": expected a string";
          return std::nullopt;
        }
        f.headers.emplace_back(std::string(hk), std::string(hv.as_string()));
      }
    } else if (key == "delay_ms") {
      if (!val.is_int64() || val.as_int64() < 0) {
        error = "delay_ms: expected a non-negative integer";
        return std::nullopt;
      }
      f.delay_ms = val.as_int64();
    } else if (key == "drop" || key == "malformed") {
      if (!val.is_bool()) {
        error = std::string(key) + ": expected true or false";
        return std::nullopt;
      }
      (key == "drop" ? f.drop : f.malformed) = val.as_bool();
    } else if (key == "count") {
      if (val.is_null()) continue;
      if (!val.is_int64() || val.as_int64() < 1) {
        error = "count: expected a positive integer";
        return std::nullopt;
      }
      f.remaining = val.as_int64();
    } else {
      error = "unknown key '" + std::string(key) + "'";
      return std::nullopt;
    }
  }
  if (!endpoint) {
    error = "endpoint: required";
    return std::nullopt;
  }
  return std::make_pair(*endpoint, std::move(f));
}

boost::json::value Fault::to_json() const {
  boost::json::object o;
  if (status) o["status"] = *status;
  if (body) o["body"] = *body;
  if (!headers.empty()) {
    boost::json::object h;
    for (const auto& [k, v] : headers) h[k] = v;
    o["headers"] = std::move(h);
  }
  if (delay_ms) o["delay_ms"] = delay_ms;
  if (drop) o["drop"] = true;
  if (malformed) o["malformed"] = true;
  if (remaining) o["count"] = *remaining;
  return o;
}

void FaultTable::clear() {
  for (auto& q : queues_) q.clear();
}

std::optional<Fault> FaultTable::take(Endpoint e) {
  auto& q = queues_[index(e)];
  if (q.empty()) return std::nullopt;
  Fault f = q.front();
  if (q.front().remaining && --*q.front().remaining <= 0) q.pop_front();
  return f;
}

boost::json::value FaultTable::to_json() const {
  boost::json::object o;
  for (std::size_t i = 0; i < kEndpointCount; ++i) {
    if (queues_[i].empty()) continue;
    boost::json::array a;
    for (const auto& f : queues_[i]) a.push_back(f.to_json());
    o[kEndpointNames[i]] = std::move(a);
  }
  return o;
}

void Counters::record(Endpoint e, std::int64_t now_ms) {
  auto i = static_cast<std::size_t>(e);
  ++counts_[i];
  times_[i].push_back(now_ms);
  if (times_[i].size() > kMaxTimes) times_[i].pop_front();
}

void Counters::reset() {
  counts_ = {};
  for (auto& t : times_) t.clear();
}

boost::json::value Counters::to_json() const {
  boost::json::object o;
  boost::json::object times;
  for (std::size_t i = 0; i < kEndpointCount; ++i) {
    o[kEndpointNames[i]] = counts_[i];
    boost::json::array a;
    for (auto t : times_[i]) a.push_back(t);
    times[kEndpointNames[i]] = std::move(a);
  }
  o["times"] = std::move(times);
  return o;
}

}  // namespace emu
