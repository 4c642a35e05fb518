// mcpd: the MiniMCP daemon. Flags as DESIGN §1; the work is done by server::ApiServer.
#include <signal.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <iostream>
#include <regex>

#include "api/client/kubeconfig.h"
#include "api/server/api_server.h"

namespace {

struct Listen {
  std::string host;
  uint16_t port;
};

// HOST:PORT or [V6]:PORT.
Listen parseListen(const std::string& s) {
  static const std::regex re(R"(^(\[[^\]]+\]|[^:\[\]]+):([0-9]{1,5})$)");
  std::smatch m;
  if (!std::regex_match(s, m, re)) throw CLI::ValidationError("--listen", "expected HOST:PORT");
  std::string host = m[1];
  if (host.front() == '[') host = host.substr(1, host.size() - 2);
  int port = std::stoi(m[2]);
  if (port > 65535) throw CLI::ValidationError("--listen", "port out of range");
  return {host, static_cast<uint16_t>(port)};
}

std::string hostname() {
  char buf[256] = {};
  if (gethostname(buf, sizeof buf - 1) != 0 || !buf[0]) return "localhost";
  return buf;
}

void setupLogging(const std::string& level, const std::string& format) {
  auto logger = spdlog::stderr_color_mt("mcpd");
  spdlog::set_default_logger(logger);
  spdlog::set_level(spdlog::level::from_str(level));
  if (format == "json") {
    spdlog::set_pattern(
        R"({"time":"%Y-%m-%dT%H:%M:%S.%e%z","level":"%l","logger":"%n","msg":"%v"})");
  } else {
    spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e%z %^%-5l%$ %v");
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"mcpd: the MiniMCP control plane daemon (API server, reconciler, gateway)"};
  std::string listen = "127.0.0.1:7443";
  std::string dataDir = minimcp::client::defaultDataDir();
  std::string storeUrl, node = hostname(), mcpServersDir = "mcp-servers", portRange = "20000-29999";
  std::string logLevel = "info", logFormat = "text", tlsCert, tlsKey, masterKeyFile;
  bool insecureHttp = false;
  int64_t watchHistory = 10000;
  app.add_option("--listen", listen, "HOST:PORT to serve on (port 0: any free port)")
      ->capture_default_str();
  app.add_option("--data-dir", dataDir, "state directory")->capture_default_str();
  app.add_option("--store", storeUrl,
                 "sqlite:PATH or postgresql://... (default sqlite:DATA_DIR/minimcp.db)");
  app.add_option("--node", node, "this node's name")->capture_default_str();
  app.add_option("--mcp-servers-dir", mcpServersDir, "where MCP server types live")
      ->capture_default_str();
  app.add_option("--port-range", portRange, "LO-HI ports for instance processes")
      ->capture_default_str()
      ->check([](const std::string& v) {
        static const std::regex re(R"(^([0-9]{1,5})-([0-9]{1,5})$)");
        std::smatch m;
        if (!std::regex_match(v, m, re)) return std::string("expected LO-HI");
        int lo = std::stoi(m[1]), hi = std::stoi(m[2]);
        if (lo < 1 || hi > 65535 || lo > hi) return std::string("bad port range");
        return std::string();
      });
  app.add_option("--log-level", logLevel, "trace|debug|info|warn|error")
      ->capture_default_str()
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "critical", "off"}));
  app.add_option("--log-format", logFormat, "text|json")
      ->capture_default_str()
      ->check(CLI::IsMember({"text", "json"}));
  app.add_option("--tls-cert", tlsCert,
                 "server certificate chain (PEM) instead of the generated one");
  app.add_option("--tls-key", tlsKey, "private key (PEM) for --tls-cert");
  app.add_flag("--insecure-http", insecureHttp,
               "serve plain HTTP (debugging only: kubectl sends no token over HTTP)");
  app.add_option("--master-key-file", masterKeyFile,
                 "master key for API key encryption (default DATA_DIR/master.key)");
  // Hidden (tests force 410 Gone with a short history); not part of the documented interface.
  app.add_option("--watch-history", watchHistory, "changes kept for watch resumption")
      ->group("")
      ->check(CLI::PositiveNumber);
  CLI11_PARSE(app, argc, argv);

  Listen l;
  try {
    l = parseListen(listen);
  } catch (const CLI::Error& e) {
    return app.exit(e);
  }
  setupLogging(logLevel, logFormat);

  // Signals are taken synchronously by sigwait below; every thread started after this inherits
  // the mask, so none of them is interrupted.
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGINT);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);
  signal(SIGPIPE, SIG_IGN);

  minimcp::server::ApiServerOptions opts;
  opts.host = l.host;
  opts.port = l.port;
  opts.dataDir = dataDir;
  opts.storeUrl = storeUrl;
  opts.node = node;
  opts.tlsCert = tlsCert;
  opts.tlsKey = tlsKey;
  opts.insecureHttp = insecureHttp;
  opts.watchHistory = watchHistory;
  minimcp::server::ApiServer server(opts);
  try {
    server.start();
  } catch (const std::exception& e) {
    spdlog::critical("cannot start: {}", e.what());
    return 1;
  }
  std::cout << "mcpd listening on " << server.url() << " (kubeconfig " << server.kubeconfigPath()
            << ")" << std::endl;

  int sig = 0;
  sigwait(&sigs, &sig);
  spdlog::info("received {}, stopping", sig == SIGTERM ? "SIGTERM" : "SIGINT");
  server.stop();
  spdlog::info("stopped");
  return 0;
}
