// Issue 5's acceptance end to end against the real mcpd (SQLite store, reconciler on): one
// instance of each API type (gmail, figma, github, slack), each pointed at its own fake upstream
// (a separate node process recording requests), serves every tool to a reference SDK Client
// through the gateway; the fakes saw the right requests carrying the decrypted APIKey value.
// And the filesystem stdio type lists a directory and reads a file through the gateway.
// The upstream URLs and the filesystem root are the admin's to open up: the test, as the admin,
// applies the shipped types with the endpoint variable in instanceEnv and the test's directory
// in allowedRoots; tenants get 422 for the same without that.
// Issue 12's client matrix: an SDK v2 client pinned to 2026-07-28, one negotiating (auto) and an
// SDK 1.32 client each call a tool of every shipped type through the gateway. Issue 12's gmail
// acceptance: OAuth 2.0 credentials in the APIKey, access tokens the instance refreshes itself;
// figma, github and slack take the same credentials.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <sstream>

#include "api/client/oauth2_login.h"
#include "api/crypto/encoding.h"
#include "api/model/yaml.h"
#include "tests/e2e/reconciler/reconciler_e2e.h"

namespace minimcp::e2e {
namespace {

constexpr auto kReadyTimeout = 40s;
constexpr const char* kNs = "types";

// Waits until every named instance in kNs is Ready; false (with a message) when one is not.
::testing::AssertionResult allReady(Cluster& c, const std::vector<std::string>& names) {
  std::string notReady;
  bool ok = pollUntil(
      [&] {
        notReady.clear();
        for (const auto& n : names) {
          json mi = c.instance(n, kNs);
          if (mi.is_null() || !isReady(mi)) notReady += (mi.is_null() ? n : mi.dump(2)) + "\n";
        }
        return notReady.empty();
      },
      kReadyTimeout);
  if (ok) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "not Ready:\n" << notReady << c.mcpd().log();
}

// The tool names the server offers, sorted.
std::vector<std::string> toolNames(const json& out) {
  std::vector<std::string> names =
      out.value("tools", json::array()).get<std::vector<std::string>>();
  std::sort(names.begin(), names.end());
  return names;
}

// A successful tool result's text, parsed as the JSON it carries.
json resultJson(const json& result) {
  EXPECT_FALSE(result.value("isError", true)) << result.dump(2);
  json parsed = json::parse(result.value("text", ""), nullptr, false);
  EXPECT_FALSE(parsed.is_discarded()) << result.dump(2);
  return parsed;
}

// What a fake must have seen for one call: method, path, query, body (null: not checked).
struct Expected {
  std::string method;
  std::string path;
  json query = json::object();
  json body = "";
};

// Compares the fake's requests with `expected` one by one, and checks that each carries
// `authValue` in `authHeader`: built from the key that only mcpctl's stdin ever held, so it
// arrived there decrypted by mcpd.
void expectRequests(const json& seen, const std::vector<Expected>& expected,
                    const std::string& authHeader, const std::string& authValue) {
  ASSERT_EQ(seen.size(), expected.size()) << seen.dump(2);
  for (size_t i = 0; i < expected.size(); ++i) {
    const json& r = seen[i];
    const Expected& e = expected[i];
    SCOPED_TRACE("request " + std::to_string(i) + ": " + e.method + " " + e.path);
    EXPECT_EQ(r.value("method", ""), e.method);
    EXPECT_EQ(r.value("path", ""), e.path);
    EXPECT_EQ(r["query"], e.query);
    if (!e.body.is_null()) {
      EXPECT_EQ(r["body"], e.body);
    }
    EXPECT_EQ(r["headers"].value(authHeader, ""), authValue) << r["headers"].dump();
  }
}

// The shipped manifest of `type` applied by the admin after `edit` changed its spec.
void applyShippedType(Cluster& c, const std::string& type, const std::function<void(json&)>& edit) {
  std::ifstream in(MINIMCP_SOURCE_DIR "/mcp-servers/" + type + "/mcptype.yaml");
  std::stringstream text;
  text << in.rdbuf();
  json doc = model::parseYamlDocuments(text.str()).at(0);
  edit(doc["spec"]);
  applyOk(c, doc.dump());
}

// `mcpctl apply` of `yaml` as the tenant holding `token` is refused with 422 naming `field`.
void expectRefused(Cluster& c, const std::string& token, const std::string& yaml,
                   const std::string& field) {
  auto r = c.mcpd().mcpctl({"apply", "-f", "-", "--token", token}, yaml);
  EXPECT_NE(r.exitCode, 0) << r.out;
  EXPECT_NE(r.err.find("is invalid"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(field), std::string::npos) << r.err;
}

struct TypeUnderTest {
  std::string type;
  std::string key;  // the APIKey value
  std::string endpointEnv;
  std::string endpointSuffix;  // appended to the fake's URL
};

std::string instanceYaml(const TypeUnderTest& t, const std::string& endpoint) {
  return "apiVersion: minimcp.io/v1alpha1\nkind: MCPInstance\nmetadata:\n  name: " + t.type +
         "-e2e\n  namespace: " + kNs + "\nspec:\n  type: " + t.type +
         "\n  ttl: 1h\n  keyRef: {name: " + t.type + "-key}\n  config: {timeout_ms: 10000}\n" +
         "  env:\n  - {name: " + t.endpointEnv + ", value: \"" + endpoint + "\"}\n";
}

TEST(TypesE2E, EveryToolOfEveryTypeReachesItsFakeUpstreamWithTheDecryptedKey) {
  const std::vector<TypeUnderTest> types = {
      {"gmail", "ya29.e2e-" + randomHex(12), "GMAIL_API_ENDPOINT", ""},
      {"figma", "figd_e2e-" + randomHex(12), "FIGMA_API_ENDPOINT", ""},
      {"github", "ghp_e2e" + randomHex(12), "GITHUB_API_URL", "/api/v3"},
      {"slack", "xoxb-e2e-" + randomHex(12), "SLACK_API_URL", "/api"},
  };
  testing::TempDir dir("types-e2e");
  std::map<std::string, std::unique_ptr<FakeUpstream>> fakes;
  for (const auto& t : types) fakes[t.type] = std::make_unique<FakeUpstream>(t.type, dir.path());
  Cluster c;  // declared after the fakes: its clean-up runs first, while they still answer
  for (auto& [_, fake] : fakes) fake->awaitListening();

  auto mt = c.mcpd().mcpctl({"get", "mcptypes", "-o", "wide"});
  ASSERT_EQ(mt.exitCode, 0) << mt.err;
  for (const auto& t : types) EXPECT_NE(mt.out.find(t.type), std::string::npos) << mt.out;

  const std::string token = tokenLine(c.mcpd().mcpctl({"token", "create", "--namespace", kNs}));
  // The shipped types keep the upstream to themselves: a tenant may not aim it at the host.
  expectRefused(c, token, instanceYaml(types[0], fakes["gmail"]->url()), "spec.env[0].name");
  for (const auto& t : types) {
    applyShippedType(c, t.type, [&](json& spec) { spec["instanceEnv"] = {t.endpointEnv}; });
  }

  std::vector<std::string> names;
  for (const auto& t : types) {
    auto r = c.mcpd().mcpctl(
        {"create", "apikey", t.type + "-key", "-n", kNs, "--type", t.type, "--from-stdin"}, t.key);
    ASSERT_EQ(r.exitCode, 0) << r.out << r.err;
    applyOk(c, instanceYaml(t, fakes[t.type]->url() + t.endpointSuffix));
    names.push_back(t.type + "-e2e");
  }
  ASSERT_TRUE(allReady(c, names));
  auto gatewayURL = [&](const std::string& type) {
    std::string url = c.instance(type + "-e2e", kNs)["status"].value("gatewayURL", "");
    EXPECT_EQ(url, c.mcpd().url() + "/mcp/" + kNs + "/" + type + "-e2e");
    return url;
  };

  {
    SCOPED_TRACE("gmail");
    json out = callTools(c, gatewayURL("gmail"), token, json::parse(R"([
      {"name": "list_messages", "arguments": {"maxResults": 2, "labelIds": ["INBOX"]}},
      {"name": "search_messages", "arguments": {"query": "from:alice newer_than:7d"}},
      {"name": "read_message", "arguments": {"id": "m1"}},
      {"name": "send_message", "arguments": {"to": "Bob <bob@example.com>",
        "subject": "Hello from e2e", "body": "Hi Bob,\nthe numbers.\n"}}])"));
    ASSERT_FALSE(out.is_null());
    EXPECT_EQ(toolNames(out), (std::vector<std::string>{"list_messages", "read_message",
                                                        "search_messages", "send_message"}));
    const json& res = out["results"];
    EXPECT_EQ(resultJson(res[0]), json::parse(R"({"messages": [{"id": "m1", "threadId": "t1"},
      {"id": "m2", "threadId": "t2"}], "resultSizeEstimate": 2, "nextPageToken": "page-2"})"));
    EXPECT_EQ(resultJson(res[1]), json::parse(R"({"messages": [{"id": "m2", "threadId": "t2"}],
      "resultSizeEstimate": 1})"));
    json msg = resultJson(res[2]);
    EXPECT_EQ(msg.value("id", ""), "m1");
    EXPECT_EQ(msg.value("subject", ""), "Quarterly report");
    EXPECT_EQ(msg.value("from", ""), "Alice <alice@example.com>");
    EXPECT_EQ(msg.value("body", ""), "Numbers are attached.\r\n");
    EXPECT_EQ(resultJson(res[3]),
              json::parse(R"({"id": "sent-1", "threadId": "t9", "labelIds": ["SENT"]})"));

    json seen = fakes["gmail"]->requests();
    expectRequests(
        seen,
        {{"GET", "/gmail/v1/users/me/messages", {{"maxResults", "2"}, {"labelIds", "INBOX"}}},
         {"GET",
          "/gmail/v1/users/me/messages",
          {{"q", "from:alice newer_than:7d"}, {"maxResults", "20"}}},
         {"GET", "/gmail/v1/users/me/messages/m1", {{"format", "full"}}},
         {"POST", "/gmail/v1/users/me/messages/send", json::object(), nullptr}},
        "authorization", "Bearer " + types[0].key);
    // send_message: an RFC 2822 message, base64url in `raw`.
    ASSERT_EQ(seen.size(), 4u);
    std::string raw = seen[3]["body"].value("raw", "");
    EXPECT_EQ(raw.find_first_of("+/="), std::string::npos) << "not base64url: " << raw;
    std::string mime = crypto::base64UrlDecode(raw).value_or("");
    EXPECT_NE(mime.find("To: Bob <bob@example.com>\r\n"), std::string::npos) << mime;
    EXPECT_NE(mime.find("Subject: Hello from e2e\r\n"), std::string::npos) << mime;
    EXPECT_NE(mime.find("Content-Type: text/plain; charset=UTF-8\r\n"), std::string::npos) << mime;
    EXPECT_NE(mime.find("Content-Transfer-Encoding: base64\r\n"), std::string::npos) << mime;
    auto blank = mime.find("\r\n\r\n");
    ASSERT_NE(blank, std::string::npos) << mime;
    std::string encodedBody;
    for (char ch : mime.substr(blank + 4)) {
      if (ch != '\r' && ch != '\n') encodedBody += ch;
    }
    EXPECT_EQ(crypto::base64Decode(encodedBody).value_or("<not base64>"),
              "Hi Bob,\r\nthe numbers.\r\n")
        << mime;
  }

  {
    SCOPED_TRACE("figma");
    json out = callTools(c, gatewayURL("figma"), token, json::parse(R"([
      {"name": "list_files", "arguments": {"project_id": "12345"}},
      {"name": "read_file", "arguments": {"file_key": "abcDEF123", "depth": 2}},
      {"name": "export_assets", "arguments": {"file_key": "abcDEF123", "ids": ["1:2", "3:4"],
        "format": "svg", "scale": 2}},
      {"name": "get_comments", "arguments": {"file_key": "abcDEF123"}}])"));
    ASSERT_FALSE(out.is_null());
    EXPECT_EQ(toolNames(out), (std::vector<std::string>{"export_assets", "get_comments",
                                                        "list_files", "read_file"}));
    const json& res = out["results"];
    EXPECT_EQ(resultJson(res[0]), json::parse(R"({"project": "Design System", "files": [
      {"key": "abcDEF123", "name": "Buttons", "lastModified": "2025-01-02T03:04:05Z",
       "thumbnailUrl": "https://t.example/1.png"}]})"));
    EXPECT_EQ(resultJson(res[1]), json::parse(R"({"key": "abcDEF123", "name": "Buttons",
      "lastModified": "2025-01-02T03:04:05Z", "version": "987", "editorType": "figma",
      "pages": [{"id": "0:1", "name": "Page 1", "type": "CANVAS",
                 "children": [{"id": "1:2", "name": "Primary", "type": "FRAME"}]}]})"));
    EXPECT_EQ(resultJson(res[2]), json::parse(R"({"format": "svg", "images": [
      {"id": "1:2", "url": "https://render.example/1%3A2.png"},
      {"id": "3:4", "url": "https://render.example/3%3A4.png"}]})"));
    EXPECT_EQ(resultJson(res[3]), json::parse(R"({"comments": [{"id": "c1",
      "message": "Looks good", "author": "carol", "createdAt": "2025-01-03T00:00:00Z",
      "nodeId": "1:2"}]})"));

    json seen = fakes["figma"]->requests();
    expectRequests(
        seen,
        {{"GET", "/v1/projects/12345/files"},
         {"GET", "/v1/files/abcDEF123", {{"depth", "2"}}},
         {"GET", "/v1/images/abcDEF123", {{"ids", "1:2,3:4"}, {"format", "svg"}, {"scale", "2"}}},
         {"GET", "/v1/files/abcDEF123/comments"}},
        "x-figma-token", types[1].key);
    for (const auto& r : seen) EXPECT_FALSE(r["headers"].contains("authorization")) << r.dump();
  }

  {
    SCOPED_TRACE("github");
    json out = callTools(c, gatewayURL("github"), token, json::parse(R"([
      {"name": "list_repos", "arguments": {}},
      {"name": "read_files", "arguments": {"owner": "octo", "repo": "hello", "path": "README.md",
        "ref": "main"}},
      {"name": "read_files", "arguments": {"owner": "octo", "repo": "hello", "path": "src"}},
      {"name": "create_issue", "arguments": {"owner": "octo", "repo": "hello",
        "title": "Bug from e2e", "body": "It broke", "labels": ["bug"]}},
      {"name": "manage_pr", "arguments": {"action": "list", "owner": "octo", "repo": "hello",
        "state": "open"}},
      {"name": "manage_pr", "arguments": {"action": "create", "owner": "octo", "repo": "hello",
        "title": "Feature", "head": "feat", "base": "main", "body": "Adds it"}},
      {"name": "manage_pr", "arguments": {"action": "merge", "owner": "octo", "repo": "hello",
        "pull_number": 7, "merge_method": "squash"}},
      {"name": "manage_pr", "arguments": {"action": "comment", "owner": "octo", "repo": "hello",
        "pull_number": 7, "body": "LGTM"}}])"));
    ASSERT_FALSE(out.is_null());
    EXPECT_EQ(toolNames(out),
              (std::vector<std::string>{"create_issue", "list_repos", "manage_pr", "read_files"}));
    const json& res = out["results"];
    EXPECT_EQ(resultJson(res[0]), json::parse(R"([{"full_name": "octo/hello", "private": false,
      "description": "Hi", "default_branch": "main", "html_url": "https://github.com/octo/hello",
      "updated_at": "2025-01-01T00:00:00Z"}])"));
    EXPECT_EQ(resultJson(res[1]), json::parse(R"({"type": "file", "path": "README.md", "size": 31,
      "sha": "abc123", "encoding": "utf-8", "content": "# hello\nA greeting repository.\n"})"));
    EXPECT_EQ(resultJson(res[2]), json::parse(R"({"type": "dir", "path": "src", "entries": [
      {"name": "lib", "type": "dir", "size": 0, "path": "src/lib"},
      {"name": "main.js", "type": "file", "size": 12, "path": "src/main.js"}]})"));
    EXPECT_EQ(resultJson(res[3]), json::parse(R"({"number": 42, "title": "Bug from e2e",
      "state": "open", "html_url": "https://github.com/octo/hello/issues/42"})"));
    EXPECT_EQ(resultJson(res[4]), json::parse(R"([{"number": 7, "title": "Feature",
      "state": "open", "draft": false, "user": "me", "head": "feat", "base": "main",
      "html_url": "https://github.com/octo/hello/pull/7"}])"));
    EXPECT_EQ(resultJson(res[5]), json::parse(R"({"number": 8, "title": "Feature",
      "state": "open", "draft": false, "user": "me", "head": "feat", "base": "main",
      "html_url": "https://github.com/octo/hello/pull/8"})"));
    EXPECT_EQ(resultJson(res[6]), json::parse(R"({"merged": true, "sha": "deadbeef",
      "message": "Pull Request successfully merged"})"));
    EXPECT_EQ(resultJson(res[7]), json::parse(R"({"id": 99,
      "html_url": "https://github.com/octo/hello/pull/7#issuecomment-99"})"));

    const std::string repo = "/api/v3/repos/octo/hello";
    expectRequests(
        fakes["github"]->requests(),
        {{"GET", "/api/v3/user/repos"},
         {"GET", repo + "/contents/README.md", {{"ref", "main"}}},
         {"GET", repo + "/contents/src"},
         {"POST",
          repo + "/issues",
          json::object(),
          {{"title", "Bug from e2e"}, {"body", "It broke"}, {"labels", json::array({"bug"})}}},
         {"GET", repo + "/pulls", {{"state", "open"}}},
         {"POST",
          repo + "/pulls",
          json::object(),
          {{"title", "Feature"}, {"head", "feat"}, {"base", "main"}, {"body", "Adds it"}}},
         {"PUT", repo + "/pulls/7/merge", json::object(), {{"merge_method", "squash"}}},
         {"POST", repo + "/issues/7/comments", json::object(), {{"body", "LGTM"}}}},
        "authorization", "token " + types[2].key);
  }

  {
    SCOPED_TRACE("slack");
    json out = callTools(c, gatewayURL("slack"), token, json::parse(R"([
      {"name": "list_channels", "arguments": {"limit": 50}},
      {"name": "send_message", "arguments": {"channel": "C0001", "text": "Deploy finished",
        "thread_ts": "1700000000.000100"}}])"));
    ASSERT_FALSE(out.is_null());
    EXPECT_EQ(toolNames(out), (std::vector<std::string>{"list_channels", "send_message"}));
    const json& res = out["results"];
    EXPECT_EQ(resultJson(res[0]), json::parse(R"({"channels": [
      {"id": "C0001", "name": "general", "is_private": false, "is_archived": false,
       "is_member": true, "num_members": 12, "topic": "Company-wide"},
      {"id": "C0002", "name": "random", "is_private": false, "is_archived": false,
       "is_member": false, "num_members": 3}], "next_cursor": "dGVhbTpDMDAwMw=="})"));
    EXPECT_EQ(resultJson(res[1]), json::parse(R"({"channel": "C0001", "ts": "1700000001.000200",
      "thread_ts": "1700000000.000100"})"));

    // auth.test is the integration guide's health check: once at start-up (and again after a
    // restart or every health_check_interval_ms), so it is checked apart from the tool calls.
    json authTests = json::array(), toolCalls = json::array();
    for (const auto& r : fakes["slack"]->requests()) {
      (r.value("path", "") == "/api/auth.test" ? authTests : toolCalls).push_back(r);
    }
    ASSERT_FALSE(authTests.empty()) << "no auth.test at start-up";
    expectRequests(authTests, std::vector<Expected>(authTests.size(), {"GET", "/api/auth.test"}),
                   "authorization", "Bearer " + types[3].key);
    expectRequests(
        toolCalls,
        {{"GET", "/api/conversations.list", {{"types", "public_channel"}, {"limit", "50"}}},
         {"POST",
          "/api/chat.postMessage",
          json::object(),
          {{"channel", "C0001"}, {"text", "Deploy finished"}, {"thread_ts", "1700000000.000100"}}}},
        "authorization", "Bearer " + types[3].key);
    if (toolCalls.size() == 2) {
      EXPECT_EQ(toolCalls[1]["headers"].value("content-type", ""),
                "application/json; charset=utf-8");
    }
  }

  // The value reached the upstreams only as a header: never shown by the API or mcpd's log.
  for (const auto& t : types) {
    auto shown = c.mcpd().mcpctl({"get", "apikey", t.type + "-key", "-n", kNs, "-o", "json"});
    EXPECT_EQ(shown.exitCode, 0) << shown.err;
    EXPECT_EQ(shown.out.find(t.key), std::string::npos) << shown.out;
  }
  const std::string log = c.mcpd().log();
  for (const auto& t : types) EXPECT_EQ(log.find(t.key), std::string::npos) << t.type;
}

