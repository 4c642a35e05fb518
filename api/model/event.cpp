// Event: what happened to an object, like core/v1 Event (fields at top level, no spec/status).
#include <cctype>

#include "api/model/kind_strategy.h"
#include "api/model/kinds.h"
#include "api/util/ascii.h"

namespace minimcp::model {

using nlohmann::json;

namespace {

KindInfo eventInfo() {
  KindInfo k;
  k.kind = "Event";
  k.plural = "events";
  k.singular = "event";
  k.shortNames = {"ev"};
  k.categories = {};
  k.namespaced = true;
  k.hasStatus = false;
  k.columns = {
      {"Last Seen", "string", ".lastTimestamp", 0, "Time since the event last occurred"},
      {"Type", "string", ".type", 0, "Normal or Warning"},
      {"Reason", "string", ".reason", 0, ""},
      {"Object", "string", ".involvedObject.name", 0, "kind/name of the object"},
      {"Message", "string", ".message", 0, ""},
  };
  return k;
}

bool isUpperCamelCase(const std::string& s) {
  if (s.empty() || !std::isupper(static_cast<unsigned char>(s[0]))) return false;
  for (char c : s) {
    if (!std::isalnum(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

class EventStrategy : public KindStrategy {
 public:
  EventStrategy() : KindStrategy(eventInfo()) {}

  void prepareForCreate(json& obj, const Clock& clock) const override {
    KindStrategy::prepareForCreate(obj, clock);
    if (!obj.is_object()) return;
    std::string now = formatRfc3339(clock.now());
    setDefault(obj, "firstTimestamp", now);
    setDefault(obj, "lastTimestamp", obj["firstTimestamp"]);
  }

  json tableCells(const json& obj, TimePoint now) const override {
    json last = cellAt(obj, "lastTimestamp");
    if (last.is_null()) last = cellAt(obj, "firstTimestamp");
    if (last.is_null()) last = cellAt(obj, "metadata.creationTimestamp");
    const json involved = cellAt(obj, "involvedObject");
    std::string object =
        asciiLower(stringField(involved, "kind")) + "/" + stringField(involved, "name");
    return json::array({ageCell(last, now), cellAt(obj, "type"), cellAt(obj, "reason"), object,
                        cellAt(obj, "message")});
  }

 protected:
  void applyDefaults(json& obj) const override {
    setDefault(obj, "type", "Normal");
    setDefault(obj, "count", 1);
  }

  void validateBody(FieldErrors& errs, const json& obj) const override {
    rejectUnknownFields(errs, obj, "",
                        {"apiVersion", "kind", "metadata", "involvedObject", "type", "reason",
                         "message", "count", "firstTimestamp", "lastTimestamp", "source"});
    const json* involved = member(obj, "involvedObject");
    if (!involved) {
      errs.required("involvedObject");
    } else if (expectObject(errs, *involved, "involvedObject")) {
      rejectUnknownFields(
          errs, *involved, "involvedObject",
          {"apiVersion", "kind", "name", "namespace", "uid", "resourceVersion", "fieldPath"});
      requiredString(errs, *involved, "kind", "involvedObject.kind");
      requiredString(errs, *involved, "name", "involvedObject.name");
      for (const char* f : {"apiVersion", "namespace", "uid", "resourceVersion", "fieldPath"}) {
        optionalString(errs, *involved, f, std::string("involvedObject.") + f);
      }
    }
    if (!member(obj, "type")) errs.required("type");
    optionalEnum(errs, obj, "type", "type", {"Normal", "Warning"});
    if (const std::string* reason = requiredString(errs, obj, "reason", "reason")) {
      if (reason->size() > 128) {
        errs.tooLong("reason", 128);
      } else if (!isUpperCamelCase(*reason)) {
        errs.invalid("reason", *reason, "must be UpperCamelCase, e.g. BackOff or Started");
      }
    }
    if (const std::string* m = optionalString(errs, obj, "message", "message");
        m && m->size() > 4096) {
      errs.tooLong("message", 4096);
    }
    optionalIntInRange(errs, obj, "count", "count", 1, INT32_MAX);
    for (const char* f : {"firstTimestamp", "lastTimestamp"}) {
      if (const std::string* t = optionalString(errs, obj, f, f); t && !parseRfc3339(*t)) {
        errs.invalid(f, *t, "must be an RFC 3339 timestamp");
      }
    }
    if (const json* source = member(obj, "source");
        source && expectObject(errs, *source, "source")) {
      rejectUnknownFields(errs, *source, "source", {"component", "host", "node"});
      for (const char* f : {"component", "host", "node"}) {
        optionalString(errs, *source, f, std::string("source.") + f);
      }
    }
  }
};

}  // namespace

const Strategy& eventStrategy() {
  static const EventStrategy strategy;
  return strategy;
}

}  // namespace minimcp::model
