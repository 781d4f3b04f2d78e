#include "common/json_reader.h"

#include <algorithm>
#include <boost/json/serialize.hpp>

#include "common/duration.h"

namespace dbx {

namespace json = boost::json;

namespace {
// Values echoed in problems are cut so one line stays one readable line.
constexpr std::size_t kMaxEchoedChars = 60;
}  // namespace

std::string join_path(const std::string& parent, std::string_view key) {
  if (parent.empty()) return std::string(key);
  std::string out = parent;
  out += '.';
  out += key;
  return out;
}

std::string kind_of(const json::value& v) {
  switch (v.kind()) {
    case json::kind::null:
      return "null";
    case json::kind::bool_:
      return "a boolean";
    case json::kind::int64:
    case json::kind::uint64:
    case json::kind::double_:
      return "a number";
    case json::kind::string:
      return "a string";
    case json::kind::array:
      return "an array";
    case json::kind::object:
      return "an object";
  }
  return "a value";
}

std::string describe(const json::value& v) {
  switch (v.kind()) {
    case json::kind::string: {
      std::string s = json::serialize(v);  // quoted and escaped
      if (s.size() > kMaxEchoedChars) s = s.substr(0, kMaxEchoedChars) + "...\"";
      return s;
    }
    case json::kind::array:
    case json::kind::object:
      return kind_of(v);
    default:
      return json::serialize(v);
  }
}

ObjectReader::ObjectReader(const json::object& object, std::string path, ProblemSink sink)
    : object_(object), path_(std::move(path)), sink_(sink) {}

const json::value* ObjectReader::get(std::string_view key) {
  if (std::find(known_.begin(), known_.end(), key) == known_.end()) known_.emplace_back(key);
  const json::value* v = object_.if_contains(key);
  if (v == nullptr || v->is_null()) return nullptr;
  return v;
}

std::optional<std::string> ObjectReader::string(std::string_view key) {
  const json::value* v = get(key);
  if (v == nullptr) return std::nullopt;
  if (!v->is_string()) {
    problem(key, "expected a string, got " + describe(*v));
    return std::nullopt;
  }
  return std::string(v->get_string());
}

std::optional<std::string> ObjectReader::secret_string(std::string_view key) {
  const json::value* v = get(key);
  if (v == nullptr) return std::nullopt;
  if (!v->is_string()) {
    problem(key, "expected a string, got " + kind_of(*v));
    return std::nullopt;
  }
  return std::string(v->get_string());
}

std::optional<bool> ObjectReader::boolean(std::string_view key) {
  const json::value* v = get(key);
  if (v == nullptr) return std::nullopt;
  if (!v->is_bool()) {
    problem(key, "expected true or false, got " + describe(*v));
    return std::nullopt;
  }
  return v->get_bool();
}

namespace {
std::optional<std::int64_t> as_integer(const json::value& v) {
  if (v.is_int64()) return v.get_int64();
  if (v.is_uint64() && v.get_uint64() <= static_cast<std::uint64_t>(INT64_MAX)) {
    return static_cast<std::int64_t>(v.get_uint64());
  }
  return std::nullopt;
}
}  // namespace

std::optional<std::int64_t> ObjectReader::integer(std::string_view key, std::int64_t min,
                                                  std::int64_t max) {
  const json::value* v = get(key);
  if (v == nullptr) return std::nullopt;
  std::optional<std::int64_t> n = as_integer(*v);
  if (!n || *n < min || *n > max) {
    problem(key, "expected an integer from " + std::to_string(min) + " to " + std::to_string(max) +
                     ", got " + describe(*v));
    return std::nullopt;
  }
  return n;
}

std::optional<Seconds> ObjectReader::duration(std::string_view key) {
  const json::value* v = get(key);
  if (v == nullptr) return std::nullopt;
  std::optional<Seconds> d;
  if (v->is_string()) d = parse_duration(v->get_string());
  if (!d) {
    problem(key, "expected a duration like \"1h\", got " + describe(*v));
    return std::nullopt;
  }
  return d;
}

const json::object* ObjectReader::object(std::string_view key) {
  const json::value* v = get(key);
  if (v == nullptr) return nullptr;
  if (!v->is_object()) {
    problem(key, "expected an object, got " + describe(*v));
    return nullptr;
  }
  return &v->get_object();
}

std::optional<std::vector<std::string>> ObjectReader::string_array(std::string_view key) {
  const json::value* v = get(key);
  if (v == nullptr) return std::nullopt;
  if (!v->is_array()) {
    problem(key, "expected an array of strings, got " + describe(*v));
    return std::nullopt;
  }
  std::vector<std::string> out;
  bool ok = true;
  const json::array& a = v->get_array();
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (!a[i].is_string() || a[i].get_string().empty()) {
      sink_.add(path(key) + "[" + std::to_string(i) + "]",
                "expected a non-empty string, got " + describe(a[i]));
      ok = false;
      continue;
    }
    out.emplace_back(a[i].get_string());
  }
  if (!ok) return std::nullopt;
  return out;
}