// Today's clients in both protocol eras: an SDK v2 client pinned to 2026-07-28 (sessionless, no
// fallback), an SDK v2 client in auto mode (server/discover, falling back to initialize) and an
// SDK 1.32 client (2025 handshake) each call a tool of every shipped type through the gateway,
// and the API types' calls reach their recording fakes with the decrypted key.
TEST(TypesE2E, EachClientAndEraCallsEveryTypeThroughTheGateway) {
  const std::vector<TypeUnderTest> apiTypes = {
      {"gmail", "ya29.matrix-" + randomHex(12), "GMAIL_API_ENDPOINT", ""},
      {"figma", "figd_matrix-" + randomHex(12), "FIGMA_API_ENDPOINT", ""},
      {"github", "ghp_matrix" + randomHex(12), "GITHUB_API_URL", "/api/v3"},
      {"slack", "xoxb-matrix-" + randomHex(12), "SLACK_API_URL", "/api"},
  };
  testing::TempDir dir("types-matrix");
  std::map<std::string, std::unique_ptr<FakeUpstream>> fakes;
  for (const auto& t : apiTypes) fakes[t.type] = std::make_unique<FakeUpstream>(t.type, dir.path());
  testing::TempDir rootDir("types-matrix-fs");
  const std::string root = std::filesystem::canonical(rootDir.path()).string();
  { std::ofstream(root + "/notes.txt") << "read by every client\n"; }
  namespace fs = std::filesystem;
  fs::permissions(root, fs::perms::others_read | fs::perms::others_exec, fs::perm_options::add);
  fs::permissions(root + "/notes.txt", fs::perms::others_read, fs::perm_options::add);
  Cluster c;  // declared after the fakes: its clean-up runs first, while they still answer
  for (auto& [_, fake] : fakes) fake->awaitListening();

  const std::string token = tokenLine(c.mcpd().mcpctl({"token", "create", "--namespace", kNs}));
  for (const auto& t : apiTypes) {
    applyShippedType(c, t.type, [&](json& spec) { spec["instanceEnv"] = {t.endpointEnv}; });
    auto r = c.mcpd().mcpctl(
        {"create", "apikey", t.type + "-key", "-n", kNs, "--type", t.type, "--from-stdin"}, t.key);
    ASSERT_EQ(r.exitCode, 0) << r.out << r.err;
    applyOk(c, instanceYaml(t, fakes[t.type]->url() + t.endpointSuffix));
  }
  applyShippedType(c, "filesystem",
                   [&](json& spec) { spec["configConstraints"][0]["allowedRoots"] = {root}; });
  auto plainInstance = [&](const std::string& type, const std::string& config) {
    return "apiVersion: minimcp.io/v1alpha1\nkind: MCPInstance\nmetadata:\n  name: " + type +
           "-e2e\n  namespace: " + kNs + "\nspec:\n  type: " + type +
           "\n  ttl: 1h\n  config: " + config + "\n";
  };
  applyOk(c, plainInstance("echo", "{}"));
  applyOk(c, plainInstance("everything", "{}"));
  applyOk(c, plainInstance("filesystem", "{root: \"" + root + "\"}"));

  // One tool of each type and what its result must say.
  struct Probe {
    std::string type;
    json call;
    std::function<void(const json& result)> check;
  };
  const std::vector<Probe> probes = {
      {"echo",
       {{"name", "echo"}, {"arguments", {{"text", "every era"}}}},
       [](const json& r) { EXPECT_EQ(r.value("text", ""), "every era") << r.dump(); }},
      {"everything",
       {{"name", "echo"}, {"arguments", {{"message", "every era"}}}},
       [](const json& r) { EXPECT_EQ(r.value("text", ""), "Echo: every era") << r.dump(); }},
      {"filesystem",
       {{"name", "read_text_file"}, {"arguments", {{"path", root + "/notes.txt"}}}},
       [](const json& r) { EXPECT_EQ(r.value("text", ""), "read by every client\n") << r.dump(); }},
      {"gmail",
       {{"name", "read_message"}, {"arguments", {{"id", "m1"}}}},
       [](const json& r) { EXPECT_EQ(resultJson(r).value("subject", ""), "Quarterly report"); }},
      {"figma",
       {{"name", "get_comments"}, {"arguments", {{"file_key", "abcDEF123"}}}},
       [](const json& r) {
         EXPECT_EQ(resultJson(r)["comments"][0].value("message", ""), "Looks good");
       }},
      {"github",
       {{"name", "list_repos"}, {"arguments", json::object()}},
       [](const json& r) { EXPECT_EQ(resultJson(r)[0].value("full_name", ""), "octo/hello"); }},
      {"slack",
       {{"name", "list_channels"}, {"arguments", {{"limit", 50}}}},
       [](const json& r) { EXPECT_EQ(resultJson(r)["channels"][0].value("name", ""), "general"); }},
  };
  std::vector<std::string> names;
  for (const auto& p : probes) names.push_back(p.type + "-e2e");
  ASSERT_TRUE(allReady(c, names));

  struct Client {
    std::string name;
    std::string era;
    std::string protocolVersion;
  };
  const std::vector<Client> clients = {{"v2-pinned", "modern", "2026-07-28"},
                                       {"v2-auto", "modern", "2026-07-28"},
                                       {"sdk1", "legacy", "2025-11-25"}};
  for (const auto& client : clients) {
    for (const auto& p : probes) {
      SCOPED_TRACE(client.name + " → " + p.type);
      const std::string url = c.instance(p.type + "-e2e", kNs)["status"].value("gatewayURL", "");
      json out = callTools(c, url, token, json::array({p.call}), client.name);
      ASSERT_FALSE(out.is_null());
      EXPECT_EQ(out.value("era", ""), client.era);
      EXPECT_EQ(out.value("protocolVersion", ""), client.protocolVersion);
      auto tools = toolNames(out);
      EXPECT_NE(std::find(tools.begin(), tools.end(), p.call.value("name", "")), tools.end());
      ASSERT_EQ(out["results"].size(), 1u) << out.dump(2);
      EXPECT_FALSE(out["results"][0].value("isError", true)) << out.dump(2);
      p.check(out["results"][0]);
    }
  }

  // Each client's call reached the fake, with the key mcpd decrypted.
  const std::map<std::string, std::pair<std::string, std::string>> seenAs = {
      {"gmail", {"/gmail/v1/users/me/messages/m1", "authorization"}},
      {"figma", {"/v1/files/abcDEF123/comments", "x-figma-token"}},
      {"github", {"/api/v3/user/repos", "authorization"}},
      {"slack", {"/api/conversations.list", "authorization"}},
  };
  for (const auto& t : apiTypes) {
    SCOPED_TRACE(t.type);
    const auto& [path, header] = seenAs.at(t.type);
    size_t calls = 0;
    for (const auto& r : fakes[t.type]->requests()) {
      if (r.value("path", "") != path) continue;
      ++calls;
      EXPECT_NE(r["headers"].value(header, "").find(t.key), std::string::npos) << r.dump();
    }
    EXPECT_EQ(calls, clients.size());
  }
}

