#include "api/server/auth.h"

#include <mutex>

#include "api/crypto/instance_token.h"
#include "api/model/json_fields.h"
#include "api/model/kinds.h"
#include "api/model/strategy.h"
#include "api/registry/guaranteed_update.h"
#include "api/util/ascii.h"
#include "api/util/clock.h"
#include "api/util/random.h"

namespace minimcp::server {

namespace {
Identity identityOf(const nlohmann::json& record) {
  Identity id;
  const auto& spec = record.value("spec", nlohmann::json::object());
  id.role =
      spec.value("role", "admin") == "admin" ? Identity::Role::Admin : Identity::Role::Namespace;
  id.ns = spec.value("namespace", "");
  id.name = record["metadata"].value("name", "");
  return id;
}
}  // namespace

StoreTokenAuthenticator::StoreTokenAuthenticator(store::Store& store) : store_(store) {
  // Subscribe before listing so no change between the two is missed; upsert is idempotent.
  subscription_ = store_.subscribe([this](const store::WatchEvent& ev) {
    if (ev.resource != kTokensResource) return;
    if (ev.type == store::EventType::Deleted) {
      erase(ev.object["metadata"].value("name", ""));
    } else {
      upsert(ev.object);
    }
  });
  for (const auto& record : store_.list(kTokensResource, {}).items) upsert(record);
}

StoreTokenAuthenticator::~StoreTokenAuthenticator() { subscription_.reset(); }

void StoreTokenAuthenticator::upsert(const nlohmann::json& record) {
  std::string name = record["metadata"].value("name", "");
  std::string sha256 = record.value("spec", nlohmann::json::object()).value("sha256", "");
  Identity identity = identityOf(record);
  std::unique_lock lock(mu_);
  eraseLocked(name);
  if (sha256.empty()) return;
  sha256ByName_[name] = sha256;
  bySha256_[std::move(sha256)] = std::move(identity);
}

void StoreTokenAuthenticator::erase(const std::string& name) {
  std::unique_lock lock(mu_);
  eraseLocked(name);
}

void StoreTokenAuthenticator::eraseLocked(const std::string& name) {
  auto it = sha256ByName_.find(name);
  if (it == sha256ByName_.end()) return;
  if (auto h = bySha256_.find(it->second); h != bySha256_.end() && h->second.name == name) {
    bySha256_.erase(h);
  }
  sha256ByName_.erase(it);
}

// Looked up by the token's SHA-256, as instance tokens are: a lookup's timing could tell
// something of the hash, and the hash tells nothing of a token. One lookup whatever the number
// of tokens.
std::optional<Identity> StoreTokenAuthenticator::authenticate(
    const std::string& token, const std::vector<std::string>&) const {
  if (token.empty()) return std::nullopt;
  const std::string hash = sha256Hex(token);
  std::shared_lock lock(mu_);
  auto it = bySha256_.find(hash);
  if (it == bySha256_.end()) return std::nullopt;
  return it->second;
}

bool StoreTokenAuthenticator::verify(const std::string& name, const std::string& token) const {
  auto record = store_.get(kTokensResource, "", name);
  if (!record || token.empty()) return false;
  std::string stored = record->value("spec", nlohmann::json::object()).value("sha256", "");
  return !stored.empty() && constantTimeEquals(sha256Hex(token), stored);
}

std::string StoreTokenAuthenticator::issueToken(const std::string& name, const Identity& identity) {
  return writeToken(name, identity, true);
}

std::string StoreTokenAuthenticator::createToken(const std::string& name,
                                                 const Identity& identity) {
  return writeToken(name, identity, false);
}

std::string StoreTokenAuthenticator::writeToken(const std::string& name, const Identity& identity,
                                                bool replace) {
  std::string token = randomHex(32);
  nlohmann::json record = {
      {"apiVersion", model::kApiVersion},
      {"kind", "Token"},
      {"metadata",
       {{"name", name}, {"creationTimestamp", formatRfc3339(SystemClock::instance().now())}}},
      {"spec",
       {{"sha256", sha256Hex(token)},
        {"role", identity.isAdmin() ? "admin" : "namespace"},
        {"namespace", identity.ns}}}};
  if (replace) {
    registry::UpdateOptions upsert;
    upsert.ignoreNotFound = true;
    registry::guaranteedUpdate(
        store_, kTokensResource, "", name,
        [&](const nlohmann::json*) { return registry::Change::write(record); }, upsert);
  } else {
    store_.create(kTokensResource, record);
  }
  // The subscription updates the cache too; doing it here makes the token usable on return
  // even if delivery is asynchronous.
  upsert(record);
  return token;
}

std::vector<StoreTokenAuthenticator::TokenInfo> StoreTokenAuthenticator::listTokens() const {
  std::vector<TokenInfo> out;
  for (const auto& record : store_.list(kTokensResource, {}).items) {
    out.push_back({record["metadata"].value("name", ""), identityOf(record),
                   record["metadata"].value("creationTimestamp", "")});
  }
  return out;
}

StoreTokenAuthenticator::RevokeResult StoreTokenAuthenticator::revokeToken(
    const std::string& name) {
  std::lock_guard lock(revokeMu_);
  RevokeResult result = RevokeResult::NotFound;
  registry::UpdateOptions absentIsFine;
  absentIsFine.ignoreNotFound = true;
  registry::guaranteedUpdate(
      store_, kTokensResource, "", name,
      [&](const nlohmann::json* record) {
        result = RevokeResult::NotFound;
        if (!record) return registry::Change::keep();
        if (identityOf(*record).isAdmin()) {
          int admins = 0;
          for (const auto& t : listTokens()) admins += t.identity.isAdmin();
          result = RevokeResult::LastAdmin;
          if (admins <= 1) return registry::Change::keep();
        }
        result = RevokeResult::Revoked;
        return registry::Change::remove();
      },
      absentIsFine);
  if (result == RevokeResult::Revoked) erase(name);
  return result;
}

std::string bearerToken(const std::string& header) {
  constexpr std::string_view kPrefix = "bearer ";
  if (header.size() <= kPrefix.size() || !startsWithIgnoringAsciiCase(header, kPrefix)) return "";
  size_t start = header.find_first_not_of(' ', kPrefix.size());
  if (start == std::string::npos) return "";
  size_t end = header.find_last_not_of(' ');
  return header.substr(start, end - start + 1);
}

InstanceTokenAuthenticator::InstanceTokenAuthenticator(store::Store& store,
                                                       const crypto::InstanceTokens& tokens)
    : tokens_(tokens) {
  const std::string plural = model::mcpInstanceStrategy().info().plural;
  // Subscribe before listing so no change between the two is missed; apply() keeps the newest.
  subscription_ = store.subscribe([this, plural](const store::WatchEvent& ev) {
    if (ev.resource == plural) {
      apply(ev.object, ev.resourceVersion, ev.type == store::EventType::Deleted);
    }
  });
  for (const auto& obj : store.list(plural, {}).items) {
    apply(obj, store::parseResourceVersion(obj), false);
  }
  std::unique_lock lock(mu_);
  filling_ = false;
  std::erase_if(byKey_, [](const auto& kv) { return kv.second.sha256.empty(); });
}

InstanceTokenAuthenticator::~InstanceTokenAuthenticator() { subscription_.reset(); }

void InstanceTokenAuthenticator::apply(const nlohmann::json& obj, int64_t resourceVersion,
                                       bool deleted) {
  const auto& meta = model::objectField(obj, "metadata");
  const std::string ns = model::stringField(meta, "namespace");
  const std::string name = model::stringField(meta, "name");
  const std::string uid = model::stringField(meta, "uid");
  std::string hash;
  if (!deleted && !uid.empty()) {
    const auto generation =
        model::MCPInstanceSpec::fromJson(model::objectField(obj, "spec")).tokenGeneration;
    hash = sha256Hex(tokens_.issue(uid, generation));
  }
  std::unique_lock lock(mu_);
  Entry& e = byKey_[ns + "/" + name];
  if (e.resourceVersion > resourceVersion) return;  // a listed object older than an event
  if (!e.sha256.empty()) bySha256_.erase(e.sha256);
  e = {hash, resourceVersion};
  if (!hash.empty()) bySha256_[hash] = Identity{Identity::Role::Instance, ns, name};
  // A deletion is remembered only while the list is read (against an older listed object).
  if (hash.empty() && !filling_) byKey_.erase(ns + "/" + name);
}

std::optional<Identity> InstanceTokenAuthenticator::authenticate(
    const std::string& token, const std::vector<std::string>&) const {
  if (token.rfind(crypto::kInstanceTokenPrefix, 0) != 0) return std::nullopt;
  const std::string hash = sha256Hex(token);
  std::shared_lock lock(mu_);
  auto it = bySha256_.find(hash);
  if (it == bySha256_.end()) return std::nullopt;
  return it->second;
}

}  // namespace minimcp::server
