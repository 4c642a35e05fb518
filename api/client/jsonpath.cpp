#include "api/client/jsonpath.h"

#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <deque>
#include <regex>

namespace minimcp::client {

using nlohmann::json;

struct JsonPath::Node {
  enum class Type {
    Text,
    List,
    Field,
    Array,
    Filter,
    Wildcard,
    Recursive,
    Union,
    Identifier,
    Literal
  };
  struct Param {
    bool known = false;
    long value = 0;
    bool derived = false;  // [n] means [n:n+1]
  };
  Type type;
  std::string text;  // Text, Field, Identifier; a Filter's operator
  json literal;      // Literal (number or boolean)
  Param params[3];   // Array: start, end, step
  // List: its nodes. Filter: two Lists (left, right). Union: one List per alternative.
  std::vector<Node> children;
};

namespace {

using Node = JsonPath::Node;
using Type = Node::Type;

Node makeNode(Type type, std::string text = "") {
  Node n{};
  n.type = type;
  n.text = std::move(text);
  return n;
}

bool isAlphaNumeric(char c) {
  return c == '_' || std::isalnum(static_cast<unsigned char>(c)) ||
         (static_cast<unsigned char>(c) & 0x80);
}

// Where a field name or identifier stops (client-go's isTerminator).
bool isTerminator(char c) {
  switch (c) {
    case ' ':
    case '.':
    case ',':
    case '[':
    case ']':
    case '$':
    case '@':
    case '{':
    case '}':
      return true;
    default:
      return false;
  }
}

// Go's strconv.Unquote for "…" and '…' literals (the escapes templates use).
std::string unquote(const std::string& quoted) {
  std::string out;
  for (size_t i = 1; i + 1 < quoted.size(); ++i) {
    char c = quoted[i];
    if (c != '\\') {
      out += c;
      continue;
    }
    if (i + 2 >= quoted.size()) throw JsonPathError("invalid syntax");
    char e = quoted[++i];
    switch (e) {
      case 'n':
        out += '\n';
        break;
      case 't':
        out += '\t';
        break;
      case 'r':
        out += '\r';
        break;
      case 'a':
        out += '\a';
        break;
      case 'b':
        out += '\b';
        break;
      case 'f':
        out += '\f';
        break;
      case 'v':
        out += '\v';
        break;
      case '\\':
      case '"':
      case '\'':
        out += e;
        break;
      case 'x': {
        if (i + 3 >= quoted.size()) throw JsonPathError("invalid syntax");
        std::string hex = quoted.substr(i + 1, 2);
        if (!std::isxdigit(static_cast<unsigned char>(hex[0])) ||
            !std::isxdigit(static_cast<unsigned char>(hex[1]))) {
          throw JsonPathError("invalid syntax");
        }
        out += static_cast<char>(std::stoi(hex, nullptr, 16));
        i += 2;
        break;
      }
      default:
        throw JsonPathError("invalid syntax");
    }
  }
  return out;
}

class Parser {
 public:
  explicit Parser(std::string input) : in_(std::move(input)) {}

  std::vector<Node> parseTemplate() {
    std::vector<Node> root;
    while (pos_ < in_.size()) {
      size_t at = in_.find('{', pos_);
      if (at == std::string::npos) break;
      if (at > pos_) root.push_back(makeNode(Type::Text, in_.substr(pos_, at - pos_)));
      pos_ = at + 1;
      Node list = makeNode(Type::List);
      parseInsideAction(list.children);
      root.push_back(std::move(list));
    }
    if (pos_ < in_.size()) root.push_back(makeNode(Type::Text, in_.substr(pos_)));
    return root;
  }

  // `text` parsed as the inside of one action (filter operands, union alternatives).
  static Node parseAction(const std::string& text) {
    Parser p("{" + text + "}");
    auto root = p.parseTemplate();
    if (root.empty() || root[0].type != Type::List) return makeNode(Type::List);
    return std::move(root[0]);
  }

 private:
  bool startsWith(const char* prefix) const {
    return in_.compare(pos_, strlen(prefix), prefix) == 0;
  }
  bool atEnd() const { return pos_ >= in_.size(); }

