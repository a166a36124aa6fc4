"""Debian's HAProxy in front of two relays, as operators deploy them:
tcp mode, `send-proxy-v2`, health checks against each relay's /readyz.
Load goes through HAProxy; every accepted message reaches the sink exactly
once, and the relays' Reception records name the load generator's address,
not HAProxy's. Then one relay is drained with SIGTERM under load: HAProxy
takes it out on its /readyz, the load continues to the other, and nothing
accepted is lost or duplicated. Same for SIGHUP reloads under load.
"""
import collections
import os
import shutil
import signal
import subprocess
import sys
import unittest

from tests.lib import harness as h

# HAProxy connects to the relays from this address; the load generator
# connects to HAProxy from 127.0.0.1. The relays trust only HAProxy.
HAPROXY_SOURCE = "127.0.0.3"

CONFIG = """\
global
    maxconn 1000
defaults
    mode tcp
    timeout connect 5s
    timeout client 60s
    timeout server 60s
frontend smtp
    bind 127.0.0.1:{frontend}
    default_backend relays
backend relays
    balance roundrobin
    option httpchk GET /readyz
    http-check expect status 200
    source {source}
{servers}
"""
SERVER = ("    server {name} 127.0.0.1:{port} send-proxy-v2 check port {admin} "
          "inter 200ms fall 1 rise 1")


