#include "client/status_format.h"

#include <algorithm>
#include <array>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <climits>
#include <ctime>
#include <string_view>
#include <vector>

#include "client/daemon_api.h"
#include "common/duration.h"

namespace dbx::cli {

namespace {

namespace json = boost::json;

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// Keys whose integer values are epoch seconds: expires_at, next_refresh, next_rotation, …
bool is_time_key(std::string_view key) {
  return ends_with(key, "_at") || key.substr(0, 5) == "next_" || key == "expires_on";
}

std::optional<std::int64_t> as_int(const json::value& v) {
  if (v.is_int64()) return v.as_int64();
  if (v.is_uint64() && v.as_uint64() <= static_cast<std::uint64_t>(INT64_MAX)) {
    return static_cast<std::int64_t>(v.as_uint64());
  }
  if (v.is_double()) return static_cast<std::int64_t>(v.as_double());
  return std::nullopt;
}

bool is_scalar(const json::value& v) {
  return !v.is_object() && !v.is_array();
}

std::string format_scalar(std::string_view key, const json::value& v, TimePoint now) {
  if (v.is_null()) return "-";
  if (v.is_bool()) return v.as_bool() ? "yes" : "no";
  if (v.is_string()) {
    std::string s = one_line(v.as_string());
    return s.empty() ? "-" : s;
  }
  if (auto n = as_int(v)) {
    if (is_time_key(key)) {
      if (*n <= 0) return "-";
      return iso8601_utc(*n) + " (" + relative_time(*n - to_unix_seconds(now)) + ")";
    }
    if (ends_with(key, "_seconds")) return format_duration(Seconds(*n));
  }
  return json::serialize(v);
}

// The value that names an element of an array of objects, and its key.
std::pair<std::string, std::string> heading_of(const json::object& o) {
  for (std::string_view key : {"name", "resource", "id", "token_id"}) {
    if (auto* v = o.if_contains(key); v && v->is_string()) {
      return {std::string(key), one_line(v->as_string())};
    }
  }
  return {"", "-"};
}

void render_object(const json::object& o, int indent, TimePoint now, std::string& out,
                   std::string_view skip_key = {});

void render_entry(std::string_view key, const json::value& v, int indent, std::size_t width,
                  TimePoint now, std::string& out) {
  std::string pad(static_cast<std::size_t>(indent), ' ');
  std::string label = one_line(key) + ":";
  auto scalar_line = [&](const std::string& text) {
    out += pad + label + std::string(width + 2 - label.size(), ' ') + text + "\n";
  };
  if (is_scalar(v)) {
    scalar_line(format_scalar(key, v, now));
    return;
  }
  if (v.is_object()) {
    if (v.as_object().empty()) {
      scalar_line("-");
      return;
    }
    out += pad + label + "\n";
    render_object(v.as_object(), indent + 2, now, out);
    return;
  }
  const json::array& a = v.as_array();
  if (a.empty()) {
    scalar_line("none");
    return;
  }
  if (std::all_of(a.begin(), a.end(), is_scalar)) {
    std::string joined;
    for (const auto& e : a) {
      if (!joined.empty()) joined += ", ";
      joined += format_scalar(key, e, now);
    }
    scalar_line(joined);
    return;
  }
  out += pad + label + "\n";
  std::string inner(static_cast<std::size_t>(indent + 2), ' ');
  for (const auto& e : a) {
    if (e.is_object()) {
      auto [heading_key, heading] = heading_of(e.as_object());
      out += inner + heading + "\n";
      render_object(e.as_object(), indent + 4, now, out, heading_key);
    } else if (e.is_array()) {
      out += inner + "- " + one_line(json::serialize(e)) + "\n";
    } else {
      out += inner + "- " + format_scalar(key, e, now) + "\n";
    }
  }
}

void render_object(const json::object& o, int indent, TimePoint now, std::string& out,
                   std::string_view skip_key) {
  std::size_t width = 0;
  for (const auto& [k, v] : o) {
    if (k != skip_key) width = std::max(width, one_line(k).size() + 1);
  }
  for (const auto& [k, v] : o) {
    if (k != skip_key) render_entry(k, v, indent, width, now, out);
  }
}

}  // namespace

std::string iso8601_utc(std::int64_t unix_seconds) {
  std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  if (!gmtime_r(&t, &tm)) return std::to_string(unix_seconds);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string relative_time(std::int64_t delta_seconds) {
  if (delta_seconds == 0) return "now";
  std::int64_t abs = delta_seconds < 0 ? -delta_seconds : delta_seconds;
  if (abs >= 86400) {
    abs -= abs % 3600;
  } else if (abs >= 60) {
    abs -= abs % 60;
  }
  std::string d = format_duration(Seconds(abs));
  return delta_seconds > 0 ? "in " + d : d + " ago";
}

std::string format_status(const json::object& status, TimePoint now) {
  std::string out = "dbxcredd";
  // The header line takes version and uptime when they have the expected types; otherwise they
  // are rendered with the rest.
  bool version_shown = false;
  bool uptime_shown = false;
  if (auto* v = status.if_contains("version"); v && v->is_string()) {
    // Appended piecewise: `" " + std::string&&` trips GCC 12's -Wrestrict false positive at -O2
    // (GCC bug 105329).
    out += ' ';
    out += one_line(v->as_string());
    version_shown = true;
  }
  if (auto* v = status.if_contains("uptime_seconds")) {
    if (auto n = as_int(*v)) {
      out += ", up ";
      out += format_duration(Seconds(*n));
      uptime_shown = true;
    }
  }
  out += "\n";
  // Copied key by key: json::object::erase would move the last key into the gap, and the daemon's
  // order is the most readable one.
  json::object rest;
  for (const auto& [k, v] : status) {
    if ((k == "version" && version_shown) || (k == "uptime_seconds" && uptime_shown)) continue;
    rest.emplace(k, v);
  }
  render_object(rest, 0, now, out);
  return out;
}

std::string format_workspaces(const json::object& answer) {
  std::vector<std::array<std::string, 3>> rows;
  if (auto* list = answer.if_contains("workspaces"); list && list->is_array()) {
    for (const auto& w : list->as_array()) {
      if (!w.is_object()) continue;
      const auto& o = w.as_object();
      std::array<std::string, 3> row{"-", "-", "-"};
      if (auto* v = o.if_contains("name"); v && v->is_string()) row[0] = one_line(v->as_string());
      if (auto* v = o.if_contains("host"); v && v->is_string()) row[1] = one_line(v->as_string());
      if (auto* v = o.if_contains("pat")) {
        // "pat" is a boolean in /v1/workspaces; tolerate an object with "enabled" too.
        if (v->is_bool()) {
          row[2] = v->as_bool() ? "yes" : "no";
        } else if (v->is_object()) {
          auto* e = v->as_object().if_contains("enabled");
          if (e && e->is_bool()) row[2] = e->as_bool() ? "yes" : "no";
        }
      }
      row[2] = "pat " + row[2];
      rows.push_back(std::move(row));
    }
  }
  std::size_t w0 = 0, w1 = 0;
  for (const auto& r : rows) {
    w0 = std::max(w0, r[0].size());
    w1 = std::max(w1, r[1].size());
  }
  std::string out;
  for (const auto& r : rows) {
    out += r[0] + std::string(w0 - r[0].size() + 2, ' ') + r[1] +
           std::string(w1 - r[1].size() + 2, ' ') + r[2] + "\n";
  }
  return out;
}

}  // namespace dbx::cli
