#include "api/client/explain.h"

#include <cctype>
#include <set>
#include <stdexcept>

namespace minimcp::client {

using nlohmann::json;

namespace {

using History = std::set<std::string>;

// sprig's indent: every line, empty ones too, gets the padding.
std::string indent(const std::string& text, size_t n) {
  std::string pad(n, ' ');
  std::string out = pad;
  for (char c : text) {
    out += c;
    if (c == '\n') out += pad;
  }
  return out;
}

bool truthy(const json* v) {
  if (!v || v->is_null()) return false;
  if (v->is_object() || v->is_array() || v->is_string()) return !v->empty();
  if (v->is_boolean()) return v->get<bool>();
  return true;
}

const json* member(const json& obj, const char* key) {
  if (!obj.is_object()) return nullptr;
  auto it = obj.find(key);
  return it == obj.end() ? nullptr : &*it;
}

std::string stringMember(const json& obj, const char* key) {
  const json* v = member(obj, key);
  return v && v->is_string() ? v->get<std::string>() : "";
}

class Renderer {
 public:
  Renderer(const json& document, bool recursive) : doc_(document), recursive_(recursive) {}

  // "#/components/schemas/NAME" → that schema, or nullptr.
  const json* resolveRef(const std::string& ref) const {
    const std::string prefix = "#/components/schemas/";
    if (ref.rfind(prefix, 0) != 0) return nullptr;
    std::string name = ref.substr(prefix.size());
    const json* schemas = schemasOf();
    if (!schemas) return nullptr;
    auto it = schemas->find(name);
    return it == schemas->end() ? nullptr : &*it;
  }

  const json* schemasOf() const {
    const json* components = member(doc_, "components");
    return components ? member(*components, "schemas") : nullptr;
  }

  const json& resolved(const json& schema) const {
    const json* r = resolveRef(stringMember(schema, "$ref"));
    return r ? *r : schema;
  }

  static const json* mapValues(const json& schema) {
    const json* a = member(schema, "additionalProperties");
    return a && a->is_object() && !a->empty() ? a : nullptr;
  }

  std::string typeGuess(const json& schema) const {
    if (const json* items = member(schema, "items"); truthy(items)) return "[]" + typeGuess(*items);
    if (const json* values = mapValues(schema)) return "map[string]" + typeGuess(*values);
    const json* allOf = member(schema, "allOf");
    if (truthy(allOf) && allOf->is_array() && allOf->size() == 1 &&
        !truthy(member(schema, "properties"))) {
      return typeGuess((*allOf)[0]);
    }
    std::string ref = stringMember(schema, "$ref");
    if (!ref.empty()) {
      const json* target = resolveRef(ref);
      std::string type = target ? stringMember(*target, "type") : "";
      if (!target || type.empty() || type == "object") {
        std::string name = ref.substr(ref.rfind('/') + 1);
        name = name.substr(name.rfind('.') == std::string::npos ? 0 : name.rfind('.') + 1);
        return name.empty() ? "Object" : name;
      }
      return type;
    }
    std::string type = stringMember(schema, "type");
    if (type == "object" || type.empty()) return "Object";
    return type;
  }

  static std::string enumText(const json& schema, bool longView, int limit, size_t indentAmount) {
    const json* values = member(schema, "enum");
    if (!truthy(values) || !values->is_array()) return "";
    std::string out = longView ? "ENUM:" : "\n" + std::string(indentAmount, ' ') + "enum: ";
    for (size_t i = 0; i < values->size(); ++i) {
      if (limit > -1 && static_cast<int>(i) >= limit) {
        out += ", ....";
        break;
      }
      if (i > 0 && !longView) out += ", ";
      if (longView) out += "\n    ";
      const json& v = (*values)[i];
      if (v.is_string()) {
        out += v.get<std::string>().empty() ? "\"\"" : v.get<std::string>();
      } else {
        out += v.dump();
      }
    }
    return out;
  }

