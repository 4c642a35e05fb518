#include "api/store/selector.h"

#include <cctype>
#include <charconv>
#include <cstdint>

#include "api/store/store.h"

namespace minimcp::store {
namespace {

[[noreturn]] void bad(const std::string& message) {
  throw StoreError(StoreError::Code::BadSelector, message);
}

bool isSpace(char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; }
bool isAlnum(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; }

// Characters that end a label selector identifier (as in apimachinery's lexer).
bool isSpecial(char c) {
  return isSpace(c) || c == ',' || c == '(' || c == ')' || c == '=' || c == '!' || c == '<' ||
         c == '>';
}

// [A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?, at most 63 characters: a label name or value.
bool isQualifiedPart(const std::string& s) {
  if (s.empty() || s.size() > 63 || !isAlnum(s.front()) || !isAlnum(s.back())) return false;
  for (char c : s) {
    if (!isAlnum(c) && c != '-' && c != '_' && c != '.') return false;
  }
  return true;
}

bool isDnsSubdomain(const std::string& s) {
  if (s.empty() || s.size() > 253) return false;
  for (char c : s) {
    if (!(std::islower(static_cast<unsigned char>(c)) ||
          std::isdigit(static_cast<unsigned char>(c)) || c == '-' || c == '.')) {
      return false;
    }
  }
  return isAlnum(s.front()) && isAlnum(s.back());
}

void validateKey(const std::string& key) {
  auto slash = key.find('/');
  std::string name = key;
  if (slash != std::string::npos) {
    std::string prefix = key.substr(0, slash);
    name = key.substr(slash + 1);
    if (!isDnsSubdomain(prefix)) {
      bad("invalid label key \"" + key + "\": prefix must be a lowercase DNS subdomain");
    }
  }
  if (!isQualifiedPart(name)) {
    bad("invalid label key \"" + key +
        "\": name must be 1-63 alphanumeric characters, '-', '_' or '.', starting and ending "
        "with an alphanumeric character");
  }
}

void validateValue(const std::string& key, const std::string& value) {
  if (!value.empty() && !isQualifiedPart(value)) {
    bad("invalid value \"" + value + "\" for label \"" + key +
        "\": must be at most 63 alphanumeric characters, '-', '_' or '.', starting and ending "
        "with an alphanumeric character");
  }
}

bool parseInt(const std::string& s, int64_t& out) {
  if (s.empty()) return false;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && ptr == s.data() + s.size();
}

class LabelParser {
 public:
  explicit LabelParser(const std::string& text) : s_(text) {}

  void skipSpace() {
    while (pos_ < s_.size() && isSpace(s_[pos_])) ++pos_;
  }
  bool atEnd() {
    skipSpace();
    return pos_ >= s_.size();
  }
  char peek() {
    skipSpace();
    return pos_ < s_.size() ? s_[pos_] : '\0';
  }
  bool consume(const char* token) {
    skipSpace();
    size_t n = std::char_traits<char>::length(token);
    if (s_.compare(pos_, n, token) == 0) {
      pos_ += n;
      return true;
    }
    return false;
  }
  std::string identifier() {
    skipSpace();
    size_t start = pos_;
    while (pos_ < s_.size() && !isSpecial(s_[pos_])) ++pos_;
    return s_.substr(start, pos_ - start);
  }
  std::string where() const {
    return pos_ < s_.size()
               ? "at position " + std::to_string(pos_) + " ('" + s_.substr(pos_, 10) + "')"
               : "at end of selector";
  }
  const std::string& text() const { return s_; }

