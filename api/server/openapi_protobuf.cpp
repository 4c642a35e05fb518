// openApiV2Protobuf: the Swagger 2.0 JSON document in the wire format of gnostic's
// openapi.v2.Document (OpenAPIv2.proto), which client-go's OpenAPISchema() decodes. Only the
// messages and fields the documents of openapi.cpp use are written; field numbers are the
// .proto's.
#include <cstdint>
#include <cstring>

#include "api/server/openapi.h"

namespace minimcp::server {

namespace {

using nlohmann::json;

class Message {
 public:
  void varint(int field, uint64_t v) {
    tag(field, 0);
    raw(v);
  }
  void boolean(int field, bool v) { varint(field, v ? 1 : 0); }
  void int64(int field, int64_t v) { varint(field, static_cast<uint64_t>(v)); }
  void number(int field, double v) {
    tag(field, 1);
    uint64_t bits;
    std::memcpy(&bits, &v, sizeof bits);
    for (int i = 0; i < 8; ++i) out_.push_back(static_cast<char>((bits >> (8 * i)) & 0xff));
  }
  void bytes(int field, const std::string& s) {
    tag(field, 2);
    raw(s.size());
    out_ += s;
  }
  void message(int field, const Message& m) { bytes(field, m.out_); }
  const std::string& data() const { return out_; }