TEST(TypesE2E, FilesystemStdioTypeListsAndReadsAFileThroughTheGateway) {
  testing::TempDir rootDir("types-fs");
  // The server resolves symlinks (e.g. a /tmp that is one) and confines itself to the real path.
  const std::string root = std::filesystem::canonical(rootDir.path()).string();
  std::filesystem::create_directory(root + "/docs");
  { std::ofstream(root + "/notes.txt") << "hello from the filesystem type\n"; }
  // A root mcpd runs each instance as a uid of its own: the tree must be readable by others
  // (mkdtemp: 0700).
  namespace fs = std::filesystem;
  fs::permissions(root, fs::perms::others_read | fs::perms::others_exec, fs::perm_options::add);
  fs::permissions(root + "/notes.txt", fs::perms::others_read, fs::perm_options::add);
  Cluster c;
  auto filesYaml = [&](const std::string& name, const std::string& at) {
    return "apiVersion: minimcp.io/v1alpha1\nkind: MCPInstance\nmetadata:\n  name: " + name +
           "\n  namespace: " + std::string(kNs) +
           "\nspec:\n  type: filesystem\n  ttl: 1h\n  config: {root: \"" + at + "\"}\n";
  };
  const std::string token = tokenLine(c.mcpd().mcpctl({"token", "create", "--namespace", kNs}));
  // Only the instance's own directory until the admin lists a root; never the host's root.
  expectRefused(c, token, filesYaml("files", root), "spec.config.root");
  applyShippedType(c, "filesystem",
                   [&](json& spec) { spec["configConstraints"][0]["allowedRoots"] = {root}; });
  expectRefused(c, token, filesYaml("slash", "/"), "spec.config.root");
  applyOk(c, filesYaml("files", root));
  ASSERT_TRUE(allReady(c, {"files"}));
  const std::string url = c.instance("files", kNs)["status"].value("gatewayURL", "");
  ASSERT_EQ(url, c.mcpd().url() + "/mcp/" + kNs + "/files");

  json calls = {{{"name", "list_directory"}, {"arguments", {{"path", root}}}},
                {{"name", "read_text_file"}, {"arguments", {{"path", root + "/notes.txt"}}}},
                {{"name", "read_text_file"}, {"arguments", {{"path", "/etc/hostname"}}}}};
  json out = callTools(c, url, token, calls);
  ASSERT_FALSE(out.is_null());
  auto tools = toolNames(out);
  for (const char* t : {"list_directory", "read_text_file", "write_file"}) {
    EXPECT_NE(std::find(tools.begin(), tools.end(), t), tools.end()) << t;
  }
  const json& res = out["results"];
  EXPECT_FALSE(res[0].value("isError", true)) << res[0].dump(2);
  const std::string listing = res[0].value("text", "");
  EXPECT_NE(listing.find("[FILE] notes.txt"), std::string::npos) << listing;
  EXPECT_NE(listing.find("[DIR] docs"), std::string::npos) << listing;
  EXPECT_FALSE(res[1].value("isError", true)) << res[1].dump(2);
  EXPECT_EQ(res[1].value("text", ""), "hello from the filesystem type\n");
  // config.root confines it: a path outside is refused, not read.
  EXPECT_TRUE(res[2].value("isError", false)) << res[2].dump(2);
}

