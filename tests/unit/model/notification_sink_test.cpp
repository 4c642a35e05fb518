#include "api/model/notification_sink.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "api/model/kinds.h"
#include "api/model/strategy.h"

namespace minimcp::model {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;
using ::testing::UnorderedElementsAreArray;

class FixedClock : public Clock {
 public:
  TimePoint now() const override { return *parseRfc3339("2026-01-01T00:00:00Z"); }
  std::chrono::steady_clock::time_point steadyNow() const override { return {}; }
};

const json kSink = json::parse(R"({
  "apiVersion": "minimcp.io/v1alpha1", "kind": "NotificationSink",
  "metadata": {"name": "hooks", "namespace": "alice"},
  "spec": {"url": "https://hooks.example.com/minimcp?team=a",
           "events": ["InstanceExpiring", "InstanceExpired"],
           "signingKeyRef": {"name": "hook-key"}}
})");

std::vector<std::string> fieldsAndReasons(const std::vector<Cause>& causes) {
  std::vector<std::string> out;
  for (const auto& c : causes) out.push_back(c.field + " " + c.reason);
  return out;
}

TEST(NotificationSink, DefaultsAndTypedSpec) {
  const Strategy& s = notificationSinkStrategy();
  EXPECT_EQ(Registry::instance().find("sink"), &s);
  EXPECT_EQ(Registry::instance().find("sinks"), &s);
  EXPECT_EQ(Registry::instance().find("notificationsinks"), &s);
  EXPECT_TRUE(s.info().namespaced);
  json obj = kSink;
  FixedClock clock;
  initObjectMeta(obj, s.info(), clock);
  obj["status"] = {{"pending", 3}};
  s.prepareForCreate(obj, clock);
  EXPECT_FALSE(obj.contains("status")) << "status is the server's";
  EXPECT_EQ(obj["spec"]["notifyBefore"], "1h");
  EXPECT_TRUE(s.validate(obj).empty());
  const auto spec = NotificationSinkSpec::fromJson(obj["spec"]);
  EXPECT_EQ(spec.notifyBefore, 1h);
  EXPECT_EQ(spec.signingKeyName, "hook-key");
  EXPECT_TRUE(spec.wants(notification::kInstanceExpired));
  EXPECT_FALSE(spec.wants(notification::kKeyRotationDue));
}

TEST(NotificationSink, ValidationTable) {
  const Strategy& s = notificationSinkStrategy();
  FixedClock clock;
  struct Case {
    std::string name;
    json patch;
    std::vector<std::string> want;
  };
  const std::vector<Case> cases = {
      {"valid", json::object(), {}},
      {"no url", {{"spec", {{"url", nullptr}}}}, {"spec.url FieldValueRequired"}},
      {"http to a public host",
       {{"spec", {{"url", "http://hooks.example.com/"}}}},
       {"spec.url FieldValueInvalid"}},
      {"metadata service",
       {{"spec", {{"url", "https://169.254.169.254/latest"}}}},
       {"spec.url FieldValueInvalid"}},
      {"no events", {{"spec", {{"events", json::array()}}}}, {"spec.events FieldValueRequired"}},
      {"unknown event",
       {{"spec", {{"events", {"InstanceExpired", "Deleted"}}}}},
       {"spec.events[1] FieldValueNotSupported"}},
      {"duplicate event",
       {{"spec", {{"events", {"InstanceFailed", "InstanceFailed"}}}}},
       {"spec.events[1] FieldValueInvalid"}},
      {"notifyBefore bad",
       {{"spec", {{"notifyBefore", "soon"}}}},
       {"spec.notifyBefore FieldValueInvalid"}},
      {"notifyBefore zero",
       {{"spec", {{"notifyBefore", "0s"}}}},
       {"spec.notifyBefore FieldValueInvalid"}},
      {"signingKeyRef without a name",
       {{"spec", {{"signingKeyRef", {{"name", nullptr}}}}}},
       {"spec.signingKeyRef.name FieldValueRequired"}},
      {"signingKeyRef bad name",
       {{"spec", {{"signingKeyRef", {{"name", "Key!"}}}}}},
       {"spec.signingKeyRef.name FieldValueInvalid"}},
      {"unknown field",
       {{"spec", {{"headers", {{"X", "1"}}}}}},
       {"spec.headers FieldValueNotSupported"}},
  };
  for (const auto& c : cases) {
    json obj = kSink;
    obj.merge_patch(c.patch);
    initObjectMeta(obj, s.info(), clock);
    s.prepareForCreate(obj, clock);
    EXPECT_THAT(fieldsAndReasons(s.validate(obj)), UnorderedElementsAreArray(c.want)) << c.name;
  }
}

