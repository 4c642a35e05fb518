// NotificationSinks against the real mcpd and a real local HTTP receiver
// (tests/e2e/notify/receiver.mjs): signed CloudEvents for an instance that is about to expire and
// then expires, retries while the receiver fails, delivery after mcpd is SIGKILLed with the
// event still undelivered, and no event of one tenant at another tenant's sink.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "api/util/clock.h"
#include "tests/e2e/reconciler/reconciler_e2e.h"

namespace minimcp::e2e {
namespace {

using ::testing::HasSubstr;

// receiver.mjs as its own process, stopped by pid.
class Receiver {
 public:
  explicit Receiver(const std::string& dir) : outPath_(dir + "/receiver.out") {
    int fd = open(outPath_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) throw std::runtime_error("cannot open " + outPath_);
    pid_ = testing::spawnProcess(
        {nodeBinary(), MINIMCP_SOURCE_DIR "/tests/e2e/notify/receiver.mjs"}, -1, fd, fd);
    close(fd);
    const bool up = pollUntil(
        [&] {
          const std::string out = testing::readFileOr(outPath_);
          const auto nl = out.find('\n');
          if (nl == std::string::npos) return !processRunning(pid_);
          url_ = json::parse(out.substr(0, nl), nullptr, false).value("url", "");
          return true;
        },
        15s);
    if (!up || url_.empty()) {
      throw std::runtime_error("receiver did not start: " + testing::readFileOr(outPath_));
    }
  }
  ~Receiver() {
    if (pid_ > 0) testing::terminatePid(pid_, 5s);
  }
  const std::string& url() const { return url_; }

  // The next `count` requests (-1: all until told otherwise) are answered `status`.
  void fail(int count, int status = 500) {
    call("POST",
         "/__control/fail?count=" + std::to_string(count) + "&status=" + std::to_string(status));
  }
  // Requests to `path`, in arrival order.
  std::vector<json> requests(const std::string& path) {
    std::vector<json> out;
    for (const json& r : call("GET", "/__requests")) {
      if (r.value("path", "") == path) out.push_back(r);
    }
    return out;
  }
  std::vector<json> all() { return call("GET", "/__requests").get<std::vector<json>>(); }

 private:
  json call(const std::string& method, const std::string& target) {
    client::ConnectionConfig cfg;
    cfg.server = url_;
    client::HttpClient http(cfg);
    auto r = http.request(method, target, "", {}, 10s);
    if (r.status != 200) throw std::runtime_error("receiver: " + r.body);
    return json::parse(r.body);
  }

  std::string outPath_;
  std::string url_;
  pid_t pid_ = -1;
};

// What a receiver does to verify a request: HMAC-SHA256 of the raw body with the shared key.
std::string expectedSignature(const std::string& key, const std::string& body) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(body.data()), body.size(), mac, &len);
  return "sha256=" + crypto::hexEncode({reinterpret_cast<const char*>(mac), len});
}

json bodyOf(const json& request) { return json::parse(request.value("body", "{}")); }
std::string typeOf(const json& request) { return bodyOf(request).value("type", ""); }

std::string sinkYaml(const std::string& ns, const std::string& name, const std::string& url,
                     const std::string& events, const std::string& extra = "") {
  return "apiVersion: minimcp.io/v1alpha1\nkind: NotificationSink\nmetadata: {name: " + name +
         ", namespace: " + ns + "}\nspec:\n  url: " + url + "\n  events: " + events + "\n" + extra;
}

std::string instanceIn(const std::string& ns, const std::string& name, const std::string& ttl) {
  return "apiVersion: minimcp.io/v1alpha1\nkind: MCPInstance\nmetadata: {name: " + name +
         ", namespace: " + ns + "}\nspec: {type: echo, ttl: " + ttl + "}\n";
}

json getSink(Cluster& c, const std::string& ns, const std::string& name) {
  auto r = c.api().request(
      "GET", std::string(kApi) + "/namespaces/" + ns + "/notificationsinks/" + name, "", {}, 10s);
  return r.status == 200 ? json::parse(r.body) : json();
}

// The sink's status.lastDelivery, or {} while it has none (the sink may not be written yet).
json lastDelivery(const json& sink) {
  const json* d = sink.is_object() && sink.contains("status") && sink["status"].is_object() &&
                          sink["status"].contains("lastDelivery")
                      ? &sink["status"]["lastDelivery"]
                      : nullptr;
  return d && d->is_object() ? *d : json::object();
}

class NotifyE2E : public ::testing::Test {
 protected:
  testing::TempDir dir_{"notify-e2e"};
  Receiver receiver_{dir_.path()};
  Cluster c_{{"--notification-allow-loopback"}};
};

