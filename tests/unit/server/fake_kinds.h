// Test kinds for the generic REST handler: a namespaced "Widget" with status and a
// cluster-scoped "Gadget", each with one checked spec field and one printer column.
#pragma once

#include <filesystem>
#include <string>

#include "api/model/strategy.h"

namespace minimcp::server::testing {

class FakeClock : public Clock {
 public:
  TimePoint now() const override { return t; }
  std::chrono::steady_clock::time_point steadyNow() const override {
    return std::chrono::steady_clock::now();
  }
  TimePoint t = std::chrono::system_clock::from_time_t(1800000000);
};

class FakeStrategy : public model::Strategy {
 public:
  explicit FakeStrategy(model::KindInfo info) : info_(std::move(info)) {}
  const model::KindInfo& info() const override { return info_; }
  void prepareForCreate(nlohmann::json& obj, const Clock&) const override {
    obj.erase("status");
    if (obj.contains("spec") && obj["spec"].is_object() && !obj["spec"].contains("size")) {
      obj["spec"]["size"] = 1;  // a default, as real strategies apply them
    }
  }
  void prepareForUpdate(nlohmann::json& obj, const nlohmann::json& old,
                        const Clock&) const override {
    if (old.contains("status")) {
      obj["status"] = old["status"];
    } else {
      obj.erase("status");
    }
  }
  void prepareForStatusUpdate(nlohmann::json& obj, const nlohmann::json& old) const override {
    nlohmann::json status = obj.value("status", nlohmann::json());
    std::string rv = obj["metadata"].value("resourceVersion", "");
    obj = old;
    if (status.is_null()) {
      obj.erase("status");
    } else {
      obj["status"] = status;
    }
    obj["metadata"]["resourceVersion"] = rv;
  }
  std::vector<Cause> validate(const nlohmann::json& obj) const override {
    auto causes = model::validateObjectMeta(obj, info_);
    const auto& spec = obj.value("spec", nlohmann::json::object());
    if (spec.contains("size") && (!spec["size"].is_number_integer() || spec["size"] < 0)) {
      causes.push_back({"spec.size", "FieldValueInvalid", "must be a non-negative integer"});
    }
    if (spec.contains("color") && !spec["color"].is_string()) {
      causes.push_back({"spec.color", "FieldValueInvalid", "must be a string"});
    }
    return causes;
  }
  std::vector<Cause> validateUpdate(const nlohmann::json&, const nlohmann::json&) const override {
    return {};
  }
  nlohmann::json tableCells(const nlohmann::json& obj, TimePoint) const override {
    return nlohmann::json::array({obj.value("spec", nlohmann::json::object()).value("size", 0)});
  }
  void sanitizeForRead(nlohmann::json& obj) const override {
    if (obj.contains("spec") && obj["spec"].is_object()) obj["spec"].erase("secret");
  }

 private:
  model::KindInfo info_;
};

inline model::KindInfo widgetInfo() {
  model::KindInfo i;
  i.kind = "Widget";
  i.plural = "widgets";
  i.singular = "widget";
  i.shortNames = {"wd"};
  i.namespaced = true;
  i.columns = {{"Size", "integer", ".spec.size", 0, "how big"}};
  return i;
}

inline model::KindInfo gadgetInfo() {
  model::KindInfo i = widgetInfo();
  i.kind = "Gadget";
  i.plural = "gadgets";
  i.singular = "gadget";
  i.shortNames = {};
  i.namespaced = false;
  i.hasStatus = false;
  return i;
}

inline model::KindInfo eventInfo() {
  model::KindInfo i = widgetInfo();
  i.kind = "Event";
  i.plural = "events";
  i.singular = "event";
  i.hasStatus = false;
  return i;
}

// A fresh directory under the system temp dir, removed on destruction.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "minimcp-test-XXXXXX").string();
    path_ = mkdtemp(tmpl.data());
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace minimcp::server::testing
