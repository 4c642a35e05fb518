#include "api/model/yaml.h"

#include <gtest/gtest.h>

#include <cmath>

#include "api/util/api_error.h"

namespace minimcp::model {
namespace {

using nlohmann::json;

json one(const std::string& text) { return parseJsonOrYaml(text); }

// The message of the 400 parseJsonOrYaml throws (JSON when the text starts with { or [).
std::string bodyError(const std::string& text) {
  try {
    parseJsonOrYaml(text);
  } catch (const ApiError& e) {
    EXPECT_EQ(e.code(), 400);
    return e.what();
  }
  ADD_FAILURE() << "no error for: " << text;
  return "";
}

std::string badRequestMessage(const std::string& text, int maxDepth = 64) {
  try {
    parseYamlDocuments(text, maxDepth);
  } catch (const ApiError& e) {
    EXPECT_EQ(e.code(), 400);
    return e.what();
  }
  ADD_FAILURE() << "no error for: " << text;
  return "";
}

TEST(YamlParse, PlainScalarsResolveByCoreSchema) {
  json j =
      one("n1: null\nn2: ~\nn3:\nn4: Null\n"
          "b1: true\nb2: True\nb3: FALSE\n"
          "i1: 42\ni2: -7\ni3: 0x1F\ni4: 0o17\ni5: +3\n"
          "f1: 0.5\nf2: 1e3\nf3: 1e-400\n"
          "s1: yes\ns2: hello world\ns3: 1.2.3\ns4: 0b101\n");
  for (auto k : {"n1", "n2", "n3", "n4"}) EXPECT_TRUE(j[k].is_null()) << k;
  EXPECT_EQ(j["b1"], true);
  EXPECT_EQ(j["b2"], true);
  EXPECT_EQ(j["b3"], false);
  EXPECT_EQ(j["i1"], 42);
  EXPECT_TRUE(j["i1"].is_number_integer());
  EXPECT_EQ(j["i2"], -7);
  EXPECT_EQ(j["i3"], 31);
  EXPECT_EQ(j["i4"], 15);
  EXPECT_EQ(j["i5"], 3);
  EXPECT_TRUE(j["f1"].is_number_float());
  EXPECT_DOUBLE_EQ(j["f1"].get<double>(), 0.5);
  EXPECT_DOUBLE_EQ(j["f2"].get<double>(), 1000.0);
  EXPECT_DOUBLE_EQ(j["f3"].get<double>(), 0.0);  // underflow is still the number written
  EXPECT_EQ(j["s1"], "yes");                     // YAML 1.2: not a boolean
  EXPECT_EQ(j["s2"], "hello world");
  EXPECT_EQ(j["s3"], "1.2.3");
  EXPECT_EQ(j["s4"], "0b101");
}

TEST(YamlParse, QuotedAndTaggedScalarsStayStrings) {
  json j = one("a: \"true\"\nb: '1'\nc: !!str 5\nd: \"\"\ne: 'null'\nf: !!int \"12\"\n");
  EXPECT_EQ(j["a"], "true");
  EXPECT_EQ(j["b"], "1");
  EXPECT_EQ(j["c"], "5");
  EXPECT_EQ(j["d"], "");
  EXPECT_EQ(j["e"], "null");
  EXPECT_EQ(j["f"], 12);
}

TEST(YamlParse, KeysAreTheirText) {
  json j = one("1: a\ntrue: b\n");
  EXPECT_EQ(j["1"], "a");
  EXPECT_EQ(j["true"], "b");
}

TEST(YamlParse, MultiDocumentSkipsEmptyDocuments) {
  auto docs = parseYamlDocuments("---\na: 1\n---\n# just a comment\n---\n---\nb: [1, 2]\n...\n");
  ASSERT_EQ(docs.size(), 2u);
  EXPECT_EQ(docs[0], json({{"a", 1}}));
  EXPECT_EQ(docs[1], json({{"b", {1, 2}}}));
  EXPECT_TRUE(parseYamlDocuments("").empty());
  EXPECT_TRUE(parseYamlDocuments("# nothing\n").empty());
}

TEST(YamlParse, AnchorsAndAliases) {
  json j = one("base: &b {x: 1}\ncopy: *b\n");
  EXPECT_EQ(j["copy"], json({{"x", 1}}));
}

TEST(YamlParse, AliasBombIsRejected) {
  std::string bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n";
  char prev = 'a';
  for (char c = 'b'; c <= 'j'; ++c) {
    bomb += std::string(1, c) + ": &" + c + " [";
    for (int i = 0; i < 10; ++i) bomb += std::string(i ? ", *" : "*") + prev;
    bomb += "]\n";
    prev = c;
  }
  EXPECT_NE(badRequestMessage(bomb).find("too many nodes"), std::string::npos);
}

TEST(YamlParse, SyntaxErrorNamesLineAndColumn) {
  std::string msg = badRequestMessage("a: 1\nb: [1, 2\nc: 3\n");
  EXPECT_NE(msg.find("line "), std::string::npos) << msg;
  EXPECT_NE(msg.find("column "), std::string::npos) << msg;
  msg = badRequestMessage("a: 1\n  b: 2\n");
  EXPECT_NE(msg.find("line 2"), std::string::npos) << msg;
}

TEST(YamlParse, DuplicateKeysAndMergeKeysAreRejected) {
  std::string msg = badRequestMessage("a: 1\nb: 2\na: 3\n");
  EXPECT_NE(msg.find("line 3, column 1"), std::string::npos) << msg;
  EXPECT_NE(msg.find("already defined"), std::string::npos) << msg;
  msg = badRequestMessage("base: &b {x: 1}\nm:\n  <<: *b\n");
  EXPECT_NE(msg.find("merge keys"), std::string::npos) << msg;
}

TEST(YamlParse, DepthLimit) {
  std::string deep;
  for (int i = 0; i < 10; ++i) deep += std::string(i * 2, ' ') + "k:\n";
  deep += std::string(20, ' ') + "v";
  EXPECT_NO_THROW(parseYamlDocuments(deep, 10));
  std::string msg = badRequestMessage(deep, 9);
  EXPECT_NE(msg.find("nesting deeper than 9"), std::string::npos) << msg;
  // Flow style, and an alias that puts a deep value deeper still.
  EXPECT_NE(badRequestMessage("[[[[1]]]]", 3).find("nesting"), std::string::npos);
  EXPECT_NO_THROW(parseYamlDocuments("[[[1]]]", 3));
  EXPECT_NE(badRequestMessage("a: &x [[1]]\nb: [[*x]]\n", 4).find("nesting"), std::string::npos);
  // Huge nesting must not crash the parser.
  EXPECT_THROW(parseYamlDocuments(std::string(100000, '['), 64), ApiError);
}

TEST(YamlParse, InvalidUtf8IsRejected) {
  EXPECT_NE(badRequestMessage("a: \"\xff\xfe\"\n").find("UTF-8"), std::string::npos);
}

TEST(JsonOrYaml, JsonBodies) {
  EXPECT_EQ(one("  {\"a\": [1, \"x\"]}"), json({{"a", {1, "x"}}}));
  EXPECT_EQ(one("[1]"), json({1}));
  try {
    one("{\n  \"a\": 1,\n  \"b\": tru\n}");
    FAIL();
  } catch (const ApiError& e) {
    EXPECT_EQ(e.code(), 400);
    EXPECT_NE(std::string(e.what()).find("line 3"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("column"), std::string::npos) << e.what();
  }
  try {
    parseJsonOrYaml("[[[[1]]]]", 3);
    FAIL();
  } catch (const ApiError& e) {
    EXPECT_NE(std::string(e.what()).find("nesting"), std::string::npos) << e.what();
  }
  EXPECT_NO_THROW(parseJsonOrYaml("[[[1]]]", 3));
  EXPECT_NO_THROW(parseJsonOrYaml("{\"a\": {\"b\": [1]}}", 3));
  EXPECT_THROW(parseJsonOrYaml("{\"a\": {\"b\": [[1]]}}", 3), ApiError);
  EXPECT_THROW(parseJsonOrYaml(std::string(100000, '[')), ApiError);
}

// JSON holds no infinities or NaN, and a number the API cannot hold is refused, never changed
// into another (an integer beyond 64 bits into a lossy float, 1e400 into infinity or null).
TEST(JsonOrYaml, NumbersOutOfRangeAre400) {
  for (std::string n : {"1e400", "-1e400", "99999999999999999999", "18446744073709551615",
                        "9223372036854775808", "-9223372036854775809"}) {
    EXPECT_NE(bodyError("{\"a\": " + n + "}").find(n), std::string::npos) << n;
    EXPECT_NE(bodyError("[1, " + n + "]").find(n), std::string::npos) << n;
    EXPECT_NE(badRequestMessage("{a: " + n + "}").find(n), std::string::npos) << n;
    EXPECT_NE(badRequestMessage("a: " + n + "\n").find(n), std::string::npos) << n;
    EXPECT_NE(badRequestMessage("a: !!int " + n + "\n").find(n), std::string::npos) << n;
    EXPECT_THROW(parseJson("{\"a\": " + n + "}"), ApiError) << n;
  }
  for (std::string special : {".inf", "-.Inf", "+.INF", ".nan", ".NaN", "!!float .inf"}) {
    EXPECT_NE(badRequestMessage("a: " + special + "\n").find("line 1"), std::string::npos)
        << special;
  }
  EXPECT_NE(badRequestMessage("a: 0x1ffffffffffffffff\n").find("out of range"), std::string::npos);
  // The extremes that fit are kept exactly.
  json j = one(R"({"max": 9223372036854775807, "min": -9223372036854775808, "f": 1e300})");
  EXPECT_EQ(j["max"].get<int64_t>(), INT64_MAX);
  EXPECT_EQ(j["min"].get<int64_t>(), INT64_MIN);
  EXPECT_DOUBLE_EQ(j["f"].get<double>(), 1e300);
  json y = one("max: 9223372036854775807\nmin: -9223372036854775808\nf: 1e300\n");
  EXPECT_EQ(y, j);
  // Quoted, they are strings like any other.
  EXPECT_EQ(one("a: \"1e400\"\n")["a"], "1e400");
  EXPECT_EQ(one(R"({"a": "99999999999999999999"})")["a"], "99999999999999999999");
}

TEST(JsonOrYaml, JsonOnly) {
  EXPECT_EQ(parseJson(R"([{"op": "add", "value": 1}])"),
            json::array({{{"op", "add"}, {"value", 1}}}));
  EXPECT_THROW(parseJson("a: 1\n"), ApiError);
  EXPECT_THROW(parseJson(R"({"a": 1} trailing)"), ApiError);
  EXPECT_THROW(parseJson(std::string(100, '[') + std::string(100, ']')), ApiError);
  // Duplicate keys: the last wins, as with nlohmann's own parser.
  EXPECT_EQ(parseJson(R"({"a": 1, "a": 2})"), json({{"a", 2}}));
}

TEST(JsonOrYaml, YamlBodiesMustHoldOneDocument) {
  EXPECT_EQ(one("kind: X\n"), json({{"kind", "X"}}));
  EXPECT_THROW(one("a: 1\n---\nb: 2\n"), ApiError);
  EXPECT_THROW(one(""), ApiError);
  EXPECT_THROW(one("   \n"), ApiError);
}

TEST(YamlEmit, QuotesStringsThatWouldReadBackAsOtherTypes) {
  json j = {{"t", "true"}, {"num", "1"}, {"f", "0.5"},   {"z", ""},    {"nul", "null"},
            {"yw", "yes"}, {"o", "off"}, {"s", "plain"}, {"h", "0x1"}, {"tilde", "~"}};
  std::string y = toYaml(j);
  EXPECT_NE(y.find("t: \"true\""), std::string::npos) << y;
  EXPECT_NE(y.find("num: \"1\""), std::string::npos) << y;
  EXPECT_NE(y.find("z: \"\""), std::string::npos) << y;
  EXPECT_NE(y.find("yw: \"yes\""), std::string::npos) << y;
  EXPECT_NE(y.find("s: plain"), std::string::npos) << y;
  EXPECT_EQ(parseJsonOrYaml(y), j);
  // Keys go through the same rule: "y" is a boolean to YAML 1.1 readers such as kubectl.
  EXPECT_EQ(toYaml(json({{"y", 1}})), "\"y\": 1\n");
  EXPECT_EQ(toYaml(json({{"t", "2026-01-01T00:00:00Z"}})), "t: \"2026-01-01T00:00:00Z\"\n");
  EXPECT_EQ(toYaml(json({{"ttl", "2h"}, {"cpu", "500m"}})), "cpu: 500m\nttl: 2h\n");
}

TEST(YamlEmit, NumbersAndNulls) {
  json j = {{"a", 0.1},
            {"b", 1.0},
            {"c", 30},
            {"d", nullptr},
            {"e", true},
            {"f", -2.5e-8},
            {"g", 9223372036854775807ll},
            {"h", -9223372036854775807ll - 1}};
  std::string y = toYaml(j);
  EXPECT_NE(y.find("a: 0.1\n"), std::string::npos) << y;
  EXPECT_NE(y.find("b: 1.0\n"), std::string::npos) << y;
  EXPECT_NE(y.find("c: 30\n"), std::string::npos) << y;
  EXPECT_NE(y.find("d: null\n"), std::string::npos) << y;
  EXPECT_NE(y.find("e: true\n"), std::string::npos) << y;
  json back = parseJsonOrYaml(y);
  EXPECT_EQ(back, j);
  EXPECT_TRUE(back["b"].is_number_float());
}

TEST(YamlEmit, RoundTripsAKubernetesObject) {
  json obj = json::parse(R"({
    "apiVersion": "minimcp.io/v1alpha1", "kind": "MCPInstance",
    "metadata": {"name": "inbox", "namespace": "alice", "labels": {"app": "x", "1": "2"},
                 "annotations": {}},
    "spec": {"type": "gmail", "ttl": "2h", "config": {"timeout_ms": 10000, "nested": [[], {}]},
             "env": [{"name": "A", "value": "multi\nline\n"}, {"name": "B", "value": "a\nb"},
                     {"name": "C", "value": "- dash"}, {"name": "D", "value": "key: value"},
                     {"name": "E", "value": " lead"}, {"name": "F", "value": "tab\there"},
                     {"name": "G", "value": "ünïcødé"}, {"name": "H", "value": "#hash"}],
             "suspend": false, "tokenGeneration": 0}
  })");
  std::string y = toYaml(obj);
  EXPECT_EQ(parseJsonOrYaml(y), obj) << y;
  EXPECT_NE(y.find("annotations: {}"), std::string::npos) << y;
  EXPECT_EQ(toYaml(json("scalar")), "scalar\n");
  EXPECT_EQ(parseJsonOrYaml(toYaml(json::array({1, "2", nullptr}))),
            json::array({1, "2", nullptr}));
}

TEST(DuplicateFields, NamesEveryRepeatedJsonKeyByPath) {
  struct Case {
    std::string text;
    std::vector<std::string> duplicates;
  };
  const std::vector<Case> cases = {
      {R"({"a":1,"b":2})", {}},
      {R"({"a":1,"a":2})", {"a"}},
      {R"({"spec":{"ttl":"1h","type":"t","ttl":"2h"}})", {"spec.ttl"}},
      {R"({"spec":{"env":[{"name":"A"},{"name":"B","value":"1","name":"C"}]}})",
       {"spec.env[1].name"}},
      {R"({"a":{"x":1},"b":{"x":1},"a":{}})", {"a"}},
      {R"([{"k":1,"k":2},[],{"k":1}])", {"[0].k"}},
      {"a: 1\nb: 2\n", {}},       // YAML: its parser refuses repeated keys itself
      {R"({"a":1,"a":)", {"a"}},  // malformed: what was seen; the real parse reports the rest
  };
  for (const Case& c : cases) EXPECT_EQ(duplicateFields(c.text), c.duplicates) << c.text;
  EXPECT_EQ(one(R"({"a":1,"a":2})")["a"], 2);  // the parser keeps the last
}
}  // namespace
}  // namespace minimcp::model
