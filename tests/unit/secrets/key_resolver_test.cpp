// KeyResolver and the audit log, over a real SQLite store.
#include "api/secrets/key_resolver.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <thread>

#include "api/secrets/audit_log.h"
#include "tests/unit/secrets/secrets_fixture.h"

namespace minimcp::secrets::test {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using State = ResolvedKey::State;

constexpr const char* kValue = "ghp_0123456789abcdefABCDEF";

std::vector<json> auditLines(const std::filesystem::path& path) {
  std::vector<json> out;
  std::istringstream in(readBytes(path));
  for (std::string line; std::getline(in, line);) out.push_back(json::parse(line));
  return out;
}

class KeyResolverTest : public SecretsTest {
 protected:
  void SetUp() override {
    SecretsTest::SetUp();
    audit_ = std::make_unique<FileAuditLog>(dir_ / "audit.log");
    resolver_ = std::make_unique<KeyResolver>(*store_, ring_, *audit_, clock_);
  }
  ResolvedKey resolve(const std::string& key, const std::string& type = "github") {
    return resolver_->resolve("alice", key, type, "mcpd/host-a", "repo-bot");
  }

  std::unique_ptr<FileAuditLog> audit_;
  std::unique_ptr<KeyResolver> resolver_;
};

TEST_F(KeyResolverTest, AvailableGivesTheValueAndAuditsWithoutIt) {
  create(apiKeyManifest("alice", "gh-key", "github", kValue));
  ResolvedKey r = resolve("gh-key");
  ASSERT_EQ(r.state, State::Available) << r.message;
  EXPECT_EQ(r.value, kValue);
  EXPECT_EQ(r.version, 1);
  EXPECT_STREQ(r.reason(), "Decrypted");

  auto lines = auditLines(dir_ / "audit.log");
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0], json({{"time", "2026-01-01T00:00:00Z"},
                            {"actor", "mcpd/host-a"},
                            {"action", "decrypt"},
                            {"apikey", "alice/gh-key"},
                            {"version", 1},
                            {"instance", "alice/repo-bot"},
                            {"result", "ok"}}));
  EXPECT_THAT(readBytes(dir_ / "audit.log"), Not(HasSubstr(kValue)));
  struct stat st {};
  ASSERT_EQ(::stat((dir_ / "audit.log").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST_F(KeyResolverTest, CheckReportsWithoutDecrypting) {
  create(apiKeyManifest("alice", "gh-key", "github", kValue));
  ResolvedKey r = resolver_->check("alice", "gh-key", "github");
  EXPECT_EQ(r.state, State::Available);
  EXPECT_EQ(r.version, 1);
  EXPECT_TRUE(r.value.empty());
  EXPECT_TRUE(readBytes(dir_ / "audit.log").empty());
}

TEST_F(KeyResolverTest, MissingKeyIsNotFound) {
  ResolvedKey r = resolve("nope");
  EXPECT_EQ(r.state, State::NotFound);
  EXPECT_STREQ(r.reason(), "KeyNotFound");
  EXPECT_EQ(r.message, "APIKey \"nope\" not found in namespace \"alice\"");
  // Another namespace's key of the same name is not visible.
  create(apiKeyManifest("bob", "nope", "github", kValue));
  EXPECT_EQ(resolve("nope").state, State::NotFound);
  EXPECT_TRUE(readBytes(dir_ / "audit.log").empty());
}

TEST_F(KeyResolverTest, KeyForAnotherTypeIsTypeMismatch) {
  create(apiKeyManifest("alice", "gmail-key", "gmail", kValue));
  ResolvedKey r = resolve("gmail-key", "github");
  EXPECT_EQ(r.state, State::TypeMismatch);
  EXPECT_STREQ(r.reason(), "TypeMismatch");
  EXPECT_EQ(r.message, "APIKey \"gmail-key\" is for type \"gmail\", not \"github\"");
  EXPECT_TRUE(r.value.empty());
  EXPECT_TRUE(readBytes(dir_ / "audit.log").empty());
}

TEST_F(KeyResolverTest, SealedValueCopiedOntoAnotherKeyFailsToDecrypt) {
  json victim = create(apiKeyManifest("alice", "victim", "github", kValue));
  json mine = create(apiKeyManifest("alice", "mine", "github", "mallory-own-value"));
  // Someone with write access to the store file copies the row's sealed value.
  mine["sealed"] = victim["sealed"];
  store_->update(model::kApiKeyPlural, mine, 0);

  ResolvedKey r = resolve("mine");
  EXPECT_EQ(r.state, State::DecryptFailed);
  EXPECT_STREQ(r.reason(), "DecryptFailed");
  EXPECT_TRUE(r.value.empty());
  EXPECT_THAT(r.message, HasSubstr("\"mine\""));
  EXPECT_THAT(r.message, Not(HasSubstr(kValue)));

  auto lines = auditLines(dir_ / "audit.log");
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0]["apikey"], "alice/mine");
  EXPECT_THAT(lines[0]["result"].get<std::string>(), HasSubstr("DecryptFailed: "));
  EXPECT_THAT(readBytes(dir_ / "audit.log"), Not(HasSubstr(kValue)));
}

