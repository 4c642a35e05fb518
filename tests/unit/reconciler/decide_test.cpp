#include "reconciler/decide.h"

#include <gtest/gtest.h>

#include <functional>

#include "tests/unit/reconciler/fake_clock.h"

namespace minimcp::reconciler {
namespace {

using std::chrono::hours;
using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::seconds;
using test::FakeClock;
using A = ActionType;

// ------------------------------------------------------------------------------------------
// Fixtures: one healthy running instance and one brand-new instance, at a fixed instant.

const TimePoint kNow = TimePoint(FakeClock::kEpoch) + hours(5);
const SteadyTimePoint kSteadyNow = SteadyTimePoint(hours(2000));

Desired baseDesired() {
  Desired d;
  d.ns = "alice";
  d.name = "inbox";
  d.uid = "u-1";
  d.generation = 1;
  d.specHash = "h1";
  d.hasFinalizer = true;
  d.type.found = true;  // default health: period 30 s, threshold 3, startup 30 s
  d.key = {KeyState::Available, 1, ""};
  return d;
}

void setReady(InstanceStatus& s, bool ok, const std::string& reason) {
  s.conditions.push_back(
      {cond::kReady, ok ? "True" : "False", reason, "", kNow - hours(1), s.observedGeneration});
}

// Running, healthy for an hour, started with generation 1 / key 1 / token 0.
Observed runningHealthy() {
  Observed o;
  InstanceStatus& s = o.status;
  s.phase = phase::kRunning;
  s.observedGeneration = 1;
  s.pid = 4242;
  s.processStartTime = "987654";
  s.port = 20001;
  s.startedAt = kNow - hours(1);
  s.launchedWith = LaunchRecord{1, "h1", 1, 0};
  s.healthySince = kNow - hours(1) + seconds(3);
  // Exactly what decide() writes for this state, so a steady state changes nothing.
  const TimePoint t = kNow - hours(1);
  s.conditions = {{cond::kReady, "True", "Healthy", "process is healthy", t, 1},
                  {cond::kKeyAvailable, "True", "Decrypted", "API key version 1 decrypted", t, 1},
                  {cond::kExpired, "False", "Active", "no expiry", t, 1},
                  {cond::kReconciling, "False", "Running", "the instance is Running", t, 1},
                  {cond::kStalled, "False", "Running", "the instance is Running", t, 1}};
  o.process.state = ProcessState::Running;
  o.process.since = kSteadyNow - hours(1);
  o.health.last = Health::Healthy;
  return o;
}

ProcessFacts facts(ProcessState state, std::optional<SteadyTimePoint> since = std::nullopt) {
  ProcessFacts f;
  f.state = state;
  f.since = since;
  return f;
}

// Just spawned `ago` before now, no probe result yet.
Observed starting(std::chrono::seconds ago) {
  Observed o = runningHealthy();
  o.status.phase = phase::kStarting;
  o.status.healthySince.reset();
  o.status.startedAt = kNow - ago;
  o.status.conditions.erase(o.status.conditions.begin());
  setReady(o.status, false, "Starting");
  o.process.since = kSteadyNow - ago;
  o.health = {};
  return o;
}

// The running process has just exited.
Observed exited(std::optional<int> code, std::optional<int> sig = std::nullopt) {
  Observed o = runningHealthy();
  o.process = {};
  o.process.state = ProcessState::Exited;
  o.process.exitCode = code;
  o.process.signal = sig;
  o.process.finishedAt = kNow;
  o.process.finishedSteady = kSteadyNow;
  o.health = {};
  return o;
}

// Stopped (no process, no pid), e.g. Suspended/Expired/Failed, with its port released.
Observed stopped(const char* ph, const std::string& readyReason) {
  Observed o;
  o.status.phase = ph;
  o.status.observedGeneration = 1;
  o.status.launchedWith = LaunchRecord{1, "h1", 1, 0};
  setReady(o.status, false, readyReason);
  return o;
}

// A key change (version 1 → 2) replaces a healthy process: the old one (pid 4000, port 20000)
// serves while the new one (pid 4242, port 20001, launched with key 2) started `ago` before now
// and has no probe result yet. `o.previous` and Desired's key version say the same.
Observed replacing(std::chrono::seconds ago) {
  Observed o = starting(ago);
  o.status.phase = phase::kRunning;
  o.status.launchedWith = LaunchRecord{1, "h1", 2, 0};
  o.status.conditions.erase(o.status.conditions.end() - 1);
  setReady(o.status, true, "Healthy");
  o.status.previous =
      PreviousProcess{4000, "111", 20000, "key changed (API key version 1 → 2)", "", {}};
  o.previous.state = ProcessState::Running;
  o.previous.inflight = 2;
  return o;
}

// The new process serves since `ago`; the old one drains until `drainLeft` from now.
Observed draining(std::chrono::seconds drainLeft, int inflight) {
  Observed o = runningHealthy();
  o.status.launchedWith = LaunchRecord{1, "h1", 2, 0};
  o.status.previous = PreviousProcess{
      4000, "111", 20000, "key changed (API key version 1 → 2)", "", kNow + drainLeft};
  o.previous.state = ProcessState::Running;
  o.previous.inflight = inflight;
  return o;
}

// Asleep (phase Idle) since an hour: no process, no port, started before with generation 1.
Observed asleep() {
  Observed o;
  o.status.phase = phase::kIdle;
  o.status.observedGeneration = 1;
  o.status.launchedWith = LaunchRecord{1, "h1", 1, 0};
  o.status.idleSince = kNow - hours(1);
  return o;
}

// An instance that goes Idle after 3 s without gateway traffic.
void idleAfter3s(Desired& d) { d.idleTimeout = seconds(3); }

// ------------------------------------------------------------------------------------------
// The table

enum class Want { Done, Requeue, Retry };

// Phases where the instance is down on purpose carry no Ready condition (setSummaryConditions).
const std::string kNoReady = "none";

struct Row {
  std::string name;
  std::function<void(Desired&, Observed&)> given;
  std::vector<ActionType> actions;
  std::string phase;
  std::string readyStatus;  // "" = do not check, kNoReady = there is none
  std::string readyReason;
  std::vector<std::string> events;  // reasons, in order
  Want want = Want::Done;
  std::optional<milliseconds> requeueAfter = std::nullopt;  // checked when set
  std::function<void(const Plan&, const Observed&)> more = nullptr;
};

// Failure messages name the row instead of dumping its bytes.
void PrintTo(const Row& row, std::ostream* os) { *os << row.name; }

std::vector<ActionType> types(const Plan& p) {
  std::vector<ActionType> out;
  for (const auto& a : p.actions) out.push_back(a.type);
  return out;
}

std::string describe(const std::vector<ActionType>& v) {
  std::string s;
  for (auto t : v) s += std::string(s.empty() ? "" : ", ") + std::string(toString(t));
  return "[" + s + "]";
}

const Action* find(const Plan& p, ActionType t) {
  for (const auto& a : p.actions) {
    if (a.type == t) return &a;
  }
  return nullptr;
}

const Condition& condOf(const Plan& p, const char* type) {
  static const Condition kMissing{"<missing>", "", "", "", {}, 0};
  const Condition* c = p.status.condition(type);
  return c ? *c : kMissing;
}

std::vector<Row> rows() {
  return {
      // --- deletion and finalizer ------------------------------------------------------------
      {"DeletedRunning_StopsReleasesAndDropsFinalizer",
       [](Desired& d, Observed& o) {
         o = runningHealthy();
         d.deleting = true;
       },
       {A::Stop, A::ReleasePort, A::RemoveFinalizer},
       phase::kTerminating,
       "False",
       "Terminating",
       {"Terminating"},
       Want::Done,
       std::nullopt,
       [](const Plan& p, const Observed&) {
         EXPECT_EQ(find(p, A::Stop)->reason, "Deleted");
         EXPECT_EQ(find(p, A::ReleasePort)->port, 20001);
         EXPECT_EQ(p.status.pid, 0);
         EXPECT_EQ(p.status.port, 0);
       }},
      {"DeletedAgain_NoSecondEvent",
       [](Desired& d, Observed& o) {
         o = stopped(phase::kTerminating, "Terminating");
         d.deleting = true;
       },
       {A::RemoveFinalizer},
       phase::kTerminating,
       "False",
       "Terminating",
       {}},
      {"DeletedWithoutOurFinalizer_NothingToDo",
       [](Desired& d, Observed& o) {
         o = stopped(phase::kTerminating, "Terminating");
         d.deleting = true;
         d.hasFinalizer = false;
       },
       {},
       phase::kTerminating,
       "",
       "",
       {}},
      {"DeletedWhileOrphaned_AdoptsToStopIt",
       [](Desired& d, Observed& o) {
         o = runningHealthy();
         o.process.state = ProcessState::Adoptable;
         d.deleting = true;
       },
       {A::Adopt, A::Stop, A::ReleasePort, A::RemoveFinalizer},
       phase::kTerminating,
       "False",
       "Terminating",
       {"Terminating"}},
      {"NoFinalizer_EnsuresItFirst",
       [](Desired& d, Observed&) { d.hasFinalizer = false; },
       {A::EnsureFinalizer},
       "",
       "",
       "",
       {},
       Want::Requeue,
       milliseconds(0)},

      // --- spawn, startup, health ------------------------------------------------------------
      {"NewInstance_AllocatesPortAndSpawns",
       [](Desired&, Observed&) {},
       {A::AllocatePort, A::Spawn},
       phase::kStarting,
       "False",
       "Starting",
       {"Starting"},
       Want::Requeue,
       seconds(30),
       [](const Plan& p, const Observed&) {
         EXPECT_EQ(p.status.observedGeneration, 1);
         EXPECT_EQ(p.status.startedAt, kNow);
         EXPECT_EQ(p.status.launchedWith, (LaunchRecord{1, "h1", 1, 0}));
         EXPECT_EQ(p.status.restartCount, 0);
         EXPECT_EQ(condOf(p, cond::kKeyAvailable).reason, "Decrypted");
         EXPECT_EQ(condOf(p, cond::kExpired).status, "False");
         EXPECT_EQ(condOf(p, cond::kExpired).reason, "Active");
       }},
      {"NewInstanceWithoutKey_KeyNotRequired",
       [](Desired& d, Observed&) { d.key = {}; },
       {A::AllocatePort, A::Spawn},
       phase::kStarting,
       "False",
       "Starting",
       {"Starting"},
       Want::Requeue,
       seconds(30),
       [](const Plan& p, const Observed&) {
         EXPECT_EQ(condOf(p, cond::kKeyAvailable).status, "True");
         EXPECT_EQ(condOf(p, cond::kKeyAvailable).reason, "NotRequired");
       }},
      {"Starting_NoProbeYet_WaitsForStartupDeadline",
       [](Desired&, Observed& o) { o = starting(seconds(10)); },
       {},
       phase::kStarting,
       "False",
       "Starting",
       {},
       Want::Requeue,
       seconds(20)},
      {"Starting_FailingProbesBelowStartupTimeout_KeepsWaiting",
       [](Desired&, Observed& o) {
         o = starting(seconds(10));
         o.health = {Health::Unhealthy, 1, "connection refused"};
       },
       {},
       phase::kStarting,
       "False",
       "Starting",
       {},
       Want::Requeue,
       seconds(20)},
      {"Starting_FailuresOverThresholdBeforeFirstHealthy_OnlyStartupTimeoutCounts",
       [](Desired&, Observed& o) {
         o = starting(seconds(10));
         o.health = {Health::Unhealthy, 5, "connection refused"};
       },
       {},
       phase::kStarting,
       "False",
       "Starting",
       {},
       Want::Requeue,
       seconds(20)},
      {"StartupTimeout_RestartsDegraded",
       [](Desired&, Observed& o) {
         o = starting(seconds(30));
         o.health = {Health::Unhealthy, 2, "connection refused"};
       },
       {A::Stop, A::Spawn},
       phase::kDegraded,
       "False",
       "HealthCheckFailed",
       {"HealthCheckFailed", "Starting"},
       Want::Requeue,
       seconds(30),
       [](const Plan& p, const Observed&) {
         EXPECT_EQ(find(p, A::Stop)->reason, "HealthCheckFailed");
         EXPECT_EQ(p.status.restartCount, 1);
         EXPECT_EQ(p.status.crashLoop.crashes, 1);
         EXPECT_FALSE(p.status.crashLoop.nextRestartAt);
         EXPECT_EQ(p.status.lastTermination->reason, "HealthCheckFailed");
         EXPECT_NE(p.events[0].message.find("not healthy within 30s"), std::string::npos);
       }},
      {"CustomStartupTimeout",
       [](Desired& d, Observed& o) {
         d.type.health.startupTimeout = seconds(60);
         o = starting(seconds(45));
       },
       {},
       phase::kStarting,
       "False",
       "Starting",
       {},
       Want::Requeue,
       seconds(15)},
      {"FirstHealthyProbe_Running",
       [](Desired&, Observed& o) {
         o = starting(seconds(4));
         o.health.last = Health::Healthy;
       },
       {},
       phase::kRunning,
       "True",
       "Healthy",
       {"Healthy"},
       Want::Done,
       std::nullopt,
       [](const Plan& p, const Observed&) { EXPECT_EQ(p.status.healthySince, kNow); }},
      {"RestartedProcessHealthy_DegradedToRunning",
       [](Desired&, Observed& o) {
         o = starting(seconds(4));
         o.status.phase = phase::kDegraded;
         o.status.conditions.clear();
         setReady(o.status, false, "CrashLoopBackOff");
         o.health.last = Health::Healthy;
       },
       {},
       phase::kRunning,
       "True",
       "Healthy",
       {"Healthy"}},
      {"RestartedProcessNotYetHealthy_StaysDegraded",
       [](Desired&, Observed& o) {
         o = starting(seconds(4));
         o.status.phase = phase::kDegraded;
         o.status.conditions.clear();
         setReady(o.status, false, "CrashLoopBackOff");
       },
       {},
       phase::kDegraded,
       "False",
       "CrashLoopBackOff",
       {},
       Want::Requeue,
       seconds(26)},
      {"HealthySteadyState_NothingToDo",
       [](Desired&, Observed& o) { o = runningHealthy(); },
       {},
       phase::kRunning,
       "True",
       "Healthy",
       {},
       Want::Done,
       std::nullopt,
       [](const Plan& p, const Observed& o) { EXPECT_EQ(p.status, o.status); }},
      {"UnhealthyBelowThreshold_HoldsOn",
       [](Desired&, Observed& o) {
         o = runningHealthy();
         o.health = {Health::Unhealthy, 2, "timeout"};
       },
       {},
       phase::kRunning,
       "True",
       "Healthy",
       {}},
      {"UnhealthyAtThreshold_RestartsDegraded",
       [](Desired&, Observed& o) {
         o = runningHealthy();
         o.health = {Health::Unhealthy, 3, "HTTP 500"};
       },
       {A::Stop, A::Spawn},
       phase::kDegraded,
       "False",
       "HealthCheckFailed",
       {"HealthCheckFailed", "Starting"},
       Want::Requeue,
       seconds(30),
       [](const Plan& p, const Observed&) {
         EXPECT_EQ(p.status.restartCount, 1);
         EXPECT_EQ(p.status.port, 20001);  // same instance, same port
         EXPECT_EQ(p.status.pid, 0);       // the executor writes the new one
         EXPECT_FALSE(p.status.healthySince);
         EXPECT_NE(p.events[0].message.find("HTTP 500"), std::string::npos);
       }},
      {"UnhealthyAtThresholdNever_Fails",
       [](Desired& d, Observed& o) {
         d.restartPolicy = RestartPolicy::Never;
         o = runningHealthy();
         o.health = {Health::Unhealthy, 3, "HTTP 500"};
       },
       {A::Stop, A::ReleasePort},
       phase::kFailed,
       "False",
       "HealthCheckFailed",
       {"HealthCheckFailed"}},
      {"ResourceLimitExceeded_Restarts",
       [](Desired&, Observed& o) {
         o = runningHealthy();
         o.limitExceeded = true;
         o.limitMessage = "memory 600Mi over limit 512Mi";
       },
       {A::Stop, A::Spawn},
       phase::kDegraded,
       "False",
       "ResourceLimitExceeded",
       {"ResourceLimitExceeded", "Starting"},
       Want::Requeue,
       seconds(30),
       [](const Plan& p, const Observed&) {
         EXPECT_EQ(find(p, A::Stop)->reason, "ResourceLimitExceeded");
         EXPECT_EQ(p.status.lastTermination->reason, "ResourceLimitExceeded");
         EXPECT_EQ(p.events[0].type, "Warning");
         EXPECT_NE(p.events[0].message.find("600Mi"), std::string::npos);
       }},

      // --- process exit and CrashLoopBackOff -------------------------------------------------
      {"ExitedNonZero_FirstRestartAtOnce",
       [](Desired&, Observed& o) { o = exited(1); },
       {A::Spawn},
       phase::kDegraded,
       "False",
       "CrashLoopBackOff",
       {"CrashLoopBackOff", "Starting"},
       Want::Requeue,
       seconds(30),
       [](const Plan& p, const Observed&) {
         EXPECT_EQ(p.status.lastTermination, (Termination{1, std::nullopt, "Error", kNow}));
         EXPECT_EQ(p.status.restartCount, 1);
         EXPECT_EQ(p.status.crashLoop, (CrashLoopRecord{1, std::nullopt}));
         EXPECT_EQ(p.events[0].type, "Warning");
         EXPECT_NE(p.events[0].message.find("code 1"), std::string::npos);
       }},
      {"ExitedAgain_BacksOffOneSecond",
       [](Desired&, Observed& o) {
         o = exited(1);
         o.status.healthySince.reset();
         o.status.crashLoop.crashes = 1;
         o.status.restartCount = 1;
       },
       {},
       phase::kDegraded,
       "False",
       "CrashLoopBackOff",
       {"CrashLoopBackOff"},
       Want::Requeue,
       seconds(1),
       [](const Plan& p, const Observed&) {
         EXPECT_EQ(p.status.crashLoop, (CrashLoopRecord{2, kNow + seconds(1)}));
         EXPECT_EQ(p.restartNotBefore, kSteadyNow + seconds(1));
         EXPECT_EQ(p.status.restartCount, 1);  // counted when it actually restarts
         EXPECT_EQ(p.status.pid, 0);
         EXPECT_NE(p.events[0].message.find("back-off 1s"), std::string::npos);
       }},
      {"ExitedSixthTime_BacksOffSixteenSeconds",
       [](Desired&, Observed& o) {
         o = exited(2);
         o.status.healthySince.reset();
         o.status.crashLoop.crashes = 5;
       },
       {},
       phase::kDegraded,
       "False",
       "CrashLoopBackOff",
       {"CrashLoopBackOff"},
       Want::Requeue,
       seconds(16)},
      {"ExitedDuringLongCrashLoop_CappedAtFiveMinutes",
       [](Desired&, Observed& o) {
         o = exited(2);
         o.status.healthySince.reset();
         o.status.crashLoop.crashes = 40;
       },
       {},
       phase::kDegraded,
       "False",
       "CrashLoopBackOff",
       {"CrashLoopBackOff"},
       Want::Requeue,
       minutes(5)},
      {"ExitedAfterTenMinutesHealthy_BackoffReset",
       [](Desired&, Observed& o) {
         o = exited(1);
         o.status.crashLoop.crashes = 7;
         o.status.healthySince = kNow - minutes(10);
       },
       {A::Spawn},
       phase::kDegraded,
       "False",
       "CrashLoopBackOff",
       {"CrashLoopBackOff", "Starting"},
       Want::Requeue,
       seconds(30),
       [](const Plan& p, const Observed&) { EXPECT_EQ(p.status.crashLoop.crashes, 1); }},
      {"ExitedAfterNineMinutesHealthy_BackoffContinues",
       [](Desired&, Observed& o) {
         o = exited(1);
         o.status.crashLoop.crashes = 3;
         o.status.healthySince = kNow - minutes(9);
       },
       {},
       phase::kDegraded,
       "False",
       "CrashLoopBackOff",
       {"CrashLoopBackOff"},
       Want::Requeue,
       seconds(4)},
      {"BackoffPending_WaitsWithoutNewEvents",
       [](Desired&, Observed& o) {
         o = exited(1);
         o.status = exited(1).status;
         o.status.pid = 0;  // this exit is already recorded
         o.status.phase = phase::kDegraded;
         o.status.crashLoop = {2, kNow + milliseconds(500)};
         o.restartNotBefore = kSteadyNow + milliseconds(500);
       },
       {},
       phase::kDegraded,
       "",
       "",
       {},
       Want::Requeue,
       milliseconds(500),
       [](const Plan& p, const Observed& o) {
         EXPECT_EQ(p.status.crashLoop, o.status.crashLoop);
         EXPECT_EQ(p.restartNotBefore, o.restartNotBefore);
       }},
      {"BackoffElapsed_Restarts",
       [](Desired&, Observed& o) {
         o = exited(1);
         o.status.pid = 0;
         o.status.phase = phase::kDegraded;
         o.status.restartCount = 1;
         o.status.crashLoop = {2, kNow};
         o.restartNotBefore = kSteadyNow;
       },
       {A::Spawn},
       phase::kDegraded,
       "",
       "",
       {"Starting"},
       Want::Requeue,
       seconds(30),
       [](const Plan& p, const Observed&) {
         EXPECT_EQ(p.status.restartCount, 2);
         EXPECT_EQ(p.status.crashLoop, (CrashLoopRecord{2, std::nullopt}));
         EXPECT_FALSE(p.restartNotBefore);
       }},
      {"BackoffAcrossMcpdRestart_UsesRecordedWallTime",
       [](Desired&, Observed& o) {
         o = stopped(phase::kDegraded, "CrashLoopBackOff");
         o.status.port = 20001;
         o.status.crashLoop = {4, kNow + seconds(4)};
       },
       {},
       phase::kDegraded,
       "False",
       "CrashLoopBackOff",
       {},
       Want::Requeue,
       seconds(4),
       [](const Plan& p, const Observed&) {
         EXPECT_EQ(p.restartNotBefore, kSteadyNow + seconds(4));
       }},
      {"BackoffAcrossMcpdRestartWallClockJump_Bounded",
       [](Desired&, Observed& o) {
         o = stopped(phase::kDegraded, "CrashLoopBackOff");
         o.status.crashLoop = {4, kNow + hours(48)};
       },
       {},
       phase::kDegraded,
       "False",
       "CrashLoopBackOff",
       {},
       Want::Requeue,
       minutes(5)},
      {"KilledBySignal_SignalRecordedApartFromExitCode",
       [](Desired&, Observed& o) { o = exited(std::nullopt, 9); },
       {A::Spawn},
       phase::kDegraded,
       "False",
       "CrashLoopBackOff",
       {"CrashLoopBackOff", "Starting"},
       Want::Requeue,
       seconds(30),
       [](const Plan& p, const Observed&) {
         EXPECT_EQ(p.status.lastTermination, (Termination{std::nullopt, 9, "Signal", kNow}));
         EXPECT_NE(p.events[0].message.find("SIGKILL"), std::string::npos);
       }},
      {"OOMKilled",
       [](Desired&, Observed& o) {
         o = exited(std::nullopt, 9);
         o.process.oomKilled = true;
       },
       {A::Spawn},
       phase::kDegraded,
       "False",
       "CrashLoopBackOff",
       {"CrashLoopBackOff", "Starting"},
       Want::Requeue,
       seconds(30),
       [](const Plan& p, const Observed&) {
         EXPECT_EQ(p.status.lastTermination->reason, "OOMKilled");
       }},
      {"ExitedZeroAlways_Restarts",
       [](Desired&, Observed& o) { o = exited(0); },
       {A::Spawn},
       phase::kDegraded,
       "False",
       "CrashLoopBackOff",
       {"CrashLoopBackOff", "Starting"},
       Want::Requeue,
       seconds(30),
       [](const Plan& p, const Observed&) {
         EXPECT_EQ(p.status.lastTermination->reason, "Completed");
       }},
      {"ExitedZeroOnFailure_FailedCompleted",
       [](Desired& d, Observed& o) {
         d.restartPolicy = RestartPolicy::OnFailure;
         o = exited(0);
       },
       {A::ReleasePort},
       phase::kFailed,
       kNoReady,
       "",
       {"Completed"},
       Want::Done,
       std::nullopt,
       [](const Plan& p, const Observed&) {
         EXPECT_EQ(p.events[0].type, "Normal");
         EXPECT_EQ(p.status.port, 0);
       }},
      {"ExitedNonZeroOnFailure_Restarts",
       [](Desired& d, Observed& o) {
         d.restartPolicy = RestartPolicy::OnFailure;
         o = exited(3);
       },
       {A::Spawn},
       phase::kDegraded,
       "False",
       "CrashLoopBackOff",
       {"CrashLoopBackOff", "Starting"},
       Want::Requeue,
       seconds(30)},
      {"AdoptedExitUnknownOnFailure_RestartsAsFailure",
       [](Desired& d, Observed& o) {
         d.restartPolicy = RestartPolicy::OnFailure;
         o = exited(std::nullopt, std::nullopt);
       },
       {A::Spawn},
       phase::kDegraded,
       "False",
       "CrashLoopBackOff",
       {"CrashLoopBackOff", "Starting"},
       Want::Requeue,
       seconds(30),
       [](const Plan& p, const Observed&) {
         EXPECT_EQ(p.status.lastTermination->reason, "Unknown");
       }},
      {"SignalOnFailure_Restarts",
       [](Desired& d, Observed& o) {
         d.restartPolicy = RestartPolicy::OnFailure;
         o = exited(std::nullopt, 15);
       },
       {A::Spawn},
       phase::kDegraded,
       "False",
       "CrashLoopBackOff",
       {"CrashLoopBackOff", "Starting"},
       Want::Requeue,
       seconds(30)},
      {"ExitedNonZeroNever_FailedError",
       [](Desired& d, Observed& o) {
         d.restartPolicy = RestartPolicy::Never;
         o = exited(1);
       },
       {A::ReleasePort},
       phase::kFailed,
       "False",
       "Error",
       {"Error"},
       Want::Done,
       std::nullopt,
       [](const Plan& p, const Observed&) {
         EXPECT_EQ(p.events[0].type, "Warning");
         EXPECT_EQ(p.status.restartCount, 0);
       }},
      {"FailedSteadyState_StaysFailed",
       [](Desired& d, Observed& o) {
         d.restartPolicy = RestartPolicy::Never;
         o = stopped(phase::kFailed, "Error");
       },
       {},
       phase::kFailed,
       "False",
       "Error",
       {}},
      {"FailedThenSpecFixed_StartsAgain",
       [](Desired& d, Observed& o) {
         d.restartPolicy = RestartPolicy::Never;
         d.generation = 2;
         d.specHash = "h2";
         o = stopped(phase::kFailed, "Error");
       },
       {A::AllocatePort, A::Spawn},
       phase::kStarting,
       "False",
       "Starting",
       {"Starting"},
       Want::Requeue,
       seconds(30)},

      // --- replace ---------------------------------------------------------------------------
      {"SpecChangedWhileRunning_Replaces",
       [](Desired& d, Observed& o) {
         o = runningHealthy();
         o.status.restartCount = 2;
         o.status.crashLoop.crashes = 2;
         d.generation = 2;
         d.specHash = "h2";
       },
       {A::Supersede, A::AllocatePort, A::Spawn},
       phase::kRunning,
       "True",
       "Healthy",
       {"Replacing", "Starting"},
       Want::Requeue,
       seconds(30),
       [](const Plan& p, const Observed&) {
         EXPECT_EQ(find(p, A::Supersede)->reason, "spec changed (generation 1 → 2)");
         EXPECT_EQ(p.status.observedGeneration, 2);
         EXPECT_EQ(p.status.launchedWith, (LaunchRecord{2, "h2", 1, 0}));
         EXPECT_EQ(p.status.restartCount, 2);  // a replacement is no restart
         EXPECT_EQ(p.status.crashLoop.crashes, 0);
         EXPECT_EQ(condOf(p, cond::kReady).observedGeneration, 2);
       }},
      {"TypeChangedWhileRunning_ReplacesSayingSo",
       [](Desired& d, Observed& o) {
         o = runningHealthy();
         d.specHash = "h2";  // the instance's generation is the same: its type changed
       },
       {A::Supersede, A::AllocatePort, A::Spawn},
       phase::kRunning,
       "True",
       "Healthy",
       {"Replacing", "Starting"},
       Want::Requeue,
       seconds(30),
       [](const Plan& p, const Observed&) {
         EXPECT_NE(p.events[0].message.find("its MCPType's spec changed"), std::string::npos)
             << p.events[0].message;
       }},
      {"KeyRotatedWhileRunning_Replaces",
       [](Desired& d, Observed& o) {
         o = runningHealthy();
         d.key.version = 2;
       },
       {A::Supersede, A::AllocatePort, A::Spawn},
       phase::kRunning,
       "True",
       "Healthy",
       {"Replacing", "Starting"},
       Want::Requeue,
       seconds(30),
       [](const Plan& p, const Observed&) {
         EXPECT_EQ(p.status.launchedWith->keyVersion, 2);
         EXPECT_NE(p.events[0].message.find("replacing: key changed"), std::string::npos)
             << p.events[0].message;
       }},
      {"KeyHoldsTheRefreshTokenThisProcessReported_KeepsRunning",
       [](Desired& d, Observed& o) {
         o = runningHealthy();
         d.key.version = 2;  // sealed from the rotated refresh token this process reported
         d.key.reportedByUid = d.uid;
         d.key.reportedFromVersion = 1;
       },
       {},
       phase::kRunning,
       "True",
       "Healthy",
       {},
       Want::Done,
       std::nullopt,
       [](const Plan& p, const Observed&) {
         EXPECT_EQ(p.status.launchedWith->keyVersion, 2) << "current with the new version";
         EXPECT_FALSE(p.status.previous.has_value());
       }},
      {"KeyReportedByAnotherInstanceOrFromAnotherVersion_Replaces",
       [](Desired& d, Observed& o) {
         o = runningHealthy();
         d.key.version = 3;
         d.key.reportedByUid = "uid-of-another-instance";
         d.key.reportedFromVersion = 1;
       },
       {A::Supersede, A::AllocatePort, A::Spawn},
       phase::kRunning,
       "True",
       "Healthy",
       {"Replacing", "Starting"},
       Want::Requeue,
       seconds(30),
       [](const Plan& p, const Observed&) {
         EXPECT_EQ(p.status.launchedWith->keyVersion, 3);
         EXPECT_NE(p.events[0].message.find("key changed (API key version 1 → 3)"),
                   std::string::npos)
             << p.events[0].message;
       }},
      {"KeyReportedFromAVersionThisProcessDoesNotRun_Replaces",
       [](Desired& d, Observed& o) {
         o = runningHealthy();
         d.key.version = 3;
         d.key.reportedByUid = d.uid;
         d.key.reportedFromVersion = 2;  // a user's version 2 came between: this one is stale
       },
       {A::Supersede, A::AllocatePort, A::Spawn},
       phase::kRunning,
       "True",
       "Healthy",
       {"Replacing", "Starting"},
       Want::Requeue,
       seconds(30)},
      {"TokenRotatedWhileRunning_Replaces",
       [](Desired& d, Observed& o) {
         o = runningHealthy();
         d.tokenGeneration = 1;
       },
       {A::Supersede, A::AllocatePort, A::Spawn},
       phase::kRunning,
       "True",
       "Healthy",
       {"Replacing", "Starting"},
       Want::Requeue,
       seconds(30)},
      {"GenerationChangedOnlyByTtl_NoReplace",
       [](Desired& d, Observed& o) {
         o = runningHealthy();
         d.generation = 2;  // same specHash: only ttl/suspend-like fields changed
       },
       {},
       phase::kRunning,
       "True",
       "Healthy",
       {},
       Want::Done,
       std::nullopt,
       [](const Plan& p, const Observed&) { EXPECT_EQ(p.status.observedGeneration, 2); }},
      {"GenerationChangedWithoutSpecHash_Replaces",
       [](Desired& d, Observed& o) {
         o = runningHealthy();
         d.specHash.clear();
         o.status.launchedWith->specHash.clear();
         d.generation = 2;
       },
       {A::Supersede, A::AllocatePort, A::Spawn},
       phase::kRunning,
       "True",
       "Healthy",
       {"Replacing", "Starting"},
       Want::Requeue,
       seconds(30)},
      // --- make before break: the old process serves until the new one is ready -------------
      {"Replacing_NewStarting_OldServes",
       [](Desired& d, Observed& o) {
         o = replacing(seconds(1));
         d.key.version = 2;
       },
       {},
       phase::kRunning,
       "True",
       "Healthy",
       {},
       Want::Requeue,
       seconds(29),
       [](const Plan& p, const Observed& o) {
         EXPECT_EQ(p.status.previous, o.status.previous);
         EXPECT_EQ(condOf(p, cond::kReconciling).status, "True");
         EXPECT_EQ(condOf(p, cond::kReconciling).reason, "Replacing");
         EXPECT_NE(condOf(p, cond::kReady).message.find("old process pid 4000 serves"),
                   std::string::npos);
       }},
      {"Replacing_NewReady_SwitchesAndOldDrains",
       [](Desired& d, Observed& o) {
         o = replacing(seconds(1));
         o.health.last = Health::Healthy;
         d.key.version = 2;
       },
       {},
       phase::kRunning,
       "True",
       "Healthy",
       {"Healthy", "Switched"},
       Want::Requeue,
       seconds(10),  // the type's stopGracePeriodSeconds
       [](const Plan& p, const Observed&) {
         ASSERT_TRUE(p.status.previous);
         EXPECT_EQ(p.status.previous->drainUntil, kNow + seconds(10));
         EXPECT_EQ(condOf(p, cond::kReconciling).status, "False");
         EXPECT_NE(p.events[1].message.find("switched to new process pid 4242"), std::string::npos);
       }},
      {"Replacing_NewReadyNothingInFlight_SwitchesAndStopsOld",
       [](Desired& d, Observed& o) {
         o = replacing(seconds(1));
         o.health.last = Health::Healthy;
         o.previous.inflight = 0;
         d.key.version = 2;
       },
       {A::StopPrevious},
       phase::kRunning,
       "True",
       "Healthy",
       {"Healthy", "Switched", "OldProcessStopped"},
       Want::Done,
       std::nullopt,
       [](const Plan& p, const Observed&) {
         EXPECT_EQ(find(p, A::StopPrevious)->reason, "Drained");
         EXPECT_FALSE(p.status.previous);
         EXPECT_EQ(p.status.pid, 4242);
       }},
      {"Draining_RequestsInFlight_Waits",
       [](Desired& d, Observed& o) {
         o = draining(seconds(4), 1);
         d.key.version = 2;
       },
       {},
       phase::kRunning,
       "True",
       "Healthy",
       {},
       Want::Requeue,
       seconds(4)},
      {"Draining_LastRequestAnswered_StopsOld",
       [](Desired& d, Observed& o) {
         o = draining(seconds(4), 0);
         d.key.version = 2;
       },
       {A::StopPrevious},
       phase::kRunning,
       "True",
       "Healthy",
       {"OldProcessStopped"},
       Want::Done,
       std::nullopt,
       [](const Plan& p, const Observed&) {
         EXPECT_FALSE(p.status.previous);
         EXPECT_EQ(p.events[0].message,
                   "old process pid 4000 stopped: its requests in flight were answered");
       }},
      {"Draining_GracePeriodOver_StopsOldWithRequestsInFlight",
       [](Desired& d, Observed& o) {
         o = draining(seconds(-1), 3);
         d.key.version = 2;
       },
       {A::StopPrevious},
       phase::kRunning,
       "True",
       "Healthy",
       {"OldProcessStopped"},
       Want::Done,
       std::nullopt,
       [](const Plan& p, const Observed&) {
         EXPECT_NE(p.events[0].message.find("3 requests still in flight"), std::string::npos);
       }},
      {"Draining_OldGone_Forgotten",
       [](Desired& d, Observed& o) {
         o = draining(seconds(4), 0);
         o.previous.state = ProcessState::None;
         d.key.version = 2;
       },
       {},
       phase::kRunning,
       "True",
       "Healthy",
       {"OldProcessStopped"},
       Want::Done,
       std::nullopt,
       [](const Plan& p, const Observed&) { EXPECT_FALSE(p.status.previous); }},
      {"Replacing_NewNotReadyInTime_KeepsServingFromOld",
       [](Desired& d, Observed& o) {
         o = replacing(seconds(31));
         d.key.version = 2;
       },
       {A::Stop, A::Spawn},  // the first failure is retried at once
       phase::kRunning,
       "True",
       "Healthy",
       {"HealthCheckFailed", "Starting", "ReplacementFailed"},
       Want::Requeue,
       std::nullopt,
       [](const Plan& p, const Observed&) {
         ASSERT_TRUE(p.status.previous);
         EXPECT_NE(p.status.previous->failure.find("not healthy within 30s"), std::string::npos);
         EXPECT_EQ(condOf(p, cond::kStalled).status, "True");
         EXPECT_EQ(condOf(p, cond::kStalled).reason, "ReplacementFailed");
         EXPECT_NE(p.events[2].message.find("still serving from the old process pid 4000"),
                   std::string::npos);
       }},
      {"Replacing_NewCrashed_KeepsServingFromOld",
       [](Desired& d, Observed& o) {
         o = replacing(seconds(2));
         o.process = {};
         o.process.state = ProcessState::Exited;
         o.process.exitCode = 1;
         o.process.finishedAt = kNow;
         o.process.finishedSteady = kSteadyNow;
         d.key.version = 2;
       },
       {A::Spawn},
       phase::kRunning,
       "True",
       "Healthy",
       {"CrashLoopBackOff", "Starting", "ReplacementFailed"},
       Want::Requeue,
       std::nullopt,
       [](const Plan& p, const Observed&) {
         EXPECT_EQ(condOf(p, cond::kStalled).reason, "ReplacementFailed");
         EXPECT_EQ(p.status.crashLoop.crashes, 1);
         EXPECT_TRUE(p.status.previous);
       }},
      {"Replacing_KeyChangedAgain_ReplacesOnlyTheNewOne",
       [](Desired& d, Observed& o) {
         o = replacing(seconds(1));
         d.key.version = 3;
       },
       {A::Stop, A::Spawn},
       phase::kRunning,
       "True",
       "Healthy",
       {"Replaced", "Starting"},
       Want::Requeue,
       seconds(30),
       [](const Plan& p, const Observed& o) {
         EXPECT_EQ(p.status.previous, o.status.previous);
         EXPECT_EQ(p.status.launchedWith->keyVersion, 3);
       }},
      {"Replacing_OldCrashed_NothingServesUntilTheNewOneIsReady",
       [](Desired& d, Observed& o) {
         o = replacing(seconds(1));
         o.previous.state = ProcessState::None;
         d.key.version = 2;
       },
       {},
       phase::kStarting,
       "False",
       "Starting",
       {"OldProcessStopped"},
       Want::Requeue,
       seconds(29),
       [](const Plan& p, const Observed&) { EXPECT_FALSE(p.status.previous); }},
      {"Replacing_McpdRestarted_AdoptsBoth",
       [](Desired& d, Observed& o) {
         o = replacing(seconds(1));
         o.previous.state = ProcessState::Adoptable;
         o.previous.inflight = 0;
         o.process.state = ProcessState::Adoptable;
         o.process.since.reset();
         d.key.version = 2;
       },
       {A::AdoptPrevious, A::Adopt},
       phase::kRunning,
       "True",
       "Healthy",
       {"Adopted", "Adopted"},
       Want::Requeue},
      {"Draining_McpdRestarted_AdoptsAndStopsTheOldOne",
       [](Desired& d, Observed& o) {
         o = draining(seconds(4), 0);
         o.previous.state = ProcessState::Adoptable;
         d.key.version = 2;
       },
       {A::AdoptPrevious, A::StopPrevious},
       phase::kRunning,
       "True",
       "Healthy",
       {"Adopted", "OldProcessStopped"}},
      {"Replacing_ForeignOldPid_NeitherAdoptedNorSignalled",
       [](Desired& d, Observed& o) {
         o = replacing(seconds(1));
         o.previous.state = ProcessState::None;
         o.previous.foreign = "its working directory is not the instance directory";
         d.key.version = 2;
       },
       {},
       phase::kStarting,
       "False",
       "Starting",
       {"ForeignProcess"},
       Want::Requeue},
      {"Replacing_Deleted_StopsBoth",
       [](Desired& d, Observed& o) {
         o = replacing(seconds(1));
         d.key.version = 2;
         d.deleting = true;
       },
       {A::StopPrevious, A::Stop, A::ReleasePort, A::RemoveFinalizer},
       phase::kTerminating,
       "False",
       "Terminating",
       {"Terminating"},
       Want::Done,
       std::nullopt,
       [](const Plan& p, const Observed&) { EXPECT_FALSE(p.status.previous); }},
      {"Replacing_Suspended_StopsBoth",
       [](Desired& d, Observed& o) {
         o = replacing(seconds(1));
         d.key.version = 2;
         d.suspend = true;
       },
       {A::StopPrevious, A::Stop, A::ReleasePort},
       phase::kSuspended,
       kNoReady,
       "",
       {"Suspended"}},
      {"StartingProcessReplaced_NoMakeBeforeBreak",
       [](Desired& d, Observed& o) {
         o = starting(seconds(2));
         d.key.version = 2;
       },
       {A::Stop, A::Spawn},
       phase::kStarting,
       "False",
       "Starting",
       {"Replaced", "Starting"},
       Want::Requeue,
       seconds(30),
       [](const Plan& p, const Observed&) { EXPECT_FALSE(p.status.previous); }},
      {"ReplacingADrainingOne_StopsTheOldestFirst",
       [](Desired& d, Observed& o) {
         o = draining(seconds(4), 1);
         d.key.version = 3;
       },
       {A::StopPrevious, A::Supersede, A::AllocatePort, A::Spawn},
       phase::kRunning,
       "True",
       "Healthy",
       {"Replacing", "Starting"},
       Want::Requeue,
       seconds(30),
       [](const Plan& p, const Observed&) {
         ASSERT_TRUE(p.status.previous);
         EXPECT_EQ(p.status.previous->pid, 4242);
         EXPECT_EQ(p.status.previous->port, 20001);
         EXPECT_FALSE(p.status.previous->drainUntil);
       }},
      {"KeyUnreadableWhileRunning_KeepsProcess",
       [](Desired& d, Observed& o) {
         o = runningHealthy();
         d.key = {KeyState::NotFound, 0, "APIKey \"gmail-key\" not found"};
       },
       {},
       phase::kRunning,
       "True",
       "Healthy",
       {},
       Want::Done,
       std::nullopt,
       [](const Plan& p, const Observed&) {
         EXPECT_EQ(condOf(p, cond::kKeyAvailable).status, "False");
         EXPECT_EQ(condOf(p, cond::kKeyAvailable).reason, "KeyNotFound");
       }},
      {"SpecChangedDuringBackoff_StartsAtOnce",
       [](Desired& d, Observed& o) {
         o = stopped(phase::kDegraded, "CrashLoopBackOff");
         o.status.port = 20001;
         o.status.crashLoop = {6, kNow + seconds(30)};
         o.restartNotBefore = kSteadyNow + seconds(30);
         d.generation = 2;
         d.specHash = "h2";
       },
       {A::Spawn},
       phase::kStarting,
       "False",
       "Starting",
       {"Starting"},
       Want::Requeue,
       seconds(30),
       [](const Plan& p, const Observed&) {
         EXPECT_EQ(p.status.crashLoop.crashes, 0);
         EXPECT_EQ(p.status.restartCount, 0);
       }},

      // --- type and key resolution -----------------------------------------------------------
      {"TypeNotFound_PendingRetry",
       [](Desired& d, Observed&) {
         d.type = {};
         d.type.message = "MCPType \"gmail\" not found";
       },
       {},
       phase::kPending,
       "False",
       "TypeNotFound",
       {"TypeNotFound"},
       Want::Retry,
       std::nullopt,
       [](const Plan& p, const Observed&) {
         EXPECT_EQ(p.events[0].type, "Warning");
         EXPECT_EQ(condOf(p, cond::kReady).message, "MCPType \"gmail\" not found");
       }},
      {"TypeStillNotFound_NoRepeatedEvent",
       [](Desired& d, Observed& o) {
         d.type = {};
         o = stopped(phase::kPending, "TypeNotFound");
       },
       {},
       phase::kPending,
       "False",
       "TypeNotFound",
       {},
       Want::Retry},
      {"RunningKeyRejected_DegradedNotRestarted",
       [](Desired&, Observed& o) {
         o = runningHealthy();
         o.keyRejected = "RefreshTokenRejected";
       },
       {},
       phase::kDegraded,
       "False",
       "RefreshTokenRejected",
       {"RefreshTokenRejected"},
       Want::Done,
       std::nullopt,
       [](const Plan& p, const Observed&) {
         EXPECT_EQ(condOf(p, cond::kKeyAvailable).status, "False");
         EXPECT_EQ(condOf(p, cond::kKeyAvailable).reason, "RefreshTokenRejected");
         EXPECT_NE(condOf(p, cond::kKeyAvailable).message.find("invalid_grant"), std::string::npos);
         EXPECT_EQ(condOf(p, cond::kStalled).status, "True");
         EXPECT_EQ(p.status.pid, 4242);  // the process stays: a restart would not help
         EXPECT_EQ(p.status.restartCount, 0);
         EXPECT_FALSE(p.status.crashLoop.nextRestartAt.has_value());
       }},
      {"KeyRejectedAgain_NoSecondEvent",
       [](Desired&, Observed& o) {
         o = runningHealthy();
         o.keyRejected = "RefreshTokenRejected";
         for (auto& c : o.status.conditions) {
           if (c.type == cond::kKeyAvailable) {
             c.status = "False";
             c.reason = "RefreshTokenRejected";
           }
         }
       },
       {},
       phase::kDegraded,
       "False",
       "RefreshTokenRejected",
       {}},
      {"KeyRejectedWithAnUnknownReason_ControllerWordsOnly",
       [](Desired&, Observed& o) {
         o = runningHealthy();
         o.keyRejected = "Leak sk-live-0123 <b>";
       },
       {},
       phase::kDegraded,
       "False",
       "KeyRejected",
       {"KeyRejected"},
       Want::Done,
       std::nullopt,
       [](const Plan& p, const Observed&) {
         EXPECT_EQ(condOf(p, cond::kKeyAvailable).reason, "KeyRejected");
         for (const auto& c : p.status.conditions) {
           EXPECT_EQ(c.message.find("sk-live"), std::string::npos) << c.type;
         }
         for (const auto& e : p.events) EXPECT_EQ(e.message.find("sk-live"), std::string::npos);
       }},
      {"KeyRejected_NewKeyVersionReplacesTheProcess",
       [](Desired& d, Observed& o) {
         o = runningHealthy();
         o.keyRejected = "RefreshTokenRejected";
         d.key = {KeyState::Available, 2, ""};
       },
       {A::Supersede, A::AllocatePort, A::Spawn},
       phase::kRunning,
       "True",
       "Healthy",
       {"Replacing", "Starting"},
       Want::Requeue,
       seconds(30),
       [](const Plan& p, const Observed&) {
         EXPECT_EQ(condOf(p, cond::kKeyAvailable).status, "True");
         EXPECT_EQ(condOf(p, cond::kKeyAvailable).reason, "Decrypted");
       }},
      {"KeyNotFound_PendingRetry",
       [](Desired& d, Observed&) {
         d.key = {KeyState::NotFound, 0, "APIKey \"gmail-key\" not found"};
       },
       {},
       phase::kPending,
       "False",
       "KeyNotFound",
       {"KeyNotFound"},
       Want::Retry,
       std::nullopt,
       [](const Plan& p, const Observed&) {
         EXPECT_EQ(condOf(p, cond::kKeyAvailable).status, "False");
         EXPECT_EQ(condOf(p, cond::kKeyAvailable).reason, "KeyNotFound");
       }},
      {"KeyDecryptFailed_PendingRetry",
       [](Desired& d, Observed&) {
         d.key = {KeyState::DecryptFailed, 0, "tag mismatch"};
       },
       {},
       phase::kPending,
       "False",
       "DecryptFailed",
       {"DecryptFailed"},
       Want::Retry,
       std::nullopt,
       [](const Plan& p, const Observed&) {
         EXPECT_EQ(condOf(p, cond::kKeyAvailable).reason, "DecryptFailed");
       }},
      {"KeyTypeMismatch_PendingRetry",
       [](Desired& d, Observed&) {
         d.key = {KeyState::TypeMismatch, 0, "APIKey type github, instance type gmail"};
       },
       {},
       phase::kPending,
       "False",
       "TypeMismatch",
       {"TypeMismatch"},
       Want::Retry,
       std::nullopt,
       [](const Plan& p, const Observed&) {
         EXPECT_EQ(condOf(p, cond::kKeyAvailable).reason, "TypeMismatch");
       }},
      {"KeyArrives_Spawns",
       [](Desired&, Observed& o) {
         o = stopped(phase::kPending, "KeyNotFound");
         o.status.launchedWith.reset();
       },
       {A::AllocatePort, A::Spawn},
       phase::kStarting,
       "False",
       "Starting",
       {"Starting"},
       Want::Requeue,
       seconds(30)},

      // --- expiry ----------------------------------------------------------------------------
      {"Expired_StopsAndStays",
       [](Desired& d, Observed& o) {
         o = runningHealthy();
         d.expiresAt = kNow;
       },
       {A::Stop, A::ReleasePort},
       phase::kExpired,
       kNoReady,
       "",
       {"Expired"},
       Want::Done,
       std::nullopt,
       [](const Plan& p, const Observed&) {
         EXPECT_EQ(find(p, A::Stop)->reason, "Expired");
         EXPECT_EQ(condOf(p, cond::kExpired).status, "True");
         EXPECT_EQ(condOf(p, cond::kExpired).reason, "Expired");
         EXPECT_EQ(condOf(p, cond::kExpired).lastTransitionTime, kNow);
       }},
      {"ExpiredSteadyState_NothingAgain",
       [](Desired& d, Observed& o) {
         o = stopped(phase::kExpired, "Expired");
         d.expiresAt = kNow - hours(1);
       },
       {},
       phase::kExpired,
       kNoReady,
       "",
       {}},
      {"ExpiredWithinRetention_TimerAtCollection",
       [](Desired& d, Observed& o) {
         o = stopped(phase::kExpired, "Expired");
         d.expiresAt = kNow - minutes(10);
         d.expiredRetention = hours(1);
       },
       {},
       phase::kExpired,
       kNoReady,
       "",
       {},
       Want::Requeue,
       minutes(50)},
      {"ExpiredPastRetention_Collected",
       [](Desired& d, Observed& o) {
         o = stopped(phase::kExpired, "Expired");
         d.expiresAt = kNow - hours(2);
         d.expiredRetention = hours(1);
       },
       {A::Collect},
       phase::kExpired,
       kNoReady,
       "",
       {}},
      {"ExpiringWithZeroRetention_StopsBeforeCollecting",
       [](Desired& d, Observed& o) {
         o = runningHealthy();
         d.expiresAt = kNow;
         d.expiredRetention = milliseconds(0);
       },
       {A::Stop, A::ReleasePort},
       phase::kExpired,
       kNoReady,
       "",
       {"Expired"},
       Want::Requeue,
       milliseconds(1)},
      {"NotExpired_TimerAtExpiresAt",
       [](Desired& d, Observed& o) {
         o = runningHealthy();
         d.expiresAt = kNow + hours(2);
       },
       {},
       phase::kRunning,
       "True",
       "Healthy",
       {},
       Want::Requeue,
       hours(2),
       [](const Plan& p, const Observed&) {
         EXPECT_EQ(condOf(p, cond::kExpired).status, "False");
         EXPECT_EQ(condOf(p, cond::kExpired).reason, "Active");
       }},
      {"NotExpiredButStarting_EarliestTimerWins",
       [](Desired& d, Observed& o) {
         o = starting(seconds(5));
         d.expiresAt = kNow + seconds(10);
       },
       {},
       phase::kStarting,
       "False",
       "Starting",
       {},
       Want::Requeue,
       seconds(10)},
      {"ExpiredThenExtended_StartsAgain",
       [](Desired& d, Observed& o) {
         o = stopped(phase::kExpired, "Expired");
         d.expiresAt = kNow + hours(1);
       },
       {A::AllocatePort, A::Spawn},
       phase::kStarting,
       "False",
       "Starting",
       {"Starting"},
       Want::Requeue,
       seconds(30),
       [](const Plan& p, const Observed&) {
         EXPECT_EQ(condOf(p, cond::kExpired).status, "False");
       }},
      {"ExpiredWhileOrphaned_AdoptsToStopIt",
       [](Desired& d, Observed& o) {
         o = runningHealthy();
         o.process.state = ProcessState::Adoptable;
         d.expiresAt = kNow - seconds(1);
       },
       {A::Adopt, A::Stop, A::ReleasePort},
       phase::kExpired,
       kNoReady,
       "",
       {"Adopted", "Expired"}},

      // --- suspend / resume ------------------------------------------------------------------
      {"Suspend_StopsProcess",
       [](Desired& d, Observed& o) {
         o = runningHealthy();
         d.suspend = true;
       },
       {A::Stop, A::ReleasePort},
       phase::kSuspended,
       kNoReady,
       "",
       {"Suspended"},
       Want::Done,
       std::nullopt,
       [](const Plan& p, const Observed&) { EXPECT_EQ(find(p, A::Stop)->reason, "Suspended"); }},
      {"SuspendedSteadyState_NothingAgain",
       [](Desired& d, Observed& o) {
         o = stopped(phase::kSuspended, "Suspended");
         d.suspend = true;
       },
       {},
       phase::kSuspended,
       kNoReady,
       "",
       {}},
      {"Resume_Spawns",
       [](Desired&, Observed& o) { o = stopped(phase::kSuspended, "Suspended"); },
       {A::AllocatePort, A::Spawn},
       phase::kStarting,
       "False",
       "Starting",
       {"Starting"},
       Want::Requeue,
       seconds(30),
       [](const Plan& p, const Observed&) {
         EXPECT_NE(p.events[0].message.find("resuming"), std::string::npos);
       }},

      // --- restore after an mcpd restart -----------------------------------------------------
      {"Restore_MatchingProcessAdopted",
       [](Desired&, Observed& o) {
         o = runningHealthy();
         o.process = facts(ProcessState::Adoptable);
         o.health = {};
       },
       {A::Adopt},
       phase::kRunning,
       "True",
       "Healthy",
       {"Adopted"},
       Want::Done,
       std::nullopt,
       [](const Plan& p, const Observed& o) {
         EXPECT_EQ(p.status.pid, o.status.pid);
         EXPECT_EQ(p.status.port, o.status.port);
         EXPECT_EQ(p.status.restartCount, o.status.restartCount);
       }},
      {"Restore_AdoptedWhileStarting_StartupTimerRestarts",
       [](Desired&, Observed& o) {
         o = starting(seconds(25));
         o.process = facts(ProcessState::Adoptable);
       },
       {A::Adopt},
       phase::kStarting,
       "False",
       "Starting",
       {"Adopted"},
       Want::Requeue,
       seconds(30)},
      {"Restore_ProcessGone_SpawnsNewOne",
       [](Desired&, Observed& o) {
         o = runningHealthy();
         o.status.restartCount = 3;
         o.process = {};
         o.health = {};
       },
       {A::Spawn},
       phase::kStarting,
       "False",
       "Starting",
       {"ProcessLost", "Starting"},
       Want::Requeue,
       seconds(30),
       [](const Plan& p, const Observed&) {
         EXPECT_EQ(p.status.restartCount, 3);  // nothing was seen to fail
         EXPECT_EQ(p.status.port, 20001);      // its recorded port is reused
         EXPECT_EQ(p.status.pid, 0);
       }},
      // --- idle instances and wake on request ------------------------------------------------
      {"IdleTimeout_NoTrafficForThatLong_GoesIdle",
       [](Desired& d, Observed& o) {
         o = runningHealthy();
         idleAfter3s(d);
         o.traffic.lastActivity = kSteadyNow - seconds(4);
       },
       {A::Stop, A::ReleasePort},
       phase::kIdle,
       kNoReady,
       "",
       {"Idle"},
       Want::Done,
       std::nullopt,
       [](const Plan& p, const Observed&) {
         EXPECT_EQ(find(p, A::Stop)->reason, "Idle");
         EXPECT_EQ(find(p, A::ReleasePort)->port, 20001);
         EXPECT_EQ(p.status.pid, 0);
         EXPECT_EQ(p.status.port, 0);
         ASSERT_TRUE(p.status.idleSince.has_value());
         EXPECT_TRUE(*p.status.idleSince == kNow);
         // An intended state: kstatus reads Current.
         EXPECT_EQ(condOf(p, cond::kReconciling).status, "False");
         EXPECT_EQ(condOf(p, cond::kStalled).status, "False");
         EXPECT_EQ(condOf(p, cond::kStalled).reason, "Idle");
       }},
      {"IdleTimeout_RecentTraffic_LooksAgainWhenItWouldBeIdle",
       [](Desired& d, Observed& o) {
         o = runningHealthy();
         idleAfter3s(d);
         o.traffic.lastActivity = kSteadyNow - seconds(1);
       },
       {},
       phase::kRunning,
       "True",
       "Healthy",
       {},
       Want::Requeue,
       seconds(2)},
      {"IdleTimeout_RequestInFlight_NotIdle",
       [](Desired& d, Observed& o) {
         o = runningHealthy();
         idleAfter3s(d);
         o.traffic.inflight = 1;  // an open stream
         o.traffic.lastActivity = kSteadyNow - hours(1);
       },
       {},
       phase::kRunning,
       "True",
       "Healthy",
       {},
       Want::Requeue,
       seconds(3)},
      {"IdleTimeoutZero_NeverIdle",
       [](Desired& d, Observed& o) {
         o = runningHealthy();
         d.idleTimeout = milliseconds(0);
         o.traffic.lastActivity = kSteadyNow - hours(1);
       },
       {},
       phase::kRunning,
       "True",
       "Healthy",
       {}},
      {"IdleTimeout_NotYetHealthy_NotIdle",
       [](Desired& d, Observed& o) {
         o = starting(seconds(5));
         idleAfter3s(d);
         o.traffic.lastActivity = kSteadyNow - seconds(5);
       },
       {},
       phase::kStarting,
       "False",
       "Starting",
       {},
       Want::Requeue},
      {"Idle_StaysIdleAcrossReconciles",
       [](Desired& d, Observed& o) {
         o = asleep();
         idleAfter3s(d);
       },
       {},
       phase::kIdle,
       kNoReady,
       "",
       {},
       Want::Done,
       std::nullopt,
       [](const Plan& p, const Observed& o) {
         EXPECT_TRUE(p.status.idleSince == o.status.idleSince);
         EXPECT_EQ(p.status.pid, 0);
       }},
      {"Idle_AfterMcpdRestart_StaysIdleWithoutProcess",
       [](Desired& d, Observed& o) {
         o = asleep();
         idleAfter3s(d);
         o.process = facts(ProcessState::None);
       },
       {},
       phase::kIdle,
       kNoReady,
       "",
       {}},
      {"Idle_WakeRequest_Starts",
       [](Desired& d, Observed& o) {
         o = asleep();
         idleAfter3s(d);
         o.wakeRequested = kNow - milliseconds(5);
       },
       {A::AllocatePort, A::Spawn},
       phase::kStarting,
       "False",
       "Starting",
       {"Starting"},
       Want::Requeue,
       seconds(30),
       [](const Plan& p, const Observed&) {
         ASSERT_TRUE(p.status.lastWake.has_value());
         EXPECT_TRUE(p.status.lastWake->time == kNow - milliseconds(5));
         EXPECT_EQ(p.status.lastWake->reason, "Request");
         EXPECT_FALSE(p.status.idleSince.has_value());
         EXPECT_NE(p.events[0].message.find("waking"), std::string::npos);
         EXPECT_EQ(p.status.launchedWith->keyVersion, 1);
       }},
      {"Idle_KeyChanged_StaysIdle_NewKeyAtWake",
       [](Desired& d, Observed& o) {
         o = asleep();
         idleAfter3s(d);
         d.key = {KeyState::Available, 2, ""};
       },
       {},
       phase::kIdle,
       kNoReady,
       "",
       {}},
      {"Idle_KeyChangedThenWoken_StartsWithTheNewKey",
       [](Desired& d, Observed& o) {
         o = asleep();
         idleAfter3s(d);
         d.key = {KeyState::Available, 2, ""};
         o.wakeRequested = kNow;
       },
       {A::AllocatePort, A::Spawn},
       phase::kStarting,
       "False",
       "Starting",
       {"Starting"},
       Want::Requeue,
       std::nullopt,
       [](const Plan& p, const Observed&) { EXPECT_EQ(p.status.launchedWith->keyVersion, 2); }},
      {"Idle_TtlExpired_Expired",
       [](Desired& d, Observed& o) {
         o = asleep();
         idleAfter3s(d);
         d.expiresAt = kNow - seconds(1);
       },
       {},
       phase::kExpired,
       kNoReady,
       "",
       {"Expired"},
       Want::Done,
       std::nullopt,
       [](const Plan& p, const Observed&) { EXPECT_FALSE(p.status.idleSince.has_value()); }},
      {"Idle_Suspended_Suspended",
       [](Desired& d, Observed& o) {
         o = asleep();
         idleAfter3s(d);
         d.suspend = true;
       },
       {},
       phase::kSuspended,
       kNoReady,
       "",
       {"Suspended"}},
      {"Idle_Deleted_LetsGo",
       [](Desired& d, Observed& o) {
         o = asleep();
         idleAfter3s(d);
         d.deleting = true;
       },
       {A::RemoveFinalizer},
       phase::kTerminating,
       "False",
       "Terminating",
       {"Terminating"}},
      {"Idle_IdleTimeoutSetToZero_Starts",
       [](Desired& d, Observed& o) {
         o = asleep();
         d.idleTimeout = milliseconds(0);
       },
       {A::AllocatePort, A::Spawn},
       phase::kStarting,
       "False",
       "Starting",
       {"Starting"},
       Want::Requeue,
       std::nullopt,
       [](const Plan& p, const Observed&) { EXPECT_FALSE(p.status.lastWake.has_value()); }},
      {"Running_WakeRequestIgnored",
       [](Desired& d, Observed& o) {
         o = runningHealthy();
         idleAfter3s(d);
         o.traffic.lastActivity = kSteadyNow;
         o.wakeRequested = kNow;
       },
       {},
       phase::kRunning,
       "True",
       "Healthy",
       {},
       Want::Requeue,
       seconds(3),
       [](const Plan& p, const Observed&) { EXPECT_FALSE(p.status.lastWake.has_value()); }},
  };
}

class DecideTable : public ::testing::TestWithParam<Row> {};

TEST_P(DecideTable, Transition) {
  const Row& row = GetParam();
  Desired d = baseDesired();
  Observed o;
  row.given(d, o);
  const Plan p = decide(d, o, kNow, kSteadyNow);

  EXPECT_EQ(describe(types(p)), describe(row.actions));
  EXPECT_EQ(p.status.phase, row.phase);
  if (row.readyStatus == kNoReady) {
    EXPECT_EQ(p.status.condition(cond::kReady), nullptr);
  } else if (!row.readyStatus.empty()) {
    EXPECT_EQ(condOf(p, cond::kReady).status, row.readyStatus);
    EXPECT_EQ(condOf(p, cond::kReady).reason, row.readyReason);
  }
  std::vector<std::string> reasons;
  for (const auto& e : p.events) {
    reasons.push_back(e.reason);
    EXPECT_TRUE(e.type == "Normal" || e.type == "Warning") << e.type;
    EXPECT_FALSE(e.message.empty()) << e.reason;
  }
  EXPECT_EQ(reasons, row.events);
  switch (row.want) {
    case Want::Done:
      EXPECT_TRUE(p.result.done());
      break;
    case Want::Requeue:
      EXPECT_FALSE(p.result.retryWithBackoff);
      EXPECT_TRUE(p.result.requeueAfter.has_value());
      break;
    case Want::Retry:
      EXPECT_TRUE(p.result.retryWithBackoff);
      break;
  }
  if (row.requeueAfter) {
    ASSERT_TRUE(p.result.requeueAfter.has_value());
    EXPECT_EQ(*p.result.requeueAfter, *row.requeueAfter);
  }
  if (row.more) row.more(p, o);
}

INSTANTIATE_TEST_SUITE_P(Rows, DecideTable, ::testing::ValuesIn(rows()),
                         [](const auto& info) { return info.param.name; });

// ------------------------------------------------------------------------------------------
// Properties across reconciles

TEST(Decide, IsDeterministicAndLeavesInputsAlone) {
  Desired d = baseDesired();
  Observed o = exited(1);
  const Desired d0 = d;
  const InstanceStatus s0 = o.status;
  const Plan a = decide(d, o, kNow, kSteadyNow);
  const Plan b = decide(d, o, kNow, kSteadyNow);
  EXPECT_EQ(a.actions, b.actions);
  EXPECT_EQ(a.status, b.status);
  EXPECT_EQ(a.events, b.events);
  EXPECT_EQ(o.status, s0);
  EXPECT_EQ(d.generation, d0.generation);
}

TEST(Decide, ConditionTransitionTimeMovesOnlyWhenStatusFlips) {
  Observed o = runningHealthy();
  const TimePoint before = o.status.condition(cond::kReady)->lastTransitionTime;
  Plan p = decide(baseDesired(), o, kNow, kSteadyNow);
  EXPECT_EQ(p.status.condition(cond::kReady)->lastTransitionTime, before);

  o.health = {Health::Unhealthy, 3, "down"};
  p = decide(baseDesired(), o, kNow, kSteadyNow);
  EXPECT_EQ(p.status.condition(cond::kReady)->lastTransitionTime, kNow);
}

// Simulates the executor with a fake clock: a process that crashes at once, every time. The
// restarts must follow 0, 1, 2, 4, 8 s and restartCount must count them.
TEST(Decide, CrashLoopScheduleWithFakeClock) {
  FakeClock clock;
  Desired d = baseDesired();
  Observed o;
  std::vector<milliseconds> waits;
  int spawns = 0;
  for (int step = 0; step < 40 && spawns < 6; ++step) {
    const Plan p = decide(d, o, clock.now(), clock.steadyNow());
    o.status = p.status;
    o.restartNotBefore = p.restartNotBefore;
    if (p.has(A::AllocatePort)) o.status.port = 20000;
    if (p.has(A::Spawn)) {
      ++spawns;
      o.status.pid = 1000 + spawns;  // what the executor records
      // ... and the process dies at once.
      o.process = {};
      o.process.state = ProcessState::Exited;
      o.process.exitCode = 1;
      o.process.finishedAt = clock.now();
      o.process.finishedSteady = clock.steadyNow();
      continue;
    }
    ASSERT_TRUE(p.result.requeueAfter) << "step " << step;
    waits.push_back(*p.result.requeueAfter);
    clock.advance(*p.result.requeueAfter);
  }
  EXPECT_EQ(spawns, 6);
  EXPECT_EQ(o.status.restartCount, 5);
  EXPECT_EQ(waits, (std::vector<milliseconds>{seconds(1), seconds(2), seconds(4), seconds(8)}));
}

// A stable run: spawn, healthy, steady; then the TTL timer fires.
TEST(Decide, LifecycleWithFakeClock) {
  FakeClock clock;
  Desired d = baseDesired();
  d.expiresAt = clock.now() + minutes(10);
  Observed o;

  Plan p = decide(d, o, clock.now(), clock.steadyNow());
  ASSERT_TRUE(p.has(A::Spawn));
  o.status = p.status;
  o.status.port = 20000;
  o.status.pid = 77;
  o.process = facts(ProcessState::Running, clock.steadyNow());

  clock.advance(seconds(2));
  o.health.last = Health::Healthy;
  p = decide(d, o, clock.now(), clock.steadyNow());
  EXPECT_EQ(p.status.phase, phase::kRunning);
  ASSERT_TRUE(p.result.requeueAfter);
  EXPECT_EQ(*p.result.requeueAfter, minutes(10) - seconds(2));
  o.status = p.status;

  clock.advance(*p.result.requeueAfter);
  p = decide(d, o, clock.now(), clock.steadyNow());
  EXPECT_EQ(p.status.phase, phase::kExpired);
  EXPECT_TRUE(p.has(A::Stop));
  EXPECT_TRUE(p.result.done());
}

// ------------------------------------------------------------------------------------------
// Status JSON and helpers

TEST(InstanceStatus, JsonRoundTripKeepsUnknownFields) {
  nlohmann::json in = {
      {"phase", "Running"},
      {"observedGeneration", 3},
      {"node", "host-a"},
      {"url", "http://127.0.0.1:20001/mcp"},
      {"gatewayURL", "https://127.0.0.1:7443/mcp/alice/inbox"},
      {"usage", {{"cpuPercent", 0.4}}},
      {"pid", 12345},
      {"processStartTime", "987654"},
      {"port", 20001},
      {"startedAt", "2026-01-01T00:00:00Z"},
      {"restartCount", 2},
      {"lastTermination",
       {{"exitCode", nullptr},
        {"signal", 9},
        {"reason", "Signal"},
        {"finishedAt", "2026-01-01T00:00:05Z"}}},
      {"launchedWith",
       {{"generation", 3}, {"specHash", "abc"}, {"keyVersion", 2}, {"tokenGeneration", 1}}},
      {"healthySince", "2026-01-01T00:00:07Z"},
      {"crashLoop", {{"crashes", 2}, {"nextRestartAt", "2026-01-01T00:00:09Z"}}},
      {"conditions",
       {{{"type", "Ready"},
         {"status", "True"},
         {"reason", "Healthy"},
         {"message", "process is healthy"},
         {"lastTransitionTime", "2026-01-01T00:00:07Z"},
         {"observedGeneration", 3}}}},
  };
  const InstanceStatus s = InstanceStatus::fromJson(in);
  EXPECT_EQ(s.pid, 12345);
  EXPECT_EQ(s.lastTermination->signal, 9);
  EXPECT_FALSE(s.lastTermination->exitCode);
  EXPECT_EQ(s.launchedWith, (LaunchRecord{3, "abc", 2, 1}));
  EXPECT_EQ(s.crashLoop.crashes, 2);
  ASSERT_NE(s.condition("Ready"), nullptr);
  EXPECT_EQ(s.toJson(), in);
  EXPECT_EQ(InstanceStatus::fromJson(s.toJson()), s);
}

TEST(InstanceStatus, ClearedFieldsDisappear) {
  InstanceStatus s = InstanceStatus::fromJson(
      {{"pid", 1}, {"port", 20001}, {"url", "http://127.0.0.1:20001/mcp"}, {"node", "a"}});
  s.pid = 0;
  s.port = 0;
  const auto j = s.toJson();
  EXPECT_FALSE(j.contains("pid"));
  EXPECT_FALSE(j.contains("port"));
  EXPECT_FALSE(j.contains("url"));
  EXPECT_EQ(j["node"], "a");
  EXPECT_FALSE(j.contains("crashLoop"));
}

TEST(Desired, FromInstance) {
  const nlohmann::json obj = {
      {"metadata",
       {{"namespace", "alice"},
        {"name", "inbox"},
        {"uid", "u-1"},
        {"generation", 4},
        {"deletionTimestamp", "2026-01-01T00:00:00Z"},
        {"finalizers", {"other", kFinalizer}}}},
      {"spec", {{"suspend", true}, {"restartPolicy", "OnFailure"}, {"tokenGeneration", 2}}},
      {"status", {{"expiresAt", "2026-01-01T02:00:00Z"}}},
  };
  const Desired d = desiredFromInstance(obj, model::MCPInstanceSpec::fromJson(obj["spec"]));
  EXPECT_EQ(d.ns, "alice");
  EXPECT_EQ(d.name, "inbox");
  EXPECT_EQ(d.generation, 4);
  EXPECT_TRUE(d.deleting);
  EXPECT_TRUE(d.hasFinalizer);
  EXPECT_TRUE(d.suspend);
  EXPECT_EQ(d.restartPolicy, RestartPolicy::OnFailure);
  EXPECT_EQ(d.tokenGeneration, 2);
  EXPECT_EQ(d.expiresAt, TimePoint(FakeClock::kEpoch) + hours(2));

  const Desired bare = desiredFromInstance({{"metadata", {{"name", "x"}}}}, {});
  EXPECT_FALSE(bare.deleting);
  EXPECT_FALSE(bare.hasFinalizer);
  EXPECT_EQ(bare.restartPolicy, RestartPolicy::Always);
  EXPECT_FALSE(bare.expiresAt);
}

TEST(LaunchHash, IgnoresFieldsThatMustNotRestartTheProcess) {
  const nlohmann::json type = {{"server", {{"command", "node"}}}, {"displayName", "Gmail"}};
  nlohmann::json spec = {{"type", "gmail"}, {"ttl", "2h"}, {"config", {{"a", 1}}}};
  const std::string h = launchHash(spec, type);
  EXPECT_EQ(h.size(), 64u);

  nlohmann::json ttl = spec;
  ttl["ttl"] = "4h";
  ttl["suspend"] = false;
  ttl["restartPolicy"] = "Never";
  ttl["idleTimeout"] = "15m";
  EXPECT_EQ(launchHash(ttl, type), h);
  nlohmann::json typeDoc = type;
  typeDoc["displayName"] = "Gmail (new)";
  typeDoc["idleTimeout"] = "1h";
  EXPECT_EQ(launchHash(spec, typeDoc), h);

  nlohmann::json config = spec;
  config["config"]["a"] = 2;
  EXPECT_NE(launchHash(config, type), h);
  nlohmann::json cmd = type;
  cmd["server"]["command"] = "deno";
  EXPECT_NE(launchHash(spec, cmd), h);
}

TEST(HealthSettings, FromJsonKeepsDefaultsForMissingFields) {
  const auto h = HealthSettings::fromJson({{"failureThreshold", 5}, {"startupTimeoutSeconds", 60}});
  EXPECT_EQ(h.failureThreshold, 5);
  EXPECT_EQ(h.startupTimeout, seconds(60));
  EXPECT_EQ(h.period, seconds(30));
  EXPECT_EQ(HealthSettings::fromJson(nullptr).failureThreshold, 3);
}

}  // namespace
}  // namespace minimcp::reconciler