  void parseInsideAction(std::vector<Node>& cur) {
    while (true) {
      if (startsWith("}")) {
        ++pos_;
        return;
      }
      if (startsWith("[?(")) {
        parseFilter(cur);
        continue;
      }
      if (startsWith("..")) {
        if (!cur.empty() && cur.back().type == Type::Recursive) {
          throw JsonPathError("invalid multiple recursive descent");
        }
        pos_ += 2;
        cur.push_back(makeNode(Type::Recursive));
        if (!atEnd() && isAlphaNumeric(in_[pos_])) parseField(cur);
        continue;
      }
      if (atEnd()) throw JsonPathError("unclosed action");
      char r = in_[pos_++];
      if (r == '\n' || r == '\r') throw JsonPathError("unclosed action");
      if (r == ' ' || r == '@' || r == '$') continue;
      if (r == '[') {
        parseArray(cur);
      } else if (r == '"' || r == '\'') {
        parseQuote(cur, r);
      } else if (r == '.') {
        parseField(cur);
      } else if (r == '+' || r == '-' || std::isdigit(static_cast<unsigned char>(r))) {
        --pos_;
        parseNumber(cur);
      } else if (isAlphaNumeric(r)) {
        --pos_;
        parseIdentifier(cur);
      } else {
        char buf[32];
        std::snprintf(buf, sizeof buf, "U+%04X '%c'", static_cast<unsigned char>(r), r);
        throw JsonPathError(std::string("unrecognized character in action: ") + buf);
      }
    }
  }

  void parseField(std::vector<Node>& cur) {
    size_t start = pos_;
    while (!atEnd()) {
      char r = in_[pos_];
      if (r == '\\') {
        pos_ += 2;
        continue;
      }
      if (isTerminator(r)) break;
      ++pos_;
    }
    if (pos_ > in_.size()) pos_ = in_.size();
    std::string value = in_.substr(start, pos_ - start);
    if (value == "*") {
      cur.push_back(makeNode(Type::Wildcard));
      return;
    }
    std::string name;
    for (char c : value) {
      if (c != '\\') name += c;
    }
    cur.push_back(makeNode(Type::Field, name));
  }

  void parseArray(std::vector<Node>& cur) {
    size_t start = pos_;
    while (true) {
      if (atEnd() || in_[pos_] == '\n') throw JsonPathError("unterminated array");
      if (in_[pos_++] == ']') break;
    }
    std::string text = in_.substr(start, pos_ - 1 - start);
    if (text == "*") text = ":";
    if (text.find(',') != std::string::npos) {
      Node u = makeNode(Type::Union);
      size_t from = 0;
      while (true) {
        size_t comma = text.find(',', from);
        std::string part =
            text.substr(from, comma == std::string::npos ? std::string::npos : comma - from);
        size_t b = part.find_first_not_of(' '), e = part.find_last_not_of(' ');
        part = b == std::string::npos ? "" : part.substr(b, e - b + 1);
        u.children.push_back(parseAction("[" + part + "]"));
        if (comma == std::string::npos) break;
        from = comma + 1;
      }
      cur.push_back(std::move(u));
      return;
    }
    static const std::regex dictKey(R"(^'([^']*)'$)");
    std::smatch m;
    if (std::regex_match(text, m, dictKey)) {
      Node key = parseAction("." + m[1].str());
      for (auto& n : key.children) cur.push_back(std::move(n));
      return;
    }
    static const std::regex slice(R"(^(-?\d*)(:-?\d*)?(:-?\d*)?$)");
    if (!std::regex_match(text, m, slice)) throw JsonPathError("invalid array index " + text);
    Node a = makeNode(Type::Array);
    for (int i = 0; i < 3; ++i) {
      std::string v = m[i + 1].str();
      if (!v.empty()) {
        if (i > 0) v = v.substr(1);
        if (i > 0 && v.empty()) {
          a.params[i].known = false;
        } else {
          try {
            size_t used = 0;
            a.params[i].value = std::stol(v, &used);
            if (used != v.size()) throw std::invalid_argument(v);
          } catch (const std::exception&) {
            throw JsonPathError("array index " + v + " is not a number");
          }
          a.params[i].known = true;
        }
      } else if (i == 1) {
        a.params[1] = {true, a.params[0].value + 1, true};
      }
    }
    cur.push_back(std::move(a));
  }