// Issue 12's Gmail acceptance: an APIKey holding OAuth 2.0 client credentials and a refresh
// token, a gmail instance that gets its own access tokens (3 s each) from a fake token endpoint
// and answers through at least three refreshes; the refresh token revoked → KeyAvailable=False
// (RefreshTokenRejected) and a Warning event, the process kept; no access token, refresh token or
// client secret in mcpd's log, the instance's log, events or any API response.
TEST(TypesE2E, GmailWithOAuth2CredentialsRefreshesItsTokensAndReportsARevokedRefreshToken) {
  testing::TempDir dir("types-oauth2");
  FakeUpstream fake("gmail-oauth2", dir.path());
  // The fake token endpoint is on loopback: the admin allows that.
  Cluster c({"--oauth2-allow-private-token-urls"});
  fake.awaitListening();
  const json provider = fake.control("GET", "/__fake/oauth2");
  const std::string clientSecret = provider.value("clientSecret", "");
  const std::string refreshToken = provider["refreshTokens"].at(0).get<std::string>();
  ASSERT_FALSE(clientSecret.empty());

  // The admin opens the endpoint to instances, lets the instance send its credentials to a
  // loopback http token URL (tests only), and probes every second.
  applyShippedType(c, "gmail", [&](json& spec) {
    spec["instanceEnv"] = {"GMAIL_API_ENDPOINT"};
    spec["env"].push_back({{"name", "OAUTH2_ALLOW_HTTP_LOOPBACK"}, {"value", "true"}});
    spec["healthCheck"]["periodSeconds"] = 1;
  });
  const std::string token = tokenLine(c.mcpd().mcpctl({"token", "create", "--namespace", kNs}));

  // Secrets from a file and stdin, never argv.
  const std::string secretFile = dir.path() + "/client-secret";
  { std::ofstream(secretFile) << clientSecret << "\n"; }
  auto created = c.mcpd().mcpctl(
      {"create", "apikey", "gmail-oauth", "-n", kNs, "--type", "gmail", "--token", token,
       "--oauth2-client-id", "e2e-client", "--oauth2-client-secret-file", secretFile,
       "--refresh-token-file", "-", "--token-url", fake.url() + "/token", "--scope",
       "https://www.googleapis.com/auth/gmail.readonly"},
      refreshToken + "\n");
  ASSERT_EQ(created.exitCode, 0) << created.out << created.err;
  // A token URL that would aim the credentials at another host over plain http: 422.
  auto refused =
      c.mcpd().mcpctl({"create", "apikey", "gmail-ssrf", "-n", kNs, "--type", "gmail", "--token",
                       token, "--oauth2-client-id", "e2e-client", "--refresh-token-file", "-",
                       "--token-url", "http://169.254.169.254/token"},
                      refreshToken);
  EXPECT_NE(refused.exitCode, 0);
  EXPECT_NE(refused.err.find("spec.oauth2.tokenURL"), std::string::npos) << refused.err;

  TypeUnderTest gmail{"gmail", "", "GMAIL_API_ENDPOINT", ""};
  std::string yaml = instanceYaml(gmail, fake.url());
  yaml.replace(yaml.find("gmail-key"), 9, "gmail-oauth");
  applyOk(c, yaml);
  ASSERT_TRUE(allReady(c, {"gmail-e2e"}));
  const std::string url = c.instance("gmail-e2e", kNs)["status"].value("gatewayURL", "");

  auto issued = [&] { return fake.control("GET", "/__fake/oauth2").value("refreshGrants", 0); };
  const json list = json::parse(R"([{"name": "list_messages", "arguments": {"maxResults": 2}}])");
  // Ready may come before the first token (the server listens first): wait for that one too.
  ASSERT_TRUE(pollUntil([&] { return issued() >= 1; }, 15s)) << c.mcpd().log();
  const int first = issued();
  for (int n = 1; n <= 3; ++n) {
    SCOPED_TRACE("after refresh " + std::to_string(n));
    ASSERT_TRUE(pollUntil([&] { return issued() >= first + n; }, 15s)) << c.mcpd().log();
    json out = callTools(c, url, token, list);
    ASSERT_FALSE(out.is_null());
    EXPECT_EQ(resultJson(out["results"][0])["messages"][0]["id"], "m1");
  }
  // Every Gmail request carried a token the provider had issued, and none was refused.
  json issuedTokens = fake.control("GET", "/__fake/oauth2")["issued"];
  for (const auto& r : fake.requests()) {
    if (r.value("path", "").rfind("/gmail/", 0) != 0) continue;
    const std::string auth = r["headers"].value("authorization", "");
    EXPECT_NE(std::find(issuedTokens.begin(), issuedTokens.end(), auth.substr(7)),
              issuedTokens.end())
        << auth;
  }

  // The provider revokes the refresh token: the next refresh is refused for good.
  fake.control("POST", "/__fake/oauth2/revoke");
  json mi;
  ASSERT_TRUE(pollUntil(
      [&] {
        mi = c.instance("gmail-e2e", kNs);
        return conditionOf(mi, "KeyAvailable").value("reason", "") == "RefreshTokenRejected";
      },
      20s))
      << mi.dump(2) << c.mcpd().log();
  EXPECT_EQ(conditionOf(mi, "KeyAvailable").value("status", ""), "False");
  EXPECT_EQ(conditionOf(mi, "Ready").value("reason", ""), "RefreshTokenRejected");
  EXPECT_EQ(mi["status"].value("phase", ""), "Degraded");
  const int pid = mi["status"].value("pid", 0);
  // The controller records the event after the status write that showed the condition.
  EXPECT_TRUE(pollUntil(
      [&] {
        for (const auto& e : c.eventsFor(mi["metadata"].value("uid", ""), kNs)) {
          if (e.value("reason", "") == "RefreshTokenRejected" && e.value("type", "") == "Warning") {
            return true;
          }
        }
        return false;
      },
      10s));
  // No crash loop: the process that reported it is the one that runs, never restarted.
  EXPECT_TRUE(processRunning(pid));
  EXPECT_EQ(mi["status"].value("restartCount", -1), 0);

  // No secret anywhere a user or an operator reads.
  std::vector<std::string> secrets = {refreshToken, clientSecret};
  const json allIssued = fake.control("GET", "/__fake/oauth2")["issued"];
  for (const auto& t : allIssued) secrets.push_back(t);
  ASSERT_GE(secrets.size(), 6u);
  const std::string everything =
      c.mcpd().log() + c.mcpd().mcpctl({"logs", "gmail-e2e", "-n", kNs}).out +
      c.mcpd().mcpctl({"get", "apikey", "gmail-oauth", "-n", kNs, "-o", "json"}).out +
      c.mcpd().mcpctl({"get", "mi", "gmail-e2e", "-n", kNs, "-o", "yaml"}).out +
      c.mcpd().mcpctl({"describe", "mi", "gmail-e2e", "-n", kNs}).out +
      c.mcpd().mcpctl({"events", "-n", kNs}).out + created.out + created.err;
  EXPECT_NE(everything.find("oauth2 access token refreshed"), std::string::npos);
  for (const auto& s : secrets) EXPECT_EQ(everything.find(s), std::string::npos) << s;
  auto key = c.mcpd().mcpctl({"get", "apikey", "gmail-oauth", "-n", kNs, "-o", "json"});
  json shown = json::parse(key.out, nullptr, false);
  EXPECT_EQ(shown["status"]["oauth2"]["clientID"], "e2e-client") << key.out;
}

