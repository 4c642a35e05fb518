#include "api/model/yaml.h"

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <limits>
#include <map>
#include <optional>
#include <regex>
#include <set>
#include <sstream>
#include <string_view>

#include "api/util/api_error.h"

namespace minimcp::model {

namespace {

using nlohmann::json;

// Alias expansion can multiply a small document ("billion laughs"); a 1 MiB body never holds
// more nodes than this without aliases.
constexpr size_t kMaxNodes = 1'000'000;

ApiError yamlError(const YAML::Mark& mark, const std::string& msg) {
  if (mark.is_null()) return ApiError::BadRequest("error parsing YAML: " + msg);
  return ApiError::BadRequest("error parsing YAML: line " + std::to_string(mark.line + 1) +
                              ", column " + std::to_string(mark.column + 1) + ": " + msg);
}

bool validUtf8(const std::string& s) {
  size_t i = 0;
  while (i < s.size()) {
    unsigned char c = s[i];
    size_t n;
    uint32_t cp;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xe0) == 0xc0) {
      n = 1;
      cp = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
      n = 2;
      cp = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
      n = 3;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + n >= s.size()) return false;
    for (size_t k = 1; k <= n; ++k) {
      unsigned char cc = s[i + k];
      if ((cc & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3f);
    }
    static constexpr uint32_t kMin[] = {0, 0x80, 0x800, 0x10000};
    if (cp < kMin[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
    i += n + 1;
  }
  return true;
}

bool isNullWord(const std::string& s) {
  return s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL";
}

std::optional<bool> boolWord(const std::string& s) {
  if (s == "true" || s == "True" || s == "TRUE") return true;
  if (s == "false" || s == "False" || s == "FALSE") return false;
  return std::nullopt;
}

// A number the API cannot hold: thrown while resolving a scalar, reported with its mark.
struct NumberOutOfRange {
  std::string message;
};

[[noreturn]] void integerOutOfRange(const std::string& s) {
  throw NumberOutOfRange{"the number " + s + " is out of range (integers must fit in 64 bits)"};
}

std::optional<json> intWord(const std::string& s) {
  static const std::regex kDec("[-+]?[0-9]+");
  static const std::regex kOct("0o[0-7]+");
  static const std::regex kHex("0x[0-9a-fA-F]+");
  int base;
  std::string digits;
  bool negative = false;
  if (std::regex_match(s, kDec)) {
    base = 10;
    negative = s[0] == '-';
    digits = (s[0] == '-' || s[0] == '+') ? s.substr(1) : s;
  } else if (std::regex_match(s, kOct)) {
    base = 8;
    digits = s.substr(2);
  } else if (std::regex_match(s, kHex)) {
    base = 16;
    digits = s.substr(2);
  } else {
    return std::nullopt;
  }
  uint64_t magnitude = 0;
  auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), magnitude, base);
  if (ec != std::errc() || ptr != digits.data() + digits.size()) integerOutOfRange(s);
  constexpr auto kMax = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
  if (!negative) {
    if (magnitude > kMax) integerOutOfRange(s);
    return json(static_cast<int64_t>(magnitude));
  }
  if (magnitude > kMax + 1) integerOutOfRange(s);
  return json(static_cast<int64_t>(0 - magnitude));
}

// JSON has no infinities or NaN, and a float that overflows is not the number written.
std::optional<json> floatWord(const std::string& s) {
  static const std::regex kFloat("[-+]?(\\.[0-9]+|[0-9]+(\\.[0-9]*)?)([eE][-+]?[0-9]+)?");
  if (std::regex_match(s, kFloat)) {
    double v = std::strtod(s.c_str(), nullptr);
    if (!std::isfinite(v)) throw NumberOutOfRange{"the number " + s + " is out of range"};
    return json(v);
  }
  static const std::regex kSpecial("[-+]?\\.(inf|Inf|INF)|\\.(nan|NaN|NAN)");
  if (std::regex_match(s, kSpecial)) {
    throw NumberOutOfRange{s + " is not a number JSON can hold"};
  }
  return std::nullopt;
}

// YAML 1.2 core schema resolution of a plain scalar.
json resolvePlain(const std::string& s) {
  if (isNullWord(s)) return nullptr;
  if (auto b = boolWord(s)) return *b;
  // Cheap pre-filter: std::regex is slow and most scalars are words.
  if (!std::isdigit(static_cast<unsigned char>(s[0])) && s[0] != '-' && s[0] != '+' &&
      s[0] != '.') {
    return s;
  }
  if (auto i = intWord(s)) return *i;
  if (auto f = floatWord(s)) return *f;
  return s;
}

// Builds JSON values from yaml-cpp parser events, so that scalar style (plain vs quoted),
// marks for errors and nesting depth are all visible.
class JsonBuilder : public YAML::EventHandler {
 public:
  explicit JsonBuilder(int maxDepth) : maxDepth_(maxDepth) {}