  void parseFilter(std::vector<Node>& cur) {
    pos_ += 3;
    size_t start = pos_;
    bool begin = false, end = false;
    char pair = 0;
    while (true) {
      if (atEnd() || in_[pos_] == '\n') throw JsonPathError("unterminated filter");
      char r = in_[pos_++];
      if (r == '"' || r == '\'') {
        if (!begin) {
          begin = true;
          pair = r;
          continue;
        }
        if (in_[pos_ - 2] != '\\' && r == pair) end = true;
      } else if (r == ')' && begin == end) {
        break;
      }
    }
    if (atEnd() || in_[pos_++] != ']') throw JsonPathError("unclosed array expect ]");
    std::string text = in_.substr(start, pos_ - 2 - start);
    static const std::regex comparison(R"(^([^!<>=]+)([!<>=]+)(.+?)$)");
    std::smatch m;
    Node f = makeNode(Type::Filter);
    if (std::regex_match(text, m, comparison)) {
      f.text = m[2].str();
      f.children.push_back(parseAction(m[1].str()));
      f.children.push_back(parseAction(m[3].str()));
    } else {
      f.text = "exists";
      f.children.push_back(parseAction(text));
      f.children.push_back(makeNode(Type::List));
    }
    cur.push_back(std::move(f));
  }

  void parseQuote(std::vector<Node>& cur, char quote) {
    size_t start = pos_ - 1;
    while (true) {
      if (atEnd() || in_[pos_] == '\n') throw JsonPathError("unterminated quoted string");
      char r = in_[pos_++];
      if (r == '\\') {
        if (atEnd() || in_[pos_] == '\n') throw JsonPathError("unterminated quoted string");
        ++pos_;
      } else if (r == quote) {
        break;
      }
    }
    std::string value = in_.substr(start, pos_ - start);
    try {
      cur.push_back(makeNode(Type::Text, unquote(value)));
    } catch (const JsonPathError& e) {
      throw JsonPathError("unquote string " + value + " error " + e.what());
    }
  }

  void parseNumber(std::vector<Node>& cur) {
    size_t start = pos_;
    if (in_[pos_] == '+' || in_[pos_] == '-') ++pos_;
    while (!atEnd() && (in_[pos_] == '.' || std::isdigit(static_cast<unsigned char>(in_[pos_])))) {
      ++pos_;
    }
    std::string value = in_.substr(start, pos_ - start);
    Node n = makeNode(Type::Literal);
    static const std::regex integer(R"(^[+-]?\d+$)");
    static const std::regex decimal(R"(^[+-]?(\d+\.?\d*|\.\d+)$)");
    if (std::regex_match(value, integer)) {
      n.literal = std::stoll(value);
    } else if (std::regex_match(value, decimal)) {
      n.literal = std::stod(value);
    } else {
      throw JsonPathError("cannot parse number " + value);
    }
    cur.push_back(std::move(n));
  }

  void parseIdentifier(std::vector<Node>& cur) {
    size_t start = pos_;
    while (!atEnd() && !isTerminator(in_[pos_])) ++pos_;
    std::string value = in_.substr(start, pos_ - start);
    if (value == "true" || value == "false") {
      Node n = makeNode(Type::Literal);
      n.literal = value == "true";
      cur.push_back(std::move(n));
    } else {
      cur.push_back(makeNode(Type::Identifier, value));
    }
  }

  std::string in_;
  size_t pos_ = 0;
};

// Go's name for the type of a decoded JSON value, for error messages.
std::string goTypeName(const json& v) {
  if (v.is_object()) return "map[string]interface {}";
  if (v.is_array()) return "[]interface {}";
  if (v.is_string()) return "string";
  if (v.is_boolean()) return "bool";
  if (v.is_number_float()) return "float64";
  if (v.is_number()) return "int64";
  return "<nil>";
}

std::string goFloatText(double d) {
  if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 1e21) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.0f", d);
    return buf;
  }
  return json(d).dump();
}

std::string scalarText(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number_float()) return goFloatText(v.get<double>());
  return v.dump();
}

using Values = std::vector<const json*>;

class Evaluator {
 public:
  explicit Evaluator(bool allowMissingKeys) : allowMissing_(allowMissingKeys) {}

  Values evalList(const std::vector<Node>& nodes, size_t from, Values cur) {
    for (size_t i = from; i < nodes.size(); ++i) cur = walk(cur, nodes[i]);
    return cur;
  }

 private:
  const json* keep(json v) {
    arena_.push_back(std::move(v));
    return &arena_.back();
  }

