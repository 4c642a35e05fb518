#include "api/model/validation.h"

#include <cctype>
#include <set>

#include "api/util/clock.h"

namespace minimcp::model {

using nlohmann::json;

namespace {

constexpr const char* kDns1123LabelMsg =
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and "
    "must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex "
    "used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
constexpr const char* kDns1123SubdomainMsg =
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "
    "'.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used "
    "for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
constexpr const char* kQualifiedNameMsg =
    "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end "
    "with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for "
    "validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain "
    "prefix and '/' (e.g. 'example.com/MyName')";

// Printed value in "Invalid value: X": long strings are cut so messages stay readable.
std::string showValue(const json& v) {
  if (v.is_object()) return "\"object\"";
  if (v.is_array()) return "\"array\"";
  if (v.is_string()) {
    const std::string& s = v.get_ref<const std::string&>();
    if (s.size() > 80) return json(s.substr(0, 80) + "...").dump();
    return v.dump();
  }
  return v.dump();
}

bool isAlnumLower(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }
bool isAlnum(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; }

// Label syntax without the length limit.
bool labelSyntax(const std::string& s) {
  if (s.empty() || !isAlnumLower(s.front()) || !isAlnumLower(s.back())) return false;
  for (char c : s) {
    if (!isAlnumLower(c) && c != '-') return false;
  }
  return true;
}

bool subdomainSyntax(const std::string& s) {
  if (s.empty()) return false;
  size_t start = 0;
  while (true) {
    size_t dot = s.find('.', start);
    std::string part = s.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (!labelSyntax(part)) return false;
    if (dot == std::string::npos) return true;
    start = dot + 1;
  }
}

bool namePartSyntax(const std::string& s) {
  if (s.empty() || s.size() > 63 || !isAlnum(s.front()) || !isAlnum(s.back())) return false;
  for (char c : s) {
    if (!isAlnum(c) && c != '-' && c != '_' && c != '.') return false;
  }
  return true;
}

const char* typeName(json::value_t t) {
  switch (t) {
    case json::value_t::object:
      return "object";
    case json::value_t::array:
      return "array";
    case json::value_t::string:
      return "string";
    case json::value_t::boolean:
      return "boolean";
    default:
      return "integer";
  }
}

bool expectKind(FieldErrors& errs, const json& v, const std::string& path, json::value_t t,
                bool ok) {
  if (!ok) errs.invalid(path, v, std::string("must be of type ") + typeName(t));
  return ok;
}

}  // namespace

void FieldErrors::required(const std::string& field, const std::string& detail) {
  causes_.push_back({field, "FieldValueRequired",
                     detail.empty() ? "Required value" : "Required value: " + detail});
}

void FieldErrors::invalid(const std::string& field, const json& value, const std::string& detail) {
  causes_.push_back(
      {field, "FieldValueInvalid", "Invalid value: " + showValue(value) + ": " + detail});
}

void FieldErrors::invalidHidden(const std::string& field, const std::string& detail) {
  causes_.push_back({field, "FieldValueInvalid", "Invalid value: " + detail});
}

void FieldErrors::notSupported(const std::string& field, const json& value,
                               const std::vector<std::string>& supported) {
  std::string list;
  for (const auto& s : supported) list += (list.empty() ? "" : ", ") + json(s).dump();
  causes_.push_back({field, "FieldValueNotSupported",
                     "Unsupported value: " + showValue(value) + ": supported values: " + list});
}

void FieldErrors::tooLong(const std::string& field, size_t max) {
  causes_.push_back({field, "FieldValueTooLong",
                     "Too long: may not be more than " + std::to_string(max) + " bytes"});
}

void FieldErrors::unknownField(const std::string& field) {
  causes_.push_back({field, "FieldValueNotSupported", "unknown field \"" + field + "\""});
}

void FieldErrors::append(const std::vector<Cause>& causes) {
  causes_.insert(causes_.end(), causes.begin(), causes.end());
}

std::string joinPath(const std::string& parent, const std::string& key) {
  return parent.empty() ? key : parent + "." + key;
}

std::string indexPath(const std::string& parent, size_t index) {
  return parent + "[" + std::to_string(index) + "]";
}

void rejectUnknownFields(FieldErrors& errs, const json& obj, const std::string& path,
                         std::initializer_list<const char*> known) {
  if (!obj.is_object()) return;
  for (auto it = obj.begin(); it != obj.end(); ++it) {
    bool found = false;
    for (const char* k : known) found = found || it.key() == k;
    if (!found) errs.unknownField(joinPath(path, it.key()));
  }
}

bool expectObject(FieldErrors& errs, const json& v, const std::string& path) {
  return expectKind(errs, v, path, json::value_t::object, v.is_object());
}
bool expectArray(FieldErrors& errs, const json& v, const std::string& path) {
  return expectKind(errs, v, path, json::value_t::array, v.is_array());
}
bool expectString(FieldErrors& errs, const json& v, const std::string& path) {
  return expectKind(errs, v, path, json::value_t::string, v.is_string());
}
bool expectBool(FieldErrors& errs, const json& v, const std::string& path) {
  return expectKind(errs, v, path, json::value_t::boolean, v.is_boolean());
}
bool expectInteger(FieldErrors& errs, const json& v, const std::string& path) {
  return expectKind(errs, v, path, json::value_t::number_integer, v.is_number_integer());
}

const std::string* optionalString(FieldErrors& errs, const json& obj, const std::string& key,
                                  const std::string& path) {
  const json* v = member(obj, key);
  if (!v || !expectString(errs, *v, path)) return nullptr;
  return &v->get_ref<const std::string&>();
}

const std::string* requiredString(FieldErrors& errs, const json& obj, const std::string& key,
                                  const std::string& path) {
  const json* v = member(obj, key);
  if (!v || (v->is_string() && v->get_ref<const std::string&>().empty())) {
    errs.required(path);
    return nullptr;
  }
  if (!expectString(errs, *v, path)) return nullptr;
  return &v->get_ref<const std::string&>();
}

void optionalIntInRange(FieldErrors& errs, const json& obj, const std::string& key,
                        const std::string& path, int64_t min, int64_t max) {
  const json* v = member(obj, key);
  if (!v || !expectInteger(errs, *v, path)) return;
  if (v->is_number_unsigned() && v->get<uint64_t>() > static_cast<uint64_t>(max)) {
    errs.invalid(path, *v, "must be less than or equal to " + std::to_string(max));
    return;
  }
  int64_t n = v->get<int64_t>();
  if (n < min) {
    errs.invalid(path, *v, "must be greater than or equal to " + std::to_string(min));
  } else if (n > max) {
    errs.invalid(path, *v, "must be less than or equal to " + std::to_string(max));
  }
}

void optionalEnum(FieldErrors& errs, const json& obj, const std::string& key,
                  const std::string& path, const std::vector<std::string>& allowed) {
  const std::string* s = optionalString(errs, obj, key, path);
  if (!s) return;
  for (const auto& a : allowed) {
    if (*s == a) return;
  }
  errs.notSupported(path, *s, allowed);
}

void optionalStringList(FieldErrors& errs, const json& obj, const std::string& key,
                        const std::string& path) {
  const json* v = member(obj, key);
  if (!v || !expectArray(errs, *v, path)) return;
  for (size_t i = 0; i < v->size(); ++i) {
    const json& item = (*v)[i];
    std::string p = indexPath(path, i);
    if (!expectString(errs, item, p)) continue;
    if (item.get_ref<const std::string&>().empty()) errs.required(p);
  }
}

bool isDns1123Label(const std::string& s) { return s.size() <= 63 && labelSyntax(s); }
bool isDns1123Subdomain(const std::string& s) { return s.size() <= 253 && subdomainSyntax(s); }

bool isQualifiedName(const std::string& s) {
  size_t slash = s.find('/');
  if (slash == std::string::npos) return namePartSyntax(s);
  std::string prefix = s.substr(0, slash);
  return isDns1123Subdomain(prefix) && namePartSyntax(s.substr(slash + 1));
}

bool isLabelValue(const std::string& s) { return s.empty() || namePartSyntax(s); }

bool isCIdentifier(const std::string& s) {
  if (s.empty() || std::isdigit(static_cast<unsigned char>(s[0]))) return false;
  for (char c : s) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') return false;
    if (static_cast<unsigned char>(c) >= 0x80) return false;
  }
  return true;
}

