#include "api/registry/guaranteed_update.h"

#include <algorithm>
#include <random>
#include <thread>
#include <utility>

#include "api/model/strategy.h"
#include "api/registry/managed_fields.h"

namespace minimcp::registry {

using nlohmann::json;
using store::StoreError;

namespace {

// Full jitter (a uniform wait in [0, ceiling]) spreads writers that lost the same race apart;
// the first retry is immediate because one lost race is the common case and a re-read is cheap.
std::chrono::microseconds backoff(int attempt) {
  if (attempt <= 1) return std::chrono::microseconds(0);
  constexpr int64_t kBaseUs = 500, kCapUs = 50'000;
  int64_t ceiling = std::min<int64_t>(kCapUs, kBaseUs << std::min(attempt - 2, 10));
  thread_local std::minstd_rand rng{std::random_device{}()};
  return std::chrono::microseconds(std::uniform_int_distribution<int64_t>(0, ceiling)(rng));
}

// A lost race: the object changed, vanished or appeared between our read and our write.
bool lostRace(const StoreError& e) {
  return e.code() == StoreError::Code::Conflict || e.code() == StoreError::Code::NotFound ||
         e.code() == StoreError::Code::AlreadyExists;
}

// The loop of guaranteedUpdate; `read`, when given, stands for the first store read (a caller
// that already holds the object spares the store a read and the parse of it).
UpdateResult updateFrom(store::Store& store, const std::string& resource, const std::string& ns,
                        const std::string& name, std::optional<json> read,
                        const TryUpdate& tryUpdate, const UpdateOptions& options);

}  // namespace

void expectResourceVersion(const json* current, int64_t resourceVersion) {
  if (!current) throw StoreError(StoreError::Code::NotFound, "the object was deleted");
  if (store::parseResourceVersion(*current) != resourceVersion) {
    throw StoreError(StoreError::Code::Conflict, "the object has been modified");
  }
}

UpdateResult guaranteedUpdate(store::Store& store, const std::string& resource,
                              const std::string& ns, const std::string& name,
                              const TryUpdate& tryUpdate, const UpdateOptions& options) {
  return updateFrom(store, resource, ns, name, std::nullopt, tryUpdate, options);
}

UpdateResult updateIfUnchanged(store::Store& store, const std::string& resource, const json& read,
                               Change change, const UpdateOptions& options) {
  const int64_t rv = store::parseResourceVersion(read);
  const json& md = read.at("metadata");
  return updateFrom(
      store, resource, md.value("namespace", ""), md.value("name", ""), read,
      [&](const json* current) {
        expectResourceVersion(current, rv);
        return change;
      },
      options);
}

namespace {

UpdateResult updateFrom(store::Store& store, const std::string& resource, const std::string& ns,
                        const std::string& name, std::optional<json> read,
                        const TryUpdate& tryUpdate, const UpdateOptions& options) {
  using Outcome = UpdateResult::Outcome;
  const auto deadline = std::chrono::steady_clock::now() + options.timeout;
  UpdateResult result;
  for (;;) {
    auto current = read ? std::exchange(read, std::nullopt) : store.get(resource, ns, name);
    if (!current && !options.ignoreNotFound) {
      throw StoreError(StoreError::Code::NotFound, resource + " \"" + name + "\" not found");
    }
    ++result.attempts;
    Change change = tryUpdate(current ? &*current : nullptr);
    int64_t rv = current ? store::parseResourceVersion(*current) : 0;
    if (change.kind() == Change::Kind::Keep ||
        (!current && change.kind() == Change::Kind::Remove)) {
      result.outcome = Outcome::Unchanged;
      result.object = std::move(current);
      return result;
    }
    if (change.kind() == Change::Kind::Write && !options.ownershipRecorded) {
      if (const model::Strategy* kind = model::Registry::instance().byPlural(resource)) {
        const Clock& clock = options.clock ? *options.clock : SystemClock::instance();
        change.object() =
            recordWrite(current ? &*current : nullptr, std::move(change.object()), kind->info(),
                        options.fieldManager, clock.now(), options.subresource);
      }
    }
    if (options.dryRun) {
      bool remove = change.kind() == Change::Kind::Remove;
      result.outcome = remove ? Outcome::Removed : current ? Outcome::Updated : Outcome::Created;
      result.object = remove ? std::move(*current) : std::move(change.object());
      return result;
    }
    try {
      if (change.kind() == Change::Kind::Remove) {
        result.object = store.remove(resource, ns, name, rv);
        result.outcome = Outcome::Removed;
      } else if (!current) {
        result.object = store.create(resource, std::move(change.object()));
        result.outcome = Outcome::Created;
      } else {
        // rv is never 0 for a stored object, so this is always a compare-and-swap.
        result.object = store.update(resource, std::move(change.object()), rv);
        result.outcome = Outcome::Updated;
      }
      return result;
    } catch (const StoreError& e) {
      if (!lostRace(e)) throw;
    }
    auto wait = backoff(result.attempts);
    if (std::chrono::steady_clock::now() + wait >= deadline) {
      throw StoreError(StoreError::Code::Conflict,
                       resource + " \"" + name + "\": still conflicting after " +
                           std::to_string(result.attempts) + " attempts");
    }
    if (wait.count() > 0) std::this_thread::sleep_for(wait);
  }
}

}  // namespace

}  // namespace minimcp::registry