  Values walk(const Values& in, const Node& n) {
    switch (n.type) {
      case Type::List:
        return evalList(n.children, 0, in);
      case Type::Text:
        return {keep(n.text)};
      case Type::Literal:
        return {keep(n.literal)};
      case Type::Field:
        return evalField(in, n);
      case Type::Array:
        return evalArray(in, n);
      case Type::Filter:
        return evalFilter(in, n);
      case Type::Wildcard: {
        Values out;
        for (const json* v : in) {
          if (v->is_object() || v->is_array()) {
            for (const auto& child : *v) out.push_back(&child);
          }
        }
        return out;
      }
      case Type::Recursive: {
        Values out;
        for (const json* v : in) descend(*v, out);
        return out;
      }
      case Type::Union: {
        Values out;
        for (const auto& alt : n.children) {
          Values r = evalList(alt.children, 0, in);
          out.insert(out.end(), r.begin(), r.end());
        }
        return out;
      }
      case Type::Identifier:
        if (n.text == "range") return in;
        if (n.text == "end") return {};
        throw JsonPathError("unrecognized identifier " + n.text);
    }
    return {};
  }

  Values evalField(const Values& in, const Node& n) {
    if (in.empty()) return {};
    Values out;
    for (const json* v : in) {
      if (!v->is_object()) continue;
      auto it = v->find(n.text);
      if (it != v->end()) out.push_back(&*it);
    }
    if (out.empty() && !allowMissing_) throw JsonPathError(n.text + " is not found");
    return out;
  }

  Values evalArray(const Values& in, const Node& n) {
    Values out;
    for (const json* v : in) {
      if (v->is_null()) continue;
      if (!v->is_array()) throw JsonPathError(goTypeName(*v) + " is not array or slice");
      long len = static_cast<long>(v->size());
      Node::Param p[3] = {n.params[0], n.params[1], n.params[2]};
      if (!p[0].known) p[0].value = 0;
      if (p[0].value < 0) p[0].value += len;
      if (!p[1].known) p[1].value = len;
      if (p[1].value < 0 || (p[1].value == 0 && p[1].derived)) p[1].value += len;
      if (p[1].value == p[0].value) return out;
      if (p[0].value >= len || p[0].value < 0) {
        throw JsonPathError("array index out of bounds: index " + std::to_string(p[0].value) +
                            ", length " + std::to_string(len));
      }
      if (p[1].value > len || p[1].value < 0) {
        throw JsonPathError("array index out of bounds: index " + std::to_string(p[1].value - 1) +
                            ", length " + std::to_string(len));
      }
      if (p[0].value > p[1].value) {
        throw JsonPathError("starting index " + std::to_string(p[0].value) +
                            " is greater than ending index " + std::to_string(p[1].value));
      }
      long step = 1;
      if (p[2].known) {
        if (p[2].value <= 0) throw JsonPathError("step must be > 0");
        step = p[2].value;
      }
      for (long i = p[0].value; i < p[1].value; i += step) out.push_back(&(*v)[i]);
    }
    return out;
  }

  // Go template's comparison of two basic values.
  static bool compare(const json& l, const json& r, const std::string& op) {
    int order = 0;
    if (l.is_number() && r.is_number()) {
      double a = l.get<double>(), b = r.get<double>();
      order = a < b ? -1 : (a > b ? 1 : 0);
    } else if (l.is_string() && r.is_string()) {
      int c = l.get<std::string>().compare(r.get<std::string>());
      order = c < 0 ? -1 : (c > 0 ? 1 : 0);
    } else if (l.is_boolean() && r.is_boolean() && (op == "==" || op == "!=")) {
      order = l == r ? 0 : 1;
    } else if (l.is_null() || r.is_null()) {
      return op == "!=";
    } else {
      throw JsonPathError("incompatible types for comparison");
    }
    if (op == "==") return order == 0;
    if (op == "!=") return order != 0;
    if (op == "<") return order < 0;
    if (op == ">") return order > 0;
    if (op == "<=") return order <= 0;
    if (op == ">=") return order >= 0;
    throw JsonPathError("unrecognized filter operator " + op);
  }

  Values evalFilter(const Values& in, const Node& n) {
    Values out;
    for (const json* v : in) {
      if (!v->is_array()) {
        throw JsonPathError(goValueText(*v) + " is not array or slice and cannot be filtered");
      }
      for (const auto& item : *v) {
        Values lefts = evalList(n.children[0].children, 0, {&item});
        if (n.text == "exists") {
          if (!lefts.empty()) out.push_back(&item);
          continue;
        }
        if (lefts.empty()) continue;
        if (lefts.size() > 1) throw JsonPathError("can only compare one element at a time");
        Values rights = evalList(n.children[1].children, 0, {&item});
        if (rights.empty()) continue;
        if (rights.size() > 1) throw JsonPathError("can only compare one element at a time");
        if (compare(*lefts[0], *rights[0], n.text)) out.push_back(&item);
      }
    }
    return out;
  }