  std::vector<json> documents;

  void OnDocumentStart(const YAML::Mark&) override {
    stack_.clear();
    root_.reset();
  }
  void OnDocumentEnd() override {
    // Empty documents (only comments, or "---" alone) are skipped, as kubectl does.
    if (root_ && !root_->is_null()) documents.push_back(std::move(*root_));
    root_.reset();
  }

  void OnNull(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    add(mark, nullptr, anchor, 1, 0, std::nullopt);
  }

  void OnAlias(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    auto it = anchors_.find(anchor);
    if (it == anchors_.end()) throw yamlError(mark, "unknown anchor");
    const Anchored& a = it->second;
    add(mark, a.value, 0, a.nodes, a.height,
        a.value.is_string() ? std::optional<std::string>(a.value.get<std::string>())
                            : std::nullopt);
  }

  void OnScalar(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor,
                const std::string& value) override {
    if (!validUtf8(value)) throw yamlError(mark, "invalid UTF-8 in scalar");
    json v = resolve(mark, tag, value);
    // Mapping keys are the scalar's text whatever it resolves to (key `1` is "1").
    add(mark, std::move(v), anchor, 1, 0, value);
  }

  void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                       YAML::EmitterStyle::value) override {
    start(mark, json::array(), anchor);
  }
  void OnSequenceEnd() override { end(); }

  void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                  YAML::EmitterStyle::value) override {
    start(mark, json::object(), anchor);
  }
  void OnMapEnd() override {
    if (stack_.back().key) throw yamlError(stack_.back().mark, "mapping key without value");
    end();
  }

 private:
  struct Frame {
    json value;
    YAML::Mark mark;
    YAML::anchor_t anchor = 0;
    size_t nodes = 1;
    int height = 1;                  // levels of nesting inside this container, itself included
    std::optional<std::string> key;  // a map's key waiting for its value
  };
  struct Anchored {
    json value;
    size_t nodes;
    int height;
  };

  json resolve(const YAML::Mark& mark, const std::string& tag, const std::string& value) {
    try {
      return resolveTagged(mark, tag, value);
    } catch (const NumberOutOfRange& e) {
      throw yamlError(mark, e.message);
    }
  }

  json resolveTagged(const YAML::Mark& mark, const std::string& tag, const std::string& value) {
    if (tag == "?") return resolvePlain(value);
    if (tag == "!" || tag == "tag:yaml.org,2002:str") return value;
    std::optional<json> v;
    if (tag == "tag:yaml.org,2002:null") {
      if (isNullWord(value)) v = nullptr;
    } else if (tag == "tag:yaml.org,2002:bool") {
      if (auto b = boolWord(value)) v = *b;
    } else if (tag == "tag:yaml.org,2002:int") {
      v = intWord(value);
    } else if (tag == "tag:yaml.org,2002:float") {
      v = floatWord(value);
      if (!v) v = intWord(value);
      if (v) v = v->get<double>();
    } else {
      // Unknown (application) tags carry no meaning here: resolve as if untagged.
      return resolvePlain(value);
    }
    if (!v) throw yamlError(mark, "cannot decode \"" + value + "\" as " + tag);
    return *v;
  }

  void start(const YAML::Mark& mark, json container, YAML::anchor_t anchor) {
    if (!stack_.empty() && stack_.back().value.is_object() && !stack_.back().key) {
      throw yamlError(mark, "complex mapping keys are not supported");
    }
    if (static_cast<int>(stack_.size()) + 1 > maxDepth_) {
      throw yamlError(mark, "nesting deeper than " + std::to_string(maxDepth_) + " levels");
    }
    stack_.push_back(Frame{std::move(container), mark, anchor, 1, 1, std::nullopt});
  }

  void end() {
    Frame f = std::move(stack_.back());
    stack_.pop_back();
    add(f.mark, std::move(f.value), f.anchor, f.nodes, f.height, std::nullopt);
  }

  // Places a finished value: document root, sequence item, map key or map value.
  void add(const YAML::Mark& mark, json value, YAML::anchor_t anchor, size_t nodes, int height,
           const std::optional<std::string>& keyText) {
    totalNodes_ += nodes;
    if (totalNodes_ > kMaxNodes) throw yamlError(mark, "document has too many nodes");
    if (static_cast<int>(stack_.size()) + height > maxDepth_) {
      throw yamlError(mark, "nesting deeper than " + std::to_string(maxDepth_) + " levels");
    }
    if (anchor != 0) anchors_[anchor] = Anchored{value, nodes, height};
    if (stack_.empty()) {
      root_ = std::move(value);
      return;
    }
    Frame& top = stack_.back();
    top.nodes += nodes;
    top.height = std::max(top.height, height + 1);
    if (top.value.is_array()) {
      top.value.push_back(std::move(value));
      return;
    }
    if (!top.key) {
      if (!keyText) {
        throw yamlError(mark, "mapping keys must be non-empty scalars");
      }
      if (*keyText == "<<" && value.is_string()) {
        throw yamlError(mark, "merge keys (<<) are not supported");
      }
      if (top.value.contains(*keyText)) {
        throw yamlError(mark, "mapping key \"" + *keyText + "\" already defined");
      }
      top.key = *keyText;
      return;
    }
    top.value[*top.key] = std::move(value);
    top.key.reset();
  }

  int maxDepth_;
  std::vector<Frame> stack_;
  std::optional<json> root_;
  std::map<YAML::anchor_t, Anchored> anchors_;
  size_t totalNodes_ = 0;
};

