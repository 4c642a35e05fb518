#include "api/store/store.h"

#include <charconv>

#include "api/store/postgres_store.h"
#include "api/store/sqlite_store.h"

namespace minimcp::store {

const char* toString(EventType t) {
  switch (t) {
    case EventType::Added:
      return "ADDED";
    case EventType::Modified:
      return "MODIFIED";
    case EventType::Deleted:
      return "DELETED";
  }
  return "UNKNOWN";
}

int64_t parseResourceVersion(const nlohmann::json& obj) {
  if (!obj.is_object()) return 0;
  auto md = obj.find("metadata");
  if (md == obj.end() || !md->is_object()) return 0;
  auto rv = md->find("resourceVersion");
  if (rv == md->end()) return 0;
  if (rv->is_number_integer()) return rv->get<int64_t>() > 0 ? rv->get<int64_t>() : 0;
  if (!rv->is_string()) return 0;
  const auto& s = rv->get_ref<const std::string&>();
  int64_t out = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  if (ec != std::errc() || ptr != s.data() + s.size() || out < 0) return 0;
  return out;
}

std::unique_ptr<Store> openStore(const std::string& url, int64_t historyLimit) {
  auto startsWith = [&](const char* p) { return url.rfind(p, 0) == 0; };
  if (startsWith("postgresql://") || startsWith("postgres://")) {
    return std::make_unique<PostgresStore>(url, historyLimit);
  }
  std::string path = url;
  if (startsWith("sqlite://")) {
    path = url.substr(9);  // sqlite:///abs/path → /abs/path
  } else if (startsWith("sqlite:")) {
    path = url.substr(7);
  }
  if (path.empty()) {
    throw StoreError(StoreError::Code::Unavailable, "store URL \"" + url + "\" names no file");
  }
  return std::make_unique<SqliteStore>(path, historyLimit);
}

}  // namespace minimcp::store
