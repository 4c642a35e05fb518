#include "api/client/metadata_patch.h"

#include <gtest/gtest.h>

namespace minimcp::client {
namespace {

using nlohmann::json;

json object() {
  return {{"metadata",
           {{"name", "inbox"},
            {"resourceVersion", "7"},
            {"labels", {{"app", "mail"}, {"tier", "web"}}},
            {"annotations", {{"note", "hi"}}}}}};
}

std::string errorOf(const std::function<void()>& f) {
  try {
    f();
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "";
}

TEST(MetadataPatch, SplitsResourcesFromChanges) {
  auto s = splitResourcesAndPairs({"mi", "inbox", "a=b", "c-"}, MetadataField::Labels);
  EXPECT_EQ(s.resources, (std::vector<std::string>{"mi", "inbox"}));
  EXPECT_EQ(s.pairs, (std::vector<std::string>{"a=b", "c-"}));
  EXPECT_EQ(errorOf([] {
              splitResourcesAndPairs({"mi", "a=b", "inbox"}, MetadataField::Labels);
            }),
            "all resources must be specified before label changes: inbox");
}

TEST(MetadataPatch, ParseErrors) {
  const struct {
    std::vector<std::string> pairs;
    MetadataField field;
    const char* message;
  } cases[] = {
      {{}, MetadataField::Labels, "at least one label update is required"},
      {{}, MetadataField::Annotations, "at least one annotation update is required"},
      {{"a=b=c"}, MetadataField::Labels, "invalid label spec: a=b=c"},
      {{"a=b", "a-"},
       MetadataField::Labels,
       "can not both modify and remove a label in the same command"},
      {{"a=b", "a-"},
       MetadataField::Annotations,
       "can not both modify and remove the following annotation(s) in the same command: a"},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(errorOf([&] { parseMetadataChanges(c.pairs, c.field); }), c.message);
  }
  EXPECT_NE(errorOf([] {
              parseMetadataChanges({"a=not ok"}, MetadataField::Labels);
            }).find("invalid label value: \"a=not ok\": a valid label must be"),
            std::string::npos);
  // Annotation values are free text, "=" included.
  auto c = parseMetadataChanges({"note=a=b c"}, MetadataField::Annotations);
  EXPECT_EQ(c.set.at("note"), "a=b c");
}

TEST(MetadataPatch, Patches) {
  const struct {
    const char* name;
    std::vector<std::string> pairs;
    MetadataField field;
    bool overwrite;
    std::string rv;
    json patch;
    const char* outcome;
  } cases[] = {
      {"new label",
       {"env=prod"},
       MetadataField::Labels,
       false,
       "",
       {{"metadata", {{"labels", {{"env", "prod"}}}}}},
       "labeled"},
      {"same value is no change",
       {"app=mail"},
       MetadataField::Labels,
       false,
       "",
       json::object(),
       "not labeled"},
      {"overwrite",
       {"app=web"},
       MetadataField::Labels,
       true,
       "",
       {{"metadata", {{"labels", {{"app", "web"}}}}}},
       "labeled"},
      {"removal",
       {"tier-"},
       MetadataField::Labels,
       false,
       "",
       {{"metadata", {{"labels", {{"tier", nullptr}}}}}},
       "unlabeled"},
      {"resource version",
       {"env=prod"},
       MetadataField::Labels,
       false,
       "7",
       {{"metadata", {{"labels", {{"env", "prod"}}}, {"resourceVersion", "7"}}}},
       "labeled"},
      {"annotation",
       {"owner=me", "note-"},
       MetadataField::Annotations,
       false,
       "",
       {{"metadata", {{"annotations", {{"owner", "me"}, {"note", nullptr}}}}}},
       "annotated"},
  };
  for (const auto& c : cases) {
    auto p =
        metadataPatch(object(), c.field, parseMetadataChanges(c.pairs, c.field), c.overwrite, c.rv);
    EXPECT_EQ(p.patch, c.patch) << c.name;
    EXPECT_EQ(p.outcome, c.outcome) << c.name;
  }
}

TEST(MetadataPatch, OverwriteRefusals) {
  auto changes = parseMetadataChanges({"app=web"}, MetadataField::Labels);
  EXPECT_EQ(errorOf([&] { metadataPatch(object(), MetadataField::Labels, changes, false, ""); }),
            "'app' already has a value (mail), and --overwrite is false");
  changes = parseMetadataChanges({"app=web", "tier=db"}, MetadataField::Labels);
  EXPECT_EQ(errorOf([&] { metadataPatch(object(), MetadataField::Labels, changes, false, ""); }),
            "['app' already has a value (mail), and --overwrite is false, 'tier' already has a "
            "value (web), and --overwrite is false]");
  // kubectl refuses to declare an existing annotation again, even with the same value.
  changes = parseMetadataChanges({"note=hi"}, MetadataField::Annotations);
  EXPECT_EQ(
      errorOf([&] { metadataPatch(object(), MetadataField::Annotations, changes, false, ""); }),
      "--overwrite is false but found the following declared annotation(s): 'note' already has "
      "a value (hi)");
}

TEST(MetadataPatch, RemovingAMissingLabelIsANotice) {
  auto p = metadataPatch(object(), MetadataField::Labels,
                         parseMetadataChanges({"nope-"}, MetadataField::Labels), false, "");
  EXPECT_EQ(p.patch, json::object());
  EXPECT_EQ(p.notices, (std::vector<std::string>{"label \"nope\" not found."}));
  EXPECT_EQ(p.outcome, "not labeled");
}

}  // namespace
}  // namespace minimcp::client