// Strings that a YAML reader would take for something else: core-schema words, plus YAML 1.1
// booleans, timestamps and merge keys so that go-yaml (kubectl) and PyYAML read our output
// the same way.
bool needsQuotes(const std::string& s) {
  if (s.empty() || !resolvePlain(s).is_string()) return true;
  if (std::string_view("yYnNoO<=+-0123456789").find(s[0]) == std::string_view::npos) {
    return false;
  }
  static const std::regex kYaml11(
      "y|Y|yes|Yes|YES|n|N|no|No|NO|on|On|ON|off|Off|OFF|<<|=|[-+]?[0-9][0-9_]*(:[0-5]?[0-9])+"
      "|[-+]?0[0-9_]+|[-+]?0b[01_]+|[-+]?[0-9][0-9_]*(\\.[0-9_]*)?([eE][-+]?[0-9]+)?"
      "|[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}([Tt ].*)?");
  return std::regex_match(s, kYaml11);
}

// A block literal (|) reads back identically only for text ending in exactly one newline, with
// no carriage returns or control characters and a first line not starting with a space.
bool literalSafe(const std::string& s) {
  if (s.size() < 2 || s.back() != '\n' || s[s.size() - 2] == '\n') return false;
  if (s.find('\n') == s.size() - 1) return false;  // single line: quoting is clearer
  if (s[0] == ' ' || s[0] == '\n') return false;
  for (unsigned char c : s) {
    if ((c < 0x20 && c != '\n') || c == 0x7f) return false;
  }
  // Trailing spaces on a line would survive, but a line of only spaces confuses indentation.
  return s.find(" \n") == std::string::npos;
}

void emitString(YAML::Emitter& out, const std::string& s) {
  if (needsQuotes(s)) {
    out << YAML::DoubleQuoted << s;
  } else if (literalSafe(s)) {
    out << YAML::Literal << s;
  } else {
    out << s;
  }
}

std::string formatDouble(double d) {
  if (std::isnan(d)) return ".nan";
  if (std::isinf(d)) return d < 0 ? "-.inf" : ".inf";
  char buf[64];
  auto [ptr, ec] = std::to_chars(buf, buf + sizeof buf, d);
  std::string s(buf, ptr);
  // Keep it a float when read back: "1" would become an integer.
  if (s.find_first_of(".eE") == std::string::npos) s += ".0";
  return s;
}

