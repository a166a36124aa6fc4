// dns/resolv_conf.cc — see resolv_conf.h.
#include "dns/resolv_conf.h"

#include <algorithm>
#include <fstream>
#include <sstream>

#include "absl/strings/numbers.h"
#include "dns/address.h"

namespace ringpost::dns {
namespace {

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

absl::StatusOr<sockaddr_storage> ParseServer(std::string_view text) {
  text = Trim(text);
  if (auto ip = IpAddress::Parse(text)) return ip->ToSockaddr(53);
  auto sa = ParseEndpoint(text);
  if (!sa) {
    return absl::InvalidArgumentError("DNS server '" + std::string(text) +
                                      "' is not a numeric ADDR or ADDR:PORT");
  }
  if (PortOf(*sa) == 0) {
    return absl::InvalidArgumentError("DNS server '" + std::string(text) +
                                      "' has port 0");
  }
  return *sa;
}

}  // namespace

absl::StatusOr<std::vector<sockaddr_storage>> ParseServerList(std::string_view list) {
  std::vector<sockaddr_storage> out;
  while (!list.empty()) {
    const size_t comma = list.find(',');
    std::string_view item = Trim(list.substr(0, comma));
    list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
    if (item.empty()) continue;
    if (out.size() >= kMaxServers) {
      return absl::InvalidArgumentError("more than 8 DNS servers");
    }
    auto sa = ParseServer(item);
    if (!sa.ok()) return sa.status();
    out.push_back(*sa);
  }
  if (out.empty()) return absl::InvalidArgumentError("empty DNS server list");
  return out;
}

absl::StatusOr<ServerConfig> ParseResolvConf(std::string_view text) {
  ServerConfig cfg;
  // Bounded by the text: each pass consumes one line.
  while (!text.empty()) {
    const size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    if (const size_t hash = line.find_first_of("#;"); hash != std::string_view::npos) {
      line = line.substr(0, hash);
    }
    line = Trim(line);
    const size_t sp = line.find_first_of(" \t");
    if (sp == std::string_view::npos) continue;
    const std::string_view key = line.substr(0, sp);
    std::string_view rest = Trim(line.substr(sp + 1));
    if (key == "nameserver") {
      if (cfg.servers.size() >= kMaxServers) continue;
      // A link-local IPv6 with a zone ("fe80::1%eth0") is skipped: the
      // numeric parser has no scope ids.
      auto sa = ParseServer(rest.substr(0, rest.find_first_of(" \t")));
      if (sa.ok()) cfg.servers.push_back(*sa);
    } else if (key == "options") {
      while (!rest.empty()) {
        const size_t end = rest.find_first_of(" \t");
        const std::string_view opt = rest.substr(0, end);
        rest = end == std::string_view::npos ? std::string_view() : Trim(rest.substr(end));
        uint32_t n = 0;
        if (opt.rfind("timeout:", 0) == 0 &&
            absl::SimpleAtoi(absl::string_view(opt.data() + 8, opt.size() - 8), &n)) {
          cfg.timeout_ms = uint64_t{std::clamp<uint32_t>(n, 1, 30)} * 1000;
        } else if (opt.rfind("attempts:", 0) == 0 &&
                   absl::SimpleAtoi(absl::string_view(opt.data() + 9, opt.size() - 9), &n)) {
          cfg.attempts = std::clamp<uint32_t>(n, 1, 5);
        }
      }
    }
  }
  if (cfg.servers.empty()) {
    cfg.servers.push_back(IpAddress::Parse("127.0.0.1")->ToSockaddr(53));
  }
  return cfg;
}

absl::StatusOr<ServerConfig> LoadServerConfig(std::string_view dns_setting,
                                              const std::string& resolv_conf_path) {
  if (!Trim(dns_setting).empty()) {
    auto servers = ParseServerList(dns_setting);
    if (!servers.ok()) return servers.status();
    ServerConfig cfg;
    cfg.servers = std::move(*servers);
    return cfg;
  }
  std::ifstream in(resolv_conf_path);
  if (!in) {
    return absl::FailedPreconditionError(
        "cannot read " + resolv_conf_path +
        ": set --dns=ADDR:PORT to name the DNS servers explicitly");
  }
  std::stringstream ss;
  ss << in.rdbuf();
  if (ss.str().size() > 1 << 20) {
    return absl::InvalidArgumentError(resolv_conf_path + " is larger than 1 MiB");
  }
  return ParseResolvConf(ss.str());
}

}  // namespace ringpost::dns