// A provider that rotates refresh tokens (each refresh answers a new one and invalidates the one
// it was given): the gmail instance reports every new one to mcpd, which seals it into the APIKey
// as its next version without replacing the process. Killed, the instance's next process starts
// with the stored token, which the provider still takes: KeyAvailable True, a tool call answers.
// No refresh token, access token or client secret in any log, event or response.
TEST(TypesE2E, GmailWithRotatingRefreshTokensStoresEachOneAndSurvivesARestart) {
  testing::TempDir dir("types-oauth2-rotate");
  FakeUpstream fake("gmail-oauth2", dir.path());
  Cluster c({"--oauth2-allow-private-token-urls"});
  fake.awaitListening();
  // Access tokens for 30 s: the first refresh (at start) rotates, the next is 20 s away.
  fake.control("POST", "/__fake/oauth2/rotate?ttl=30");
  const json provider = fake.control("GET", "/__fake/oauth2");
  const std::string clientSecret = provider.value("clientSecret", "");
  const std::string refreshToken = provider["refreshTokens"].at(0).get<std::string>();
  applyShippedType(c, "gmail", [&](json& spec) {
    spec["instanceEnv"] = {"GMAIL_API_ENDPOINT"};
    spec["env"].push_back({{"name", "OAUTH2_ALLOW_HTTP_LOOPBACK"}, {"value", "true"}});
    spec["healthCheck"]["periodSeconds"] = 1;
  });
  const std::string token = tokenLine(c.mcpd().mcpctl({"token", "create", "--namespace", kNs}));
  const std::string secretFile = dir.path() + "/client-secret";
  { std::ofstream(secretFile) << clientSecret << "\n"; }
  auto created = c.mcpd().mcpctl(
      {"create", "apikey", "gmail-oauth", "-n", kNs, "--type", "gmail", "--token", token,
       "--oauth2-client-id", "e2e-client", "--oauth2-client-secret-file", secretFile,
       "--refresh-token-file", "-", "--token-url", fake.url() + "/token"},
      refreshToken + "\n");
  ASSERT_EQ(created.exitCode, 0) << created.out << created.err;
  TypeUnderTest gmail{"gmail", "", "GMAIL_API_ENDPOINT", ""};
  std::string yaml = instanceYaml(gmail, fake.url());
  yaml.replace(yaml.find("gmail-key"), 9, "gmail-oauth");
  applyOk(c, yaml);
  ASSERT_TRUE(allReady(c, {"gmail-e2e"}));
  const std::string url = c.instance("gmail-e2e", kNs)["status"].value("gatewayURL", "");

  auto apiKey = [&] {
    return json::parse(
        c.mcpd().mcpctl({"get", "apikey", "gmail-oauth", "-n", kNs, "-o", "json"}).out, nullptr,
        false);
  };
  // The provider's one valid refresh token is the stored one: its hint, at version 2.
  auto storedIsCurrent = [&](int version) {
    const json p = fake.control("GET", "/__fake/oauth2");
    const json k = apiKey();
    if (p["refreshTokens"].size() != 1 || !k.is_object()) return false;
    const std::string current = p["refreshTokens"].at(0).get<std::string>();
    return k["status"].value("version", 0) == version &&
           k["status"].value("hint", "") == "…" + current.substr(current.size() - 4);
  };
  ASSERT_TRUE(pollUntil([&] { return storedIsCurrent(2); }, 20s))
      << apiKey().dump(2) << c.mcpd().log();
  json mi = c.instance("gmail-e2e", kNs);
  const int pid = mi["status"].value("pid", 0);
  // Not replaced for the version it reported: the same process, current with version 2.
  EXPECT_TRUE(pollUntil(
      [&] {
        mi = c.instance("gmail-e2e", kNs);
        return mi["status"]["launchedWith"].value("keyVersion", 0) == 2;
      },
      10s))
      << mi.dump(2);
  EXPECT_EQ(mi["status"].value("pid", 0), pid);
  EXPECT_FALSE(mi["status"].contains("previousProcess")) << mi.dump(2);
  EXPECT_EQ(mi["status"].value("restartCount", -1), 0);
  const json list = json::parse(R"([{"name": "list_messages", "arguments": {"maxResults": 2}}])");
  json out = callTools(c, url, token, list);
  ASSERT_FALSE(out.is_null());
  EXPECT_EQ(resultJson(out["results"][0])["messages"][0]["id"], "m1");

  // The process dies: its successor starts with the stored (rotated) refresh token.
  ASSERT_EQ(::kill(pid, SIGKILL), 0);
  ASSERT_TRUE(pollUntil(
      [&] {
        mi = c.instance("gmail-e2e", kNs);
        const int now = mi["status"].value("pid", 0);
        return now != 0 && now != pid && conditionOf(mi, "Ready").value("status", "") == "True";
      },
      30s))
      << mi.dump(2) << c.mcpd().log();
  // Its first refresh rotated again, and that one is stored too (version 3), still no replacement.
  ASSERT_TRUE(pollUntil([&] { return storedIsCurrent(3); }, 20s)) << apiKey().dump(2);
  mi = c.instance("gmail-e2e", kNs);
  EXPECT_EQ(conditionOf(mi, "KeyAvailable").value("status", ""), "True") << mi.dump(2);
  EXPECT_EQ(mi["status"].value("restartCount", -1), 1) << "the kill, nothing else";
  out = callTools(c, url, token, list);
  ASSERT_FALSE(out.is_null());
  EXPECT_EQ(resultJson(out["results"][0])["messages"][0]["id"], "m1");
  EXPECT_EQ(fake.control("GET", "/__fake/oauth2").value("staleGrants", -1), 0)
      << "never a refresh with a token the provider had invalidated";
  // Each stored version is recorded as an event on the APIKey.
  int rotations = 0;
  for (const auto& e : c.eventsFor(apiKey()["metadata"].value("uid", ""), kNs)) {
    rotations += e.value("reason", "") == "RefreshTokenRotated";
  }
  EXPECT_EQ(rotations, 2);

  std::vector<std::string> secrets = {refreshToken, clientSecret};
  const json provided = fake.control("GET", "/__fake/oauth2");
  for (const auto& t : provided["allRefreshTokens"]) secrets.push_back(t);
  for (const auto& t : provided["issued"]) secrets.push_back(t);
  ASSERT_GE(secrets.size(), 6u);
  const std::string everything =
      c.mcpd().log() + c.mcpd().mcpctl({"logs", "gmail-e2e", "-n", kNs}).out +
      c.mcpd().mcpctl({"get", "apikey", "gmail-oauth", "-n", kNs, "-o", "yaml"}).out +
      c.mcpd().mcpctl({"get", "mi", "gmail-e2e", "-n", kNs, "-o", "yaml"}).out +
      c.mcpd().mcpctl({"describe", "apikey", "gmail-oauth", "-n", kNs}).out +
      c.mcpd().mcpctl({"events", "-n", kNs}).out + out.dump();
  EXPECT_NE(everything.find("oauth2 rotated refresh token stored by mcpd"), std::string::npos);
  for (const auto& s : secrets) EXPECT_EQ(everything.find(s), std::string::npos) << s;
}