TEST_F(NotifyE2E, ExpiringThenExpiredSignedOnceEachAndNothingAtAnotherTenantsSink) {
  const std::string key = "hook-signing-" + randomHex(12);
  applyOk(c_,
          "apiVersion: minimcp.io/v1alpha1\nkind: APIKey\nmetadata: {name: hook-key, "
          "namespace: alice}\nspec: {type: webhook, value: " +
              key + "}\n");
  applyOk(c_, sinkYaml("alice", "hooks", receiver_.url() + "/alice",
                       "[InstanceExpiring, InstanceExpired]",
                       "  notifyBefore: 3s\n  signingKeyRef: {name: hook-key}\n"));
  applyOk(c_, sinkYaml("bob", "hooks", receiver_.url() + "/bob",
                       "[InstanceExpiring, InstanceExpired, InstanceFailed, CrashLoopBackOff, "
                       "KeyRotationDue]",
                       "  notifyBefore: 1h\n"));
  applyOk(c_, instanceIn("alice", "short", "6s"));
  const json mi = c_.instance("short", "alice");
  ASSERT_TRUE(pollUntil(
      [&] {
        for (const json& r : receiver_.requests("/alice")) {
          if (typeOf(r) == "io.minimcp.instance.expired") return true;
        }
        return false;
      },
      40s))
      << receiver_.all().size() << " requests; log:\n"
      << c_.mcpd().log();

  const auto got = receiver_.requests("/alice");
  ASSERT_EQ(got.size(), 2u) << json(got).dump(2);
  EXPECT_EQ(typeOf(got[0]), "io.minimcp.instance.expiring");
  EXPECT_EQ(typeOf(got[1]), "io.minimcp.instance.expired");
  for (const json& r : got) {
    SCOPED_TRACE(r.dump());
    EXPECT_EQ(r["headers"].value("content-type", ""), "application/cloudevents+json");
    EXPECT_EQ(r["headers"].value("x-minimcp-signature", ""),
              expectedSignature(key, r.value("body", "")));
    const json ce = bodyOf(r);
    EXPECT_EQ(ce["specversion"], "1.0");
    EXPECT_EQ(ce["source"], "/apis/minimcp.io/v1alpha1/namespaces/alice/mcpinstances");
    EXPECT_EQ(ce["subject"], "short");
    EXPECT_EQ(ce["data"]["namespace"], "alice");
    EXPECT_EQ(ce["data"]["uid"], uidOf(mi));
    EXPECT_EQ(r["answered"], 204);
  }
  EXPECT_NE(bodyOf(got[0])["id"], bodyOf(got[1])["id"]);
  // Sent within the lead, before the expiry it announces.
  const auto expiresAt = parseRfc3339(bodyOf(got[0])["data"]["expiresAt"]);
  const auto sentAt = parseRfc3339(bodyOf(got[0])["time"]);
  ASSERT_TRUE(expiresAt && sentAt);
  EXPECT_LE(*sentAt, *expiresAt);
  EXPECT_GE(*sentAt, *expiresAt - 3s - 1s);

  // Also a Kubernetes Event; and the sink's status says what was delivered.
  ASSERT_TRUE(pollUntil([&] { return !c_.eventsFor(uidOf(mi), "alice").empty(); }, 5s));
  bool expiringEvent = false;
  for (const json& e : c_.eventsFor(uidOf(mi), "alice")) {
    expiringEvent = expiringEvent || e.value("reason", "") == "InstanceExpiring";
  }
  EXPECT_TRUE(expiringEvent);
  ASSERT_TRUE(pollUntil(
      [&] {
        return lastDelivery(getSink(c_, "alice", "hooks")).value("type", "") ==
               "io.minimcp.instance.expired";
      },
      5s))
      << getSink(c_, "alice", "hooks").dump(2);

  // Nothing more arrives (no second attempt chain), and bob's sink saw none of alice's.
  EXPECT_FALSE(pollUntil([&] { return receiver_.requests("/alice").size() > 2; }, 2s))
      << json(receiver_.requests("/alice")).dump(2);
  EXPECT_TRUE(receiver_.requests("/bob").empty()) << json(receiver_.requests("/bob")).dump(2);
  EXPECT_EQ(c_.mcpd().log().find(key), std::string::npos) << "the signing key is in mcpd's log";
  EXPECT_EQ(getSink(c_, "alice", "hooks").dump().find(key), std::string::npos);
}