void emit(YAML::Emitter& out, const json& v) {
  switch (v.type()) {
    case json::value_t::object:
      if (v.empty()) {
        out << YAML::Flow << YAML::BeginMap << YAML::EndMap;
        return;
      }
      out << YAML::BeginMap;
      for (auto it = v.begin(); it != v.end(); ++it) {
        out << YAML::Key;
        emitString(out, it.key());
        out << YAML::Value;
        emit(out, it.value());
      }
      out << YAML::EndMap;
      return;
    case json::value_t::array:
      if (v.empty()) {
        out << YAML::Flow << YAML::BeginSeq << YAML::EndSeq;
        return;
      }
      out << YAML::BeginSeq;
      for (const auto& item : v) emit(out, item);
      out << YAML::EndSeq;
      return;
    case json::value_t::string:
      emitString(out, v.get_ref<const std::string&>());
      return;
    case json::value_t::boolean:
      out << (v.get<bool>() ? "true" : "false");
      return;
    case json::value_t::number_integer:
      out << v.get<int64_t>();
      return;
    case json::value_t::number_unsigned:
      out << v.get<uint64_t>();
      return;
    case json::value_t::number_float:
      out << formatDouble(v.get<double>());
      return;
    default:
      out << YAML::Null;
      return;
  }
}

// Builds the JSON DOM like nlohmann's own parser, and refuses what the API cannot hold: nesting
// deeper than maxDepth, integers beyond 64 signed bits (nlohmann would keep them as lossy
// floats) and floats that overflow ("1e400").
class JsonSax {
 public:
  JsonSax(const std::string& text, json& root, int maxDepth)
      : text_(text), root_(root), maxDepth_(maxDepth) {}

  bool null() { return put(nullptr); }
  bool boolean(bool v) { return put(v); }
  bool number_integer(json::number_integer_t v) { return put(v); }
  bool number_unsigned(json::number_unsigned_t v) {
    if (v > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      integerOutOfRange(std::to_string(v));
    }
    return put(v);
  }
  bool number_float(json::number_float_t v, const std::string& text) {
    // Written without fraction or exponent: an integer too large for 64 bits.
    if (text.find_first_of(".eE") == std::string::npos) integerOutOfRange(text);
    return put(v);
  }
  bool string(std::string& v) { return put(std::move(v)); }
  bool binary(json::binary_t& v) { return put(std::move(v)); }
  bool start_object(std::size_t) { return open(json::object()); }
  bool key(std::string& k) {
    key_ = std::move(k);
    return true;
  }
  bool end_object() { return close(); }
  bool start_array(std::size_t) { return open(json::array()); }
  bool end_array() { return close(); }

  bool parse_error(std::size_t byte, const std::string&, const nlohmann::detail::exception& e) {
    size_t end = std::min<size_t>(byte > 0 ? byte - 1 : 0, text_.size());
    size_t line = 1, column = 1;
    for (size_t i = 0; i < end; ++i) {
      if (text_[i] == '\n') {
        ++line;
        column = 1;
      } else {
        ++column;
      }
    }
    // what() is "[json.exception.parse_error.101] parse error at ...: <detail>", or
    // "[json.exception.out_of_range.406] number overflow parsing '1e400'".
    std::string what = e.what();
    size_t colon = what.find(": ", what.find("parse error"));
    size_t tag = what.find("] ");
    std::string detail = colon != std::string::npos ? what.substr(colon + 2)
                         : tag != std::string::npos ? what.substr(tag + 2)
                                                    : what;
    throw ApiError::BadRequest("error parsing JSON: line " + std::to_string(line) + ", column " +
                               std::to_string(column) + ": " + detail);
  }

 private:
  bool put(json v) {
    if (stack_.empty()) {
      root_ = std::move(v);
    } else if (stack_.back()->is_array()) {
      stack_.back()->push_back(std::move(v));
    } else {
      (*stack_.back())[key_] = std::move(v);
    }
    return true;
  }
  bool open(json container) {
    if (static_cast<int>(stack_.size()) + 1 > maxDepth_) {
      throw ApiError::BadRequest("error parsing JSON: nesting deeper than " +
                                 std::to_string(maxDepth_) + " levels");
    }
    json* slot;
    if (stack_.empty()) {
      root_ = std::move(container);
      slot = &root_;
    } else if (stack_.back()->is_array()) {
      stack_.back()->push_back(std::move(container));
      slot = &stack_.back()->back();
    } else {
      slot = &((*stack_.back())[key_] = std::move(container));
    }
    stack_.push_back(slot);
    return true;
  }
  bool close() {
    stack_.pop_back();
    return true;
  }

