"""The admin HTTP endpoint of a running relay: /healthz, /readyz (503 from
the first SIGTERM on, while mail is still taken for drain_grace), /metrics
(Prometheus text that Debian's promtool accepts, counters, histograms and
queue gauges that agree with the mail the sink received), and bad requests
answered with 4xx without disturbing mail.
"""
import http.client
import os
import re
import shutil
import signal
import smtplib
import socket
import subprocess
import sys
import unittest

from tests.lib import harness as h


def get(port, path):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    try:
        c.request("GET", path)
        r = c.getresponse()
        return r.status, r.read().decode()
    finally:
        c.close()


def raw(port, data):
    with socket.create_connection(("127.0.0.1", port), timeout=20) as s:
        s.sendall(data)
        out = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                return out
            out += chunk


def sample(text, name, labels):
    m = re.search(r"(?m)^" + re.escape(name + labels) + r" (\S+)\n", text)
    return float(m.group(1)) if m else None


def total(text, name, extra=""):
    """The sum over shards of `name{shard="i"<extra>}` (sum without (shard))."""
    found = re.findall(re.escape(name) + r'\{shard="\d+"' + re.escape(extra) + r"\} (\S+)\n",
                       text)
    return sum(float(v) for v in found) if found else None


def destinations(text):
    return {d: float(v) for d, v in re.findall(
        r'ringpost_destination_queue_depth\{destination="([^"]*)"\} (\S+)\n', text)}


def promtool_check(test, text):
    promtool = shutil.which("promtool")
    test.assertIsNotNone(promtool, "promtool (Debian's prometheus package) is missing")
    r = subprocess.run([promtool, "check", "metrics"], input=text.encode(),
                       capture_output=True, timeout=60)
    test.assertEqual((r.returncode, r.stdout + r.stderr), (0, b""), text)


# Every family /metrics serves, in order (docs/operations.md lists them).
FAMILIES = [
    "ringpost_messages_accepted_total", "ringpost_messages_recovered_total",
    "ringpost_recipient_outcomes_total", "ringpost_acceptance_duration_seconds",
    "ringpost_spool_commit_duration_seconds", "ringpost_delivery_duration_seconds",
    "ringpost_queue_depth", "ringpost_queue_oldest_age_seconds",
    "ringpost_destination_queue_depth", "ringpost_inbound_connections",
    "ringpost_outbound_connections", "ringpost_spool_used_bytes", "ringpost_spool_free_bytes",
    "ringpost_dns_cache_lookups_total", "ringpost_io_uring_cq_overflow_total",
    "ringpost_io_uring_recv_buffer_shortages_total", "ringpost_io_uring_sq_full_total",
    "ringpost_loop_heartbeat_age_seconds", "ringpost_draining",
]


