// config_docs_test.cc — keeps the operator docs in step with the settings
// table: docs/configuration.md must name every setting (and show its default
// in its table row), and docs/ringpost.example.toml must load cleanly.

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "gtest/gtest.h"
#include "relay/config/config.h"

namespace ringpost {
namespace {

// "$TEST_SRCDIR/$TEST_WORKSPACE/<path>": files declared as `data` of the test.
std::string RunfilePath(const std::string& workspace_relative) {
  const char* srcdir = std::getenv("TEST_SRCDIR");
  const char* workspace = std::getenv("TEST_WORKSPACE");
  if (srcdir == nullptr || workspace == nullptr) return workspace_relative;
  return std::string(srcdir) + "/" + workspace + "/" + workspace_relative;
}

std::string ReadRunfile(const std::string& workspace_relative) {
  const std::string path = RunfilePath(workspace_relative);
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << "cannot open " << path
                         << " (is it in the test's data and docs/BUILD.bazel?)";
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string Backticked(std::string_view s) { return "`" + std::string(s) + "`"; }

// Default value of each setting in flag syntax, from DescribeConfig().
std::string DefaultOf(std::string_view name) {
  const std::string prefix = std::string(name) + " = ";
  std::istringstream lines(DescribeConfig(Config{}));
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind(prefix, 0) == 0) return line.substr(prefix.size());
  }
  ADD_FAILURE() << "DescribeConfig has no line for " << name;
  return "";
}

TEST(ConfigDocsTest, ReferenceMentionsEverySetting) {
  const std::string doc = ReadRunfile("docs/configuration.md");
  ASSERT_FALSE(doc.empty());
  std::vector<std::string_view> missing;
  for (std::string_view name : SettingNames()) {
    if (doc.find(Backticked(name)) == std::string::npos) missing.push_back(name);
  }
  std::string list;
  for (std::string_view m : missing) list += " " + std::string(m);
  EXPECT_TRUE(missing.empty())
      << "docs/configuration.md does not document these settings (as `name`):" << list;
}

TEST(ConfigDocsTest, ReferenceTableRowShowsDefault) {
  const std::string doc = ReadRunfile("docs/configuration.md");
  ASSERT_FALSE(doc.empty());
  for (std::string_view name : SettingNames()) {
    const std::string row_start = "\n| " + Backticked(name) + " |";
    const size_t pos = doc.find(row_start);
    if (pos == std::string::npos) {
      ADD_FAILURE() << "docs/configuration.md: no table row starting with | `" << name << "` |";
      continue;
    }
    const size_t end = doc.find('\n', pos + 1);
    const std::string row = doc.substr(pos + 1, end == std::string::npos ? end : end - pos - 1);
    const std::string want = Backticked(DefaultOf(name));
    EXPECT_NE(row.find(want), std::string::npos)
        << "docs/configuration.md: the row for `" << name << "` should show the default "
        << want << ":\n"
        << row;
  }
}

// The Reload section lists exactly the settings that need a restart
// (tls_cert/tls_key are named there for turning TLS on or off only).
TEST(ConfigDocsTest, ReloadSectionListsExactlyTheRestartOnlySettings) {
  const std::string doc = ReadRunfile("docs/configuration.md");
  const size_t begin = doc.find("<!-- restart-only");
  const size_t end = doc.find("<!-- end restart-only -->");
  ASSERT_NE(begin, std::string::npos);
  ASSERT_NE(end, std::string::npos);
  const std::string list = doc.substr(begin, end - begin);
  for (std::string_view name : SettingNames()) {
    const bool listed = list.find(Backticked(name)) != std::string::npos;
    if (name == "tls_cert" || name == "tls_key") continue;
    EXPECT_EQ(listed, SettingNeedsRestart(name))
        << "docs/configuration.md, Reload: `" << name << "` "
        << (listed ? "is listed but applies live" : "needs a restart but is not listed");
  }
}

TEST(ConfigDocsTest, ExampleConfigParses) {
  const std::string text = ReadRunfile("docs/ringpost.example.toml");
  ASSERT_FALSE(text.empty());
  absl::StatusOr<Config> config = ParseConfigToml(text, "docs/ringpost.example.toml");
  ASSERT_TRUE(config.ok()) << config.status().message();
  // Sanity: it is the production-shaped file, not an empty one.
  EXPECT_EQ(config->durability, Durability::kFsync);
  EXPECT_FALSE(config->routes.empty());
}

}  // namespace
}  // namespace ringpost
