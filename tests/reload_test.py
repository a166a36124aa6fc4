"""SIGHUP on a running relay: the config file is read again and what can
change live applies to new work (routes, relay networks, limits, timeouts);
a session already open keeps the limits it started with; a setting that
needs a restart is named in the log and keeps its running value; an invalid
file changes nothing, is logged with its line and key, and turns /readyz to
503 until a good file is loaded.
"""
import http.client
import os
import signal
import smtplib
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


def message(size):
    body = (b"x" * 70 + b"\r\n") * (size // 72 + 1)
    return b"Subject: reload\r\n\r\n" + body


class ReloadTest(unittest.TestCase):
    def setUp(self):
        self.bins = h.Binaries(ARGV)
        self.wd = h.workdir("reload")
        self.sinks = {}
        for name in ("a", "b"):
            port = h.free_port()
            self.sinks[name] = (h.start_sink(self.bins, self.wd, port, name=f"sink-{name}"),
                                port)
        self.config = os.path.join(self.wd, "relay.toml")
        self.admin = h.free_port()
        self.write(route="a", size="1M")
        self.port = h.free_port()
        # Routes come from the file only: a --route flag would win over it.
        self.relay = h.start_relay(self.bins, self.wd, self.port, None,
                                   f"--config={self.config}", f"--admin=127.0.0.1:{self.admin}",
                                   "--shards=2")
        self.reloads = 0

    def tearDown(self):
        if self.relay.alive():
            self.assertEqual(self.relay.stop(), 0)
        for sink, _ in self.sinks.values():
            sink.stop()

    def write(self, route, size, extra=""):
        with open(self.config, "w") as f:
            f.write("# ringpost test configuration\n"
                    f'route = ["*=127.0.0.1:{self.sinks[route][1]}"]\n'
                    f'max_message_size = "{size}"\n'
                    + extra)

    def sighup(self, expect="SIGHUP: reloaded"):
        """Sends SIGHUP and waits for the reload's outcome line."""
        before = self.relay.stderr().count("ringpost: SIGHUP: re")
        self.relay.popen.send_signal(signal.SIGHUP)
        h.wait_for(lambda: self.relay.stderr().count("ringpost: SIGHUP: re") > before,
                   timeout=20, what="the reload to finish")
        last = [l for l in self.relay.stderr().splitlines() if "ringpost: SIGHUP: re" in l][-1]
        self.assertIn(expect, last)
        return last

    def delivered_to(self, sink):
        """Deliveries to the sink `sink`, from the relay's delivery log."""
        peer = f"127.0.0.1:{self.sinks[sink][1]}"
        return sum(1 for r in h.delivery_log(self.wd)
                   if r["type"] == "Delivery" and r["peer"] == peer)

    def send(self, size=100, rcpt="b@dest.test"):
        with smtplib.SMTP("127.0.0.1", self.port, timeout=30) as s:
            return s.sendmail("a@origin.test", [rcpt], message(size))

    def test_live_settings_apply_to_new_work(self):
        self.send()
        h.wait_for(lambda: self.delivered_to("a") == 1, timeout=20, what="delivery to sink a")

        # A session opened before the reload keeps the limits it started with.
        old = smtplib.SMTP("127.0.0.1", self.port, timeout=30)
        old.ehlo()
        self.assertEqual(old.esmtp_features.get("size"), str(1 << 20))

        self.write(route="b", size="10K")
        line = self.sighup()
        self.assertIn("changed route, max_message_size", line)
        with smtplib.SMTP("127.0.0.1", self.port, timeout=30) as s:
            s.ehlo()
            self.assertEqual(s.esmtp_features.get("size"), "10240")
        with self.assertRaises(smtplib.SMTPSenderRefused) as refused:
            self.send(size=20000)
        self.assertEqual(refused.exception.smtp_code, 552)
        self.assertEqual(old.sendmail("a@origin.test", ["c@dest.test"], message(20000)), {})
        old.quit()
        self.send()
        h.wait_for(lambda: self.delivered_to("b") == 2, timeout=20,
                   what="both new messages delivered by the new route")
        self.assertEqual(self.delivered_to("a"), 1)

        # relay_networks without loopback: relaying is refused from now on.
        self.write(route="b", size="10K", extra='relay_networks = ["10.0.0.0/8"]\n')
        self.assertIn("changed relay_networks", self.sighup())
        with self.assertRaises(smtplib.SMTPRecipientsRefused) as denied:
            self.send()
        self.assertEqual(denied.exception.recipients["b@dest.test"][0], 554)

        # A setting that needs a restart: named, not applied.
        self.write(route="b", size="10K",
                   extra='relay_networks = ["127.0.0.0/8"]\nsegment_bytes = "128M"\n')
        self.sighup()
        err = self.relay.stderr()
        self.assertIn("segment_bytes changed in the file but needs a restart; "
                      "still segment_bytes = 64M", err)
        self.assertEqual(self.send(), {})
        self.assertEqual(get(self.admin, "/readyz")[0], 200)

    def test_an_invalid_file_keeps_the_running_config(self):
        self.write(route="b", size="10K", extra='retry_min = "soon"\n')
        line = self.sighup(expect="reload refused")
        self.assertIn("relay.toml:4: retry_min", line)
        status, body = get(self.admin, "/readyz")
        self.assertEqual(status, 503)
        self.assertIn("the last reload failed", body)
        self.assertIn("retry_min", body)
        # Still the old configuration: route a, 1M messages.
        self.assertEqual(self.send(size=20000), {})
        h.wait_for(lambda: self.delivered_to("a") == 1, timeout=20, what="delivery to sink a")
        self.assertEqual(self.delivered_to("b"), 0)

        # An unknown key and a missing certificate are refused the same way.
        self.write(route="b", size="10K", extra='retry_minimum = "1m"\n')
        self.assertIn("retry_minimum", self.sighup(expect="reload refused"))
        self.write(route="b", size="10K", extra=f'auth_users = "{self.wd}/missing"\n')
        self.assertIn("auth_users", self.sighup(expect="reload refused"))
        self.assertEqual(get(self.admin, "/readyz")[0], 503)

        # A good file: ready again, and it applies.
        self.write(route="b", size="10K")
        self.sighup()
        self.assertEqual(get(self.admin, "/readyz"), (200, "ready\n"))
        self.send()
        h.wait_for(lambda: self.delivered_to("b") == 1, timeout=20, what="delivery to sink b")


if __name__ == "__main__":
    ARGV = sys.argv
    unittest.main(argv=[sys.argv[0]], verbosity=2)
