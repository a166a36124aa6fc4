"""The admin HTTP endpoint of a running relay: /healthz, /readyz (503 from
the first SIGTERM on, while mail is still taken for drain_grace), /metrics
(Prometheus text that Debian's promtool accepts, counters that move with
the mail), and bad requests answered with 4xx without disturbing mail.
"""
import http.client
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
    m = re.search(re.escape(name + labels) + r" (\S+)\n", text)
    return float(m.group(1)) if m else None


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
            promtool = shutil.which("promtool")
            self.assertIsNotNone(promtool, "promtool (Debian's prometheus package) is missing")
            r = subprocess.run([promtool, "check", "metrics"], input=text.encode(),
                               capture_output=True, timeout=60)
            self.assertEqual((r.returncode, r.stdout + r.stderr), (0, b""))
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


if __name__ == "__main__":
    ARGV = sys.argv
    unittest.main(argv=[sys.argv[0]], verbosity=2)
