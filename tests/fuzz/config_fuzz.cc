// tests/fuzz/config_fuzz.cc — libFuzzer target: the TOML configuration file.
//
// Input: the file's text, handed to ParseConfigToml as "fuzz.toml" (toml++
// then the settings table). Checks:
//   - a refusal names the file ("fuzz.toml..."): operators get a location;
//   - an accepted configuration passes ValidateConfig;
//   - it describes itself as exactly one "name = value" line per setting
//     (no value smuggles a line break into logs, banners or headers), and
//     applying those lines as flags to the defaults rebuilds the same
//     configuration: the flag and file paths agree.
// Seeds: tests/fuzz/corpus/config/ (docs/ringpost.example.toml and variants).

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "relay/config/config.h"
#include "tests/fuzz/fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > (256u << 10)) return 0;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const absl::StatusOr<ringpost::Config> config =
      ringpost::ParseConfigToml(text, "fuzz.toml");
  if (!config.ok()) {
    FUZZ_CHECK(config.status().message().substr(0, 9) == "fuzz.toml");
    return 0;
  }
  FUZZ_CHECK(ringpost::ValidateConfig(*config).ok());

  const std::string described = ringpost::DescribeConfig(*config);
  std::vector<std::string_view> lines;
  std::string_view rest = described;
  while (!rest.empty()) {
    const size_t nl = rest.find('\n');
    FUZZ_CHECK(nl != std::string_view::npos);
    lines.push_back(rest.substr(0, nl));
    rest.remove_prefix(nl + 1);
  }
  const auto& names = ringpost::SettingNames();
  FUZZ_CHECK(lines.size() == names.size());

  ringpost::Config rebuilt;
  for (size_t i = 0; i < lines.size(); ++i) {
    std::string_view line = lines[i];
    const std::string prefix = std::string(names[i]) + " = ";
    FUZZ_CHECK(line.substr(0, prefix.size()) == prefix);
    line.remove_prefix(prefix.size());
    // DescribeConfig marks an unsafe durability with a trailing comment;
    // only there (a path may contain "  # WARNING" itself).
    if (names[i] == "durability") {
      const size_t comment = line.find("  # WARNING");
      if (comment != std::string_view::npos) line = line.substr(0, comment);
    }
    if (line == "\"\"") line = "";
    const absl::Status st = ringpost::ApplyFlag(&rebuilt, names[i], line);
    if (!st.ok()) {
      std::fprintf(stderr, "%s: %s\n", std::string(names[i]).c_str(),
                   std::string(st.message()).c_str());
    }
    FUZZ_CHECK(st.ok());
  }
  FUZZ_CHECK(ringpost::ValidateConfig(rebuilt).ok());
  FUZZ_CHECK(ringpost::DescribeConfig(rebuilt) == described);
  return 0;
}
