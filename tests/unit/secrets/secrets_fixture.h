// Shared set-up for the secrets tests: a real SQLite store in a fresh temp dir, a fake clock,
// a key ring registered with the APIKey strategy, and the REST layer's write sequence
// (prepare → validate → store) so objects are stored exactly as the server would store them.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "api/crypto/master_key.h"
#include "api/model/apikey.h"
#include "api/model/kinds.h"
#include "api/model/strategy.h"
#include "api/store/store.h"
#include "tests/unit/reconciler/fake_clock.h"

namespace minimcp::secrets::test {

using nlohmann::json;

inline std::string describeCauses(const std::vector<Cause>& causes) {
  std::string s;
  for (const auto& c : causes) s += c.field + ": " + c.reason + ": " + c.message + "\n";
  return s;
}

inline json apiKeyManifest(const std::string& ns, const std::string& name, const std::string& type,
                           const std::string& value, const std::string& rotationPeriod = "") {
  json obj = {{"apiVersion", "minimcp.io/v1alpha1"},
              {"kind", "APIKey"},
              {"metadata", {{"name", name}, {"namespace", ns}}},
              {"spec", {{"type", type}}}};
  if (!value.empty()) obj["spec"]["value"] = value;
  if (!rotationPeriod.empty()) obj["spec"]["rotationPeriod"] = rotationPeriod;
  return obj;
}

// Reads a whole file as bytes ("" when absent).
inline std::string readBytes(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

class SecretsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (std::filesystem::temp_directory_path() / "secrets-test-XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    store_ = store::openStore("sqlite:" + (dir_ / "store.db").string());
    model::setApiKeyKeyRing(&ring_);
  }
  void TearDown() override {
    model::setApiKeyKeyRing(nullptr);
    store_.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  const model::Strategy& strategy() const { return model::apiKeyStrategy(); }

  // POST as the REST layer does it; fails the test when the object is invalid.
  json create(json obj) {
    model::initObjectMeta(obj, strategy().info(), clock_);
    strategy().prepareForCreate(obj, clock_);
    auto causes = strategy().validate(obj);
    EXPECT_TRUE(causes.empty()) << describeCauses(causes);
    return store_->create(model::kApiKeyPlural, std::move(obj));
  }

  // PUT as the REST layer does it (server-owned metadata from the stored object, generation
  // bumped on a spec change). Returns the stored object.
  json update(json obj) {
    const std::string ns = obj["metadata"]["namespace"];
    const std::string name = obj["metadata"]["name"];
    auto old = store_->get(model::kApiKeyPlural, ns, name);
    EXPECT_TRUE(old.has_value());
    if (!old) return obj;
    prepareUpdate(obj, *old);
    auto causes = strategy().validate(obj);
    auto more = strategy().validateUpdate(obj, *old);
    causes.insert(causes.end(), more.begin(), more.end());
    EXPECT_TRUE(causes.empty()) << describeCauses(causes);
    if (obj == *old) return *old;
    return store_->update(model::kApiKeyPlural, std::move(obj), store::parseResourceVersion(*old));
  }

  void prepareUpdate(json& obj, const json& old) {
    for (const char* f : {"uid", "creationTimestamp", "generation", "resourceVersion"}) {
      obj["metadata"][f] = old["metadata"][f];
    }
    strategy().prepareForUpdate(obj, old, clock_);
    if (obj.value("spec", json()) != old.value("spec", json())) {
      obj["metadata"]["generation"] = old["metadata"]["generation"].get<int64_t>() + 1;
    }
  }

  // Every byte SQLite has written (database, WAL, shared memory).
  std::string storeFileBytes() const {
    std::string all;
    for (const auto& e : std::filesystem::directory_iterator(dir_)) {
      if (e.path().filename().string().rfind("store.db", 0) == 0) all += readBytes(e.path());
    }
    return all;
  }

  std::filesystem::path dir_;
  minimcp::test::FakeClock clock_;
  crypto::KeyRing ring_{crypto::MasterKey::generate()};
  std::unique_ptr<store::Store> store_;
};

}  // namespace minimcp::secrets::test
