#include "api/model/env_policy.h"

#include <algorithm>
#include <string_view>

#include "api/util/ascii.h"

namespace minimcp::model {

namespace {

// Variables that change how a process loads or runs code, or where it finds its libraries,
// files, certificates or network: in the hands of a tenant each one runs the tenant's code in
// its instance or points the instance at what it should not reach. Starts from glibc's own list
// of variables dropped for setuid programs (UNSECURE_ENVVARS) and adds the shells, the language
// runtimes, TLS trust and proxies. Matched case-insensitively (curl reads http_proxy).
constexpr std::string_view kLoaderNames[] = {
    // where programs, the home directory and temporary files are found
    "PATH", "HOME", "TMPDIR", "TMP", "TEMP", "SHELL", "CDPATH",
    // files and settings a shell runs at start
    "ENV", "SHELLOPTS", "BASHOPTS", "PS4", "IFS", "GLOBIGNORE", "PROMPT_COMMAND",
    // glibc: charset converters, locales, message catalogs, tunables, resolver, zoneinfo
    "GCONV_PATH", "GETCONF_DIR", "LOCPATH", "NLSPATH", "NIS_PATH", "GLIBC_TUNABLES", "HOSTALIASES",
    "LOCALDOMAIN", "RES_OPTIONS", "RESOLV_HOST_CONF", "TZDIR",
    // the JVM
    "JAVA_TOOL_OPTIONS", "_JAVA_OPTIONS", "JDK_JAVA_OPTIONS", "CLASSPATH",
    // TLS trust
    "CURL_CA_BUNDLE", "REQUESTS_CA_BUNDLE",
    // where traffic goes
    "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "FTP_PROXY"};

constexpr std::string_view kLoaderPrefixes[] = {
    "LD_",          // the dynamic loader: LD_PRELOAD, LD_LIBRARY_PATH, LD_AUDIT, ...
    "DYLD_",        // its macOS spelling
    "MALLOC_",      // glibc's allocator (MALLOC_TRACE writes a file)
    "BASH_",        // BASH_ENV, BASH_XTRACEFD, BASH_FUNC_* (exported functions)
    "NODE_",        // NODE_OPTIONS, NODE_PATH, NODE_EXTRA_CA_CERTS, NODE_ENV (mcpd's), ...
    "UV_",          // libuv, node's event loop
    "NPM_CONFIG_",  // npm
    "COREPACK_",    // node's package-manager shims
    "PYTHON",       // PYTHONPATH, PYTHONSTARTUP, PYTHONHOME, ...
    "PERL",         // PERL5LIB, PERL5OPT, PERLLIB, ...
    "RUBY",         // RUBYOPT, RUBYLIB
    "GEM_",         // Ruby gems
    "BUNDLE_",      // Ruby bundler
    "LUA_",         // LUA_PATH, LUA_CPATH, LUA_INIT
    "SSL_CERT_",    // SSL_CERT_FILE, SSL_CERT_DIR: which CAs are trusted
    "OPENSSL_",     // OPENSSL_CONF loads engines and providers
    "XDG_",         // where configuration, data and caches are read from
    "GIT_",         // GIT_SSH, GIT_EXEC_PATH, GIT_CONFIG_*
};

}  // namespace

const std::vector<std::string>& alwaysAllowedInstanceEnv() {
  static const std::vector<std::string> names = {"LOG_LEVEL", "DEBUG"};
  return names;
}

std::optional<std::string> loaderEnvReason(const std::string& name) {
  const std::string n = asciiUpper(name);
  const bool listed =
      std::find(std::begin(kLoaderNames), std::end(kLoaderNames), n) != std::end(kLoaderNames) ||
      std::any_of(std::begin(kLoaderPrefixes), std::end(kLoaderPrefixes),
                  [&](std::string_view p) { return n.starts_with(p); });
  if (!listed) return std::nullopt;
  return "may not be set: it changes how the instance process loads or runs code, or where it "
         "finds its files, certificates or network";
}

std::optional<std::string> reservedEnvReason(const std::string& name, const std::string& authEnv) {
  const std::string n = asciiUpper(name);
  if (n == "PORT" || n.starts_with("MCP_") || (!authEnv.empty() && n == asciiUpper(authEnv))) {
    return "is reserved: mcpd sets it for every instance";
  }
  return std::nullopt;
}

std::optional<std::string> instanceEnvRefusal(const std::string& name, const MCPTypeSpec& type,
                                              const std::string& typeName) {
  if (auto why = loaderEnvReason(name)) return why;
  if (auto why = reservedEnvReason(name, type.auth.env)) return why;
  const auto& always = alwaysAllowedInstanceEnv();
  if (std::find(always.begin(), always.end(), name) != always.end() ||
      std::find(type.instanceEnv.begin(), type.instanceEnv.end(), name) != type.instanceEnv.end()) {
    return std::nullopt;
  }
  std::string allowed;
  for (const auto* list : {&always, &type.instanceEnv}) {
    for (const auto& n : *list) allowed += (allowed.empty() ? "" : ", ") + n;
  }
  return "is not allowed by MCPType \"" + typeName + "\": its instances may set " + allowed +
         " (the type's spec.instanceEnv lists the names beyond LOG_LEVEL and DEBUG)";
}

}  // namespace minimcp::model