class HaproxyTest(unittest.TestCase):
    def setUp(self):
        haproxy = shutil.which("haproxy") or "/usr/sbin/haproxy"
        self.assertTrue(os.path.exists(haproxy), "haproxy is not installed (tools/packages)")
        self.bins = h.Binaries(ARGV)
        self.wd = h.workdir("haproxy")
        self.sink_port = h.free_port()
        self.sink = h.start_sink(self.bins, self.wd, self.sink_port)
        self.relays = {}
        servers = []
        for name in ("a", "b"):
            wd = os.path.join(self.wd, name)
            os.makedirs(wd)
            port, admin = h.free_port(), h.free_port()
            self.relays[name] = (wd, port, admin)
            self.write_config(name, idle_timeout="5m")
            servers.append(SERVER.format(name=name, port=port, admin=admin))
        self.frontend = h.free_port()
        cfg = os.path.join(self.wd, "haproxy.cfg")
        with open(cfg, "w") as f:
            f.write(CONFIG.format(frontend=self.frontend, source=HAPROXY_SOURCE,
                                  servers="\n".join(servers)))
        self.procs = {}
        for name, (wd, port, admin) in self.relays.items():
            self.procs[name] = self.start_relay(name)
        self.haproxy = h.Proc("haproxy", [haproxy, "-db", "-f", cfg], self.wd)
        h.wait_port(self.frontend, proc=self.haproxy)

    def write_config(self, name, idle_timeout):
        wd = self.relays[name][0]
        with open(os.path.join(wd, "relay.toml"), "w") as f:
            f.write(f'idle_timeout = "{idle_timeout}"\n')

    def start_relay(self, name):
        wd, port, admin = self.relays[name]
        return h.start_relay(self.bins, wd, port, self.sink_port, f"--admin=127.0.0.1:{admin}",
                             f"--config={os.path.join(wd, 'relay.toml')}",
                             f"--proxy_trusted={HAPROXY_SOURCE}/32", "--drain_grace=2s",
                             name=f"relay-{name}")

    def tearDown(self):
        for p in self.procs.values():
            p.stop()
        self.haproxy.stop()
        self.sink.stop()

    def outcomes(self):
        """(Reception, Delivery) records over both relays."""
        received = delivered = 0
        for wd, _, _ in self.relays.values():
            types = h.count_types(h.delivery_log(wd))
            received += types.get("Reception", 0)
            delivered += types.get("Delivery", 0)
        return received, delivered

    def test_load_through_haproxy_exactly_once_with_the_real_client(self):
        rc, summary = h.run_loadgen(self.bins, self.wd, self.frontend, "--connections=4",
                                    "--messages=2000", "--id_prefix=lb", timeout=120)
        self.assertEqual(rc, 0, summary)
        self.assertEqual(summary["messages"], 2000, summary)
        accepted = h.read_lines(os.path.join(self.wd, "loadgen.ids"))
        self.assertEqual(len(accepted), 2000)
        for p in self.procs.values():
            self.assertEqual(p.stop(), 0)
        self.sink.stop()
        got = collections.Counter(h.read_lines(os.path.join(self.wd, "sink.ids")))
        self.assertEqual(set(got), set(accepted))
        self.assertEqual([i for i, n in got.items() if n != 1], [])
        peers = collections.Counter()
        per_relay = {}
        for name, (wd, _, _) in self.relays.items():
            recs = [r for r in h.delivery_log(wd) if r["type"] == "Reception"]
            per_relay[name] = len(recs)
            peers.update(r["peer"] for r in recs)
        self.assertEqual(dict(peers), {"127.0.0.1": 2000})
        self.assertGreater(per_relay["a"], 0, per_relay)
        self.assertGreater(per_relay["b"], 0, per_relay)

    def test_drain_one_relay_under_load(self):
        load = h.Proc("loadgen", [self.bins.loadgen, f"--target=127.0.0.1:{self.frontend}",
                                  "--quiet", f"--record_ids={self.wd}/loadgen.ids",
                                  "--connections=4", "--messages=6000", "--id_prefix=dr",
                                  "--timeout_s=120"], self.wd)
        h.wait_for(lambda: len(h.read_lines(os.path.join(self.wd, "loadgen.ids"))) > 0 or
                   load.popen.poll() is not None, timeout=30, what="load to start")
        self.procs["a"].popen.send_signal(signal.SIGTERM)
        self.assertEqual(load.wait(180), 0, load.stdout()[-2000:])
        self.assertEqual(self.procs["a"].wait(60), 0)
        # Restart the drained relay: its queue (if any) resumes.
        self.procs["a"] = self.start_relay("a")
        accepted = h.read_lines(os.path.join(self.wd, "loadgen.ids"))
        self.assertGreater(len(accepted), 0)
        h.wait_for(lambda: self.outcomes()[0] >= len(accepted) and
                   self.outcomes()[1] == self.outcomes()[0], timeout=120,
                   what="every received message delivered")
        for p in self.procs.values():
            self.assertEqual(p.stop(), 0)
        self.sink.stop()
        got = collections.Counter(h.read_lines(os.path.join(self.wd, "sink.ids")))
        self.assertEqual(set(accepted) - set(got), set())
        self.assertEqual([i for i, n in got.items() if n != 1], [])
        with open(os.path.join(self.relays["a"][0], "relay-a.stderr")) as f:
            self.assertIn("SIGTERM: draining", f.read())

    def test_sighup_under_load(self):
        load = h.Proc("loadgen", [self.bins.loadgen, f"--target=127.0.0.1:{self.frontend}",
                                  "--quiet", f"--record_ids={self.wd}/loadgen.ids",
                                  "--connections=4", "--messages=6000", "--id_prefix=hup",
                                  "--timeout_s=120"], self.wd)
        h.wait_for(lambda: len(h.read_lines(os.path.join(self.wd, "loadgen.ids"))) > 0 or
                   load.popen.poll() is not None, timeout=30, what="load to start")
        # Three reloads of each relay while the load runs, each changing a
        # live setting; each is waited for (its log line) before the next.
        for round in range(3):
            for name, p in self.procs.items():
                self.write_config(name, idle_timeout=f"{6 + round}m")
                before = p.stderr().count("SIGHUP: reloaded")
                p.popen.send_signal(signal.SIGHUP)
                h.wait_for(lambda: p.stderr().count("SIGHUP: reloaded") > before, timeout=20,
                           what=f"relay {name} to reload")
                self.assertIn("changed idle_timeout", p.stderr().splitlines()[-1])
        self.assertEqual(load.wait(180), 0, load.stdout()[-2000:])
        accepted = h.read_lines(os.path.join(self.wd, "loadgen.ids"))
        self.assertEqual(len(accepted), 6000)
        h.wait_for(lambda: self.outcomes() == (6000, 6000), timeout=120,
                   what="every received message delivered")
        for p in self.procs.values():
            self.assertEqual(p.stop(), 0)
            self.assertNotIn("reload refused", p.stderr())
        self.sink.stop()
        got = collections.Counter(h.read_lines(os.path.join(self.wd, "sink.ids")))
        self.assertEqual(set(got), set(accepted))
        self.assertEqual([i for i, n in got.items() if n != 1], [])


if __name__ == "__main__":
    ARGV = sys.argv
    unittest.main(argv=[sys.argv[0]], verbosity=2)