std::optional<std::vector<std::int64_t>> ObjectReader::integer_array(std::string_view key,
                                                                     std::int64_t min,
                                                                     std::int64_t max) {
  const json::value* v = get(key);
  if (v == nullptr) return std::nullopt;
  if (!v->is_array()) {
    problem(key, "expected an array of integers, got " + describe(*v));
    return std::nullopt;
  }
  std::vector<std::int64_t> out;
  bool ok = true;
  const json::array& a = v->get_array();
  for (std::size_t i = 0; i < a.size(); ++i) {
    std::optional<std::int64_t> n = as_integer(a[i]);
    if (!n || *n < min || *n > max) {
      sink_.add(path(key) + "[" + std::to_string(i) + "]",
                "expected an integer from " + std::to_string(min) + " to " + std::to_string(max) +
                    ", got " + describe(a[i]));
      ok = false;
      continue;
    }
    out.push_back(*n);
  }
  if (!ok) return std::nullopt;
  return out;
}

void ObjectReader::missing(std::string_view key, const std::string& why) {
  problem(key, "missing (" + why + ")");
}

void ObjectReader::finish(const std::string& context) {
  std::string known;
  for (const std::string& k : known_) {
    if (!known.empty()) known += ", ";
    known += k;
  }
  for (const auto& member : object_) {
    std::string_view key = member.key();
    if (std::find(known_.begin(), known_.end(), key) != known_.end()) continue;
    std::string message = "unknown key";
    if (!context.empty()) message += " " + context;
    message += known.empty() ? " (no keys allowed here)" : " (known: " + known + ")";
    problem(key, message);
  }
}

std::string join_list(const std::vector<std::string>& items, const char* separator) {
  std::string out;
  for (const std::string& s : items) {
    if (!out.empty()) out += separator;
    out += s;
  }
  return out;
}

std::string quoted(const std::string& s) {
  return json::serialize(json::value(s));
}

// Reads `key` as one of `allowed`; a problem lists them.
std::optional<std::string> enum_string(ObjectReader& r, std::string_view key,
                                       const std::vector<std::string>& allowed) {
  const json::value* v = r.get(key);
  if (v == nullptr) return std::nullopt;
  if (v->is_string()) {
    for (const std::string& a : allowed) {
      if (v->get_string() == a) return a;
    }
  }
  r.problem(key, "expected one of " + join_list(allowed, " | ") + ", got " + describe(*v));
  return std::nullopt;
}

// A string that must be present and non-empty.
std::optional<std::string> required_string(ObjectReader& r, std::string_view key,
                                           const std::string& why) {
  bool given = r.has(key);
  std::optional<std::string> s = r.string(key);
  if (!given) {
    r.missing(key, why);
    return std::nullopt;
  }
  if (s && s->empty()) {
    r.problem(key, "must not be empty");
    return std::nullopt;
  }
  return s;
}

// A string that, when given, must be non-empty.
std::optional<std::string> optional_nonempty(ObjectReader& r, std::string_view key) {
  std::optional<std::string> s = r.string(key);
  if (s && s->empty()) {
    r.problem(key, "must not be empty (leave it out or null for the default)");
    return std::nullopt;
  }
  return s;
}

// Checks a URL and drops trailing slashes. nullopt (after a problem) when it is not acceptable.
std::optional<std::string> url(ObjectReader& r, std::string_view key, UrlKind kind) {
  std::optional<std::string> s = r.string(key);
  if (!s) return std::nullopt;
  const std::string expected =
      kind == UrlKind::http_or_https ? "an http:// or https:// URL"
      : kind == UrlKind::https_host_only
          ? "an https:// URL without a path, like https://adb-1.2.azuredatabricks.net"
          : "an https:// URL";
  auto bad = [&] {
    r.problem(key, "expected " + expected + ", got " + quoted(*s));
    return std::nullopt;
  };
  std::string_view rest = *s;
  if (rest.starts_with("https://")) {
    rest.remove_prefix(8);
  } else if (kind == UrlKind::http_or_https && rest.starts_with("http://")) {
    rest.remove_prefix(7);
  } else {
    return bad();
  }
  std::size_t host_end = rest.find('/');
  std::string_view host = rest.substr(0, host_end);
  std::string_view path = host_end == std::string_view::npos ? "" : rest.substr(host_end);
  while (!path.empty() && path.back() == '/') path.remove_suffix(1);
  if (host.empty() || host.find_first_of("@?# \t") != std::string_view::npos) return bad();
  if (path.find_first_of("?# \t") != std::string_view::npos) return bad();
  if (kind == UrlKind::https_host_only && !path.empty()) return bad();
  return s->substr(0, s->size() - rest.size()) + std::string(host) + std::string(path);
}

}  // namespace dbx
