// sd_notify_test.cc — notifications reach a real datagram socket bound at a
// path or an abstract address; watchdog settings parse as libsystemd's do.
#include "relay/runtime/sd_notify.h"

#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <string>

#include "gtest/gtest.h"

namespace ringpost::runtime {
namespace {

// A bound AF_UNIX datagram socket standing in for systemd's notify socket.
class Manager {
 public:
  // `name` is what NOTIFY_SOCKET would say: "/path" or "@abstract".
  explicit Manager(const std::string& name) : name_(name) {
    fd_ = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    EXPECT_GE(fd_, 0);
    const timeval timeout{.tv_sec = 5, .tv_usec = 0};  // a failing test does not hang
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    if (name.size() > sizeof(a.sun_path) - 1) {
      ADD_FAILURE() << name << " does not fit sun_path";
      return;
    }
    std::memcpy(a.sun_path, name.data(), name.size());
    socklen_t len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name.size());
    if (name[0] == '@') {
      a.sun_path[0] = '\0';
    } else {
      len += 1;
    }
    EXPECT_EQ(bind(fd_, reinterpret_cast<sockaddr*>(&a), len), 0) << strerror(errno);
  }
  ~Manager() {
    close(fd_);
    if (name_[0] == '/') {
      unlink(name_.c_str());
      rmdir(name_.substr(0, name_.rfind('/')).c_str());
    }
  }

  std::string Receive() {
    char buf[4096];
    const ssize_t n = recv(fd_, buf, sizeof buf, 0);
    return n < 0 ? "<recv: " + std::string(strerror(errno)) + ">" : std::string(buf, n);
  }

 private:
  std::string name_;
  int fd_ = -1;
};

// Under /tmp, not TEST_TMPDIR: Bazel's paths are longer than sun_path.
std::string TempPath(const char* leaf) {
  char dir[] = "/tmp/sd_notify_test.XXXXXX";
  EXPECT_NE(mkdtemp(dir), nullptr) << strerror(errno);
  return std::string(dir) + "/" + leaf;
}

TEST(SdNotifierTest, SendsToAFilesystemPath) {
  const std::string path = TempPath("notify");
  Manager manager(path);
  SdNotifier n;
  std::string error;
  ASSERT_TRUE(n.Open(path.c_str(), &error)) << error;
  EXPECT_TRUE(n.enabled());
  ASSERT_TRUE(n.Send("READY=1\nSTATUS=serving"));
  EXPECT_EQ(manager.Receive(), "READY=1\nSTATUS=serving");
  ASSERT_TRUE(n.Send("WATCHDOG=1"));
  EXPECT_EQ(manager.Receive(), "WATCHDOG=1");
}

TEST(SdNotifierTest, SendsToAnAbstractAddress) {
  const std::string name = "@ringpost-sd-notify-test-" + std::to_string(getpid());
  Manager manager(name);
  SdNotifier n;
  std::string error;
  ASSERT_TRUE(n.Open(name.c_str(), &error)) << error;
  ASSERT_TRUE(n.Send("STOPPING=1"));
  EXPECT_EQ(manager.Receive(), "STOPPING=1");
}

TEST(SdNotifierTest, UnsetOrEmptyIsANoOp) {
  for (const char* address : {static_cast<const char*>(nullptr), ""}) {
    SdNotifier n;
    std::string error;
    EXPECT_TRUE(n.Open(address, &error));
    EXPECT_TRUE(error.empty());
    EXPECT_FALSE(n.enabled());
    EXPECT_TRUE(n.Send("READY=1"));  // nothing to send to: not a failure
  }
}

TEST(SdNotifierTest, RefusesAddressesSystemdNeverPasses) {
  const std::string too_long = "/" + std::string(sizeof(sockaddr_un::sun_path), 'x');
  for (const std::string& address : {std::string("relative/notify"), std::string("@"),
                                     std::string("vsock:2:1234"), too_long}) {
    SdNotifier n;
    std::string error;
    EXPECT_FALSE(n.Open(address.c_str(), &error)) << address;
    EXPECT_FALSE(error.empty()) << address;
    EXPECT_FALSE(n.enabled()) << address;
  }
}

TEST(SdNotifierTest, AbstractNameFillsSunPathExactly) {
  // An abstract name has no terminating NUL: all 108 octets are the name.
  const std::string name = "@" + std::string(sizeof(sockaddr_un::sun_path) - 1, 'a');
  SdNotifier n;
  std::string error;
  EXPECT_TRUE(n.Open(name.c_str(), &error)) << error;
}

TEST(SdNotifierTest, SendFailsWhenNobodyListens) {
  const std::string path = TempPath("absent");
  SdNotifier n;
  std::string error;
  ASSERT_TRUE(n.Open(path.c_str(), &error)) << error;
  const bool sent = n.Send("READY=1");
  const int error_number = errno;
  EXPECT_FALSE(sent);
  EXPECT_EQ(error_number, ENOENT);
  rmdir(path.substr(0, path.rfind('/')).c_str());
}

TEST(ParseWatchdogTest, ReadsTheTimeoutForThisProcess) {
  EXPECT_EQ(ParseWatchdog("400000", nullptr, 42).usec, 400000u);
  EXPECT_EQ(ParseWatchdog("30000000", "42", 42).usec, 30000000u);
}

TEST(ParseWatchdogTest, NoWatchdogWhenUnsetOrMeantForAnotherProcess) {
  EXPECT_EQ(ParseWatchdog(nullptr, nullptr, 42).usec, 0u);
  EXPECT_EQ(ParseWatchdog(nullptr, "42", 42).usec, 0u);
  const WatchdogSetting other = ParseWatchdog("400000", "41", 42);
  EXPECT_EQ(other.usec, 0u);
  EXPECT_TRUE(other.error.empty());
}

TEST(ParseWatchdogTest, BadValuesAreErrorsAndNoWatchdog) {
  for (const char* usec : {"", "0", "-5", "+5", " 5", "5 ", "5s", "0x10", "18446744073709551615",
                           "18446744073709551616", "99999999999999999999999"}) {
    const WatchdogSetting w = ParseWatchdog(usec, nullptr, 42);
    EXPECT_EQ(w.usec, 0u) << usec;
    EXPECT_NE(w.error.find("WATCHDOG_USEC"), std::string::npos) << usec;
  }
  for (const char* pid : {"", "0", "-1", "abc", "4294967296", "42 "}) {
    const WatchdogSetting w = ParseWatchdog("400000", pid, 42);
    EXPECT_EQ(w.usec, 0u) << pid;
    EXPECT_NE(w.error.find("WATCHDOG_PID"), std::string::npos) << pid;
  }
}

TEST(MonotonicUsecFieldTest, IsTheMonotonicClockInMicroseconds) {
  timespec before{};
  clock_gettime(CLOCK_MONOTONIC, &before);
  const std::string field = MonotonicUsecField();
  ASSERT_EQ(field.rfind("MONOTONIC_USEC=", 0), 0u) << field;
  const unsigned long long usec = std::stoull(field.substr(15));
  EXPECT_GE(usec, static_cast<unsigned long long>(before.tv_sec) * 1000000);
}

}  // namespace
}  // namespace ringpost::runtime