// What a tenant could aim mcpd at, named in the URL: refused unless public (loopback only when
// the admin allows it).
TEST(SinkUrl, WhereASinkMayPoint) {
  struct Case {
    std::string url;
    bool strict;    // allowed with the default policy
    bool loopback;  // allowed with allowLoopback
  };
  const std::vector<Case> cases = {
      {"https://hooks.example.com/x", true, true},
      {"https://hooks.example.com:8443/x?y=1", true, true},
      {"HTTPS://Hooks.Example.COM/x", true, true},
      {"https://93.184.216.34/hook", true, true},
      {"https://[2606:2800:220:1:248:1893:25c8:1946]/hook", true, true},
      {"http://hooks.example.com/x", false, false},
      {"https://127.0.0.1:9000/", false, true},
      {"http://127.0.0.1:9000/", false, true},
      {"http://127.8.9.10/", false, true},
      {"http://localhost:9000/", false, true},
      {"http://sub.localhost/", false, true},
      {"http://[::1]:9000/", false, true},
      {"http://[::ffff:127.0.0.1]/", false, true},
      {"https://169.254.169.254/latest/meta-data", false, false},
      {"https://[fd00:ec2::254]/", false, false},
      {"https://[fe80::1]/", false, false},
      {"https://[::ffff:169.254.169.254]/", false, false},
      {"https://[64:ff9b::a9fe:a9fe]/", false, false},
      {"https://[2002:a9fe:a9fe::]/", false, false},
      {"https://100.100.100.200/", false, false},
      {"https://10.0.0.1/", false, false},
      {"https://172.16.5.4/", false, false},
      {"https://192.168.1.1/", false, false},
      {"https://0.0.0.0/", false, false},
      {"https://[::]/", false, false},
      {"https://224.0.0.1/", false, false},
      {"https://metadata.google.internal/computeMetadata/v1", false, false},
      {"https://metadata/", false, false},
      {"https://printer.local/", false, false},
      {"https://2130706433/", false, false},
      {"https://0x7f.0.0.1/", false, false},
      {"https://127.1/", false, false},
      {"https://017700000001/", false, false},
      {"https://127%2e0.0.1/", false, false},
      {"https://hooks.ex%61mple.com/", false, false},
      {"https://h\xc3\xb6oks.example.com/", false, false},
      {"https://user:pw@hooks.example.com/", false, false},
      {"https://hooks.example.com/#frag", false, false},
      {"https://hooks.example.com:0/", false, false},
      {"https://hooks.example.com:99999/", false, false},
      {"https://hooks.example.com:/", false, false},
      {"https://-bad-.example.com/", false, false},
      {"https://hooks example.com/", false, false},
      {"ftp://hooks.example.com/", false, false},
      {"file:///etc/passwd", false, false},
      {"gopher://hooks.example.com/", false, false},
      {"hooks.example.com", false, false},
      {"", false, false},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(sinkUrlProblem(c.url, {}).empty(), c.strict)
        << c.url << ": " << sinkUrlProblem(c.url, {});
    EXPECT_EQ(sinkUrlProblem(c.url, {.allowLoopback = true}).empty(), c.loopback)
        << c.url << " (loopback allowed): " << sinkUrlProblem(c.url, {.allowLoopback = true});
  }
  EXPECT_THAT(sinkUrlProblem("https://169.254.169.254/", {}), ::testing::HasSubstr("link-local"));
}

// What a name resolves to is checked again at delivery.
TEST(SinkUrl, ResolvedAddresses) {
  for (const char* ip : {"93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946", "8.8.8.8"}) {
    EXPECT_EQ(sinkAddressProblem(ip, {}), "") << ip;
  }
  for (const char* ip : {"127.0.0.1", "::1", "::ffff:127.0.0.1"}) {
    EXPECT_NE(sinkAddressProblem(ip, {}), "") << ip;
    EXPECT_EQ(sinkAddressProblem(ip, {.allowLoopback = true}), "") << ip;
  }
  for (const char* ip : {"169.254.169.254", "10.1.2.3", "fd00:ec2::254", "fe80::1", "0.0.0.0",
                         "::", "100.64.0.1", "not an address"}) {
    EXPECT_NE(sinkAddressProblem(ip, {.allowLoopback = true}), "") << ip;
  }
}

}  // namespace
}  // namespace minimcp::model
