#include "common/json_reader.h"

#include <algorithm>
#include <boost/json/basic_parser_impl.hpp>
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

}  // namespace dbx

namespace dbx {

namespace {

// A boost::json::basic_parser handler that only follows the structure: a stack of containers,
// each with the keys seen so far (objects) or the next index (arrays).
class DuplicateKeyHandler {
 public:
  static constexpr std::size_t max_object_size = std::size_t(-1);
  static constexpr std::size_t max_array_size = std::size_t(-1);
  static constexpr std::size_t max_key_size = std::size_t(-1);
  static constexpr std::size_t max_string_size = std::size_t(-1);

  std::vector<std::string> duplicates;

  bool on_document_begin(json::error_code&) { return true; }
  bool on_document_end(json::error_code&) { return true; }
  bool on_object_begin(json::error_code&) { return begin(false); }
  bool on_object_end(std::size_t, json::error_code&) { return end(); }
  bool on_array_begin(json::error_code&) { return begin(true); }
  bool on_array_end(std::size_t, json::error_code&) { return end(); }
  bool on_key_part(std::string_view s, std::size_t, json::error_code&) {
    key_ += s;
    return true;
  }
  bool on_key(std::string_view s, std::size_t, json::error_code&) {
    key_ += s;
    Level& top = stack_.back();
    if (std::find(top.keys.begin(), top.keys.end(), key_) != top.keys.end()) {
      duplicates.push_back(join_path(top.path, key_));
    } else {
      top.keys.push_back(key_);
    }
    top.current = key_;
    key_.clear();
    return true;
  }
  bool on_string_part(std::string_view, std::size_t, json::error_code&) { return true; }
  bool on_string(std::string_view, std::size_t, json::error_code&) { return scalar(); }
  bool on_number_part(std::string_view, json::error_code&) { return true; }
  bool on_int64(std::int64_t, std::string_view, json::error_code&) { return scalar(); }
  bool on_uint64(std::uint64_t, std::string_view, json::error_code&) { return scalar(); }
  bool on_double(double, std::string_view, json::error_code&) { return scalar(); }
  bool on_bool(bool, json::error_code&) { return scalar(); }
  bool on_null(json::error_code&) { return scalar(); }
  bool on_comment_part(std::string_view, json::error_code&) { return true; }
  bool on_comment(std::string_view, json::error_code&) { return true; }

 private:
  struct Level {
    bool array = false;
    std::string path;
    std::vector<std::string> keys;  // objects: keys seen so far
    std::string current;            // objects: the key whose value comes next
    std::size_t index = 0;          // arrays: the index of the next element
  };

  // The path of the value about to start, advancing an enclosing array's index.
  std::string next_path() {
    if (stack_.empty()) return "";
    Level& top = stack_.back();
    if (top.array) return top.path + "[" + std::to_string(top.index++) + "]";
    return join_path(top.path, top.current);
  }
  bool begin(bool array) {
    std::string path = next_path();
    stack_.push_back(Level{array, std::move(path), {}, {}, 0});
    return true;
  }
  bool end() {
    stack_.pop_back();
    return true;
  }
  bool scalar() {
    next_path();
    return true;
  }

  std::vector<Level> stack_;
  std::string key_;
};

}  // namespace

std::vector<std::string> find_duplicate_keys(std::string_view text) {
  json::parse_options options;
  options.allow_comments = true;
  options.allow_trailing_commas = true;
  json::basic_parser<DuplicateKeyHandler> parser(options);
  json::error_code ec;
  parser.write_some(false, text.data(), text.size(), ec);
  return std::move(parser.handler().duplicates);
}

}  // namespace dbx
