#include "api/metrics/registry.h"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <list>
#include <sstream>

namespace minimcp::metrics {

struct Registry::Hooks {
  std::mutex mu;  // held while hooks run, so a handle's destructor waits for its hook
  std::list<std::function<void()>> list;
};

namespace {

std::string readFile(const char* path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// process_* as client_golang's process collector names them.
std::function<void()> processCollector(prometheus::Registry& r) {
  auto& cpu = prometheus::BuildCounter()
                  .Name("process_cpu_seconds_total")
                  .Help("Total user and system CPU time spent in seconds.")
                  .Register(r)
                  .Add({});
  auto& rss = prometheus::BuildGauge()
                  .Name("process_resident_memory_bytes")
                  .Help("Resident memory size in bytes.")
                  .Register(r)
                  .Add({});
  auto& fds = prometheus::BuildGauge()
                  .Name("process_open_fds")
                  .Help("Number of open file descriptors.")
                  .Register(r)
                  .Add({});
  auto& start = prometheus::BuildGauge()
                    .Name("process_start_time_seconds")
                    .Help("Start time of the process since unix epoch in seconds.")
                    .Register(r)
                    .Add({});
  const double tick = static_cast<double>(sysconf(_SC_CLK_TCK));
  const long long page = sysconf(_SC_PAGESIZE);
  ProcStat st;
  if (parseProcStat(readFile("/proc/self/stat"), st)) {
    start.Set(static_cast<double>(parseBootTime(readFile("/proc/stat"))) + st.startTicks / tick);
  }
  return [&cpu, &rss, &fds, tick, page] {
    ProcStat st;
    if (parseProcStat(readFile("/proc/self/stat"), st)) {
      // A counter only goes up: add what was spent since the last scrape.
      const double spent = (st.utimeTicks + st.stimeTicks) / tick;
      if (spent > cpu.Value()) cpu.Increment(spent - cpu.Value());
      rss.Set(static_cast<double>(st.rssPages * page));
    }
    std::error_code ec;
    double n = 0;
    for (std::filesystem::directory_iterator it("/proc/self/fd", ec), end; !ec && it != end;
         it.increment(ec)) {
      ++n;
    }
    if (!ec) fds.Set(n - 1);  // not the directory's own descriptor
  };
}

}  // namespace

Registry::Registry()
    : registry_(std::make_shared<prometheus::Registry>()), hooks_(std::make_shared<Hooks>()) {
  processHook_ = onScrape(processCollector(*registry_));
}

Registry::~Registry() = default;

prometheus::Registry& Registry::families() { return *registry_; }

std::shared_ptr<void> Registry::onScrape(std::function<void()> refresh) {
  std::lock_guard lock(hooks_->mu);
  auto it = hooks_->list.insert(hooks_->list.end(), std::move(refresh));
  std::weak_ptr<Hooks> weak = hooks_;
  return std::shared_ptr<void>(nullptr, [weak, it](void*) {
    if (auto hooks = weak.lock()) {
      std::lock_guard lock(hooks->mu);
      hooks->list.erase(it);
    }
  });
}

std::string Registry::render() const {
  {
    std::lock_guard lock(hooks_->mu);
    for (const auto& hook : hooks_->list) hook();
  }
  return prometheus::TextSerializer().Serialize(registry_->Collect());
}

std::vector<double> durationBuckets() {
  return {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
}

bool parseProcStat(const std::string& text, ProcStat& out) {
  // Field 2 (comm) is in parentheses and may hold spaces or ')': fields resume after the last ')'.
  const auto close = text.rfind(')');
  if (close == std::string::npos) return false;
  std::istringstream in(text.substr(close + 1));
  std::string field;
  ProcStat st;
  for (int i = 3; i <= 24 && in >> field; ++i) {
    try {
      if (i == 14) st.utimeTicks = std::stoull(field);
      if (i == 15) st.stimeTicks = std::stoull(field);
      if (i == 22) st.startTicks = std::stoull(field);
      if (i == 24) {
        st.rssPages = std::stoll(field);
        out = st;
        return true;
      }
    } catch (const std::exception&) {
      return false;
    }
  }
  return false;
}

long long parseBootTime(const std::string& procStat) {
  std::istringstream in(procStat);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("btime ", 0) == 0) {
      try {
        return std::stoll(line.substr(6));
      } catch (const std::exception&) {
        return 0;
      }
    }
  }
  return 0;
}

}  // namespace minimcp::metrics