// figma, github and slack take the same OAuth 2.0 credentials as gmail (Figma OAuth apps, GitHub
// App user tokens and Slack token rotation all hand out refresh tokens): each instance keeps
// its access token fresh and sends it as Bearer to an API that accepts only live tokens, never
// the credentials themselves; a revoked refresh token ends in KeyAvailable=False. Slack's key
// says clientAuth: basic, and its refresh grants authenticate with HTTP Basic only.
TEST(TypesE2E, FigmaGithubAndSlackRefreshTheirOAuth2AccessTokensAndReportARevokedRefreshToken) {
  testing::TempDir dir("types-oauth2-all");
  struct Case {
    TypeUnderTest type;
    json call;
    std::function<void(const json&)> check;
    std::unique_ptr<FakeUpstream> fake;
  };
  std::vector<Case> cases;
  auto add = [&](TypeUnderTest type, json call, std::function<void(const json&)> check) {
    auto fake = std::make_unique<FakeUpstream>(type.type + "-oauth2", dir.path());
    cases.push_back({std::move(type), std::move(call), std::move(check), std::move(fake)});
  };
  add({"figma", "", "FIGMA_API_ENDPOINT", ""},
      {{"name", "get_comments"}, {"arguments", {{"file_key", "abcDEF123"}}}}, [](const json& r) {
        EXPECT_EQ(resultJson(r)["comments"][0].value("message", ""), "Looks good");
      });
  add({"github", "", "GITHUB_API_URL", "/api/v3"},
      {{"name", "list_repos"}, {"arguments", json::object()}},
      [](const json& r) { EXPECT_EQ(resultJson(r)[0].value("full_name", ""), "octo/hello"); });
  add({"slack", "", "SLACK_API_URL", "/api"},
      {{"name", "list_channels"}, {"arguments", {{"limit", 50}}}},
      [](const json& r) { EXPECT_EQ(resultJson(r)["channels"][0].value("name", ""), "general"); });
  // The fake token endpoints are on loopback: the admin allows that.
  Cluster c({"--oauth2-allow-private-token-urls"});
  const std::string token = tokenLine(c.mcpd().mcpctl({"token", "create", "--namespace", kNs}));
  std::vector<std::string> names;
  for (auto& k : cases) {
    SCOPED_TRACE(k.type.type);
    k.fake->awaitListening();
    const json provider = k.fake->control("GET", "/__fake/oauth2");
    const std::string secretFile = dir.path() + "/" + k.type.type + "-client-secret";
    { std::ofstream(secretFile) << provider.value("clientSecret", "") << "\n"; }
    applyShippedType(c, k.type.type, [&](json& spec) {
      spec["instanceEnv"] = {k.type.endpointEnv};
      spec["env"].push_back({{"name", "OAUTH2_ALLOW_HTTP_LOOPBACK"}, {"value", "true"}});
      spec["healthCheck"]["periodSeconds"] = 1;
    });
    // Slack's key authenticates its client with HTTP Basic (client_secret_basic), the others
    // say post (the default) outright.
    const std::string clientAuth = k.type.type == "slack" ? "basic" : "post";
    auto created = c.mcpd().mcpctl(
        {"create", "apikey", k.type.type + "-key", "-n", kNs, "--type", k.type.type, "--token",
         token, "--oauth2-client-id", "e2e-client", "--oauth2-client-secret-file", secretFile,
         "--refresh-token-file", "-", "--token-url", k.fake->url() + "/token",
         "--oauth2-client-auth", clientAuth},
        provider["refreshTokens"].at(0).get<std::string>() + "\n");
    ASSERT_EQ(created.exitCode, 0) << created.out << created.err;
    applyOk(c, instanceYaml(k.type, k.fake->url() + k.type.endpointSuffix));
    names.push_back(k.type.type + "-e2e");
  }
  ASSERT_TRUE(allReady(c, names));

  auto grants = [](const FakeUpstream& f) {
    return f.control("GET", "/__fake/oauth2").value("refreshGrants", 0);
  };
  for (auto& k : cases) {
    SCOPED_TRACE(k.type.type);
    const std::string url = c.instance(k.type.type + "-e2e", kNs)["status"].value("gatewayURL", "");
    // Tokens live 3 s: two refreshes after the first token, a call after each.
    ASSERT_TRUE(pollUntil([&] { return grants(*k.fake) >= 1; }, 15s)) << c.mcpd().log();
    const int first = grants(*k.fake);
    for (int n = 1; n <= 2; ++n) {
      ASSERT_TRUE(pollUntil([&] { return grants(*k.fake) >= first + n; }, 15s)) << c.mcpd().log();
      json out = callTools(c, url, token, json::array({k.call}));
      ASSERT_FALSE(out.is_null());
      k.check(out["results"][0]);
    }
    // Every API request carried an access token the provider issued, as Bearer.
    const json provider = k.fake->control("GET", "/__fake/oauth2");
    const json& issued = provider["issued"];
    int apiCalls = 0;
    for (const auto& r : k.fake->requests()) {
      if (r.value("path", "") == "/token") continue;
      ++apiCalls;
      const std::string auth = r["headers"].value("authorization", "");
      ASSERT_EQ(auth.rfind("Bearer ", 0), 0u) << r.dump();
      EXPECT_NE(std::find(issued.begin(), issued.end(), auth.substr(7)), issued.end()) << auth;
      EXPECT_EQ(r["headers"].dump().find(provider.value("clientSecret", "-")), std::string::npos);
    }
    EXPECT_GE(apiCalls, 2);
    // Every refresh grant authenticated the client as its key says.
    const json& auth = provider["clientAuth"];
    const bool basic = k.type.type == "slack";
    EXPECT_GE(auth.value(basic ? "basic" : "post", 0), 3) << auth;
    EXPECT_EQ(auth.value(basic ? "post" : "basic", -1), 0) << auth;
  }

  // Each provider revokes its refresh tokens: KeyAvailable=False, no secret shown anywhere.
  for (auto& k : cases) k.fake->control("POST", "/__fake/oauth2/revoke");
  for (auto& k : cases) {
    SCOPED_TRACE(k.type.type);
    json mi;
    ASSERT_TRUE(pollUntil(
        [&] {
          mi = c.instance(k.type.type + "-e2e", kNs);
          return conditionOf(mi, "KeyAvailable").value("reason", "") == "RefreshTokenRejected";
        },
        20s))
        << mi.dump(2) << c.mcpd().log();
    EXPECT_EQ(conditionOf(mi, "KeyAvailable").value("status", ""), "False");
    const json provider = k.fake->control("GET", "/__fake/oauth2");
    std::vector<std::string> secrets = {provider.value("clientSecret", "-"),
                                        provider["refreshTokens"].at(0).get<std::string>()};
    for (const auto& t : provider["issued"]) secrets.push_back(t);
    const std::string shown =
        c.mcpd().log() + c.mcpd().mcpctl({"logs", k.type.type + "-e2e", "-n", kNs}).out +
        c.mcpd().mcpctl({"describe", "mi", k.type.type + "-e2e", "-n", kNs}).out +
        c.mcpd().mcpctl({"get", "apikey", k.type.type + "-key", "-n", kNs, "-o", "json"}).out;
    for (const auto& s : secrets) EXPECT_EQ(shown.find(s), std::string::npos) << s;
  }
}