  const std::string& text_;
  json& root_;
  int maxDepth_;
  std::vector<json*> stack_;
  std::string key_;
};

}  // namespace

std::vector<nlohmann::json> parseYamlDocuments(const std::string& text, int maxDepth) {
  std::istringstream in(text);
  JsonBuilder builder(maxDepth);
  try {
    YAML::Parser parser(in);
    while (parser.HandleNextDocument(builder)) {
    }
  } catch (const YAML::Exception& e) {
    throw yamlError(e.mark, e.msg);
  }
  return std::move(builder.documents);
}

nlohmann::json parseJson(const std::string& text, int maxDepth) {
  json root;
  JsonSax sax(text, root, maxDepth);
  try {
    json::sax_parse(text, &sax);
  } catch (const NumberOutOfRange& e) {
    throw ApiError::BadRequest("error parsing JSON: " + e.message);
  }
  return root;
}

namespace {

// Names the keys a JSON text repeats within one object (nlohmann keeps the last silently).
class DuplicateKeySax {
 public:
  std::vector<std::string> duplicates;

  bool null() { return value(); }
  bool boolean(bool) { return value(); }
  bool number_integer(json::number_integer_t) { return value(); }
  bool number_unsigned(json::number_unsigned_t) { return value(); }
  bool number_float(json::number_float_t, const std::string&) { return value(); }
  bool string(std::string&) { return value(); }
  bool binary(json::binary_t&) { return value(); }
  bool start_object(std::size_t) { return open(true); }
  bool key(std::string& k) {
    Frame& f = stack_.back();
    if (!f.keys.insert(k).second) duplicates.push_back(f.path.empty() ? k : f.path + "." + k);
    f.key = k;
    return true;
  }
  bool end_object() { return close(); }
  bool start_array(std::size_t) { return open(false); }
  bool end_array() { return close(); }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) {
    return false;  // the body's real parse reports it
  }

 private:
  struct Frame {
    bool object;
    std::string path;
    std::set<std::string> keys;
    std::string key;
    size_t index = 0;
  };
  std::string childPath() const {
    if (stack_.empty()) return "";
    const Frame& f = stack_.back();
    if (f.object) return f.path.empty() ? f.key : f.path + "." + f.key;
    return f.path + "[" + std::to_string(f.index) + "]";
  }
  bool value() {
    if (!stack_.empty() && !stack_.back().object) ++stack_.back().index;
    return true;
  }
  bool open(bool object) {
    stack_.push_back(Frame{object, childPath(), {}, {}, 0});
    return true;
  }
  bool close() {
    stack_.pop_back();
    return value();
  }
  std::vector<Frame> stack_;
};

bool looksLikeJson(const std::string& text) {
  size_t first = text.find_first_not_of(" \t\r\n");
  return first != std::string::npos && (text[first] == '{' || text[first] == '[');
}

}  // namespace

std::vector<std::string> duplicateFields(const std::string& text) {
  if (!looksLikeJson(text)) return {};  // YAML: parseYamlDocuments refuses repeated keys
  DuplicateKeySax sax;
  json::sax_parse(text, &sax, json::input_format_t::json, false);
  return std::move(sax.duplicates);
}

nlohmann::json parseJsonOrYaml(const std::string& text, int maxDepth) {
  if (looksLikeJson(text)) return parseJson(text, maxDepth);
  std::vector<json> docs = parseYamlDocuments(text, maxDepth);
  if (docs.empty()) throw ApiError::BadRequest("the request body is empty");
  if (docs.size() > 1) {
    throw ApiError::BadRequest("expected a single YAML document, found " +
                               std::to_string(docs.size()));
  }
  return std::move(docs.front());
}

std::string toYaml(const nlohmann::json& value) {
  YAML::Emitter out;
  out.SetNullFormat(YAML::LowerNull);
  emit(out, value);
  if (!out.good()) throw ApiError::Internal("YAML output failed: " + out.GetLastError());
  std::string s = out.c_str();
  if (s.empty() || s.back() != '\n') s += '\n';
  return s;
}

}  // namespace minimcp::model
