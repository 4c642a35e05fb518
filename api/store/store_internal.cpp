#include "api/store/store_internal.h"

#include <cstring>
#include <optional>
#include <stdexcept>

namespace minimcp::store::internal {

using Json = nlohmann::json;

[[noreturn]] void throwUnavailable(const std::string& message) {
  throw StoreError(StoreError::Code::Unavailable, message);
}

Key keyOf(const Json& obj) {
  if (!obj.is_object()) throw std::invalid_argument("store: object must be a JSON object");
  auto md = obj.find("metadata");
  if (md == obj.end() || !md->is_object()) {
    throw std::invalid_argument("store: object has no metadata");
  }
  auto name = md->find("name");
  if (name == md->end() || !name->is_string() || name->get_ref<const std::string&>().empty()) {
    throw std::invalid_argument("store: metadata.name is required");
  }
  Key k;
  k.name = name->get<std::string>();
  auto ns = md->find("namespace");
  if (ns != md->end() && !ns->is_null()) {
    if (!ns->is_string()) throw std::invalid_argument("store: metadata.namespace must be a string");
    k.ns = ns->get<std::string>();
  }
  return k;
}

std::string objectDescription(const std::string& resource, const std::string& ns,
                              const std::string& name) {
  return resource + " \"" + (ns.empty() ? name : ns + "/" + name) + "\"";
}

[[noreturn]] void throwAlreadyExists(const std::string& resource, const std::string& ns,
                                     const std::string& name) {
  throw StoreError(StoreError::Code::AlreadyExists,
                   objectDescription(resource, ns, name) + " already exists");
}

[[noreturn]] void throwNotFound(const std::string& resource, const std::string& ns,
                                const std::string& name) {
  throw StoreError(StoreError::Code::NotFound,
                   objectDescription(resource, ns, name) + " not found");
}

[[noreturn]] void throwConflict(const std::string& resource, const std::string& ns,
                                const std::string& name) {
  throw StoreError(StoreError::Code::Conflict,
                   "Operation cannot be fulfilled on " + objectDescription(resource, ns, name) +
                       ": the object has been modified; please apply your changes to the latest "
                       "version and try again");
}

std::string labelsText(const Json& obj) {
  auto md = obj.find("metadata");
  auto labels = md->find("labels");
  return labels != md->end() && labels->is_object() ? labels->dump() : "{}";
}

EventType parseEventType(const std::string& s) {
  if (s == "ADDED") return EventType::Added;
  if (s == "MODIFIED") return EventType::Modified;
  return EventType::Deleted;
}

// ---------------------------------------------------------------------------------------------
// Continue tokens: URL-safe base64 without padding over a small JSON document. (The same
// alphabet as crypto::base64UrlEncode, kept here because the store library does not link the
// crypto one, and this decoder is deliberately lenient about trailing bits: tokens already
// handed out must keep working.)

namespace {

constexpr char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

std::string base64UrlEncode(const std::string& in) {
  std::string out;
  uint32_t buf = 0;
  int bits = 0;
  for (unsigned char c : in) {
    buf = (buf << 8) | c;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out += kB64[(buf >> bits) & 0x3f];
    }
  }
  if (bits > 0) out += kB64[(buf << (6 - bits)) & 0x3f];
  return out;
}

std::optional<std::string> base64UrlDecode(const std::string& in) {
  std::string out;
  uint32_t buf = 0;
  int bits = 0;
  for (char c : in) {
    const char* p = c == '\0' ? nullptr : std::strchr(kB64, c);
    if (p == nullptr) return std::nullopt;
    buf = (buf << 6) | static_cast<uint32_t>(p - kB64);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((buf >> bits) & 0xff);
    }
  }
  return out;
}

// Where a continued list resumes: after (ns, name), at the first page's resourceVersion.
struct ContinueToken {
  int64_t rv = 0;
  std::string ns;
  std::string name;
};

std::string encodeContinue(const ContinueToken& t) {
  return base64UrlEncode(Json{{"rv", t.rv}, {"ns", t.ns}, {"name", t.name}}.dump());
}

ContinueToken decodeContinue(const std::string& token) {
  auto badToken = [] { throw StoreError(StoreError::Code::BadSelector, "invalid continue token"); };
  auto raw = base64UrlDecode(token);
  if (!raw) badToken();
  Json j = Json::parse(*raw, nullptr, false);
  if (!j.is_object() || !j.contains("rv") || !j["rv"].is_number_integer() || !j.contains("ns") ||
      !j["ns"].is_string() || !j.contains("name") || !j["name"].is_string()) {
    badToken();
  }
  ContinueToken t{j["rv"].get<int64_t>(), j["ns"].get<std::string>(), j["name"].get<std::string>()};
  if (t.rv < 0 || t.name.empty()) badToken();
  return t;
}

}  // namespace

