// relay/ctl/test_args.h — for the tests of relay/ctl: a command line
// written as one string, parsed as ringpostctl would parse it.
#ifndef RINGPOST_RELAY_CTL_TEST_ARGS_H_
#define RINGPOST_RELAY_CTL_TEST_ARGS_H_

#include <string_view>
#include <vector>

#include "gtest/gtest.h"
#include "relay/ctl/args.h"

namespace ringpost::ctl::testing {

// A command line split at spaces (no argument in the tests' tables holds one).
inline std::vector<std::string_view> Split(std::string_view line) {
  std::vector<std::string_view> words;
  if (line.empty()) return words;
  size_t start = 0;
  for (size_t sp = line.find(' '); sp != std::string_view::npos; sp = line.find(' ', start)) {
    words.push_back(line.substr(start, sp - start));
    start = sp + 1;
  }
  words.push_back(line.substr(start));
  return words;
}

// The request of a command line that must parse.
inline CtlRequest Request(std::string_view line) {
  absl::StatusOr<CtlRequest> r = ParseArgs(Split(line));
  EXPECT_TRUE(r.ok()) << line << ": " << r.status();
  return r.value_or(CtlRequest{});
}

}  // namespace ringpost::ctl::testing

#endif  // RINGPOST_RELAY_CTL_TEST_ARGS_H_