TEST_F(NotifyE2E, DeliveredAfterTheReceiverFailsThreeTimes) {
  applyOk(c_, sinkYaml("alice", "hooks", receiver_.url() + "/alice", "[InstanceExpired]"));
  receiver_.fail(3, 500);
  applyOk(c_, instanceIn("alice", "brief", "3s"));
  ASSERT_TRUE(pollUntil(
      [&] {
        const auto got = receiver_.requests("/alice");
        return !got.empty() && got.back()["answered"] == 204;
      },
      40s))
      << json(receiver_.all()).dump(2) << c_.mcpd().log();
  const auto got = receiver_.requests("/alice");
  ASSERT_EQ(got.size(), 4u);
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i]["answered"], i < 3 ? 500 : 204);
    EXPECT_EQ(got[i]["body"], got[0]["body"]) << "the same event each attempt";
    if (i > 0) {
      EXPECT_GE(got[i]["at"].get<int64_t>() - got[i - 1]["at"].get<int64_t>(), 800)
          << "attempts are spaced by the back-off";
    }
  }
  EXPECT_EQ(typeOf(got[0]), "io.minimcp.instance.expired");
  ASSERT_TRUE(pollUntil(
      [&] {
        return lastDelivery(getSink(c_, "alice", "hooks")).value("attempts", 0) == 4;
      },
      5s))
      << getSink(c_, "alice", "hooks").dump(2);
  const json st = getSink(c_, "alice", "hooks")["status"];
  EXPECT_EQ(st["lastError"]["message"], "the sink answered HTTP 500");
  EXPECT_EQ(st["lastDelivery"]["id"], bodyOf(got[0])["id"]);
}

TEST_F(NotifyE2E, AnUndeliveredEventIsDeliveredAfterMcpdIsKilled) {
  applyOk(c_, sinkYaml("alice", "hooks", receiver_.url() + "/alice", "[InstanceExpired]"));
  receiver_.fail(-1, 503);
  applyOk(c_, instanceIn("alice", "brief", "3s"));
  ASSERT_TRUE(pollUntil([&] { return !receiver_.requests("/alice").empty(); }, 30s))
      << c_.mcpd().log();
  const std::string id = bodyOf(receiver_.requests("/alice")[0])["id"];
  c_.mcpd().kill9();
  receiver_.fail(0);
  c_.mcpd().start();
  ASSERT_TRUE(pollUntil(
      [&] {
        const auto got = receiver_.requests("/alice");
        return !got.empty() && got.back()["answered"] == 204;
      },
      40s))
      << json(receiver_.all()).dump(2) << c_.mcpd().log();
  for (const json& r : receiver_.requests("/alice")) EXPECT_EQ(bodyOf(r)["id"], id);
}

TEST_F(NotifyE2E, ATenantCannotAimASinkAtPrivateAddressesOrAnotherNamespace) {
  const std::string bob = tokenLine(c_.mcpd().mcpctl({"token", "create", "--namespace", "bob"}));
  client::ConnectionConfig cfg = c_.mcpd().currentConnection();
  cfg.token = bob;
  client::HttpClient api(cfg);
  auto post = [&](const std::string& ns, const std::string& url) {
    const json sink = {{"apiVersion", "minimcp.io/v1alpha1"},
                       {"kind", "NotificationSink"},
                       {"metadata", {{"name", "probe"}, {"namespace", ns}}},
                       {"spec", {{"url", url}, {"events", {"InstanceExpired"}}}}};
    return api.request("POST", std::string(kApi) + "/namespaces/" + ns + "/notificationsinks",
                       sink.dump(), {}, 10s);
  };
  for (const char* url :
       {"https://169.254.169.254/latest/meta-data/", "https://[fd00:ec2::254]/",
        "https://metadata.google.internal/computeMetadata/v1/", "http://10.0.0.1/hook",
        "https://192.168.1.1/", "https://2130706433/", "http://hooks.example.com/",
        "https://user:pw@hooks.example.com/", "file:///etc/passwd"}) {
    auto r = post("bob", url);
    EXPECT_EQ(r.status, 422) << url << ": " << r.body;
    EXPECT_THAT(r.body, HasSubstr("spec.url")) << url;
  }
  EXPECT_EQ(post("alice", "https://hooks.example.com/").status, 403);
  auto r = post("bob", "https://hooks.example.com/");
  EXPECT_EQ(r.status, 201) << r.body;
  auto listed =
      api.request("GET", std::string(kApi) + "/namespaces/bob/notificationsinks", "", {}, 10s);
  EXPECT_EQ(listed.status, 200);
  EXPECT_EQ(json::parse(listed.body)["items"].size(), 1u);
}

}  // namespace
}  // namespace minimcp::e2e
