// The one metrics registry of mcpd, served at /metrics in the text exposition format 0.0.4.
// Families are prometheus-cpp's (counters, gauges and histograms are atomics: an increment on a
// cached child allocates nothing and takes no lock); a child is removed with Family::Remove,
// so a series of something that is gone disappears. Values that are cheaper to read than to
// track (queue ages, the process's own CPU and memory) are refreshed by scrape hooks just
// before each render. prometheus-cpp stays out of this header.
#pragma once

#include <atomic>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace prometheus {
class Registry;
struct MetricFamily;
}  // namespace prometheus

namespace minimcp::metrics {

class Registry {
 public:
  // With the process_* families of this process.
  Registry();
  ~Registry();
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // Where families are built (prometheus::BuildCounter()...Register(registry.families())).
  prometheus::Registry& families();

  // Runs `refresh` before every render() until the returned handle is destroyed (then no
  // refresh runs any more, and none is running).
  [[nodiscard]] std::shared_ptr<void> onScrape(std::function<void()> refresh);

  // Every family in the text exposition format 0.0.4.
  std::string render() const;

 private:
  struct Hooks;
  std::shared_ptr<prometheus::Registry> registry_;
  std::shared_ptr<Hooks> hooks_;
  std::shared_ptr<void> processHook_;
  mutable std::atomic<size_t> lastSize_{0};  // the last render's length, to reserve the next
};

// `families` in the text exposition format 0.0.4, byte for byte as prometheus-cpp's
// TextSerializer writes them, without its stream; `sizeHint`: the expected length.
std::string exposition(const std::vector<prometheus::MetricFamily>& families, size_t sizeHint = 0);

// Latency buckets (seconds) shared by the duration histograms: 0.5 ms to 60 s.
std::vector<double> durationBuckets();

// What /proc/self/stat says, parsed (fields 14, 15, 22 and 24).
struct ProcStat {
  unsigned long long utimeTicks = 0, stimeTicks = 0, startTicks = 0;
  long long rssPages = 0;
};
// false when `text` is not a stat line.
bool parseProcStat(const std::string& text, ProcStat& out);
// btime (boot time, seconds since the epoch) from /proc/stat; 0 when absent.
long long parseBootTime(const std::string& procStat);

}  // namespace minimcp::metrics