class AdminTest(unittest.TestCase):
    def test_endpoints(self):
        bins = h.Binaries(ARGV)
        wd = h.workdir("admin")
        sink_port, port, admin = h.free_port(), h.free_port(), h.free_port()
        sink = h.start_sink(bins, wd, sink_port)
        relay = h.start_relay(bins, wd, port, sink_port, f"--admin=127.0.0.1:{admin}",
                              "--shards=2", "--drain_grace=3s")
        try:
            h.wait_port(admin, proc=relay)
            self.assertEqual(get(admin, "/healthz"), (200, "ok\n"))
            self.assertEqual(get(admin, "/readyz"), (200, "ready\n"))
            with smtplib.SMTP("127.0.0.1", port, timeout=30) as s:
                s.sendmail("a@origin.test", ["b@dest.test", "c@dest.test"],
                           b"Subject: m\r\n\r\nx\r\n")

            def delivered():
                text = get(admin, "/metrics")[1]
                return sum(sample(text, "ringpost_recipient_outcomes_total",
                                  f'{{shard="{i}",outcome="delivered"}}') or 0 for i in (0, 1))

            h.wait_for(lambda: delivered() == 2, timeout=20, what="two deliveries counted")
            status, text = get(admin, "/metrics")
            self.assertEqual(status, 200)
            accepted = sum(sample(text, "ringpost_messages_accepted_total", f'{{shard="{i}"}}')
                           for i in (0, 1))
            self.assertEqual(accepted, 1)
            promtool_check(self, text)
            self.assertEqual(re.findall(r"^# TYPE (\S+) ", text, re.M), FAMILIES)
            # Bad requests: an answer, a closed connection, mail unaffected.
            self.assertEqual(get(admin, "/nope")[0], 404)
            self.assertTrue(raw(admin, b"GARBAGE\r\n\r\n").startswith(b"HTTP/1.1 400 "))
            self.assertTrue(raw(admin, b"GET /" + b"a" * 2000 + b" HTTP/1.1\r\n\r\n")
                            .startswith(b"HTTP/1.1 414 "))
            self.assertTrue(raw(admin, b"GET /healthz HTTP/1.1\r\nHost: x\r\n" +
                                b"X-Filler: " + b"f" * 9000 + b"\r\n\r\n")
                            .startswith(b"HTTP/1.1 431 "))
            self.assertTrue(raw(admin, b"POST /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
                            .startswith(b"HTTP/1.1 405 "))
            self.assertTrue(raw(admin, b"GET /metrics HTTP/1.1\r\nHost: x\r\n"
                                b"Content-Length: 5\r\n\r\nhello")
                            .startswith(b"HTTP/1.1 413 "))
            with smtplib.SMTP("127.0.0.1", port, timeout=30) as s:
                self.assertEqual(s.noop()[0], 250)
            # SIGTERM: not ready at once, still healthy, still taking mail.
            relay.popen.send_signal(signal.SIGTERM)
            h.wait_for(lambda: get(admin, "/readyz")[0] == 503, timeout=10,
                       what="/readyz to turn 503")
            self.assertEqual(get(admin, "/readyz"), (503, "draining\n"))
            self.assertEqual(get(admin, "/healthz")[0], 200)
            with smtplib.SMTP("127.0.0.1", port, timeout=30) as s:
                self.assertEqual(s.sendmail("a@origin.test", ["d@dest.test"],
                                            b"Subject: late\r\n\r\nx\r\n"), {})
            h.wait_for(lambda: relay.popen.poll() is not None, timeout=60,
                       what="the relay to exit")
        finally:
            self.assertEqual(relay.stop(), 0)
            sink.stop()

    def test_metrics_after_load(self):
        """After a small load: accepted and delivered counts agree with the
        load generator and the sink, each histogram counted every event, the
        queue gauges went up while a destination held mail and came back to
        0, and promtool accepts the document."""
        bins = h.Binaries(ARGV)
        wd = h.workdir("admin-load")
        sink_port, slow_port, port, admin = (h.free_port(), h.free_port(), h.free_port(),
                                             h.free_port())
        sink = h.start_sink(bins, wd, sink_port)
        # A destination that holds each message for 4 s before its 250.
        slow = h.start_sink(bins, wd, slow_port, "--delay_ms=4000", name="slow")
        relay = h.start_relay(bins, wd, port, sink_port, f"--admin=127.0.0.1:{admin}",
                              "--shards=2", f"--route=slow.test=127.0.0.1:{slow_port}")
        metrics = lambda: get(admin, "/metrics")[1]
        try:
            h.wait_port(admin, proc=relay)
            messages = 200
            rc, summary = h.run_loadgen(bins, wd, port, f"--messages={messages}",
                                        "--connections=4", "--size=2000",
                                        "--rcpt_domains=a.test,b.test,c.test", timeout=120)
            self.assertEqual((rc, summary.get("messages")), (0, messages), summary)
            with smtplib.SMTP("127.0.0.1", port, timeout=30) as s:
                s.sendmail("a@origin.test", ["x@slow.test", "y@slow.test", "z@slow.test"],
                           b"Subject: slow\r\n\r\nx\r\n")
            # While the slow destination holds it: its three recipients are
            # queued, on a shard and among the top destinations.
            h.wait_for(lambda: destinations(metrics()).get(f"127.0.0.1:{slow_port}") == 3,
                       timeout=10, interval=0.2, what="the slow destination's depth of 3")
            text = metrics()
            self.assertGreaterEqual(total(text, "ringpost_queue_depth"), 3)
            self.assertGreaterEqual(total(text, "ringpost_outbound_connections"), 1)
            promtool_check(self, text)

            accepted = messages + 1
            delivered = messages + 3

            def settled():
                t = metrics()
                return (total(t, "ringpost_recipient_outcomes_total",
                              ',outcome="delivered"') == delivered and
                        total(t, "ringpost_queue_depth") == 0 and
                        not destinations(t) and t)
            text = h.wait_for(settled, timeout=60, interval=0.2,
                              what=f"{delivered} deliveries and an empty queue")
            promtool_check(self, text)
            self.assertEqual(total(text, "ringpost_messages_accepted_total"), accepted)
            self.assertEqual(total(text, "ringpost_acceptance_duration_seconds_count"), accepted)
            commits = total(text, "ringpost_spool_commit_duration_seconds_count")
            self.assertGreaterEqual(commits, 1)
            self.assertLessEqual(commits, accepted)  # group commit: never more than messages
            self.assertEqual(total(text, "ringpost_delivery_duration_seconds_count"), delivered)
            self.assertEqual(total(text, "ringpost_delivery_duration_seconds_bucket",
                                   ',le="+Inf"'), delivered)
            # The slow message waited its 4 s: at least that much delivery time.
            self.assertGreaterEqual(total(text, "ringpost_delivery_duration_seconds_sum"), 3 * 4)
            for outcome in ("bounced", "expired"):
                self.assertEqual(total(text, "ringpost_recipient_outcomes_total",
                                       f',outcome="{outcome}"'), 0)
            self.assertEqual(total(text, "ringpost_queue_oldest_age_seconds"), 0)
            self.assertGreater(total(text, "ringpost_spool_used_bytes"), 0)
            self.assertGreater(sample(text, "ringpost_spool_free_bytes", ""), 0)
            self.assertEqual(total(text, "ringpost_io_uring_cq_overflow_total"), 0)
            # The sinks received every recipient the metrics call delivered.
            received = 0
            for name, proc in (("sink", sink), ("slow", slow)):
                path = f"{wd}/{name}.report.json"
                if os.path.exists(path):
                    os.unlink(path)
                proc.popen.send_signal(signal.SIGUSR1)

                def report(path=path):
                    try:
                        return h.read_json(path)
                    except (OSError, ValueError):
                        return None
                received += h.wait_for(report, timeout=10, what=f"{name}'s report")["recipients"]
            self.assertEqual(received, delivered)
        finally:
            self.assertEqual(relay.stop(), 0)
            sink.stop()
            slow.stop()


if __name__ == "__main__":
    ARGV = sys.argv
    unittest.main(argv=[sys.argv[0]], verbosity=2)