 private:
  const std::string& s_;
  size_t pos_ = 0;
};

// JSON text of a scalar the way selectors compare it: strings raw, null/missing as "".
std::string scalarText(const nlohmann::json* v) {
  if (v == nullptr || v->is_null()) return "";
  if (v->is_string()) return v->get_ref<const std::string&>();
  return v->dump();
}

}  // namespace

LabelSelector LabelSelector::parse(const std::string& text) {
  LabelSelector sel;
  LabelParser p(text);
  if (p.atEnd()) return sel;
  while (true) {
    Requirement req;
    if (p.consume("!")) {
      req.key = p.identifier();
      if (req.key.empty())
        bad("label selector \"" + text + "\": expected a key after '!' " + p.where());
      validateKey(req.key);
      req.op = Op::NotExists;
    } else {
      req.key = p.identifier();
      if (req.key.empty())
        bad("label selector \"" + text + "\": expected a label key " + p.where());
      validateKey(req.key);
      char c = p.peek();
      if (c == '\0' || c == ',') {
        req.op = Op::Exists;
      } else if (p.consume("==") || p.consume("=")) {
        req.op = Op::Equals;
      } else if (p.consume("!=")) {
        req.op = Op::NotEquals;
      } else if (p.consume(">")) {
        req.op = Op::GreaterThan;
      } else if (p.consume("<")) {
        req.op = Op::LessThan;
      } else {
        std::string word = p.identifier();
        if (word == "in") {
          req.op = Op::In;
        } else if (word == "notin") {
          req.op = Op::NotIn;
        } else {
          bad("label selector \"" + text +
              "\": expected =, ==, !=, in, notin, < or > after key \"" + req.key + "\" " +
              p.where());
        }
      }
      if (req.op == Op::In || req.op == Op::NotIn) {
        if (!p.consume("(")) {
          bad("label selector \"" + text + "\": expected '(' after " +
              (req.op == Op::In ? "in" : "notin") + " " + p.where());
        }
        if (!p.consume(")")) {
          while (true) {
            std::string v = p.identifier();
            validateValue(req.key, v);
            req.values.push_back(v);
            if (p.consume(")")) break;
            if (!p.consume(",")) {
              bad("label selector \"" + text + "\": expected ',' or ')' in value set " + p.where());
            }
          }
        }
        if (req.values.empty() || (req.values.size() == 1 && req.values[0].empty())) {
          bad("label selector \"" + text + "\": the value set of \"" + req.key +
              "\" can't be empty");
        }
      } else if (req.op == Op::GreaterThan || req.op == Op::LessThan) {
        std::string v = p.identifier();
        int64_t n;
        if (!parseInt(v, n)) {
          bad("label selector \"" + text + "\": '<' and '>' need an integer value, got \"" + v +
              "\"");
        }
        req.values.push_back(v);
      } else if (req.op == Op::Equals || req.op == Op::NotEquals) {
        std::string v = p.identifier();
        validateValue(req.key, v);
        req.values.push_back(v);
      }
    }
    sel.requirements_.push_back(std::move(req));
    if (p.atEnd()) break;
    if (!p.consume(",")) {
      bad("label selector \"" + text + "\": expected ',' between requirements " + p.where());
    }
    if (p.atEnd()) bad("label selector \"" + text + "\": trailing ','");
  }
  return sel;
}

bool LabelSelector::matches(const nlohmann::json& obj) const {
  const nlohmann::json* labels = nullptr;
  if (obj.is_object()) {
    auto md = obj.find("metadata");
    if (md != obj.end() && md->is_object()) {
      auto l = md->find("labels");
      if (l != md->end()) labels = &*l;
    }
  }
  return matchesLabels(labels);
}

bool LabelSelector::matchesLabels(const nlohmann::json* labels) const {
  if (labels != nullptr && !labels->is_object()) labels = nullptr;
  for (const auto& req : requirements_) {
    const nlohmann::json* v = nullptr;
    if (labels != nullptr) {
      auto it = labels->find(req.key);
      if (it != labels->end()) v = &*it;
    }
    bool has = v != nullptr;
    std::string value = has ? scalarText(v) : "";
    bool ok = false;
    switch (req.op) {
      case Op::Exists:
        ok = has;
        break;
      case Op::NotExists:
        ok = !has;
        break;
      case Op::Equals:
        ok = has && value == req.values[0];
        break;
      case Op::NotEquals:
        ok = !has || value != req.values[0];
        break;
      case Op::In:
        ok = false;
        if (has) {
          for (const auto& x : req.values) ok = ok || x == value;
        }
        break;
      case Op::NotIn:
        ok = true;
        if (has) {
          for (const auto& x : req.values) ok = ok && x != value;
        }
        break;
      case Op::GreaterThan:
      case Op::LessThan: {
        int64_t have, want;
        if (!has || !parseInt(value, have) || !parseInt(req.values[0], want)) {
          ok = false;
        } else {
          ok = req.op == Op::GreaterThan ? have > want : have < want;
        }
        break;
      }
    }
    if (!ok) return false;
  }
  return true;
}

namespace {

std::string trim(const std::string& s) {
  size_t b = 0, e = s.size();
  while (b < e && isSpace(s[b])) ++b;
  while (e > b && isSpace(s[e - 1])) --e;
  return s.substr(b, e - b);
}

// Splits on `sep` not preceded by a backslash (apimachinery's escaping of field values).
std::vector<std::string> splitUnescaped(const std::string& s, char sep) {
  std::vector<std::string> out(1);
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 1 < s.size()) {
      out.back() += s[i];
      out.back() += s[++i];
    } else if (s[i] == sep) {
      out.emplace_back();
    } else {
      out.back() += s[i];
    }
  }
  return out;
}