// `mcpctl oauth2 login`: the authorization-code flow with PKCE against the fake provider, the
// test playing the browser (GET the printed URL, follow the redirect to mcpctl's loopback
// listener); the refresh token lands in a new APIKey, which an instance then uses.
TEST(TypesE2E, OAuth2LoginStoresTheRefreshTokenOfACodeFlowWithPkce) {
  testing::TempDir dir("types-login");
  FakeUpstream fake("gmail-oauth2", dir.path());
  Cluster c({"--oauth2-allow-private-token-urls"});  // the fake provider is on loopback
  fake.awaitListening();
  const std::string secretFile = dir.path() + "/client-secret";
  { std::ofstream(secretFile) << fake.control("GET", "/__fake/oauth2").value("clientSecret", ""); }

  const std::string errPath = dir.path() + "/login.err";
  const std::string outPath = dir.path() + "/login.out";
  int errFd = open(errPath.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  int outFd = open(outPath.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  pid_t login = testing::spawnProcess({c.mcpd().binDir() + "/mcpctl",
                                       "--kubeconfig",
                                       c.mcpd().kubeconfig(),
                                       "oauth2",
                                       "login",
                                       "gmail-login",
                                       "-n",
                                       kNs,
                                       "--type",
                                       "gmail",
                                       "--auth-url",
                                       fake.url() + "/authorize",
                                       "--token-url",
                                       fake.url() + "/token",
                                       "--client-id",
                                       "e2e-client",
                                       "--client-secret-file",
                                       secretFile,
                                       "--scope",
                                       "https://www.googleapis.com/auth/gmail.readonly",
                                       "--timeout",
                                       "30s"},
                                      -1, outFd, errFd);
  close(errFd);
  close(outFd);

  // The URL mcpctl prints for the user to open.
  std::string authUrl;
  ASSERT_TRUE(pollUntil(
      [&] {
        std::string err = testing::readFileOr(errPath);
        size_t at = err.find(fake.url() + "/authorize?");
        size_t end = at == std::string::npos ? at : err.find('\n', at);
        if (end == std::string::npos) return false;
        authUrl = err.substr(at, end - at);
        return true;
      },
      15s))
      << testing::readFileOr(errPath);
  EXPECT_NE(authUrl.find("code_challenge_method=S256"), std::string::npos) << authUrl;
  EXPECT_NE(authUrl.find("redirect_uri=http%3A%2F%2F127.0.0.1%3A"), std::string::npos) << authUrl;

  // The browser: the provider consents at once and redirects to mcpctl's loopback listener.
  auto get = [](const std::string& url) {
    auto [server, target] = client::splitUrl(url);
    client::ConnectionConfig cfg;
    cfg.server = server;
    client::HttpClient http(cfg);
    return http.request("GET", target, "", {}, 10s);
  };
  client::Response consent = get(authUrl);
  ASSERT_EQ(consent.status, 302) << consent.body;
  const std::string callback = consent.headers["location"];
  ASSERT_EQ(callback.rfind("http://127.0.0.1:", 0), 0u) << callback;
  // A forged redirect (wrong state) would be refused; this one is the provider's.
  client::Response landed = get(callback);
  EXPECT_EQ(landed.status, 200);
  EXPECT_NE(landed.body.find("signed in"), std::string::npos) << landed.body;

  const int status = testing::waitPid(login, 30s);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << testing::readFileOr(errPath);
  EXPECT_EQ(testing::readFileOr(outPath), "apikey.minimcp.io/gmail-login created\n");
  const json provider = fake.control("GET", "/__fake/oauth2");
  EXPECT_EQ(provider.value("codeGrants", 0), 1);
  ASSERT_EQ(provider["refreshTokens"].size(), 2u);  // the fake's first one, and the code's
  const std::string issued = provider["refreshTokens"][1];
  const std::string printed = testing::readFileOr(errPath) + testing::readFileOr(outPath);
  EXPECT_EQ(printed.find(issued), std::string::npos);
  EXPECT_EQ(printed.find(provider.value("clientSecret", "-")), std::string::npos);

  auto shown = c.mcpd().mcpctl({"get", "apikey", "gmail-login", "-n", kNs, "-o", "json"});
  ASSERT_EQ(shown.exitCode, 0) << shown.err;
  json key = json::parse(shown.out);
  EXPECT_EQ(key["status"]["oauth2"]["tokenURL"], fake.url() + "/token");
  EXPECT_EQ(key["status"]["hint"], "…" + issued.substr(issued.size() - 4));
  EXPECT_EQ(shown.out.find(issued), std::string::npos);

  // The stored credentials work: an instance refreshes with the code flow's refresh token.
  applyShippedType(c, "gmail", [&](json& spec) {
    spec["instanceEnv"] = {"GMAIL_API_ENDPOINT"};
    spec["env"].push_back({{"name", "OAUTH2_ALLOW_HTTP_LOOPBACK"}, {"value", "true"}});
  });
  TypeUnderTest gmail{"gmail", "", "GMAIL_API_ENDPOINT", ""};
  std::string yaml = instanceYaml(gmail, fake.url());
  yaml.replace(yaml.find("gmail-key"), 9, "gmail-login");
  applyOk(c, yaml);
  ASSERT_TRUE(allReady(c, {"gmail-e2e"}));
  const std::string token = tokenLine(c.mcpd().mcpctl({"token", "create", "--namespace", kNs}));
  json out = callTools(c, c.instance("gmail-e2e", kNs)["status"].value("gatewayURL", ""), token,
                       json::parse(R"([{"name": "list_messages", "arguments": {}}])"));
  ASSERT_FALSE(out.is_null());
  EXPECT_EQ(resultJson(out["results"][0])["messages"][0]["id"], "m1");
}

}  // namespace
}  // namespace minimcp::e2e
