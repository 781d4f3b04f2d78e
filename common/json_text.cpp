#include "common/json_text.h"

#include <algorithm>
#include <boost/json/basic_parser_impl.hpp>
#include <boost/json/parse_options.hpp>
#include <boost/json/stream_parser.hpp>

namespace dbx {

namespace json = boost::json;

// Parses with comments and trailing commas allowed; a syntax error names line and column.
std::optional<json::value> parse_json_text(const std::string& text, ProblemSink& sink) {
  json::parse_options options;
  options.allow_comments = true;
  options.allow_trailing_commas = true;
  json::stream_parser parser({}, options);
  json::error_code ec;
  std::size_t consumed = parser.write_some(text.data(), text.size(), ec);
  std::string message;
  if (ec) {
    message = ec.message();
  } else if (consumed < text.size()) {
    message = "unexpected text after the end of the JSON document";
  } else {
    parser.finish(ec);
    if (ec) message = ec.message();
  }
  if (message.empty()) {
    std::vector<std::string> duplicates = find_duplicate_keys(text);
    for (const std::string& path : duplicates) {
      sink.add(path, "duplicate key (only one may be given)");
    }
    if (!duplicates.empty()) return std::nullopt;
    return parser.release();
  }
  std::size_t line = 1, column = 1;
  for (std::size_t i = 0; i < consumed && i < text.size(); ++i) {
    if (text[i] == '\n') {
      ++line;
      column = 1;
    } else {
      ++column;
    }
  }
  sink.lines.push_back("line " + std::to_string(line) + ", column " + std::to_string(column) +
                       ": invalid JSON: " + message);
  return std::nullopt;
}

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
