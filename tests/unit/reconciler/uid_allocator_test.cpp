#include "reconciler/uid_allocator.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "tests/unit/reconciler/fake_clock.h"

namespace minimcp::reconciler {
namespace {

using namespace std::chrono_literals;

// What the host holds, as the test says; counts the process scans.
class FakeUsage : public IdentityUsage {
 public:
  std::set<uint32_t> system;
  std::set<uint32_t> processes;
  std::map<std::string, uint32_t> dirs;
  int scans = 0;
  std::set<uint32_t> systemIds() override { return system; }
  std::set<uint32_t> processIds() override {
    ++scans;
    return processes;
  }
  std::map<std::string, uint32_t> instanceDirOwners() override { return dirs; }
};

TEST(ParseIdRange, AcceptsOnlyRangesWithoutRootOrTheInvalidId) {
  struct Case {
    std::string text;
    std::optional<IdRange> want;
  };
  const std::vector<Case> cases = {
      {"61184-65519", IdRange{61184, 65519}},
      {"5-5", IdRange{5, 5}},
      {"0-100", std::nullopt},         // root
      {"10-9", std::nullopt},          // empty
      {"1-2147483647", std::nullopt},  // (uid_t)-1 territory
      {"1-2147483646", IdRange{1, 2147483646}},
      {"61184", std::nullopt},
      {"a-b", std::nullopt},
      {"-1-5", std::nullopt},
      {"99999999999-99999999999", std::nullopt},
  };
  for (const auto& c : cases) EXPECT_EQ(parseIdRange(c.text), c.want) << c.text;
}

// Which id a new key gets, given what the host holds.
TEST(UidAllocator, SkipsEveryIdSomethingElseHolds) {
  struct Case {
    const char* name;
    std::set<uint32_t> system, processes;
    std::map<std::string, uint32_t> dirs;
    std::optional<uint32_t> want;  // nullopt: IdsExhausted
  };
  const std::vector<Case> cases = {
      {"nothing held: the first", {}, {}, {}, 100},
      {"a user or group of /etc", {100, 101}, {}, {}, 102},
      {"a live process's uid or gid", {}, {100}, {}, 101},
      {"an instance dir's owner", {}, {}, {{"ns/other", 100}}, 101},
      {"a dir owned by an id outside the range holds nothing", {}, {}, {{"ns/other", 5}}, 100},
      {"all held", {100}, {101}, {{"ns/other", 102}}, std::nullopt},
  };
  for (const auto& c : cases) {
    auto usage = std::make_shared<FakeUsage>();
    usage->system = c.system;
    usage->processes = c.processes;
    usage->dirs = c.dirs;
    test::FakeClock clock;
    UidAllocator a({100, 102}, usage, clock);
    if (c.want) {
      EXPECT_EQ(a.reserve("ns/new"), *c.want) << c.name;
      EXPECT_EQ(a.holderOf(*c.want), "ns/new") << c.name;
    } else {
      EXPECT_THROW(a.reserve("ns/new"), IdsExhausted) << c.name;
    }
  }
}

TEST(UidAllocator, OneIdPerKeyKeptAcrossReserves) {
  auto usage = std::make_shared<FakeUsage>();
  test::FakeClock clock;
  UidAllocator a({100, 199}, usage, clock);
  const uint32_t x = a.reserve("ns/a");
  const uint32_t y = a.reserve("ns/b");
  EXPECT_NE(x, y);
  EXPECT_EQ(a.reserve("ns/a"), x) << "a restart or replacement keeps the id";
  EXPECT_EQ(a.idOf("ns/b"), y);
  EXPECT_EQ(a.inUse(), 2u);
}

TEST(UidAllocator, HandOverGivesTheWarmProcessIdToTheInstanceAndReleasesItsOld) {
  auto usage = std::make_shared<FakeUsage>();
  test::FakeClock clock;
  UidAllocator a({100, 103}, usage, clock);
  const uint32_t slot = a.reserve("~pool/echo/1");
  const uint32_t old = a.reserve("ns/a");
  EXPECT_EQ(a.handOver("~pool/echo/1", "ns/a"), slot);
  EXPECT_EQ(a.idOf("ns/a"), slot);
  EXPECT_EQ(a.idOf("~pool/echo/1"), std::nullopt) << "the slot holds nothing any more";
  EXPECT_EQ(a.holderOf(slot), "ns/a");
  EXPECT_EQ(a.holderOf(old), std::nullopt);
  EXPECT_EQ(a.inUse(), 1u);
  // The released id is not handed out again before a process scan says nothing carries it.
  const uint32_t next = a.reserve("ns/b");
  EXPECT_NE(next, old);
  EXPECT_NE(next, slot);
  EXPECT_EQ(a.handOver("~pool/echo/1", "ns/c"), std::nullopt) << "a slot is handed over once";
  EXPECT_EQ(a.idOf("ns/c"), std::nullopt);
}

TEST(UidAllocator, RestoresIdsFromDirOwnersThenFromStatus) {
  auto usage = std::make_shared<FakeUsage>();
  usage->dirs = {{"ns/a", 150}, {"ns/root-owned", 0}};
  test::FakeClock clock;
  UidAllocator a({100, 199}, usage, clock);
  EXPECT_EQ(a.idOf("ns/a"), 150u) << "held from the start: files of it remain";
  // The directory's owner wins over a recorded id.
  EXPECT_EQ(a.reserve("ns/a", 120), 150u);
  // No dir: the recorded id, even while a process still carries it (its own).
  usage->processes = {130};
  EXPECT_EQ(a.reserve("ns/b", 130), 130u);
  // A recorded id that is another instance's, a system id or out of range is not taken.
  usage->system = {};
  EXPECT_NE(a.reserve("ns/c", 150), 150u);
  EXPECT_NE(a.reserve("ns/d", 5), 5u);
  EXPECT_EQ(a.idOf("ns/root-owned"), std::nullopt);
}

TEST(UidAllocator, RecordedSystemIdIsRefused) {
  auto usage = std::make_shared<FakeUsage>();
  usage->system = {120};
  test::FakeClock clock;
  UidAllocator a({100, 199}, usage, clock);
  EXPECT_EQ(a.reserve("ns/a", 120), 100u);
}

TEST(UidAllocator, ReleasedIdComesBackLastAndNeverWhileAProcessCarriesIt) {
  auto usage = std::make_shared<FakeUsage>();
  test::FakeClock clock;
  UidAllocator a({100, 102}, usage, clock);
  EXPECT_EQ(a.reserve("ns/a"), 100u);
  EXPECT_EQ(a.reserve("ns/b"), 101u);
  a.release("ns/a");
  EXPECT_EQ(a.idOf("ns/a"), std::nullopt);
  EXPECT_EQ(a.reserve("ns/c"), 102u) << "the released one is the last candidate";
  // 100 is free in memory, but a process of the released instance still lives: not handed out,
  // even though the last scan (before the release) did not see it.
  usage->processes = {100};
  EXPECT_THROW(a.reserve("ns/d"), IdsExhausted);
  usage->processes = {};
  EXPECT_EQ(a.reserve("ns/d"), 100u);
}

TEST(UidAllocator, ProcessScanIsReusedBrieflyAndRepeatedWhenNothingFits) {
  auto usage = std::make_shared<FakeUsage>();
  test::FakeClock clock;
  UidAllocator a({100, 199}, usage, clock);
  a.reserve("ns/a");
  a.reserve("ns/b");
  EXPECT_EQ(usage->scans, 1) << "one scan serves a burst of new instances";
  clock.advance(UidAllocator::kProcessScanMaxAge);
  usage->processes = {102};
  EXPECT_EQ(a.reserve("ns/c"), 103u);
  EXPECT_EQ(usage->scans, 2);
}

TEST(UidAllocator, ConcurrentReservesNeverShareAnId) {
  auto usage = std::make_shared<FakeUsage>();
  test::FakeClock clock;
  UidAllocator a({1000, 1999}, usage, clock);
  std::vector<std::thread> threads;
  std::vector<uint32_t> got(200);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = t; i < 200; i += 4) got[i] = a.reserve("ns/i" + std::to_string(i));
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(std::set<uint32_t>(got.begin(), got.end()).size(), 200u);
}

// --- SystemIdentityUsage on real files --------------------------------------------------------

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "minimcp-ids-XXXXXX").string();
    if (char* made = ::mkdtemp(tmpl.data())) path_ = made;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

