// main.cc — the ringpost daemon.
//
//   ringpost --config FILE [--flag=value ...]   (ringpost --helpfull lists all)
//
// Starts one shard per CPU (or --shards), each a pinned thread with its own
// io_uring loop, listener, spool segments and delivery queues, then waits
// for signals: SIGTERM/SIGINT drain (after drain_grace: stop accepting, 421
// to new sessions, finish in-flight work within drain_timeout, keep the
// queue on disk, exit 0; a second signal cuts it short), SIGHUP reloads the
// configuration (what can change live), SIGUSR1 reopens the delivery log.
// Under systemd (Type=notify, NOTIFY_SOCKET set) it also reports readiness,
// reloads, the drain and watchdog pings (relay/systemd_notify.h).
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/usage.h"
#include "dns/address.h"
#include "dns/mx_cache.h"
#include "dns/resolv_conf.h"
#include "relay/auth/credentials.h"
#include "relay/delivery/bounce_class.h"
#include "relay/config/config.h"
#include "relay/tls/context.h"
#include "relay/runtime/loop.h"
#include "relay/shard/shard.h"
#include "relay/systemd_notify.h"

namespace {

bool MakeDirs(const std::string& path) {
  std::string partial;
  for (size_t i = 0; i <= path.size(); ++i) {
    if (i == path.size() || (path[i] == '/' && i > 0)) {
      partial = path.substr(0, i);
      if (mkdir(partial.c_str(), 0750) != 0 && errno != EEXIST) return false;
    }
  }
  return true;
}

bool WaitForShards(ringpost::Shared* shared, int expected) {
  // Bounded: shards finish Setup (recovery included) or fail.
  for (;;) {
    const int started = shared->started.load();
    const int failed = shared->failed.load();
    if (started + failed >= expected) return failed == 0;
    usleep(1000);
  }
}

// The bounce classification rules the config names (bounce_rules), or the
// built-in ones.
absl::StatusOr<std::shared_ptr<const ringpost::delivery::BounceRules>> LoadBounceRules(
    const ringpost::Config& c) {
  if (c.bounce_rules.empty()) return ringpost::delivery::BounceRules::Defaults();
  return ringpost::delivery::BounceRules::Load(c.bounce_rules);
}

// SIGHUP: the config file (and the command-line flags, which still win)
// read again. What can change live goes to the shards; settings that need a
// restart keep their running values, each named in the log. The certificate
// pair and the credentials are read again even when their paths did not
// change (renewed in place). A file that does not load or validate, or a
// certificate or credentials file that does not load, changes nothing: the
// log names the file, line and key, and /readyz is 503 until a reload
// succeeds. `loaded`: the running config as loaded (before start-up filled
// in the hostname and bound ports), replaced on success.
void Reload(ringpost::Shared& shared, ringpost::Config* loaded) {
  const std::string path = absl::GetFlag(FLAGS_config);
  auto refuse = [&shared](const std::string& why) {
    fprintf(stderr, "ringpost: SIGHUP: reload refused, keeping the running configuration: %s\n",
            why.c_str());
    shared.SetReloadError(why);
  };
  absl::StatusOr<ringpost::Config> next = ringpost::LoadConfig(path);
  if (!next.ok()) return refuse(std::string(next.status().message()));
  absl::StatusOr<ringpost::ReloadPlan> plan = ringpost::PlanReload(*loaded, *std::move(next));
  if (!plan.ok()) return refuse(std::string(plan.status().message()));
  const ringpost::Config& c = plan->config;

  // Files the config names: all must load before anything changes.
  std::shared_ptr<const ringpost::auth::Credentials> credentials;
  if (!c.auth_users.empty()) {
    auto loaded_credentials = ringpost::auth::Credentials::Load(c.auth_users);
    if (!loaded_credentials.ok()) {
      return refuse("auth_users: " + std::string(loaded_credentials.status().message()));
    }
    credentials = *std::move(loaded_credentials);
  }
  if (shared.tls_server != nullptr) {
    if (absl::Status st = shared.tls_server->Reload(c.tls_cert, c.tls_key); !st.ok()) {
      return refuse(std::string(st.message()));
    }
  }
  auto rules = LoadBounceRules(c);
  if (!rules.ok()) return refuse(std::string(rules.status().message()));
  shared.credentials.Set(credentials);

  auto r = std::make_shared<ringpost::Reloaded>();
  r->config = c;
  r->bounce_rules = *std::move(rules);
  // What start-up resolved stays (both need a restart to change).
  r->config.hostname = shared.config.hostname;
  r->config.listen = shared.config.listen;
  r->tls_client = ringpost::tls::NewClientCtx(c.tls_ca_file, &r->tls_ca_error);
  if (!r->tls_ca_error.empty()) {
    fprintf(stderr, "ringpost: SIGHUP: WARNING: %s: outbound `verify` deliveries will fail\n",
            r->tls_ca_error.c_str());
  }
  for (const std::string& name : plan->kept) {
    fprintf(stderr, "ringpost: SIGHUP: %s changed in the file but needs a restart; still %s\n",
            name.c_str(), ringpost::DescribeSetting(*loaded, name).c_str());
  }
  shared.PublishReload(r);
  *loaded = std::move(plan->config);
  shared.SetReloadError("");

  // Each shard takes it at its next loop turn (within a second when idle).
  const uint64_t generation = r->generation;
  int behind = 0;
  for (int attempt = 0; attempt < 500; ++attempt) {  // bounded: 5 s
    behind = 0;
    for (int i = 0; i < shared.shards; ++i) {
      if (shared.applied_generation[i].load(std::memory_order_acquire) < generation) ++behind;
    }
    if (behind == 0) break;
    usleep(10000);
  }
  std::string changed;
  for (const std::string& name : plan->changed) changed += (changed.empty() ? "" : ", ") + name;
  fprintf(stderr, "ringpost: SIGHUP: reloaded %s (generation %llu): %s%s\n",
          path.empty() ? "(no config file)" : path.c_str(),
          static_cast<unsigned long long>(generation),
          changed.empty() ? "no live setting changed" : ("changed " + changed).c_str(),
          behind == 0 ? ""
                      : ("; " + std::to_string(behind) + " shard(s) have not taken it yet")
                            .c_str());
}

// SIGUSR1: the delivery log's path is opened again and put in place of the
// descriptor every shard writes to (dup2 swaps it atomically), so a log
// rotated away is let go and a fresh file takes the next records.
void ReopenLog(const std::string& path, int log_fd) {
  const int fd = open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
  if (fd < 0 || dup2(fd, log_fd) < 0) {
    fprintf(stderr,
            "ringpost: SIGUSR1: cannot reopen delivery log %s: %s; still writing the old one\n",
            path.c_str(), strerror(errno));
  } else {
    fprintf(stderr, "ringpost: SIGUSR1: reopened delivery log %s\n", path.c_str());
  }
  if (fd >= 0) close(fd);
}

// Waits at most `timeout` for one of `signals`; false on timeout.
bool WaitSignal(const sigset_t& signals, absl::Duration timeout, int* sig) {
  if (timeout < absl::ZeroDuration()) timeout = absl::ZeroDuration();
  const timespec ts = absl::ToTimespec(timeout);
  const int got = sigtimedwait(&signals, nullptr, &ts);
  if (got < 0) return false;
  *sig = got;
  return true;
}

}  // namespace

