// How GitOps tools read the status decide() writes. kstatus (cli-utils pkg/kstatus/status, which
// Flux's health checks and `wait: true` use) is restated below as a small pure function; the Argo
// CD health check shipped in deploy/argocd/ is run with lua5.1 (Argo CD's interpreter is Lua
// 5.1). Each row drives decide() into a situation, then both readers judge the object.
#include <gtest/gtest.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>

#include "api/model/kinds.h"
#include "api/model/strategy.h"
#include "reconciler/decide.h"
#include "tests/unit/reconciler/fake_clock.h"

namespace minimcp::reconciler {
namespace {

using nlohmann::json;
using std::chrono::hours;
using std::chrono::seconds;
using test::FakeClock;

// ------------------------------------------------------------------------------------------
// kstatus' rules for a custom resource (status.Compute: checkGenericProperties, then the Ready
// fallback, else Current): the order matters and is theirs.

struct KStatus {
  std::string status;  // InProgress | Current | Failed | Terminating
  std::string message;
};

KStatus kstatus(const json& obj) {
  const json& meta = obj["metadata"];
  if (meta.contains("deletionTimestamp") && meta["deletionTimestamp"].is_string()) {
    return {"Terminating", "Resource scheduled for deletion"};
  }
  const json st = obj.value("status", json::object());
  if (meta.contains("generation") && st.contains("observedGeneration") &&
      st["observedGeneration"] != meta["generation"]) {
    return {"InProgress", "latest generation not observed"};
  }
  if (st.contains("conditions")) {
    for (const json& c : st["conditions"]) {
      if (c.value("type", "") == "Reconciling" && c.value("status", "") == "True") {
        return {"InProgress", c.value("reason", "")};
      }
      if (c.value("type", "") == "Stalled" && c.value("status", "") == "True") {
        return {"Failed", c.value("message", "")};
      }
    }
  }
  if (const json* ready = model::findCondition(obj, "Ready")) {
    if (ready->value("status", "") == "True") return {"Current", "Resource is Ready"};
    if (ready->value("status", "") == "False" || ready->value("status", "") == "Unknown") {
      return {"InProgress", ready->value("reason", "")};
    }
  }
  return {"Current", "Resource is current"};
}

// ------------------------------------------------------------------------------------------
// The Argo CD health check, run by lua5.1 with the object as the global `obj`.

// A Lua table constructor for a JSON value, as Argo CD hands objects to Lua (arrays from 1).
std::string luaLiteral(const json& v) {
  switch (v.type()) {
    case json::value_t::object: {
      std::string s = "{";
      for (const auto& [k, e] : v.items()) {
        if (e.is_null()) continue;
        s += "[" + luaLiteral(json(k)) + "]=" + luaLiteral(e) + ",";
      }
      return s + "}";
    }
    case json::value_t::array: {
      std::string s = "{";
      for (const json& e : v) s += luaLiteral(e) + ",";
      return s + "}";
    }
    case json::value_t::string: {
      std::string s = "\"";
      for (unsigned char c : v.get<std::string>()) {
        if (c == '"' || c == '\\') {
          s += '\\';
          s += static_cast<char>(c);
        } else if (c < 0x20 || c >= 0x7f) {
          s += "\\" + std::to_string(c);  // Lua's decimal escape: bytes pass through unchanged
        } else {
          s += static_cast<char>(c);
        }
      }
      return s + "\"";
    }
    case json::value_t::boolean:
      return v.get<bool>() ? "true" : "false";
    case json::value_t::null:
      return "nil";
    default:
      return v.dump();  // numbers
  }
}

const std::string kHealthLua = std::string(MINIMCP_SOURCE_DIR) +
                               "/deploy/argocd/resource_customizations/minimcp.io/MCPInstance/"
                               "health.lua";

struct ArgoHealth {
  std::string status;  // Healthy | Progressing | Degraded | Suspended
  std::string message;
  std::string error;  // the interpreter's complaint, if any
};

ArgoHealth argoHealth(const json& obj) {
  const std::string driver =
      ::testing::TempDir() + "argo_health_" + std::to_string(::getpid()) + ".lua";
  {
    std::ofstream out(driver);
    out << "obj = " << luaLiteral(obj) << "\n"
        << "local hs = dofile(" << luaLiteral(json(kHealthLua)) << ")\n"
        << "io.write(hs.status, '\\n', hs.message or '', '\\n')\n";
  }
  ArgoHealth h;
  FILE* p = ::popen(("lua5.1 '" + driver + "' 2>&1").c_str(), "r");
  if (!p) {
    h.error = "cannot run lua5.1";
    return h;
  }
  std::string out;
  std::array<char, 4096> buf{};
  while (size_t n = std::fread(buf.data(), 1, buf.size(), p)) out.append(buf.data(), n);
  const int rc = ::pclose(p);
  std::remove(driver.c_str());
  const size_t nl = out.find('\n');
  if (rc != 0 || nl == std::string::npos) {
    h.error = "lua5.1 (installed by tools/setup.sh) failed: " + out;
    return h;
  }
  h.status = out.substr(0, nl);
  h.message = out.substr(nl + 1);
  if (!h.message.empty() && h.message.back() == '\n') h.message.pop_back();
  return h;
}

// ------------------------------------------------------------------------------------------
// Situations, each reached through decide() the way the controller reaches it.

const TimePoint kNow = TimePoint(FakeClock::kEpoch) + hours(5);
const SteadyTimePoint kSteadyNow = SteadyTimePoint(hours(2000));

Desired desired() {
  Desired d;
  d.ns = "alice";
  d.name = "inbox";
  d.uid = "u-1";
  d.generation = 1;
  d.specHash = "h1";
  d.hasFinalizer = true;
  d.type.found = true;
  d.key = {KeyState::Available, 1, ""};
  return d;
}

// The controller's view of an instance: what it wants, what it sees, the object as stored.
struct World {
  Desired d = desired();
  Observed o;
  TimePoint now = kNow;
  SteadyTimePoint steadyNow = kSteadyNow;

