"""destination_policy against real processes: the relay (two shards), the
bundled sinks and load generator, and Debian's unbound for MX sites.

Rates are read from the Delivery records' times: the relay starts a paced
transaction when the pace allows, and its reply follows by a loopback
round trip.
"""
import datetime
import os
import signal
import sys
import unittest

from tests.lib import harness as h
from tests.lib.dns_server import UNBOUND, start_unbound, wait_dns


def when(record):
    return datetime.datetime.fromisoformat(record["event_at"].replace("Z", "+00:00"))


def rate_of(records):
    """Deliveries per second from the first to the last."""
    times = sorted(when(r) for r in records)
    span = (times[-1] - times[0]).total_seconds()
    return (len(times) - 1) / span, span


class PolicyCase(unittest.TestCase):
    def setUp(self):
        self.bins = h.Binaries(ARGV)
        self.wd = h.workdir("policy")
        self.procs = []
        self.relay = None

    def tearDown(self):
        if self.relay is not None:
            self.assertEqual(self.relay.stop(), 0, self.relay.stderr())
        for p in self.procs:
            p.stop()

    def sink(self, *extra, name="dest"):
        port = h.free_port()
        self.procs.append(h.start_sink(self.bins, self.wd, port, *extra, name=name))
        return port

    def start_relay(self, *extra):
        self.relay_port = h.free_port()
        self.relay = h.start_relay(self.bins, self.wd, self.relay_port, None, "--shards=2",
                                   *extra)

    def send(self, messages, domains, connections=8):
        rc, summary = h.run_loadgen(self.bins, self.wd, self.relay_port,
                                    f"--messages={messages}", f"--connections={connections}",
                                    f"--rcpt_domains={','.join(domains)}", "--size=1024",
                                    timeout=120)
        self.assertEqual(rc, 0, summary)

    def stop_sink(self):
        """Stops the destination sink (the last one started) and returns
        its report."""
        sink = self.procs.pop()
        self.assertEqual(sink.stop(), 0)
        return h.sink_report(f"{self.wd}/dest.report.json")

    def deliveries(self, n, timeout):
        h.wait_for(lambda: h.count_types(h.delivery_log(self.wd)).get("Delivery", 0) >= n,
                   timeout=timeout, what=f"{n} deliveries")
        return [r for r in h.delivery_log(self.wd) if r["type"] == "Delivery"]


class Rates(PolicyCase):
    def test_message_rate_holds_within_5_percent_over_30s(self):
        port = self.sink()
        self.start_relay(f"--route=dest.test=127.0.0.1:{port}",
                         f"--route=other.test=127.0.0.1:{port}",
                         "--destination_policy=dest.test message_rate=30/s")
        # 901 messages at 30/s: 30 s after the first. Mail for another
        # destination sent at the same time is not held back by it.
        self.send(901, ["dest.test"])
        self.send(300, ["other.test"])
        h.wait_for(lambda: len([r for r in h.delivery_log(self.wd) if r["type"] == "Delivery"
                                and r["domain"] == "other.test"]) == 300,
                   timeout=20, what="other.test's 300 deliveries, unpaced")
        paced = [r for r in self.deliveries(1201, timeout=60) if r["domain"] == "dest.test"]
        self.assertEqual(len(paced), 901)
        rate, span = rate_of(paced)
        print(f"dest.test: {rate:.3f}/s over {span:.1f} s", file=sys.stderr)
        self.assertGreater(span, 28)
        self.assertLess(abs(rate - 30) / 30, 0.05, f"{rate:.2f}/s over {span:.1f} s")

    def test_burst_then_the_rate(self):
        port = self.sink()
        self.start_relay(f"--route=dest.test=127.0.0.1:{port}",
                         "--destination_policy=dest.test message_rate=10/s message_burst=20")
        self.send(60, ["dest.test"])
        records = sorted(self.deliveries(60, timeout=30), key=when)
        # The first 20 at once, then 40 at 10/s: about 4 s in all.
        burst_span = (when(records[19]) - when(records[0])).total_seconds()
        self.assertLess(burst_span, 1.5)
        rate, _ = rate_of(records[20:])
        self.assertLess(abs(rate - 10) / 10, 0.15, f"{rate:.2f}/s")


class Connections(PolicyCase):
    def test_connection_cap_is_a_total_across_shards(self):
        # Eight domains, owned by both shards, through one smarthost: one
        # destination, one budget of 3 connections (not 3 per shard).
        port = self.sink("--delay_ms=50")
        self.start_relay(f"--route=*=127.0.0.1:{port}", "--destination_policy=* max_connections=3")
        self.send(400, [f"d{i}.test" for i in range(8)], connections=16)
        self.deliveries(400, timeout=60)
        report = self.stop_sink()
        print(f"sink: {report['connections_peak']} connections at most, "
              f"{report['connections']} in all", file=sys.stderr)
        self.assertEqual(report["connections_peak"], 3, report)


