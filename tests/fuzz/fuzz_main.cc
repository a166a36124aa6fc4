// tests/fuzz/fuzz_main.cc — run a libFuzzer target over files, without
// libFuzzer: the corpus regression test driver.
//
// Built with gcc by Bazel (tests/fuzz/BUILD.bazel), it links one target's
// LLVMFuzzerTestOneInput and feeds it every file named on the command line
// (directories are walked, one level of subdirectories included). So every
// seed and every input that once crashed runs on each `tools/dev test`, also
// under --config=asan.
//
// Beyond the files themselves it runs `--mutations=N` (default 0) cheap
// deterministic variants of each file (byte flips, truncations, duplicated
// slices; fixed seed), a smoke test of inputs near the corpus, not a fuzzer.
//
// Fails (exit 1) when a path is missing or no input was found: a corpus that
// silently vanished must not pass. A crash of the target is a crash here.

#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

constexpr size_t kMaxFiles = 100000;
constexpr int kMaxDepth = 2;

bool IsDir(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

bool Exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

void Collect(const std::string& path, int depth, std::vector<std::string>* out) {
  if (out->size() >= kMaxFiles) return;
  if (!IsDir(path)) {
    out->push_back(path);
    return;
  }
  if (depth > kMaxDepth) return;
  DIR* d = ::opendir(path.c_str());
  if (d == nullptr) return;
  std::vector<std::string> names;
  while (const dirent* e = ::readdir(d)) {
    if (e->d_name[0] == '.') continue;  // ., .., hidden files
    names.emplace_back(e->d_name);
    if (names.size() >= kMaxFiles) break;
  }
  ::closedir(d);
  std::sort(names.begin(), names.end());
  for (const std::string& n : names) Collect(path + "/" + n, depth + 1, out);
}

std::string ReadFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

void Run(const std::string& input) {
  // A copy in its own allocation, so ASan sees reads past the end.
  std::vector<uint8_t> buf(input.begin(), input.end());
  LLVMFuzzerTestOneInput(buf.empty() ? nullptr : buf.data(), buf.size());
}

// Deterministic variants of `input`, from a per-file seed.
void RunMutations(const std::string& input, int count, uint64_t seed) {
  uint64_t s = seed | 1;
  auto next = [&s] {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    return s;
  };
  for (int i = 0; i < count; ++i) {
    std::string m = input;
    switch (next() % 4) {
      case 0:
        if (!m.empty()) m[next() % m.size()] ^= static_cast<char>(1u << (next() % 8));
        break;
      case 1:
        m.resize(m.empty() ? 0 : next() % m.size());
        break;
      case 2:
        if (!m.empty()) m[next() % m.size()] = static_cast<char>(next());
        break;
      case 3: {
        if (m.empty()) break;
        const size_t at = next() % m.size();
        const size_t len = std::min<size_t>(next() % 64 + 1, m.size() - at);
        m.insert(next() % m.size(), m.substr(at, len));
        break;
      }
    }
    Run(m);
  }
}

}  // namespace

int main(int argc, char** argv) {
  int mutations = 0;
  std::vector<std::string> files;
  bool missing = false;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg.rfind("--mutations=", 0) == 0) {
      mutations = std::atoi(arg.c_str() + std::strlen("--mutations="));
      continue;
    }
    if (!Exists(arg)) {
      std::fprintf(stderr, "fuzz_main: %s does not exist\n", arg.c_str());
      missing = true;
      continue;
    }
    Collect(arg, 0, &files);
  }
  if (missing) return 1;
  if (files.empty()) {
    std::fprintf(stderr, "fuzz_main: no inputs\n");
    return 1;
  }
  uint64_t seed = 0x5EED;
  for (const std::string& f : files) {
    const std::string input = ReadFile(f);
    Run(input);
    seed = seed * 31 + input.size();
    RunMutations(input, mutations, seed);
  }
  std::fprintf(stderr, "fuzz_main: %zu inputs, %d variants each: ok\n", files.size(),
               mutations);
  return 0;
}