  void descend(const json& v, Values& out) {
    if (!v.is_object() && !v.is_array()) return;
    if (v.empty()) return;
    out.push_back(&v);
    for (const auto& child : v) descend(child, out);
  }

  bool allowMissing_;
  std::deque<json> arena_;
};

bool isIdentifierAction(const Node& n, const char* name) {
  return n.type == Type::List && !n.children.empty() && n.children[0].type == Type::Identifier &&
         n.children[0].text == name;
}

// The index of the {end} that closes the range whose body starts at `from` (nodes.size() when
// the template never closes it: the body runs to the end, as in kubectl).
size_t matchingEnd(const std::vector<Node>& nodes, size_t from) {
  int depth = 0;
  for (size_t i = from; i < nodes.size(); ++i) {
    if (isIdentifierAction(nodes[i], "range")) ++depth;
    if (isIdentifierAction(nodes[i], "end")) {
      if (depth == 0) return i;
      --depth;
    }
  }
  return nodes.size();
}

// Runs nodes[from, end) against `data`, handing each action's values (and each text) to `sink`.
template <typename Sink>
void run(const std::vector<Node>& nodes, size_t from, size_t end, const json& data, int depth,
         Evaluator& eval, Sink& sink) {
  for (size_t i = from; i < end; ++i) {
    const Node& n = nodes[i];
    if (n.type == Type::Text) {
      sink(Values{}, &n.text);
      continue;
    }
    if (isIdentifierAction(n, "end")) {
      if (depth == 0) throw JsonPathError("not in range, nothing to end");
      continue;
    }
    if (isIdentifierAction(n, "range")) {
      Values items = eval.evalList(n.children, 1, {&data});
      size_t close = matchingEnd(nodes, i + 1);
      for (const json* item : items) run(nodes, i + 1, close, *item, depth + 1, eval, sink);
      i = close;
      continue;
    }
    sink(eval.evalList(n.children, 0, {&data}), nullptr);
  }
}

}  // namespace

JsonPath JsonPath::parse(const std::string& text) {
  JsonPath p;
  p.root_ = std::make_shared<const std::vector<Node>>(Parser(text).parseTemplate());
  return p;
}

std::string JsonPath::execute(const json& data) const {
  std::string out;
  Evaluator eval(allowMissingKeys_);
  auto sink = [&](const Values& values, const std::string* text) {
    if (text) {
      out += *text;
      return;
    }
    for (size_t i = 0; i < values.size(); ++i) {
      const json& v = *values[i];
      out += (v.is_object() || v.is_array()) ? v.dump() : scalarText(v);
      if (i + 1 < values.size()) out += ' ';
    }
  };
  run(*root_, 0, root_->size(), data, 0, eval, sink);
  return out;
}

std::vector<std::vector<json>> JsonPath::findResults(const json& data) const {
  std::vector<std::vector<json>> out;
  Evaluator eval(allowMissingKeys_);
  auto sink = [&](const Values& values, const std::string* text) {
    std::vector<json> row;
    if (text) {
      row.push_back(*text);
    } else {
      for (const json* v : values) row.push_back(*v);
    }
    out.push_back(std::move(row));
  };
  run(*root_, 0, root_->size(), data, 0, eval, sink);
  return out;
}

std::string relaxedJsonPathExpression(const std::string& expression) {
  if (expression.empty()) return expression;
  static const std::regex relaxed(R"(^\{\.?([^{}]+)\}$|^\.?([^{}]+)$)");
  std::smatch m;
  if (!std::regex_match(expression, m, relaxed)) {
    throw JsonPathError(
        "unexpected path string, expected a 'name1.name2' or '.name1.name2' or '{name1.name2}' "
        "or '{.name1.name2}'");
  }
  return "{." + (m[1].matched ? m[1].str() : m[2].str()) + "}";
}

std::string goValueText(const json& value) {
  if (value.is_null()) return "<nil>";
  if (value.is_object()) {
    std::string out = "map[";
    bool first = true;
    for (const auto& [k, v] : value.items()) {
      out += (first ? "" : " ") + k + ":" + goValueText(v);
      first = false;
    }
    return out + "]";
  }
  if (value.is_array()) {
    std::string out = "[";
    for (size_t i = 0; i < value.size(); ++i) out += (i ? " " : "") + goValueText(value[i]);
    return out + "]";
  }
  return scalarText(value);
}

}  // namespace minimcp::client