ListPage::ListPage(const ListOptions& opts)
    : labels_(LabelSelector::parse(opts.labelSelector)),
      fields_(FieldSelector::parse(opts.fieldSelector)),
      wholeForFields_(fields_.needsWholeObject()),
      limit_(opts.limit > 0 ? opts.limit : 0) {
  if (!opts.continueToken.empty()) {
    ContinueToken from = decodeContinue(opts.continueToken);
    continuedRv_ = from.rv;
    start_.afterNs = std::move(from.ns);
    start_.afterName = std::move(from.name);
  }
  // Within one namespace the token's (ns, name) is a name bound.
  if (!opts.ns.empty()) {
    if (start_.afterNs < opts.ns) start_.afterName.clear();
    start_.exhausted = start_.afterNs > opts.ns;
    start_.afterNs = opts.ns;
  }
}

void ListPage::offer(const std::string& ns, const std::string& name,
                     const std::function<Json()>& labels, const std::function<Json()>& object) {
  bool full = limit_ > 0 && static_cast<int64_t>(out_.items.size()) >= limit_;
  // Cheap tests first: labels column, then name/namespace; parse the object only when a
  // field selector reads it or it goes into the page.
  if (!labels_.empty()) {
    Json l = labels();
    if (!labels_.matchesLabels(&l)) return;
  }
  if (!fields_.empty() && !wholeForFields_ &&
      !fields_.matches(Json{{"metadata", {{"name", name}, {"namespace", ns}}}})) {
    return;
  }
  if (full && !wholeForFields_) {
    ++out_.remainingItemCount;
    return;
  }
  Json obj = object();
  if (wholeForFields_ && !fields_.matches(obj)) return;
  if (full) {
    ++out_.remainingItemCount;
    return;
  }
  lastNs_ = ns;
  lastName_ = name;
  out_.items.push_back(std::move(obj));
}

ListResult ListPage::finish(int64_t resourceVersion) {
  out_.resourceVersion = resourceVersion;
  if (out_.remainingItemCount > 0) {
    out_.continueToken = encodeContinue({resourceVersion, lastNs_, lastName_});
  }
  return std::move(out_);
}

// ---------------------------------------------------------------------------------------------
// Subscribers

struct Hub::Sub {
  // Recursive so a callback may destroy its own subscription without deadlocking.
  std::recursive_mutex mu;
  bool active = true;
  std::function<void(const WatchEvent&)> callback;
};

class HubSubscription : public Subscription {
 public:
  HubSubscription(std::shared_ptr<Hub> hub, std::shared_ptr<Hub::Sub> sub)
      : hub_(std::move(hub)), sub_(std::move(sub)) {}
  ~HubSubscription() override { hub_->remove(sub_); }

 private:
  std::shared_ptr<Hub> hub_;
  std::shared_ptr<Hub::Sub> sub_;
};

std::unique_ptr<Subscription> Hub::subscribe(std::function<void(const WatchEvent&)> callback) {
  auto sub = std::make_shared<Sub>();
  sub->callback = std::move(callback);
  {
    std::lock_guard lk(mu_);
    subs_.push_back(sub);
  }
  return std::make_unique<HubSubscription>(shared_from_this(), std::move(sub));
}

void Hub::remove(const std::shared_ptr<Sub>& sub) {
  {
    // Waits out an in-flight callback of this subscription.
    std::lock_guard lk(sub->mu);
    sub->active = false;
  }
  std::lock_guard lk(mu_);
  std::erase(subs_, sub);
}

bool Hub::empty() {
  std::lock_guard lk(mu_);
  return subs_.empty();
}

void Hub::deliver(const WatchEvent& ev) {
  std::vector<std::shared_ptr<Sub>> subs;
  {
    std::lock_guard lk(mu_);
    subs = subs_;
  }
  for (const auto& sub : subs) {
    std::lock_guard lk(sub->mu);
    if (!sub->active) continue;
    try {
      sub->callback(ev);
    } catch (...) {
      // A subscriber's failure must not undo a committed write nor starve other subscribers.
    }
  }
}

}  // namespace minimcp::store::internal
