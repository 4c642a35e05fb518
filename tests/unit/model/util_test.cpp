#include <gtest/gtest.h>

#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "api/util/api_error.h"
#include "api/util/ascii.h"
#include "api/util/clock.h"
#include "api/util/random.h"
#include "api/util/url.h"

namespace minimcp {
namespace {

using namespace std::chrono_literals;

TEST(ApiErrorTest, StatusLooksLikeKubeApiserver) {
  nlohmann::json s = ApiError::NotFound("mcpinstances", "inbox").toStatus();
  EXPECT_EQ(s, nlohmann::json::parse(R"({"kind":"Status","apiVersion":"v1","metadata":{},
    "status":"Failure","message":"mcpinstances.minimcp.io \"inbox\" not found",
    "reason":"NotFound","details":{"name":"inbox","group":"minimcp.io","kind":"mcpinstances"},
    "code":404})"));
  EXPECT_EQ(ApiError::AlreadyExists("mcptypes", "gmail").code(), 409);
  EXPECT_EQ(ApiError::Conflict("mcpinstances", "x", "the object has been modified").what(),
            std::string("Operation cannot be fulfilled on mcpinstances.minimcp.io \"x\": the "
                        "object has been modified"));
  nlohmann::json bad = ApiError::BadRequest("nope").toStatus();
  EXPECT_EQ(bad["code"], 400);
  EXPECT_EQ(bad["reason"], "BadRequest");
  EXPECT_FALSE(bad.contains("details"));
  EXPECT_EQ(ApiError::Internal("x").reason(), "InternalError");
  EXPECT_EQ(ApiError::Gone("too old").code(), 410);
  EXPECT_EQ(ApiError::Unauthorized().what(), std::string("Unauthorized"));
}

TEST(ApiErrorTest, InvalidListsEveryCause) {
  std::vector<Cause> causes = {
      {"spec.ttl", "FieldValueInvalid", "Invalid value: \"abc\": must be a duration"},
      {"metadata.name", "FieldValueRequired", "Required value"}};
  ApiError e = ApiError::Invalid("MCPInstance", "x", causes);
  EXPECT_EQ(e.code(), 422);
  EXPECT_EQ(std::string(e.what()),
            "MCPInstance.minimcp.io \"x\" is invalid: [spec.ttl: Invalid value: \"abc\": must be "
            "a duration, metadata.name: Required value]");
  nlohmann::json s = e.toStatus();
  EXPECT_EQ(s["reason"], "Invalid");
  EXPECT_EQ(s["details"]["kind"], "MCPInstance");
  EXPECT_EQ(s["details"]["group"], "minimcp.io");
  ASSERT_EQ(s["details"]["causes"].size(), 2u);
  EXPECT_EQ(s["details"]["causes"][0],
            nlohmann::json({{"field", "spec.ttl"},
                            {"reason", "FieldValueInvalid"},
                            {"message", "Invalid value: \"abc\": must be a duration"}}));
  EXPECT_EQ(std::string(ApiError::Invalid("MCPType", "t", {causes[1]}).what()),
            "MCPType.minimcp.io \"t\" is invalid: metadata.name: Required value");
}

TEST(ClockTest, Rfc3339) {
  auto t = parseRfc3339("2026-11-23T22:49:41Z");
  ASSERT_TRUE(t);
  EXPECT_EQ(formatRfc3339(*t), "2026-11-23T22:49:41Z");
  auto offset = parseRfc3339("2026-11-24T00:49:41.123+02:00");
  ASSERT_TRUE(offset);
  EXPECT_EQ(formatRfc3339(*offset), "2026-11-23T22:49:41Z");
  EXPECT_EQ(*offset - *t, 123ms);
  EXPECT_EQ(formatRfc3339(*parseRfc3339("2024-02-29T00:00:00-00:30")), "2024-02-29T00:30:00Z");
  EXPECT_EQ(formatRfc3339(std::chrono::system_clock::from_time_t(0)), "1970-01-01T00:00:00Z");
  for (const char* bad : {"", "2026-11-23", "2026-11-23T22:49:41", "2026-13-01T00:00:00Z",
                          "2026-02-30T00:00:00Z", "2026-11-23T24:00:00Z", "2026-11-23T22:49:41.Z",
                          "2026-11-23T22:49:41Zjunk", "2026-11-23 22:49:41Z", "soon"}) {
    EXPECT_FALSE(parseRfc3339(bad)) << bad;
  }
}

TEST(ClockTest, Durations) {
  EXPECT_EQ(parseDuration("2h"), std::chrono::milliseconds(2h));
  EXPECT_EQ(parseDuration("1h30m"), std::chrono::milliseconds(90min));
  EXPECT_EQ(parseDuration("1.5s"), 1500ms);
  EXPECT_EQ(parseDuration("250ms"), 250ms);
  EXPECT_EQ(parseDuration("1m1ms"), 60001ms);
  EXPECT_EQ(parseDuration("2160h"), std::chrono::milliseconds(2160h));
  for (const char* bad : {"", "5", "h", "-1s", "1.s", ".5s", "1d", "1h 2m", "2H", "1hm", "ms",
                          "99999999999999999999h"}) {
    EXPECT_FALSE(parseDuration(bad)) << bad;
  }
}

// A nanosecond TimePoint ends in 2262: a later date used to wrap around to the 1700s and
// expire an instance at once. Such times are refused, not wrapped.
TEST(ClockTest, TimesOutsideTheRangeAreRefused) {
  EXPECT_EQ(formatRfc3339(earliestTime()), "1970-01-01T00:00:00Z");
  EXPECT_EQ(formatRfc3339(latestTime()), "2200-01-01T00:00:00Z");
  ASSERT_TRUE(parseRfc3339("2199-12-31T23:59:59.999Z"));
  EXPECT_EQ(formatRfc3339(*parseRfc3339("2199-12-31T23:59:59Z")), "2199-12-31T23:59:59Z");
  EXPECT_EQ(*parseRfc3339("1970-01-01T00:00:00Z"), earliestTime());
  for (const char* out :
       {"2200-01-01T00:00:00Z", "2199-12-31T23:59:59-00:01", "2262-04-12T00:00:00Z",
        "3000-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "1969-12-31T23:59:59Z",
        "1970-01-01T00:00:00+00:01", "1677-09-21T00:00:00Z", "0001-01-01T00:00:00Z"}) {
    EXPECT_FALSE(parseRfc3339(out)) << out;
  }
}

TEST(ClockTest, DurationsAreBounded) {
  EXPECT_EQ(parseDuration("876000h"), kMaxDuration);
  for (const char* tooLong : {"876000h1ms", "876001h", "999999999h", "52560001m"}) {
    EXPECT_FALSE(parseDuration(tooLong)) << tooLong;
  }
  EXPECT_FALSE(parseDuration(std::string(400, '9') + "s"));
}

TEST(ClockTest, AddCheckedStaysInTheRange) {
  const TimePoint t = *parseRfc3339("2026-01-01T00:00:00Z");
  EXPECT_EQ(addChecked(t, 2h), t + 2h);
  EXPECT_EQ(addChecked(t, kMaxDuration), t + kMaxDuration);
  const TimePoint last = latestTime() - 1s;
  EXPECT_EQ(addChecked(last, 999ms), last + 999ms);
  EXPECT_FALSE(addChecked(last, 1s));
  EXPECT_FALSE(addChecked(last, kMaxDuration));  // would overflow a nanosecond TimePoint
  EXPECT_FALSE(addChecked(t, std::chrono::milliseconds::max()));
  EXPECT_FALSE(addChecked(t, -std::chrono::hours(24 * 365 * 57)));
  EXPECT_EQ(addChecked(t, -1h), t - 1h);
  EXPECT_FALSE(addChecked(latestTime(), 0ms));
}

TEST(ClockTest, HumanDuration) {
  EXPECT_EQ(humanDuration(45s), "45s");
  EXPECT_EQ(humanDuration(5min + 30s), "5m");
  EXPECT_EQ(humanDuration(2h + 5min), "2h");
  EXPECT_EQ(humanDuration(std::chrono::hours(24 * 3 + 5)), "3d");
  EXPECT_EQ(humanDuration(std::chrono::hours(24 * 800)), "2y");
  EXPECT_EQ(humanDuration(-500ms), "0s");
  EXPECT_EQ(humanDuration(-10s), "<invalid>");
}

TEST(AsciiTest, FoldsOnlyAsciiLetters) {
  EXPECT_EQ(asciiLower("Content-Type: TEXT/Event-Stream"), "content-type: text/event-stream");
  // Bytes beyond ASCII (UTF-8 of "İ", Latin-1 "Ä") stay as they are, whatever the locale says.
  EXPECT_EQ(asciiLower("\xC4\xB0X\xC4"), "\xC4\xB0x\xC4");
  EXPECT_EQ(asciiLower(std::string_view("A\0B", 3)), std::string("a\0b", 3));
  EXPECT_EQ(asciiLower("@[`{"), "@[`{");  // the neighbours of A-Z and a-z
}

TEST(AsciiTest, ComparesIgnoringCase) {
  struct Case {
    std::string_view a, b;
    bool equal;
  };
  for (const auto& c : std::vector<Case>{{"Bearer", "bearer", true},
                                         {"", "", true},
                                         {"Ready", "ready ", false},
                                         {"@", "`", false},  // 0x40 and 0x60 differ by 0x20 too
                                         {"\xC4", "\xE4", false}}) {
    EXPECT_EQ(equalsIgnoringAsciiCase(c.a, c.b), c.equal) << c.a << " vs " << c.b;
  }
  EXPECT_TRUE(startsWithIgnoringAsciiCase("HTTPS://x", "https://"));
  EXPECT_TRUE(startsWithIgnoringAsciiCase("https://", "https://"));
  EXPECT_FALSE(startsWithIgnoringAsciiCase("http", "https://"));
  EXPECT_FALSE(startsWithIgnoringAsciiCase("hxxps://x", "https://"));
}

TEST(RandomTest, UuidAndHex) {
  std::set<std::string> seen;
  for (int i = 0; i < 100; ++i) {
    std::string u = newUuid();
    ASSERT_EQ(u.size(), 36u);
    EXPECT_EQ(u[14], '4');
    EXPECT_NE(std::string("89ab").find(u[19]), std::string::npos);
    EXPECT_TRUE(seen.insert(u).second);
  }
  EXPECT_EQ(randomHex(32).size(), 64u);
  EXPECT_NE(randomHex(16), randomHex(16));
  // The digest context is kept between calls: each digest starts afresh all the same.
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    EXPECT_EQ(sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  }
  EXPECT_TRUE(constantTimeEquals("secret", "secret"));
  EXPECT_FALSE(constantTimeEquals("secret", "secreT"));
  EXPECT_FALSE(constantTimeEquals("secret", "secret2"));
}

TEST(UrlTest, PercentDecodeKeepsMalformedSequencesAsTheyAre) {
  struct Case {
    std::string in;
    bool plusIsSpace;
    std::string want;
  };
  const std::vector<Case> cases = {
      {"", false, ""},
      {"plain", false, "plain"},
      {"a%20b", false, "a b"},
      {"%2f%2F", false, "//"},               // either case
      {"%e2%82%ac", false, "\xe2\x82\xac"},  // bytes, not characters
      {"%00x", false, std::string("\0x", 2)},
      {"%25", false, "%"},
      {"%2525", false, "%25"},  // decoded once
      {"%", false, "%"},
      {"100%", false, "100%"},
      {"%4", false, "%4"},
      {"a%4", false, "a%4"},
      {"%zz", false, "%zz"},
      {"%4g", false, "%4g"},
      {"%g4", false, "%g4"},
      {"%%41", false, "%A"},
      {"%-1", false, "%-1"},
      {"% 41", false, "% 41"},
      {"a+b", false, "a+b"},
      {"a+b", true, "a b"},
      {"%2B+", true, "+ "},
      {"%zz+%4", true, "%zz %4"},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(percentDecode(c.in, c.plusIsSpace), c.want)
        << c.in << " plusIsSpace=" << c.plusIsSpace;
  }
}

TEST(UrlTest, HexDigitValue) {
  EXPECT_EQ(hexDigitValue('0'), 0);
  EXPECT_EQ(hexDigitValue('9'), 9);
  EXPECT_EQ(hexDigitValue('a'), 10);
  EXPECT_EQ(hexDigitValue('F'), 15);
  for (char c : {'g', 'G', '/', ':', '@', '`', ' ', '\0'}) EXPECT_EQ(hexDigitValue(c), -1) << c;
}

TEST(UrlTest, QueryParamsAreDecodedInOrderEmptyPairsSkipped) {
  std::vector<std::pair<std::string, std::string>> got;
  forEachQueryParam("a=1&&b=x+y%26z&flag&=v&a=%zz&c=", [&](std::string k, std::string v) {
    got.emplace_back(std::move(k), std::move(v));
  });
  EXPECT_EQ(got,
            (std::vector<std::pair<std::string, std::string>>{
                {"a", "1"}, {"b", "x y&z"}, {"flag", ""}, {"", "v"}, {"a", "%zz"}, {"c", ""}}));
  got.clear();
  forEachQueryParam("", [&](std::string k, std::string v) { got.emplace_back(k, v); });
  EXPECT_TRUE(got.empty());
}

}  // namespace
}  // namespace minimcp
