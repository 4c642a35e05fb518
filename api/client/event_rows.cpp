#include "api/client/event_rows.h"

#include <strings.h>

#include <algorithm>
#include <stdexcept>

#include "api/util/ascii.h"
#include "api/util/clock.h"

namespace minimcp::client {

using nlohmann::json;

namespace {

std::string str(const json& obj, const char* key) {
  if (!obj.is_object()) return "";
  auto it = obj.find(key);
  return it != obj.end() && it->is_string() ? it->get<std::string>() : "";
}

// kubectl's eventTime: when the event last happened.
std::string sortTime(const json& e) {
  std::string last = str(e, "lastTimestamp");
  return last.empty() ? str(e, "eventTime") : last;
}

std::string since(const std::string& timestamp, std::chrono::system_clock::time_point now) {
  auto t = parseRfc3339(timestamp);
  if (!t) return "<unknown>";
  auto age = std::chrono::duration_cast<std::chrono::milliseconds>(now - *t);
  return humanDuration(std::max(age, std::chrono::milliseconds(0)));
}

std::string interval(const json& e, std::chrono::system_clock::time_point now) {
  std::string first = str(e, "eventTime");
  if (first.empty()) first = str(e, "firstTimestamp");
  std::string firstSince = since(first, now);
  int64_t count = e.is_object() && e.contains("count") && e["count"].is_number_integer()
                      ? e["count"].get<int64_t>()
                      : 0;
  if (count > 1) {
    return since(str(e, "lastTimestamp"), now) + " (x" + std::to_string(count) + " over " +
           firstSince + ")";
  }
  return firstSince;
}

std::string trimSpace(const std::string& s) {
  size_t b = s.find_first_not_of(" \t\r\n"), e = s.find_last_not_of(" \t\r\n");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

}  // namespace

void checkEventTypes(const std::vector<std::string>& types) {
  for (const auto& t : types) {
    if (!equalsIgnoringAsciiCase(t, "Normal") && !equalsIgnoringAsciiCase(t, "Warning")) {
      throw std::invalid_argument("valid --types are Normal or Warning");
    }
  }
}

std::vector<json> sortedEvents(const json& eventList, const std::vector<std::string>& types) {
  std::vector<json> events;
  if (eventList.is_object() && eventList.contains("items") && eventList["items"].is_array()) {
    for (const auto& e : eventList["items"]) {
      bool keep = types.empty() || std::any_of(types.begin(), types.end(), [&](const auto& t) {
                    return equalsIgnoringAsciiCase(str(e, "type"), t);
                  });
      if (keep) events.push_back(e);
    }
  }
  std::stable_sort(events.begin(), events.end(), [](const json& a, const json& b) {
    auto ta = parseRfc3339(sortTime(a)), tb = parseRfc3339(sortTime(b));
    if (!ta || !tb) return !ta && tb;
    return *ta < *tb;
  });
  return events;
}

Rows eventRows(const json& eventList, bool allNamespaces, const std::vector<std::string>& types,
               std::chrono::system_clock::time_point now) {
  std::vector<json> events = sortedEvents(eventList, types);
  Rows rows;
  for (const auto& e : events) {
    std::vector<std::string> row;
    if (allNamespaces) row.push_back(str(e.value("metadata", json::object()), "namespace"));
    const json involved = e.value("involvedObject", json::object());
    row.push_back(interval(e, now));
    row.push_back(str(e, "type"));
    row.push_back(str(e, "reason"));
    row.push_back(str(involved, "kind") + "/" + str(involved, "name"));
    row.push_back(trimSpace(str(e, "message")));
    rows.push_back(std::move(row));
  }
  return rows;
}

std::vector<std::string> eventHeader(bool allNamespaces) {
  std::vector<std::string> h;
  if (allNamespaces) h.push_back("NAMESPACE");
  for (const char* c : {"LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"}) h.push_back(c);
  return h;
}

}  // namespace minimcp::client