TEST(SystemIdentityUsage, ReadsDatabasesProcessesAndDirOwners) {
  TempDir dir;
  std::ofstream(dir.path() / "passwd") << "root:x:0:0:root:/root:/bin/sh\n"
                                       << "broken line\n"
                                       << "app:x:61200:61200::/:/bin/false\n";
  std::ofstream(dir.path() / "group") << "root:x:0:\nstaff:x:61300:\n";
  const auto data = dir.path() / "data";
  std::filesystem::create_directories(data / "instances" / "ns" / "a");
  std::filesystem::create_directories(data / "instances" / "ns" / "b");
  std::filesystem::create_symlink("/", data / "instances" / "ns" / "link");
  SystemIdentityUsage usage(data, dir.path() / "passwd", dir.path() / "group");
  EXPECT_EQ(usage.systemIds(), (std::set<uint32_t>{0, 61200, 61300}));
  const auto procs = usage.processIds();
  EXPECT_TRUE(procs.count(::getuid())) << "this test's own process";
  EXPECT_TRUE(procs.count(::getgid()));
  const auto owners = usage.instanceDirOwners();
  EXPECT_EQ(owners, (std::map<std::string, uint32_t>{{"ns/a", ::getuid()}, {"ns/b", ::getuid()}}))
      << "a symlink is no instance dir";
}

}  // namespace
}  // namespace minimcp::reconciler