TEST_F(KeyResolverTest, OldVersionSealedValueDoesNotOpenAsTheNewVersion) {
  json v1 = create(apiKeyManifest("alice", "gh-key", "github", kValue));
  json v2 = update(apiKeyManifest("alice", "gh-key", "github", "ghp_second-value-0000"));
  ASSERT_EQ(v2["status"]["version"], 2);
  v2["sealed"] = v1["sealed"];  // roll the row back to the old ciphertext only
  store_->update(model::kApiKeyPlural, v2, 0);
  EXPECT_EQ(resolve("gh-key").state, State::DecryptFailed);
}

TEST_F(KeyResolverTest, UnknownMasterKeyIsDecryptFailed) {
  create(apiKeyManifest("alice", "gh-key", "github", kValue));
  crypto::KeyRing other(crypto::MasterKey::generate());
  KeyResolver resolver(*store_, other, *audit_, clock_);
  ResolvedKey checked = resolver.check("alice", "gh-key", "github");
  EXPECT_EQ(checked.state, State::DecryptFailed);
  EXPECT_THAT(checked.message, HasSubstr(ring_.primary().id()));
  EXPECT_EQ(resolver.resolve("alice", "gh-key", "github", "mcpd/b", "x").state,
            State::DecryptFailed);
  EXPECT_EQ(auditLines(dir_ / "audit.log").size(), 1u);
}

TEST_F(KeyResolverTest, NewValueIsANewVersion) {
  create(apiKeyManifest("alice", "gh-key", "github", kValue));
  update(apiKeyManifest("alice", "gh-key", "github", "ghp_second-value-0000"));
  ResolvedKey r = resolve("gh-key");
  ASSERT_EQ(r.state, State::Available) << r.message;
  EXPECT_EQ(r.version, 2);
  EXPECT_EQ(r.value, "ghp_second-value-0000");
}

TEST_F(KeyResolverTest, ResolvesAnObjectAtHand) {
  json stored = create(apiKeyManifest("alice", "gh-key", "github", kValue));
  ResolvedKey r = resolver_->resolve(&stored, "alice", "gh-key", "", "mcpd/a", "bot");
  EXPECT_EQ(r.value, kValue);
  EXPECT_EQ(resolver_->resolve(nullptr, "alice", "gh-key", "", "mcpd/a", "bot").state,
            State::NotFound);
}

class FailingAuditLog : public AuditLog {
 public:
  void append(const AuditRecord&) override { throw AuditLogError("disk full"); }
};

TEST_F(KeyResolverTest, NoValueWithoutAnAuditRecord) {
  create(apiKeyManifest("alice", "gh-key", "github", kValue));
  FailingAuditLog failing;
  KeyResolver resolver(*store_, ring_, failing, clock_);
  EXPECT_THROW(resolver.resolve("alice", "gh-key", "github", "mcpd/a", "bot"), AuditLogError);
}

TEST(FileAuditLog, ConcurrentAppendsStayWholeLines) {
  std::string tmpl = (std::filesystem::temp_directory_path() / "audit-test-XXXXXX").string();
  ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
  std::filesystem::path path = std::filesystem::path(tmpl) / "audit.log";
  {
    FileAuditLog a(path);
    FileAuditLog b(path);  // a second appender on the same file, as a second process would be
    auto writer = [](FileAuditLog& log, const std::string& actor) {
      for (int i = 0; i < 50; ++i) {
        log.append({.time = TimePoint{},
                    .actor = actor,
                    .action = "decrypt",
                    .apiKey = "ns/k",
                    .version = i,
                    .instance = "ns/i",
                    .sink = "",
                    .result = "ok"});
      }
    };
    std::thread t1(writer, std::ref(a), "one");
    std::thread t2(writer, std::ref(b), "two");
    t1.join();
    t2.join();
  }
  auto lines = auditLines(path);
  EXPECT_EQ(lines.size(), 100u);
  std::filesystem::remove_all(tmpl);
}

}  // namespace
}  // namespace minimcp::secrets::test
