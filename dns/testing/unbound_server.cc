// dns/testing/unbound_server.cc — see unbound_server.h.
#include "dns/testing/unbound_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

namespace ringpost::dns::testing {
namespace {

sockaddr_in Loopback(uint16_t port) {
  sockaddr_in a = {};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  return a;
}

// A port on 127.0.0.1 free for both UDP and TCP right now.
uint16_t FreePort() {
  for (int tries = 0; tries < 50; ++tries) {
    int u = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_in a = Loopback(0);
    socklen_t len = sizeof(a);
    if (bind(u, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 ||
        getsockname(u, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
      close(u);
      continue;
    }
    int t = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const bool ok = bind(t, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0;
    close(t);
    close(u);
    if (ok) return ntohs(a.sin_port);
  }
  return 0;
}

std::string TempRoot() {
  const char* t = std::getenv("TEST_TMPDIR");
  return t != nullptr && *t != '\0' ? t : "/tmp";
}

}  // namespace

absl::StatusOr<std::unique_ptr<UnboundServer>> UnboundServer::Start(
    const std::vector<std::string>& server_lines) {
  if (access(kBinary, X_OK) != 0) {
    return absl::FailedPreconditionError(
        std::string(kBinary) +
        " not found: install Debian's unbound (apt-get install unbound; "
        "tools/dev installs everything listed in tools/packages)");
  }
  std::unique_ptr<UnboundServer> server(new UnboundServer());
  std::string templ = TempRoot() + "/ringpost-unbound-XXXXXX";
  if (mkdtemp(templ.data()) == nullptr) {
    return absl::InternalError("mkdtemp: " + std::string(std::strerror(errno)));
  }
  server->dir_ = templ;
  server->conf_path_ = server->dir_ + "/unbound.conf";
  server->log_path_ = server->dir_ + "/unbound.log";
  // A port can be taken between FreePort() and unbound's bind: retry.
  absl::Status last;
  for (int attempt = 0; attempt < 3; ++attempt) {
    last = server->Launch(server_lines);
    if (last.ok()) return server;
  }
  return last;
}

absl::Status UnboundServer::Launch(const std::vector<std::string>& server_lines) {
  port_ = FreePort();
  if (port_ == 0) return absl::InternalError("no free loopback port for unbound");
  std::ostringstream conf;
  conf << "server:\n"
       << "  verbosity: 1\n"
       << "  interface: 127.0.0.1\n"
       << "  port: " << port_ << "\n"
       << "  do-ip4: yes\n  do-ip6: no\n  do-udp: yes\n  do-tcp: yes\n"
       << "  do-daemonize: no\n"
       << "  username: \"\"\n  chroot: \"\"\n"
       << "  directory: \"" << dir_ << "\"\n"
       << "  pidfile: \"\"\n  logfile: \"\"\n  use-syslog: no\n"
       << "  num-threads: 1\n"
       << "  access-control: 127.0.0.0/8 allow\n"
       << "  do-not-query-localhost: no\n"
       << "  module-config: \"iterator\"\n";
  for (const std::string& line : server_lines) conf << "  " << line << "\n";
  conf << "remote-control:\n  control-enable: no\n";
  {
    std::ofstream out(conf_path_, std::ios::trunc);
    out << conf.str();
    if (!out) return absl::InternalError("cannot write " + conf_path_);
  }
  const std::string binary = kBinary;
  const std::string log_path = log_path_;
  const std::string conf_path = conf_path_;
  const pid_t pid = fork();
  if (pid < 0) return absl::InternalError("fork: " + std::string(std::strerror(errno)));
  if (pid == 0) {
    // Child: only async-signal-safe calls until exec. If the test dies,
    // unbound gets SIGTERM instead of outliving it.
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    const int fd = open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      dup2(fd, 1);
      dup2(fd, 2);
    }
    const int null_fd = open("/dev/null", O_RDONLY);
    if (null_fd >= 0) dup2(null_fd, 0);
    char* argv[] = {const_cast<char*>(binary.c_str()), const_cast<char*>("-d"),
                    const_cast<char*>("-c"), const_cast<char*>(conf_path.c_str()), nullptr};
    execv(binary.c_str(), argv);
    _exit(127);
  }
  pid_ = pid;
  // Bounded: 15 s in 50 ms steps.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return absl::InternalError("unbound exited during start-up; its log:\n" + log());
    }
    if (Answers()) return absl::OkStatus();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  Stop();
  return absl::DeadlineExceededError("unbound did not answer within 15 s; its log:\n" + log());
}

bool UnboundServer::Answers() const {
  // "localhost. IN A": answered from unbound's built-in local zone.
  static const char kQuery[] =
      "\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00"
      "\x09localhost\x00\x00\x01\x00\x01";
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sockaddr_in a = Loopback(port_);
  bool ok = false;
  if (connect(s, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0 &&
      send(s, kQuery, sizeof(kQuery) - 1, 0) == static_cast<ssize_t>(sizeof(kQuery) - 1)) {
    pollfd p = {s, POLLIN, 0};
    char buf[512];
    if (poll(&p, 1, 200) == 1 && recv(s, buf, sizeof(buf), 0) >= 12) {
      ok = buf[0] == '\x12' && buf[1] == '\x34';
    }
  }
  close(s);
  return ok;
}

void UnboundServer::Stop() {
  if (pid_ <= 0) return;
  kill(pid_, SIGTERM);
  // Bounded: 5 s, then SIGKILL.
  for (int i = 0; i < 100; ++i) {
    if (waitpid(pid_, nullptr, WNOHANG) == pid_) {
      pid_ = -1;
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  kill(pid_, SIGKILL);
  waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

UnboundServer::~UnboundServer() {
  Stop();
  if (!dir_.empty()) {
    unlink(conf_path_.c_str());
    unlink(log_path_.c_str());
    rmdir(dir_.c_str());
  }
}

std::string UnboundServer::address() const {
  return "127.0.0.1:" + std::to_string(port_);
}

sockaddr_storage UnboundServer::endpoint() const {
  sockaddr_storage ss = {};
  sockaddr_in a = Loopback(port_);
  std::memcpy(&ss, &a, sizeof(a));
  return ss;
}

std::string UnboundServer::log() const {
  std::ifstream in(log_path_);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace ringpost::dns::testing