  std::string description(const json& schema) const {
    const json& s = resolved(schema);
    std::string out;
    if (std::string d = stringMember(s, "description"); !d.empty()) out += d + "\n";
    if (const json* allOf = member(s, "allOf"); allOf && allOf->is_array()) {
      for (const auto& sub : *allOf) out += description(sub);
    }
    if (const json* items = member(s, "items"); truthy(items)) out += description(*items);
    if (const json* values = mapValues(s)) out += description(*values);
    return out;
  }

  static std::string externalDocs(const json& schema) {
    const json* docs = member(schema, "externalDocs");
    if (!truthy(docs)) return "";
    std::string out = "EXTERNAL DOCS:\n";
    if (std::string d = stringMember(*docs, "description"); !d.empty()) {
      out += indent(wordWrap(d, 76), 4) + "\n";
    }
    if (std::string u = stringMember(*docs, "url"); !u.empty())
      out += indent("URL: " + u, 4) + "\n";
    return out;
  }

  std::string fieldDetail(const std::string& name, const json& parent, bool shortView,
                          size_t level) const {
    size_t amount = level * 2;
    const json& field = parent["properties"][name];
    std::string out = indent(name, amount) + "\t<" + typeGuess(field) + ">";
    if (const json* required = member(parent, "required"); required && required->is_array()) {
      for (const auto& r : *required) {
        if (r == name) {
          out += " -required-";
          break;
        }
      }
    }
    out += enumText(field, false, 4, amount) + "\n";
    if (!shortView) {
      std::string d = stringMember(field, "description");
      out += indent(wordWrap(d.empty() ? "<no description>" : d, 78 - amount), amount + 2) + "\n";
      if (const json* docs = member(field, "externalDocs"); truthy(docs)) {
        out += "\n" + indent("EXTERNAL DOCS:", amount + 2) + "\n";
        if (std::string dd = stringMember(*docs, "description"); !dd.empty()) {
          out += indent(wordWrap(dd, 76 - amount), amount + 4) + "\n";
        }
        if (std::string u = stringMember(*docs, "url"); !u.empty()) {
          out += indent("URL: " + u, amount + 4) + "\n";
        }
      }
      out += "\n";
    }
    return out;
  }

  std::string fieldList(const json& schema, size_t level, History history) const {
    std::string ref = stringMember(schema, "$ref");
    if (!ref.empty() && history.count(ref)) return "";  // a cycle
    history.insert(ref);
    const json& s = resolved(schema);
    std::string out;
    if (const json* props = member(s, "properties"); props && props->is_object()) {
      for (const auto& [name, sub] : props->items()) {
        out += fieldDetail(name, s, recursive_, level);
        if (recursive_) out += fieldList(sub, level + 1, history);
      }
    }
    if (const json* allOf = member(s, "allOf"); allOf && allOf->is_array()) {
      for (const auto& sub : *allOf) out += fieldList(sub, level, history);
    }
    if (const json* items = member(s, "items"); truthy(items))
      out += fieldList(*items, level, history);
    if (const json* values = mapValues(s)) out += fieldList(*values, level, history);
    return out;
  }

  std::string output(const json& schema, const std::vector<std::string>& path, size_t at,
                     History history) const {
    std::string ref = stringMember(schema, "$ref");
    const json& s = resolved(schema);
    if (at == path.size()) {
      std::string d = description(s);
      std::string out =
          "DESCRIPTION:\n" + indent(wordWrap(d.empty() ? "<empty>" : d, 76), 4) + "\n";
      if (std::string docs = externalDocs(s); !docs.empty()) out += "\n" + docs;
      if (std::string fields = fieldList(s, 1, {}); !fields.empty()) out += "FIELDS:\n" + fields;
      return out;
    }
    if (!ref.empty() && history.count(ref)) return "";
    history.insert(ref);
    const json* props = member(s, "properties");
    const json* sub = props ? member(*props, path[at].c_str()) : nullptr;
    if (truthy(sub)) {
      std::string out;
      if (at + 1 == path.size()) {
        out += "FIELD: " + path[at] + " <" + typeGuess(*sub) + ">\n" + enumText(*sub, true, -1, 0) +
               "\n\n";
      }
      return out + output(*sub, path, at + 1, {});
    }
    if (const json* items = member(s, "items"); truthy(items)) {
      return output(*items, path, at, history);
    }
    if (const json* values = mapValues(s)) return output(*values, path, at, history);
    if (const json* allOf = member(s, "allOf"); allOf && allOf->is_array()) {
      for (const auto& alt : *allOf) {
        if (std::string out = output(alt, path, at, history); !out.empty()) return out;
      }
    }
    return "";
  }