std::string unescape(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 1 < s.size()) ++i;
    out += s[i];
  }
  return out;
}

}  // namespace

FieldSelector FieldSelector::parse(const std::string& text) {
  FieldSelector sel;
  if (trim(text).empty()) return sel;
  for (const auto& raw : splitUnescaped(text, ',')) {
    std::string term = trim(raw);
    if (term.empty()) bad("field selector \"" + text + "\": empty term");
    // The first unescaped operator splits key from value.
    size_t opPos = std::string::npos, opLen = 0;
    bool equal = true;
    for (size_t i = 0; i < term.size(); ++i) {
      if (term[i] == '\\') {
        ++i;
        continue;
      }
      if (term.compare(i, 2, "!=") == 0) {
        opPos = i, opLen = 2, equal = false;
      } else if (term.compare(i, 2, "==") == 0) {
        opPos = i, opLen = 2;
      } else if (term[i] == '=') {
        opPos = i, opLen = 1;
      } else {
        continue;
      }
      break;
    }
    if (opPos == std::string::npos) {
      bad("field selector \"" + text + "\": term \"" + term + "\" needs =, == or !=");
    }
    std::string key = trim(term.substr(0, opPos));
    if (key.empty())
      bad("field selector \"" + text + "\": term \"" + term + "\" has no field path");
    Term t;
    t.equal = equal;
    t.value = unescape(trim(term.substr(opPos + opLen)));
    for (const auto& part : splitUnescaped(key, '.')) {
      if (part.empty()) bad("field selector \"" + text + "\": bad field path \"" + key + "\"");
      t.path.push_back(unescape(part));
    }
    sel.terms_.push_back(std::move(t));
  }
  return sel;
}

bool FieldSelector::matches(const nlohmann::json& obj) const {
  for (const auto& t : terms_) {
    const nlohmann::json* cur = &obj;
    for (const auto& part : t.path) {
      if (cur->is_object()) {
        auto it = cur->find(part);
        cur = it == cur->end() ? nullptr : &*it;
      } else if (cur->is_array()) {
        size_t idx;
        auto [ptr, ec] = std::from_chars(part.data(), part.data() + part.size(), idx);
        cur = (ec == std::errc() && ptr == part.data() + part.size() && idx < cur->size())
                  ? &(*cur)[idx]
                  : nullptr;
      } else {
        cur = nullptr;
      }
      if (cur == nullptr) break;
    }
    if ((scalarText(cur) == t.value) != t.equal) return false;
  }
  return true;
}

bool FieldSelector::needsWholeObject() const {
  for (const auto& t : terms_) {
    if (t.path.size() != 2 || t.path[0] != "metadata" ||
        (t.path[1] != "name" && t.path[1] != "namespace")) {
      return true;
    }
  }
  return false;
}

bool matchesLabelSelector(const nlohmann::json& obj, const std::string& selector) {
  return LabelSelector::parse(selector).matches(obj);
}

bool matchesFieldSelector(const nlohmann::json& obj, const std::string& selector) {
  return FieldSelector::parse(selector).matches(obj);
}

}  // namespace minimcp::store
