// Master key rotation keeps every value readable, under the new key only.
#include "api/secrets/rotate.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "api/crypto/aead.h"
#include "api/secrets/key_resolver.h"
#include "tests/unit/secrets/secrets_fixture.h"

namespace minimcp::secrets::test {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

class RotateTest : public SecretsTest {
 protected:
  void SetUp() override {
    SecretsTest::SetUp();
    audit_ = std::make_unique<FileAuditLog>(dir_ / "audit.log");
  }
  std::unique_ptr<FileAuditLog> audit_;
};

TEST_F(RotateTest, ReSealsEveryValueUnderTheNewKey) {
  // More keys than one list page holds.
  const int kKeys = 120;
  for (int i = 0; i < kKeys; ++i) {
    create(apiKeyManifest(i % 2 ? "alice" : "bob", "key-" + std::to_string(i), "github",
                          "value-number-" + std::to_string(i)));
  }
  crypto::MasterKey next = crypto::MasterKey::generate();
  crypto::KeyRing rotating(next, {ring_.primary()});
  RotationReport report = rotateMasterKey(*store_, rotating, *audit_, "test", clock_);
  EXPECT_EQ(report.resealed, kKeys);
  EXPECT_EQ(report.unchanged, 0);
  EXPECT_TRUE(report.failed.empty());

  // Readable with the new key alone; versions unchanged, so no instance restarts.
  crypto::KeyRing newOnly(next);
  KeyResolver resolver(*store_, newOnly, *audit_, clock_);
  for (int i = 0; i < kKeys; ++i) {
    ResolvedKey r = resolver.resolve(i % 2 ? "alice" : "bob", "key-" + std::to_string(i), "github",
                                     "mcpd/a", "x");
    ASSERT_EQ(r.state, ResolvedKey::State::Available) << i << ": " << r.message;
    EXPECT_EQ(r.value, "value-number-" + std::to_string(i));
    EXPECT_EQ(r.version, 1);
  }
  EXPECT_THAT(storeFileBytes(), Not(HasSubstr("value-number-1")));

  // Every re-seal was audited, without values.
  std::string log = readBytes(dir_ / "audit.log");
  EXPECT_EQ(std::count(log.begin(), log.end(), '\n'), 2 * kKeys);
  EXPECT_THAT(log, HasSubstr("\"action\":\"reseal\""));
  EXPECT_THAT(log, Not(HasSubstr("value-number-")));

  // A second run finds nothing to do.
  report = rotateMasterKey(*store_, rotating, *audit_, "test", clock_);
  EXPECT_EQ(report.resealed, 0);
  EXPECT_EQ(report.unchanged, kKeys);
}

TEST_F(RotateTest, SameValueAfterRotationIsStillRecognised) {
  create(apiKeyManifest("alice", "k", "github", "the-same-value-1234"));
  crypto::MasterKey next = crypto::MasterKey::generate();
  crypto::KeyRing rotating(next, {ring_.primary()});
  ASSERT_EQ(rotateMasterKey(*store_, rotating, *audit_, "test", clock_).resealed, 1);
  model::setApiKeyKeyRing(&rotating);
  json stored = update(apiKeyManifest("alice", "k", "github", "the-same-value-1234"));
  EXPECT_EQ(stored["status"]["version"], 1);
}

TEST_F(RotateTest, UnreadableValuesAreReportedAndLeftAlone) {
  json good = create(apiKeyManifest("alice", "good", "github", "good-value-12345"));
  json bad = create(apiKeyManifest("alice", "bad", "github", "bad-value-12345"));
  bad["sealed"] = good["sealed"];  // opens under no AAD of "bad"
  bad = store_->update(model::kApiKeyPlural, bad, 0);

  crypto::KeyRing rotating(crypto::MasterKey::generate(), {ring_.primary()});
  RotationReport report = rotateMasterKey(*store_, rotating, *audit_, "test", clock_);
  EXPECT_EQ(report.resealed, 1);
  ASSERT_EQ(report.failed.size(), 1u);
  EXPECT_THAT(report.failed[0], HasSubstr("alice/bad: "));
  EXPECT_EQ(store_->get(model::kApiKeyPlural, "alice", "bad")->at("sealed"), bad["sealed"]);
}

TEST_F(RotateTest, KeysWithoutAValueAreSkipped) {
  json obj = create(apiKeyManifest("alice", "k", "github", "some-value-123456"));
  obj.erase("sealed");
  store_->update(model::kApiKeyPlural, obj, 0);
  crypto::KeyRing rotating(crypto::MasterKey::generate(), {ring_.primary()});
  RotationReport report = rotateMasterKey(*store_, rotating, *audit_, "test", clock_);
  EXPECT_EQ(report.resealed, 0);
  EXPECT_EQ(report.unchanged, 1);
}

}  // namespace
}  // namespace minimcp::secrets::test