class Reload(PolicyCase):
    def test_sighup_reshapes_live_traffic_without_dropping_it(self):
        port = self.sink()
        conf = os.path.join(self.wd, "relay.toml")
        with open(conf, "w") as f:
            f.write('destination_policy = ["dest.test message_rate=10/s max_connections=1"]\n')
        self.start_relay(f"--route=dest.test=127.0.0.1:{port}", f"--config={conf}")
        self.send(200, ["dest.test"])
        before = self.deliveries(20, timeout=20)  # about 2 s at 10/s
        with open(conf, "w") as f:
            f.write('destination_policy = ["dest.test message_rate=100/s max_connections=1"]\n')
        stderr_before = self.relay.stderr().count("ringpost: SIGHUP: re")
        self.relay.popen.send_signal(signal.SIGHUP)
        h.wait_for(lambda: self.relay.stderr().count("ringpost: SIGHUP: re") > stderr_before,
                   timeout=20, what="the reload")
        self.assertIn("SIGHUP: reloaded", self.relay.stderr())
        reloaded_at = datetime.datetime.now(datetime.timezone.utc)
        records = self.deliveries(200, timeout=30)
        self.assertEqual(len({(r["id"], r["recipient"]) for r in records}), 200)
        after = [r for r in records if when(r) > reloaded_at]
        self.assertGreater(len(after), 100)
        rate, _ = rate_of(after)
        print(f"before the reload {len(before)} deliveries at 10/s; after it {rate:.1f}/s",
              file=sys.stderr)
        self.assertGreater(rate, 80)
        self.assertLess(rate, 105)
        # Never more than the one connection the policy allows, before or
        # after the reload.
        report = self.stop_sink()
        print(f"sink: {report['connections']} connections, at most "
              f"{report['connections_peak']} at once", file=sys.stderr)
        self.assertEqual(report["connections_peak"], 1, report)


class Sites(PolicyCase):
    ZONE = [
        'local-zone: "example.test." static',
        'local-data: "example.test. 300 IN SOA ns.example.test. host.example.test. 1 3600 600 86400 60"',
        # Two customer domains of one provider, on different MX hosts and
        # addresses, and one domain elsewhere.
        'local-data: "one.example.test. 300 IN MX 10 mx-one.provider.example.test."',
        'local-data: "two.example.test. 300 IN MX 10 mx-two.provider.example.test."',
        'local-data: "mx-one.provider.example.test. 300 IN A 127.0.0.2"',
        'local-data: "mx-two.provider.example.test. 300 IN A 127.0.0.3"',
        'local-data: "own.example.test. 300 IN MX 10 mx.own.example.test."',
        'local-data: "mx.own.example.test. 300 IN A 127.0.0.2"',
    ]

    def test_mx_entry_shares_one_budget_across_domains(self):
        self.assertTrue(os.access(UNBOUND, os.X_OK),
                        f"{UNBOUND} missing: tools/dev installs Debian's unbound")
        mx_port = h.free_port(hosts=["127.0.0.2", "127.0.0.3"])
        dns_port = h.free_port()
        self.procs.append(start_unbound(self.wd, dns_port, self.ZONE))
        wait_dns(dns_port)
        for last in (2, 3):
            p = h.Proc(f"sink{last}", [self.bins.sink, f"--listen=127.0.0.{last}:{mx_port}"],
                       self.wd)
            self.procs.append(p)
            h.wait_port(mx_port, host=f"127.0.0.{last}", proc=p)
        self.start_relay(f"--dns=127.0.0.1:{dns_port}", f"--dest_port={mx_port}",
                         "--destination_policy=mx:*.provider.example.test message_rate=20/s")
        self.send(200, ["one.example.test", "two.example.test"])
        self.send(100, ["own.example.test"])
        records = self.deliveries(300, timeout=40)
        provider = [r for r in records if r["domain"] != "own.example.test"]
        self.assertEqual(len(provider), 200)
        self.assertEqual({r["peer"].split(":")[0] for r in provider},
                         {"127.0.0.2", "127.0.0.3"})
        # Both domains together at 20/s (each alone would be 20/s too).
        rate, span = rate_of(provider)
        print(f"provider: {rate:.3f}/s over {span:.1f} s", file=sys.stderr)
        self.assertLess(abs(rate - 20) / 20, 0.1, f"{rate:.2f}/s over {span:.1f} s")
        # The domain outside the provider is not paced.
        own = sorted(when(r) for r in records if r["domain"] == "own.example.test")
        self.assertLess((own[-1] - own[0]).total_seconds(), 2.5)  # 20/s would take 5 s


class Overrides(PolicyCase):
    def test_retry_schedule_per_destination(self):
        port = self.sink("--fail_first_attempt_4xx")
        self.start_relay(f"--route=*=127.0.0.1:{port}", "--retry_min=1h", "--retry_max=1h",
                         "--destination_policy=fast.test retry_min=1s retry_max=2s")
        self.send(3, ["fast.test"], connections=1)
        # Deferred once, then retried after 1 s, not after the hour.
        delivered = self.deliveries(3, timeout=20)
        self.assertTrue(all(r["attempt"] == 2 for r in delivered), delivered)

    def test_tls_level_per_destination(self):
        port = self.sink()  # no certificate: no STARTTLS offered
        self.start_relay(f"--route=*=127.0.0.1:{port}",
                         "--destination_policy=secure.test tls=encrypt")
        self.send(1, ["secure.test"], connections=1)
        self.send(1, ["plain.test"], connections=1)
        self.deliveries(1, timeout=20)
        h.wait_for(lambda: h.count_types(h.delivery_log(self.wd)).get("TransientFailure"),
                   timeout=20, what="the deferral")
        records = h.delivery_log(self.wd)
        [deferred] = [r for r in records if r["type"] == "TransientFailure"]
        self.assertEqual(deferred["domain"], "secure.test")
        self.assertEqual(deferred["enhanced"], "4.7.5")
        [delivered] = [r for r in records if r["type"] == "Delivery"]
        self.assertEqual(delivered["domain"], "plain.test")

    def test_bad_entry_refuses_to_start(self):
        port = h.free_port()
        p = h.Proc("bad", [self.bins.ringpost, f"--listen=127.0.0.1:{port}",
                           f"--spool={self.wd}/spool-bad",
                           "--destination_policy=gmail.com message_rate=fast"], self.wd)
        self.assertEqual(p.wait(30), 2)
        self.assertIn("message_rate", p.stderr())


if __name__ == "__main__":
    ARGV = sys.argv
    unittest.main(argv=[sys.argv[0]], verbosity=2)
