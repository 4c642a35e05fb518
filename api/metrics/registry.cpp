#include "api/metrics/registry.h"

#include <fcntl.h>
#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/metric_family.h>
#include <prometheus/registry.h>
#include <unistd.h>

#include <charconv>
#include <cmath>
#include <filesystem>
#include <limits>
#include <list>
#include <sstream>

namespace minimcp::metrics {

struct Registry::Hooks {
  std::mutex mu;  // held while hooks run, so a handle's destructor waits for its hook
  std::list<std::function<void()>> list;
};

namespace {

// A small /proc file, read with plain syscalls (a stream's set-up costs more than the read).
std::string readFile(const char* path) {
  std::string out;
  const int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return out;
  char buf[4096];
  for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;) out.append(buf, static_cast<size_t>(n));
  ::close(fd);
  return out;
}

// The exposition text as prometheus-cpp's TextSerializer writes it (the same bytes: a double
// as printf's %.16g, "Nan", "+Inf", "-Inf"), into one string instead of through an ostream.
class TextWriter {
 public:
  explicit TextWriter(std::string& out) : out_(out) {}

  void family(const prometheus::MetricFamily& f) {
    if (!f.help.empty()) {
      out_ += "# HELP ";
      out_ += f.name;
      out_ += ' ';
      out_ += f.help;
      out_ += '\n';
    }
    out_ += "# TYPE ";
    out_ += f.name;
    switch (f.type) {
      case prometheus::MetricType::Counter:
        out_ += " counter\n";
        for (const auto& m : f.metric) simple(f, m, m.counter.value);
        break;
      case prometheus::MetricType::Gauge:
        out_ += " gauge\n";
        for (const auto& m : f.metric) simple(f, m, m.gauge.value);
        break;
      case prometheus::MetricType::Untyped:
        out_ += " untyped\n";
        for (const auto& m : f.metric) simple(f, m, m.untyped.value);
        break;
      case prometheus::MetricType::Summary:
        out_ += " summary\n";
        for (const auto& m : f.metric) summary(f, m);
        break;
      case prometheus::MetricType::Histogram:
        out_ += " histogram\n";
        for (const auto& m : f.metric) histogram(f, m);
        break;
    }
  }

 private:
  void simple(const prometheus::MetricFamily& f, const prometheus::ClientMetric& m, double v) {
    head(f, m, "");
    number(v);
    tail(m);
  }

  void summary(const prometheus::MetricFamily& f, const prometheus::ClientMetric& m) {
    head(f, m, "_count");
    integer(m.summary.sample_count);
    tail(m);
    head(f, m, "_sum");
    number(m.summary.sample_sum);
    tail(m);
    for (const auto& q : m.summary.quantile) {
      head(f, m, "", "quantile", &q.quantile);
      number(q.value);
      tail(m);
    }
  }

  void histogram(const prometheus::MetricFamily& f, const prometheus::ClientMetric& m) {
    const auto& h = m.histogram;
    head(f, m, "_count");
    integer(h.sample_count);
    tail(m);
    head(f, m, "_sum");
    number(h.sample_sum);
    tail(m);
    double last = -std::numeric_limits<double>::infinity();
    for (const auto& b : h.bucket) {
      head(f, m, "_bucket", "le", &b.upper_bound);
      last = b.upper_bound;
      integer(b.cumulative_count);
      tail(m);
    }
    if (last != std::numeric_limits<double>::infinity()) {
      const double inf = std::numeric_limits<double>::infinity();
      head(f, m, "_bucket", "le", &inf);
      integer(h.sample_count);
      tail(m);
    }
  }

  // name{labels} (with one extra label whose value is a number), then a space.
  void head(const prometheus::MetricFamily& f, const prometheus::ClientMetric& m,
            const char* suffix, const char* extraName = nullptr,
            const double* extraValue = nullptr) {
    out_ += f.name;
    out_ += suffix;
    if (!m.label.empty() || extraName) {
      out_ += '{';
      bool first = true;
      for (const auto& l : m.label) {
        if (!first) out_ += ',';
        first = false;
        out_ += l.name;
        out_ += "=\"";
        escaped(l.value);
        out_ += '"';
      }
      if (extraName) {
        if (!first) out_ += ',';
        out_ += extraName;
        out_ += "=\"";
        number(*extraValue);
        out_ += '"';
      }
      out_ += '}';
    }
    out_ += ' ';
  }

  void tail(const prometheus::ClientMetric& m) {
    if (m.timestamp_ms != 0) {
      out_ += ' ';
      integer(m.timestamp_ms);
    }
    out_ += '\n';
  }

  void escaped(const std::string& v) {
    for (char c : v) {
      if (c == '\n') {
        out_ += "\\n";
      } else {
        if (c == '\\' || c == '"') out_ += '\\';
        out_ += c;
      }
    }
  }

  void number(double v) {
    if (std::isnan(v)) {
      out_ += "Nan";
    } else if (std::isinf(v)) {
      out_ += v < 0 ? "-Inf" : "+Inf";
    } else {
      char buf[32];
      const auto r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::general,
                                   std::numeric_limits<double>::max_digits10 - 1);
      out_.append(buf, r.ptr);
    }
  }

  template <class Int>
  void integer(Int v) {
    char buf[24];
    const auto r = std::to_chars(buf, buf + sizeof buf, v);
    out_.append(buf, r.ptr);
  }

  std::string& out_;
};

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
  std::string text = exposition(registry_->Collect(), lastSize_.load(std::memory_order_relaxed));
  lastSize_.store(text.size(), std::memory_order_relaxed);
  return text;
}

std::string exposition(const std::vector<prometheus::MetricFamily>& families, size_t sizeHint) {
  std::string out;
  out.reserve(sizeHint + sizeHint / 8);
  TextWriter w(out);
  for (const auto& f : families) w.family(f);
  return out;
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
