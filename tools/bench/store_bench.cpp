// minimcp_bench: store-level write throughput of SQLite and PostgreSQL, measured in one run.
//
//   minimcp_bench [--n N] [--pg postgresql://.../EMPTY_DATABASE]
//
// Creates N objects, then updates each once with compare-and-swap, from one thread, through
// openStore() — what the API server does per create/update request. Without --pg a throwaway
// PostgreSQL server with its durable defaults (fsync on, like SQLite's synchronous=FULL) is
// started with tools/pg-test-server.sh in a temporary directory and stopped afterwards.
#include <stdlib.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "api/store/store.h"

namespace {

using Json = nlohmann::json;
using minimcp::store::openStore;
using minimcp::store::parseResourceVersion;
using minimcp::store::Store;

struct Result {
  double createsPerSec = 0;
  double updatesPerSec = 0;
};

Json instance(int i) {
  return {{"apiVersion", "minimcp.io/v1alpha1"},
          {"kind", "MCPInstance"},
          {"metadata",
           {{"name", "bench-" + std::to_string(i)},
            {"namespace", "bench"},
            {"uid", "00000000-0000-4000-8000-" + std::to_string(100000000000 + i)},
            {"labels", {{"app", "bench"}, {"shard", std::to_string(i % 8)}}}}},
          {"spec", {{"type", "echo"}, {"ttlSeconds", 3600}, {"env", {{"LEVEL", "info"}}}}},
          {"status", {{"phase", "Pending"}}}};
}

Result measure(Store& store, int n) {
  using Clock = std::chrono::steady_clock;
  std::vector<int64_t> rvs(n);
  auto t0 = Clock::now();
  for (int i = 0; i < n; ++i)
    rvs[i] = parseResourceVersion(store.create("mcpinstances", instance(i)));
  auto t1 = Clock::now();
  for (int i = 0; i < n; ++i) {
    Json obj = instance(i);
    obj["status"]["phase"] = "Running";
    store.update("mcpinstances", obj, rvs[i]);
  }
  auto t2 = Clock::now();
  auto secs = [](Clock::duration d) { return std::chrono::duration<double>(d).count(); };
  return {n / secs(t1 - t0), n / secs(t2 - t1)};
}

std::string readLine(const std::string& path) {
  std::ifstream in(path);
  std::string s;
  std::getline(in, s);
  return s;
}

// tools/pg-test-server.sh of the source tree: found from the parents of the executable (an
// in-tree build dir) or of the working directory.
std::filesystem::path findServerScript() {
  namespace fs = std::filesystem;
  std::error_code ec;
  for (fs::path start :
       {fs::read_symlink("/proc/self/exe", ec).parent_path(), fs::current_path()}) {
    for (fs::path p = start; !p.empty(); p = p.parent_path()) {
      fs::path candidate = p / "tools" / "pg-test-server.sh";
      if (fs::exists(candidate, ec)) return candidate;
      if (p == p.parent_path()) break;
    }
  }
  throw std::runtime_error("tools/pg-test-server.sh not found; pass --pg URL");
}

// A scratch PostgreSQL for the run, started with the test server script.
class ScratchPostgres {
 public:
  ScratchPostgres() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "minimcp-bench-XXXXXX").string();
    if (mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    dir_ = tmpl;
    run("start");
    url_ = readLine(dir_ + "/url");
  }
  ~ScratchPostgres() {
    try {
      run("stop");
    } catch (const std::exception& e) {
      std::fprintf(stderr, "%s\n", e.what());
    }
  }
  const std::string& url() const { return url_; }

 private:
  void run(const std::string& cmd) {
    auto script = findServerScript();
    std::string line = "PG_TEST_DURABLE=1 '" + script.string() + "' " + cmd + " '" + dir_ + "'";
    if (std::system(line.c_str()) != 0) throw std::runtime_error("failed: " + line);
  }
  std::string dir_;
  std::string url_;
};

}  // namespace

int main(int argc, char** argv) {
  int n = 1000;
  std::string pgUrl;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--n") == 0 && i + 1 < argc) {
      n = std::max(1, std::atoi(argv[++i]));
    } else if (std::strcmp(argv[i], "--pg") == 0 && i + 1 < argc) {
      pgUrl = argv[++i];
    } else {
      std::fprintf(stderr, "usage: %s [--n N] [--pg postgresql://...]\n", argv[0]);
      return 2;
    }
  }
  try {
    std::string tmpl = (std::filesystem::temp_directory_path() / "minimcp-bench-XXXXXX").string();
    if (mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    std::string sqliteDir = tmpl;

    Result sqlite;
    {
      auto store = openStore("sqlite:" + sqliteDir + "/store.db");
      sqlite = measure(*store, n);
    }
    std::filesystem::remove_all(sqliteDir);

    Result pg;
    {
      std::unique_ptr<ScratchPostgres> scratch;
      if (pgUrl.empty()) {
        scratch = std::make_unique<ScratchPostgres>();
        pgUrl = scratch->url();
      }
      {
        auto store = openStore(pgUrl);
        pg = measure(*store, n);
      }
    }

    std::printf("store throughput, %d objects, one thread, durable commits\n", n);
    std::printf("%-10s %12s %12s\n", "store", "creates/s", "updates/s");
    std::printf("%-10s %12.0f %12.0f\n", "sqlite", sqlite.createsPerSec, sqlite.updatesPerSec);
    std::printf("%-10s %12.0f %12.0f\n", "postgres", pg.createsPerSec, pg.updatesPerSec);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "minimcp_bench: %s\n", e.what());
    return 1;
  }
  return 0;
}