 private:
  const json& doc_;
  bool recursive_;
};

bool hasGvk(const json& schema, const ExplainRequest& r) {
  const json* gvks = member(schema, "x-kubernetes-group-version-kind");
  if (!gvks || !gvks->is_array()) return false;
  for (const auto& g : *gvks) {
    if (stringMember(g, "group") == r.group && stringMember(g, "version") == r.version &&
        stringMember(g, "kind") == r.kind) {
      return true;
    }
  }
  return false;
}

}  // namespace

std::optional<std::string> openApiV3Url(const json& index, const std::string& group,
                                        const std::string& version) {
  std::string key = group.empty() ? "api/" + version : "apis/" + group + "/" + version;
  const json* paths = member(index, "paths");
  const json* entry = paths ? member(*paths, key.c_str()) : nullptr;
  if (!entry) return std::nullopt;
  std::string url = stringMember(*entry, "serverRelativeURL");
  if (url.empty()) return std::nullopt;
  return url;
}

std::string explainText(const json& document, const ExplainRequest& request) {
  Renderer renderer(document, request.recursive);
  const json* schemas = renderer.schemasOf();
  std::string gvk = "{" + request.group + " " + request.version + " " + request.kind + "}";
  if (!schemas || !schemas->is_object()) {
    throw std::invalid_argument("GVK " + gvk + " not found in OpenAPI schema");
  }
  for (const auto& [name, schema] : schemas->items()) {
    if (!hasGvk(schema, request)) continue;
    std::string head;
    if (!request.group.empty()) head += "GROUP:      " + request.group + "\n";
    head += "KIND:       " + request.kind + "\n";
    head += "VERSION:    " + request.version + "\n\n";
    std::string body = renderer.output(schema, request.fieldPath, 0, {});
    if (body.empty()) {
      throw ExplainFieldNotFound("field \"" + request.fieldPath.back() + "\" does not exist", head);
    }
    return head + body + "\n";
  }
  throw std::invalid_argument("GVK " + gvk + " not found in OpenAPI schema");
}

std::string wordWrap(const std::string& text, size_t limit) {
  std::string out, word, space;
  size_t current = 0, wordLen = 0, spaceLen = 0;
  auto flushWord = [&] {
    current += spaceLen + wordLen;
    out += space;
    out += word;
    space.clear();
    word.clear();
    spaceLen = wordLen = 0;
  };
  for (size_t i = 0; i < text.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    bool continuation = (c & 0xC0) == 0x80;  // count code points, not bytes
    if (c == '\n') {
      if (word.empty()) {
        if (current + spaceLen <= limit) out += space;
        space.clear();
        spaceLen = 0;
      } else {
        flushWord();
      }
      out += '\n';
      current = 0;
    } else if (c < 0x80 && std::isspace(c)) {
      if (space.empty() || !word.empty()) flushWord();
      space += static_cast<char>(c);
      ++spaceLen;
    } else {
      word += static_cast<char>(c);
      if (!continuation) ++wordLen;
      if (!continuation && current + spaceLen + wordLen > limit && wordLen < limit) {
        out += '\n';
        current = 0;
        space.clear();
        spaceLen = 0;
      }
    }
  }
  if (word.empty()) {
    if (current + spaceLen <= limit) out += space;
  } else {
    out += space;
    out += word;
  }
  return out;
}

}  // namespace minimcp::client