void validateDns1123Label(FieldErrors& errs, const std::string& value, const std::string& path) {
  if (value.size() > 63) {
    errs.tooLong(path, 63);
  } else if (!labelSyntax(value)) {
    errs.invalid(path, value, kDns1123LabelMsg);
  }
}

void validateDns1123Subdomain(FieldErrors& errs, const std::string& value,
                              const std::string& path) {
  if (value.size() > 253) {
    errs.tooLong(path, 253);
  } else if (!subdomainSyntax(value)) {
    errs.invalid(path, value, kDns1123SubdomainMsg);
  }
}

void validateQualifiedName(FieldErrors& errs, const std::string& value, const std::string& path) {
  size_t slash = value.find('/');
  std::string name = slash == std::string::npos ? value : value.substr(slash + 1);
  if (slash != std::string::npos && value.substr(0, slash).size() > 253) {
    errs.invalid(path, value, "prefix part must be no more than 253 bytes");
  } else if (name.size() > 63) {
    errs.invalid(path, value, "name part must be no more than 63 bytes");
  } else if (!isQualifiedName(value)) {
    errs.invalid(path, value, kQualifiedNameMsg);
  }
}

void validateEnvList(FieldErrors& errs, const json& obj, const std::string& key,
                     const std::string& path) {
  const json* env = member(obj, key);
  if (!env || !expectArray(errs, *env, path)) return;
  std::set<std::string> seen;
  for (size_t i = 0; i < env->size(); ++i) {
    const json& item = (*env)[i];
    std::string p = indexPath(path, i);
    if (!expectObject(errs, item, p)) continue;
    rejectUnknownFields(errs, item, p, {"name", "value"});
    if (const std::string* name = requiredString(errs, item, "name", p + ".name")) {
      if (!isCIdentifier(*name)) {
        errs.invalid(p + ".name", *name,
                     "a valid environment variable name must consist of alphabetic characters, "
                     "digits or '_', and must not start with a digit (e.g. 'MY_VAR', regex used "
                     "for validation is '[A-Za-z_][A-Za-z0-9_]*')");
      } else if (!seen.insert(*name).second) {
        errs.invalid(p + ".name", *name, "duplicate name");
      }
    }
    optionalString(errs, item, "value", p + ".value");
  }
}

void validateConfigObject(FieldErrors& errs, const json& obj, const std::string& key,
                          const std::string& path) {
  if (const json* v = member(obj, key)) expectObject(errs, *v, path);
}

}  // namespace minimcp::model

namespace minimcp::model {

void validateIdleTimeout(FieldErrors& errs, const nlohmann::json& spec, const std::string& path) {
  const std::string* v = optionalString(errs, spec, "idleTimeout", path);
  if (!v) return;
  if (*v == "0") return;
  auto d = parseDuration(*v);
  if (!d) {
    errs.invalid(path, *v,
                 "must be 0 (never) or a duration like 15m or 1h30m (regex used for validation is "
                 "'^(0|([0-9]+(\\.[0-9]+)?(ms|s|m|h))+)$')");
  } else if (d->count() != 0 && *d < std::chrono::seconds(1)) {
    errs.invalid(path, *v, "must be 0 (never) or at least 1s");
  }
}

}  // namespace minimcp::model