 private:
  void tag(int field, int wire) { raw(static_cast<uint64_t>(field) << 3 | wire); }
  void raw(uint64_t v) {
    while (v >= 0x80) {
      out_.push_back(static_cast<char>((v & 0x7f) | 0x80));
      v >>= 7;
    }
    out_.push_back(static_cast<char>(v));
  }
  std::string out_;
};

bool isExtension(const std::string& key) { return key.rfind("x-", 0) == 0; }

// Any { string yaml = 2; }: JSON is YAML, and client-go reads it with a YAML decoder.
Message any(const json& v) {
  Message m;
  m.bytes(2, v.dump());
  return m;
}

// NamedAny { name = 1; Any value = 2; }, one per x- key of `obj`, at `field`.
void extensions(Message& m, int field, const json& obj) {
  for (const auto& [k, v] : obj.items()) {
    if (!isExtension(k)) continue;
    Message named;
    named.bytes(1, k);
    named.message(2, any(v));
    m.message(field, named);
  }
}

void strings(Message& m, int field, const json& obj, const char* key) {
  if (auto it = obj.find(key); it != obj.end() && it->is_array()) {
    for (const auto& s : *it) {
      if (s.is_string()) m.bytes(field, s.get<std::string>());
    }
  }
}

void string(Message& m, int field, const json& obj, const char* key) {
  if (auto it = obj.find(key); it != obj.end() && it->is_string()) {
    m.bytes(field, it->get<std::string>());
  }
}

void boolean(Message& m, int field, const json& obj, const char* key) {
  if (auto it = obj.find(key); it != obj.end() && it->is_boolean() && it->get<bool>()) {
    m.boolean(field, true);
  }
}

void integer(Message& m, int field, const json& obj, const char* key) {
  if (auto it = obj.find(key); it != obj.end() && it->is_number_integer()) {
    m.int64(field, it->get<int64_t>());
  }
}

void number(Message& m, int field, const json& obj, const char* key) {
  if (auto it = obj.find(key); it != obj.end() && it->is_number()) {
    m.number(field, it->get<double>());
  }
}

Message schema(const json& s) {
  Message m;
  string(m, 1, s, "$ref");
  string(m, 2, s, "format");
  string(m, 3, s, "title");
  string(m, 4, s, "description");
  if (auto it = s.find("default"); it != s.end()) m.message(5, any(*it));
  number(m, 6, s, "multipleOf");
  number(m, 7, s, "maximum");
  boolean(m, 8, s, "exclusiveMaximum");
  number(m, 9, s, "minimum");
  boolean(m, 10, s, "exclusiveMinimum");
  integer(m, 11, s, "maxLength");
  integer(m, 12, s, "minLength");
  string(m, 13, s, "pattern");
  integer(m, 14, s, "maxItems");
  integer(m, 15, s, "minItems");
  boolean(m, 16, s, "uniqueItems");
  integer(m, 17, s, "maxProperties");
  integer(m, 18, s, "minProperties");
  strings(m, 19, s, "required");
  if (auto it = s.find("enum"); it != s.end() && it->is_array()) {
    for (const auto& v : *it) m.message(20, any(v));
  }
  if (auto it = s.find("additionalProperties"); it != s.end()) {
    Message item;  // AdditionalPropertiesItem { oneof { Schema schema = 1; bool boolean = 2; } }
    if (it->is_object()) {
      item.message(1, schema(*it));
    } else if (it->is_boolean()) {
      item.boolean(2, it->get<bool>());
    }
    m.message(21, item);
  }
  if (auto it = s.find("type"); it != s.end()) {
    Message type;  // TypeItem { repeated string value = 1; }
    if (it->is_string()) type.bytes(1, it->get<std::string>());
    m.message(22, type);
  }
  if (auto it = s.find("items"); it != s.end() && it->is_object()) {
    Message items;  // ItemsItem { repeated Schema schema = 1; }
    items.message(1, schema(*it));
    m.message(23, items);
  }
  if (auto it = s.find("allOf"); it != s.end() && it->is_array()) {
    for (const auto& v : *it) m.message(24, schema(v));
  }
  if (auto it = s.find("properties"); it != s.end() && it->is_object()) {
    Message props;  // Properties { repeated NamedSchema additional_properties = 1; }
    for (const auto& [k, v] : it->items()) {
      Message named;
      named.bytes(1, k);
      named.message(2, schema(v));
      props.message(1, named);
    }
    m.message(25, props);
  }
  boolean(m, 27, s, "readOnly");
  if (auto it = s.find("example"); it != s.end()) m.message(30, any(*it));
  extensions(m, 31, s);
  return m;
}

// ParametersItem { oneof { Parameter parameter = 1; JsonReference json_reference = 2; } }
Message parameter(const json& p) {
  Message param;  // Parameter { oneof { BodyParameter = 1; NonBodyParameter = 2; } }
  const std::string in = p.value("in", "");
  if (in == "body") {
    Message body;
    string(body, 1, p, "description");
    string(body, 2, p, "name");
    string(body, 3, p, "in");
    boolean(body, 4, p, "required");
    if (auto it = p.find("schema"); it != p.end()) body.message(5, schema(*it));
    extensions(body, 6, p);
    param.message(1, body);
  } else {
    // Query and path sub-schemas share fields 1-4; type and the rest differ by one.
    const bool query = in == "query";
    Message sub;
    boolean(sub, 1, p, "required");
    string(sub, 2, p, "in");
    string(sub, 3, p, "description");
    string(sub, 4, p, "name");
    string(sub, query ? 6 : 5, p, "type");
    string(sub, query ? 7 : 6, p, "format");
    boolean(sub, query ? 20 : 19, p, "uniqueItems");
    extensions(sub, query ? 23 : 22, p);
    Message nonBody;  // NonBodyParameter: query_parameter_sub_schema = 3, path = 4
    nonBody.message(query ? 3 : 4, sub);
    param.message(2, nonBody);
  }
  Message item;
  item.message(1, param);
  return item;
}

Message operation(const json& op) {
  Message m;
  strings(m, 1, op, "tags");
  string(m, 2, op, "summary");
  string(m, 3, op, "description");
  string(m, 5, op, "operationId");
  strings(m, 6, op, "produces");
  strings(m, 7, op, "consumes");
  for (const auto& p : op.value("parameters", json::array())) m.message(8, parameter(p));
  if (auto it = op.find("responses"); it != op.end()) {
    Message responses;  // Responses { repeated NamedResponseValue response_code = 1; }
    for (const auto& [code, r] : it->items()) {
      Message response;  // Response { description = 1; SchemaItem schema = 2; }
      string(response, 1, r, "description");
      if (auto s = r.find("schema"); s != r.end()) {
        Message item;  // SchemaItem { Schema schema = 1; }
        item.message(1, schema(*s));
        response.message(2, item);
      }
      Message value;  // ResponseValue { Response response = 1; }
      value.message(1, response);
      Message named;
      named.bytes(1, code);
      named.message(2, value);
      responses.message(1, named);
    }
    m.message(9, responses);
  }
  strings(m, 10, op, "schemes");
  boolean(m, 11, op, "deprecated");
  extensions(m, 13, op);
  return m;
}

Message pathItem(const json& item) {
  static constexpr std::pair<const char*, int> kMethods[] = {
      {"get", 2},     {"put", 3},  {"post", 4}, {"delete", 5},
      {"options", 6}, {"head", 7}, {"patch", 8}};
  Message m;
  for (const auto& [method, field] : kMethods) {
    if (auto it = item.find(method); it != item.end()) m.message(field, operation(*it));
  }
  for (const auto& p : item.value("parameters", json::array())) m.message(9, parameter(p));
  extensions(m, 10, item);
  return m;
}

}  // namespace

std::string openApiV2Protobuf(const json& doc) {
  Message m;
  string(m, 1, doc, "swagger");
  if (auto it = doc.find("info"); it != doc.end()) {
    Message info;
    string(info, 1, *it, "title");
    string(info, 2, *it, "version");
    string(info, 3, *it, "description");
    m.message(2, info);
  }
  strings(m, 6, doc, "consumes");
  strings(m, 7, doc, "produces");
  if (auto it = doc.find("paths"); it != doc.end()) {
    Message paths;  // Paths { repeated NamedPathItem path = 2; }
    for (const auto& [name, item] : it->items()) {
      Message named;
      named.bytes(1, name);
      named.message(2, pathItem(item));
      paths.message(2, named);
    }
    m.message(8, paths);
  }
  if (auto it = doc.find("definitions"); it != doc.end()) {
    Message defs;  // Definitions { repeated NamedSchema additional_properties = 1; }
    for (const auto& [name, s] : it->items()) {
      Message named;
      named.bytes(1, name);
      named.message(2, schema(s));
      defs.message(1, named);
    }
    m.message(9, defs);
  }
  extensions(m, 16, doc);
  return m.data();
}

}  // namespace minimcp::server