  // One reconcile; its status becomes the stored one, as the executor completes it.
  Plan step() {
    Plan p = decide(d, o, now, steadyNow);
    o.status = p.status;
    o.restartNotBefore = p.restartNotBefore;
    if (p.has(ActionType::Stop)) o.process = {};
    if (p.has(ActionType::Supersede)) o.previous.state = ProcessState::Running;
    if (p.has(ActionType::StopPrevious)) o.previous = {};
    if (p.has(ActionType::AllocatePort)) o.status.port = 20001;
    if (p.has(ActionType::Spawn)) {
      o.status.pid = 4242;
      o.status.processStartTime = "987654";
      o.process = {};
      o.process.state = ProcessState::Running;
      o.process.since = steadyNow;
      o.health = {};
    }
    return p;
  }
  void healthy() {
    o.health.last = Health::Healthy;
    step();
  }
  void crash(int code = 1) {
    o.process = {};
    o.process.state = ProcessState::Exited;
    o.process.exitCode = code;
    o.process.finishedAt = now;
    o.process.finishedSteady = steadyNow;
    o.health = {};
    step();
  }
  void later(std::chrono::milliseconds by) {
    now += by;
    steadyNow += by;
  }
  json object() const {
    json meta = {
        {"name", d.name}, {"namespace", d.ns}, {"uid", d.uid}, {"generation", d.generation}};
    if (d.deleting) meta["deletionTimestamp"] = formatRfc3339(now);
    return {{"apiVersion", "minimcp.io/v1alpha1"},
            {"kind", "MCPInstance"},
            {"metadata", meta},
            {"status", o.status.toJson()}};
  }
};

World running() {
  World w;
  w.step();
  w.healthy();
  return w;
}

struct Row {
  std::string name;
  std::function<json()> object;
  std::string phase;  // "" = not checked
  std::string kstatus;
  std::string argo;
};

void PrintTo(const Row& row, std::ostream* os) { *os << row.name; }

std::vector<Row> rows() {
  return {
      {"Created_NotYetReconciled",
       [] {
         FakeClock clock;
         json obj = {{"apiVersion", "minimcp.io/v1alpha1"},
                     {"kind", "MCPInstance"},
                     {"metadata", {{"name", "inbox"}, {"namespace", "alice"}}},
                     {"spec", {{"type", "echo"}, {"ttl", "1h"}}}};
         model::initObjectMeta(obj, model::mcpInstanceStrategy().info(), clock);
         model::mcpInstanceStrategy().prepareForCreate(obj, clock);
         return obj;
       },
       "Pending", "InProgress", "Progressing"},
      {"FinalizerNotYetStored",
       [] {
         World w;
         w.d.hasFinalizer = false;
         w.o.status = InstanceStatus::fromJson({{"phase", "Pending"}, {"observedGeneration", 0}});
         w.step();
         return w.object();
       },
       "Pending", "InProgress", "Progressing"},
      {"Starting",
       [] {
         World w;
         w.step();
         return w.object();
       },
       "Starting", "InProgress", "Progressing"},
      {"StartingStill_NoProbeYet",
       [] {
         World w;
         w.step();
         w.later(seconds(5));
         w.step();
         return w.object();
       },
       "Starting", "InProgress", "Progressing"},
      {"Running", [] { return running().object(); }, "Running", "Current", "Healthy"},
      {"Running_AdoptedAfterMcpdRestart",
       [] {
         World w = running();
         w.o.process = {};
         w.o.process.state = ProcessState::Adoptable;
         w.step();
         return w.object();
       },
       "Running", "Current", "Healthy"},
      {"SpecChanged_NotYetObserved",
       [] {
         World w = running();
         w.d.generation = 2;
         return w.object();
       },
       "Running", "InProgress", "Progressing"},
      {"SpecChanged_Replacing",
       [] {
         World w = running();
         w.d.generation = 2;
         w.d.specHash = "h2";
         w.step();
         return w.object();
       },
       "Running", "InProgress", "Progressing"},  // the old process serves meanwhile
      {"SpecChanged_ReplacedAndHealthy",
       [] {
         World w = running();
         w.d.generation = 2;
         w.d.specHash = "h2";
         w.step();
         w.healthy();
         return w.object();
       },
       "Running", "Current", "Healthy"},
      {"TtlExtended_NoRestartNeeded",
       [] {
         World w = running();
         w.d.generation = 2;
         w.d.expiresAt = w.now + hours(3);
         w.step();
         return w.object();
       },
       "Running", "Current", "Healthy"},
      {"Crashed_RestartingAtOnce",
       [] {
         World w = running();
         w.crash();
         return w.object();
       },
       "Degraded", "Failed", "Degraded"},
      {"CrashLoop_WaitingForBackOff",
       [] {
         World w = running();
         w.crash();
         w.crash();
         w.step();
         return w.object();
       },
       "Degraded", "Failed", "Degraded"},
      {"CrashLoop_RestartedNotHealthyYet",
       [] {
         World w = running();
         w.crash();
         w.crash();
         w.later(seconds(5));
         w.step();
         return w.object();
       },
       "Degraded", "Failed", "Degraded"},
      {"CrashLoop_Recovered",
       [] {
         World w = running();
         w.crash();
         w.crash();
         w.later(seconds(5));
         w.step();
         w.healthy();
         return w.object();
       },
       "Running", "Current", "Healthy"},
      {"HealthChecksFailing",
       [] {
         World w = running();
         w.o.health = {Health::Unhealthy, 3, "connection refused"};
         w.step();
         return w.object();
       },
       "Degraded", "Failed", "Degraded"},
      {"NeverHealthyWithinStartupTimeout",
       [] {
         World w;
         w.step();
         w.later(seconds(31));
         w.step();
         return w.object();
       },
       "Degraded", "Failed", "Degraded"},
      {"OverResourceLimit",
       [] {
         World w = running();
         w.o.limitExceeded = true;
         w.o.limitMessage = "memory 600Mi over limit 512Mi";
         w.step();
         return w.object();
       },
       "Degraded", "Failed", "Degraded"},
      {"ExitedWithError_RestartPolicyNever",
       [] {
         World w = running();
         w.d.restartPolicy = RestartPolicy::Never;
         w.crash(3);
         w.step();  // and it stays so
         return w.object();
       },
       "Failed", "Failed", "Degraded"},
      {"Completed_RestartPolicyOnFailure",
       [] {
         World w = running();
         w.d.restartPolicy = RestartPolicy::OnFailure;
         w.crash(0);
         w.step();
         return w.object();
       },
       "Failed", "Current", "Healthy"},
      {"TypeMissing",
       [] {
         World w;
         w.d.type = {false, "MCPType \"gmail\" not found", {}};
         w.step();
         return w.object();
       },
       "Pending", "Failed", "Degraded"},
      {"TypeCreatedAfterAll_Starting",
       [] {
         World w;
         w.d.type = {false, "MCPType \"gmail\" not found", {}};
         w.step();
         w.d.type = desired().type;
         w.step();
         return w.object();
       },
       "Starting", "InProgress", "Progressing"},
      {"KeyMissing",
       [] {
         World w;
         w.d.key = {KeyState::NotFound, 0, "APIKey \"gmail-key\" not found"};
         w.step();
         return w.object();
       },
       "Pending", "Failed", "Degraded"},
      {"KeyDoesNotDecrypt",
       [] {
         World w;
         w.d.key = {KeyState::DecryptFailed, 0, "cannot decrypt version 1"};
         w.step();
         return w.object();
       },
       "Pending", "Failed", "Degraded"},
      {"KeyOfAnotherType",
       [] {
         World w;
         w.d.key = {KeyState::TypeMismatch, 0, "APIKey is for type slack"};
         w.step();
         return w.object();
       },
       "Pending", "Failed", "Degraded"},
      {"SpawnFailed",
       [] {
         // What Controller::markFailed makes of a plan whose Spawn threw.
         World w;
         Plan p = decide(w.d, w.o, w.now, w.steadyNow);
         p.status.phase = phase::kPending;
         for (Condition& c : p.status.conditions) {
           if (c.type == cond::kReady) {
             c.reason = "SpawnFailed";
             c.message = "node: command not found";
           }
         }
         setSummaryConditions(p.status, w.d.generation, w.now);
         w.o.status = p.status;
         return w.object();
       },
       "Pending", "Failed", "Degraded"},
      {"Suspended",
       [] {
         World w = running();
         w.d.generation = 2;
         w.d.suspend = true;
         w.step();
         return w.object();
       },
       "Suspended", "Current", "Suspended"},
      {"SuspendedWhileCrashLooping",
       [] {
         World w = running();
         w.crash();
         w.crash();
         w.d.generation = 2;
         w.d.suspend = true;
         w.step();
         w.step();
         return w.object();
       },
       "Suspended", "Current", "Suspended"},
      {"Idle",
       [] {
         World w = running();
         w.d.idleTimeout = seconds(3);
         w.later(seconds(4));
         w.o.traffic.lastActivity = w.steadyNow - seconds(4);
         w.step();
         w.step();
         return w.object();
       },
       "Idle", "Current", "Healthy"},
      {"WokenFromIdle",
       [] {
         World w = running();
         w.d.idleTimeout = seconds(3);
         w.later(seconds(4));
         w.o.traffic.lastActivity = w.steadyNow - seconds(4);
         w.step();
         w.o.wakeRequested = w.now;
         w.step();
         return w.object();
       },
       "Starting", "InProgress", "Progressing"},
      {"WokenFromIdle_Healthy",
       [] {
         World w = running();
         w.d.idleTimeout = seconds(3);
         w.later(seconds(4));
         w.o.traffic.lastActivity = w.steadyNow - seconds(4);
         w.step();
         w.o.wakeRequested = w.now;
         w.step();
         w.o.wakeRequested.reset();
         w.o.traffic.lastActivity = w.steadyNow;
         w.healthy();
         return w.object();
       },
       "Running", "Current", "Healthy"},
      {"Resumed",
       [] {
         World w = running();
         w.d.suspend = true;
         w.step();
         w.d.suspend = false;
         w.step();
         return w.object();
       },
       "Starting", "InProgress", "Progressing"},
      {"Expired",
       [] {
         World w = running();
         w.d.expiresAt = w.now + seconds(10);
         w.later(seconds(10));
         w.step();
         w.step();
         return w.object();
       },
       "Expired", "Current", "Healthy"},
      {"ExpiredWhileTypeMissing",
       [] {
         World w;
         w.d.type = {false, "MCPType \"gmail\" not found", {}};
         w.step();
         w.d.expiresAt = w.now;
         w.step();
         return w.object();
       },
       "Expired", "Current", "Healthy"},
      {"Deleting",
       [] {
         World w = running();
         w.d.deleting = true;
         w.step();
         return w.object();
       },
       "Terminating", "Terminating", "Progressing"},
      {"RescheduledToAnotherNode_WhileCrashLooping",
       [] {
         // The scheduler's write (Scheduler::bind) when the instance's node was lost.
         World w = running();
         w.crash();
         w.crash();
         json obj = w.object();
         obj["status"]["phase"] = "Pending";
         model::setCondition(obj, "Ready", "False", "Rescheduled", "node a is not live", kNow);
         InstanceStatus summary = InstanceStatus::fromJson(obj["status"]);
         setSummaryConditions(summary, summary.observedGeneration, kNow);
         obj["status"] = summary.toJson();
         return obj;
       },
       "Pending", "InProgress", "Progressing"},
  };
}

class KStatusTable : public ::testing::TestWithParam<Row> {};

TEST_P(KStatusTable, GitOpsToolsReadTheStatusAsItIs) {
  const Row& row = GetParam();
  const json obj = row.object();
  const json& st = obj["status"];
  if (!row.phase.empty()) {
    EXPECT_EQ(st.value("phase", ""), row.phase) << st.dump(2);
  }
  const KStatus k = kstatus(obj);
  EXPECT_EQ(k.status, row.kstatus) << k.message << "\n" << st.dump(2);
  const ArgoHealth a = argoHealth(obj);
  ASSERT_TRUE(a.error.empty()) << a.error;
  EXPECT_EQ(a.status, row.argo) << a.message << "\n" << st.dump(2);

  // Once the controller has looked: both summary conditions, never both True, each with the
  // generation it describes, and the status's observedGeneration beside them.
  const bool reconciled = st.contains("conditions") && !st["conditions"].empty();
  if (!reconciled) return;
  const json* reconciling = model::findCondition(obj, cond::kReconciling);
  const json* stalled = model::findCondition(obj, cond::kStalled);
  ASSERT_NE(reconciling, nullptr) << st.dump(2);
  ASSERT_NE(stalled, nullptr) << st.dump(2);
  EXPECT_FALSE((*reconciling)["status"] == "True" && (*stalled)["status"] == "True");
  const json generation = obj["metadata"]["generation"];
  if (st["observedGeneration"] == generation) {
    for (const json& c : st["conditions"]) {
      EXPECT_EQ(c["observedGeneration"], generation) << c.dump();
      EXPECT_FALSE(c.value("reason", "").empty()) << c.dump();
    }
  }
  // Failed names why; a Ready=False left beside no other verdict would read as InProgress forever.
  if (k.status == "Failed") {
    EXPECT_FALSE((*stalled)["message"].get<std::string>().empty());
  }
  if (k.status == "Current") {
    const json* ready = model::findCondition(obj, cond::kReady);
    EXPECT_TRUE(!ready || (*ready)["status"] == "True") << st.dump(2);
  }
}

INSTANTIATE_TEST_SUITE_P(Situations, KStatusTable, ::testing::ValuesIn(rows()),
                         [](const auto& info) { return info.param.name; });

// The other kinds have no controller of theirs: kstatus must read them as Current at once.
TEST(KStatus, KindsWithoutAControllerAreCurrentOnCreate) {
  FakeClock clock;
  json type = {
      {"apiVersion", "minimcp.io/v1alpha1"},
      {"kind", "MCPType"},
      {"metadata", {{"name", "echo"}}},
      {"spec", {{"displayName", "Echo"}, {"server", {{"command", "node"}, {"args", {"x.js"}}}}}}};
  model::initObjectMeta(type, model::mcpTypeStrategy().info(), clock);
  model::mcpTypeStrategy().prepareForCreate(type, clock);
  EXPECT_EQ(kstatus(type).status, "Current") << type.dump(2);

  // An APIKey carries RotationDue only (and no observedGeneration): Current whatever it says.
  json key = {{"apiVersion", "minimcp.io/v1alpha1"},
              {"kind", "APIKey"},
              {"metadata", {{"name", "k"}, {"namespace", "alice"}, {"generation", 1}}},
              {"status", {{"version", 1}}}};
  model::setCondition(key, "RotationDue", "True", "RotationPeriodElapsed", "rotate it", kNow);
  EXPECT_EQ(kstatus(key).status, "Current") << key.dump(2);
}

TEST(LuaLiteral, QuotesWhatJsonCarries) {
  EXPECT_EQ(luaLiteral(json::parse(R"({"a":[1,"x\"y\\"],"b":null,"c":true})")),
            R"({["a"]={1,"x\"y\\",},["c"]=true,})");
  EXPECT_EQ(luaLiteral(json("é\n")), "\"\\195\\169\\10\"");
}

}  // namespace
}  // namespace minimcp::reconciler