int main(int argc, char* argv[]) {
  absl::SetProgramUsageMessage(
      "outbound SMTP relay on per-core io_uring shards.\n"
      "usage: ringpost [--config=FILE] [--flag=value ...]; see docs/configuration.md");
  // `ringpost passwd USER`: a line for the auth_users file (password on stdin).
  if (argc >= 2 && std::string_view(argv[1]) == "passwd") {
    if (argc != 3) {
      fprintf(stderr, "usage: ringpost passwd USER < password\n");
      return 2;
    }
    return ringpost::auth::PasswdMain(argv[2], stdin, stdout, stderr);
  }
  std::vector<char*> args = ringpost::ParseCommandLine(argc, argv);
  if (args.size() > 1) {
    fprintf(stderr, "ringpost: unexpected argument '%s' (flags look like --name=value)\n",
            args[1]);
    return 2;
  }
  auto config = ringpost::LoadConfig(absl::GetFlag(FLAGS_config));
  if (!config.ok()) {
    fprintf(stderr, "ringpost: %s\n", std::string(config.status().message()).c_str());
    return 2;
  }

  // As loaded: what a SIGHUP compares the file with.
  ringpost::Config loaded = *config;
  auto shared = std::make_unique<ringpost::Shared>();
  shared->config = *config;
  ringpost::Config& c = shared->config;
  shared->shards = c.shards > 0 ? c.shards : ringpost::runtime::AvailableCpus();
  shared->heartbeat_ms = std::make_unique<std::atomic<uint64_t>[]>(shared->shards);
  shared->applied_generation = std::make_unique<std::atomic<uint64_t>[]>(shared->shards);
  shared->metrics = std::make_unique<ringpost::shard::ShardMetrics[]>(shared->shards);
  shared->control = std::make_unique<ringpost::shard::ControlBoard>(shared->shards);
  for (int i = 0; i < shared->shards; i++) {
    shared->heartbeat_ms[i].store(ringpost::shard::SteadyMs());
    shared->applied_generation[i].store(0);
  }
  if (c.hostname.empty()) {
    char host[256] = {};
    gethostname(host, sizeof(host) - 1);
    c.hostname = host[0] != '\0' ? host : "localhost";
  }
  shared->hostname = c.hostname;
  if (ringpost::IsFullyQualifiedHostname(c.hostname)) {
    shared->helo_name = c.hostname;
  } else {
    fprintf(stderr,
            "ringpost: WARNING: hostname '%s' is not a fully qualified domain name; "
            "outbound EHLO sends the connection's address literal instead (set "
            "--hostname)\n",
            c.hostname.c_str());
  }

  if (!c.tls_cert.empty()) {
    auto tls = ringpost::tls::ServerContext::Create(c.tls_cert, c.tls_key);
    if (!tls.ok()) {
      fprintf(stderr, "ringpost: %s\n", std::string(tls.status().message()).c_str());
      return 2;
    }
    shared->tls_server = *std::move(tls);
  }
  if (!c.auth_users.empty()) {
    auto credentials = ringpost::auth::Credentials::Load(c.auth_users);
    if (!credentials.ok()) {
      fprintf(stderr, "ringpost: auth_users: %s\n",
              std::string(credentials.status().message()).c_str());
      return 2;
    }
    shared->credentials.Set(*std::move(credentials));
  }
  {
    auto rules = LoadBounceRules(c);
    if (!rules.ok()) {
      fprintf(stderr, "ringpost: bounce_rules: %s\n",
              std::string(rules.status().message()).c_str());
      return 2;
    }
    shared->bounce_rules = *std::move(rules);
  }
  {
    ringpost::tls::ClientContext::Options o;
    o.ca_file = c.tls_ca_file;
    ringpost::tls::ClientContext probe(o);
    if (!probe.ca_error().empty()) {
      fprintf(stderr, "ringpost: WARNING: %s: outbound `verify` deliveries will fail\n",
              probe.ca_error().c_str());
    }
  }

  if (!MakeDirs(c.spool)) {
    fprintf(stderr, "ringpost: cannot create spool directory %s: %s\n", c.spool.c_str(),
            strerror(errno));
    return 1;
  }
  // One relay per spool: the lock comes before anything that writes (the
  // delivery log's start-up repair included); the shards share it.
  auto spool_lock = ringpost::queue::SpoolLock::Acquire(c.spool);
  if (!spool_lock.ok()) {
    fprintf(stderr, "ringpost: %s\n", std::string(spool_lock.status().message()).c_str());
    return 1;
  }
  const std::string log_path = c.log.empty() ? c.spool + "/delivery.log" : c.log;
  shared->log_fd = open(log_path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
  if (shared->log_fd < 0) {
    fprintf(stderr, "ringpost: cannot open delivery log %s: %s\n", log_path.c_str(),
            strerror(errno));
    return 1;
  }
  if (ringpost::TerminatePartialRecord(shared->log_fd, log_path)) {
    fprintf(stderr,
            "ringpost: delivery log %s ended in a partial record (the last run was "
            "killed mid-write); terminated that line\n",
            log_path.c_str());
  }
  if (c.durability == ringpost::Durability::kNone) {
    fprintf(stderr,
            "ringpost: WARNING: --durability=none: messages are acknowledged WITHOUT "
            "fdatasync. A crash or power loss loses accepted mail. For benchmarks "
            "only; never in production.\n");
  }
  fprintf(stderr, "ringpost: %d shards, spool %s, delivery log %s\n", shared->shards,
          c.spool.c_str(), log_path.c_str());

  // Signals go to this thread only (sigwait below); shards inherit the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGHUP);
  sigaddset(&signals, SIGUSR1);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  // MX resolution: DNS servers from --dns or /etc/resolv.conf (read once,
  // here), one MX cache for every shard. Without any server the relay can
  // still deliver what --route covers.
  if (auto servers = ringpost::dns::LoadServerConfig(c.dns); servers.ok() &&
                                                             !servers->servers.empty()) {
    shared->dns_servers = *servers;
    auto local = ringpost::dns::LocalAddresses::FromConfig(c.listen, {});
    if (!local.ok()) {
      fprintf(stderr, "ringpost: %s\n", std::string(local.status().message()).c_str());
      return 1;
    }
    shared->local_addresses = std::make_shared<const ringpost::dns::LocalAddresses>(*local);
    ringpost::dns::MxCacheOptions co;
    co.shards = shared->shards;
    co.max_entries = c.dns_cache_size;
    co.min_ttl_s = static_cast<uint32_t>(absl::ToInt64Seconds(c.dns_min_ttl));
    co.max_ttl_s = static_cast<uint32_t>(absl::ToInt64Seconds(c.dns_max_ttl));
    co.stale_ttl_s = static_cast<uint32_t>(absl::ToInt64Seconds(c.dns_stale_ttl));
    shared->mx_cache = std::make_unique<ringpost::dns::MxCache>(co);
    ringpost::Shared* s = shared.get();
    shared->mx_cache->SetWakeHook([s](int from, int to) { s->shard_list[from]->RequestWake(to); });
    fprintf(stderr, "ringpost: DNS: %zu server(s)%s\n", shared->dns_servers.servers.size(),
            c.dns.empty() ? " from /etc/resolv.conf" : "");
  } else {
    fprintf(stderr,
            "ringpost: WARNING: no DNS server (%s): only domains covered by --route "
            "are delivered; others are deferred\n",
            servers.ok() ? "none listed" : std::string(servers.status().message()).c_str());
  }

  shared->switchboard = std::make_unique<ringpost::shard::Switchboard>(
      shared->shards, c.cross_shard_ring_entries);
  fprintf(stderr,
          "ringpost: cross-shard rings: %zu entries x %d pairs x %zu bytes = %.1f MiB\n",
          c.cross_shard_ring_entries, shared->shards * (shared->shards - 1),
          sizeof(ringpost::shard::CrossItem),
          static_cast<double>(shared->switchboard->ring_bytes()) / (1024.0 * 1024.0));
  ringpost::shard::SampleSpoolDisk(shared.get());  // /metrics; then every second below
  std::vector<std::unique_ptr<ringpost::Shard>> shards;
  for (int i = 0; i < shared->shards; ++i) {
    shards.push_back(std::make_unique<ringpost::Shard>(shared.get(), i));
    shared->shard_list.push_back(shards.back().get());
  }

  // Shard 0 first: when a listen port is 0, the others bind the port it got.
  shards[0]->Start();
  bool ok = WaitForShards(shared.get(), 1);
  if (ok) {
    for (size_t i = 0; i < c.listen.size(); ++i) {
      auto addr = ringpost::runtime::ParseHostPort(c.listen[i]);
      if (addr.ok() && ringpost::runtime::FormatAddress(*addr).ends_with(":0")) {
        std::string s = c.listen[i];
        c.listen[i] = s.substr(0, s.rfind(':') + 1) + std::to_string(shards[0]->bound_port(i));
      }
    }
    for (int i = 1; i < shared->shards; ++i) shards[static_cast<size_t>(i)]->Start();
    ok = WaitForShards(shared.get(), shared->shards);
  }
  if (!ok) {
    for (auto& s : shards) {
      if (!s->error().empty()) {
        fprintf(stderr, "ringpost: shard %d: %s\n", s->index(), s->error().c_str());
      }
    }
    for (auto& s : shards) s->RequestStop();
    for (auto& s : shards) s->Join();
    for (auto& s : shards) s->FreeAfterStop();
    return 1;
  }
  for (const std::string& l : c.listen) fprintf(stderr, "ringpost: listening on %s\n", l.c_str());
  for (const std::string& l : c.listen_tls) {
    fprintf(stderr, "ringpost: listening on %s (implicit TLS)\n", l.c_str());
  }
  fprintf(stderr, "ringpost: ready\n");
  ringpost::SystemdNotify systemd(shared.get());  // a no-op without NOTIFY_SOCKET
  systemd.Ready();

  // Signals, on this thread only. SIGHUP reloads the configuration;
  // SIGUSR1 reopens the delivery log (logrotate). The first
  // SIGTERM/SIGINT starts the drain: mail is still taken for drain_grace,
  // then the shards drain; a second one ends the grace and the wait for
  // in-flight deliveries (their messages stay queued).
  auto handle = [&](int sig) {
    if (sig == SIGHUP) Reload(*shared, &loaded);
    if (sig == SIGUSR1) ReopenLog(log_path, shared->log_fd);
  };
  // systemd sees the reload as RELOADING=1 ... READY=1. The waits below wake
  // for systemd.Tick(), the watchdog's pings, as well as for signals.
  auto handle_notified = [&](int sig) {
    if (sig == SIGHUP) systemd.Reloading();
    handle(sig);
    if (sig == SIGHUP) systemd.Reloaded();
  };
  int sig = 0;
  // The spool's free space for /metrics once a second (statvfs blocks, so
  // never on a shard); systemd.Tick() may want the thread sooner.
  absl::Time next_disk_sample = absl::Now() + absl::Seconds(1);
  for (;;) {
    const absl::Time now = absl::Now();
    if (now >= next_disk_sample) {
      ringpost::shard::SampleSpoolDisk(shared.get());
      next_disk_sample = now + absl::Seconds(1);
    }
    if (!WaitSignal(signals, std::min(next_disk_sample - now, systemd.Tick()), &sig)) continue;
    if (sig == SIGTERM || sig == SIGINT) break;
    handle_notified(sig);
  }
  shared->draining.store(true);  // /readyz says 503 from now on
  fprintf(stderr, "ringpost: %s: draining\n", sig == SIGTERM ? "SIGTERM" : "SIGINT");
  systemd.Stopping();
  bool hurry = false;
  const absl::Time grace_end = absl::Now() + loaded.drain_grace;  // live: as last reloaded
  while (!hurry && absl::Now() < grace_end) {
    if (!WaitSignal(signals, std::min(grace_end - absl::Now(), systemd.Tick()), &sig)) continue;
    if (sig == SIGTERM || sig == SIGINT) {
      hurry = true;
    } else {
      handle_notified(sig);
    }
  }
  if (hurry) shared->hurry.store(true);
  for (auto& s : shards) s->RequestStop();
  while (shared->stopped.load() < static_cast<int>(shards.size())) {
    if (!WaitSignal(signals, std::min(absl::Milliseconds(100), systemd.Tick()), &sig)) continue;
    if (sig == SIGTERM || sig == SIGINT) {
      fprintf(stderr, "ringpost: second signal: not waiting for deliveries in flight\n");
      shared->hurry.store(true);
    } else {
      handle_notified(sig);
    }
  }
  for (auto& s : shards) s->Join();
  for (auto& s : shards) s->FreeAfterStop();
  ringpost::ShardStats total;
  for (auto& s : shards) {
    ringpost::ShardStats st = s->stats();
    total.accepted += st.accepted;
    total.delivered += st.delivered;
    total.bounced += st.bounced;
    total.deferred += st.deferred;
    total.expired += st.expired;
  }
  fprintf(stderr,
          "ringpost: stopped: accepted %llu, delivered %llu, bounced %llu, "
          "deferred %llu, expired %llu\n",
          static_cast<unsigned long long>(total.accepted),
          static_cast<unsigned long long>(total.delivered),
          static_cast<unsigned long long>(total.bounced),
          static_cast<unsigned long long>(total.deferred),
          static_cast<unsigned long long>(total.expired));
  if (shared->mx_cache != nullptr) {
    const ringpost::dns::MxCacheStats m = shared->mx_cache->Stats();
    fprintf(stderr,
            "ringpost: MX cache: %llu hits, %llu stale serves, %llu misses, %llu lookups, "
            "%llu failures, %llu evictions, %llu entries\n",
            static_cast<unsigned long long>(m.hits),
            static_cast<unsigned long long>(m.stale_serves),
            static_cast<unsigned long long>(m.misses), static_cast<unsigned long long>(m.fetches),
            static_cast<unsigned long long>(m.failures),
            static_cast<unsigned long long>(m.evictions),
            static_cast<unsigned long long>(m.entries));
  }
  close(shared->log_fd);
  return 0;
}
