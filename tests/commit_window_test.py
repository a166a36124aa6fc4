"""The group-commit window (commit_delay, docs/configuration.md).

A commit waits at most commit_delay for more messages, and only while fewer
messages wait than the shard has client connections: a lone client is never
held, and a held commit is released by the timer when nobody else sends.
Python's smtplib is the client; the relay is real and durable (fsync).
"""
import smtplib
import sys
import time
import unittest

from tests.lib import harness as h

BODY = b"Subject: window\r\n\r\nbody\r\n"


class CommitWindow(unittest.TestCase):
    def run_relay(self, name):
        bins = h.Binaries(ARGV)
        wd = h.workdir(name)
        sink_port, relay_port = h.free_port(), h.free_port()
        sink = h.start_sink(bins, wd, sink_port)
        # 100 ms, the longest window: long enough that a wrongly held commit
        # shows in seconds, not in noise.
        relay = h.start_relay(bins, wd, relay_port, sink_port, "--shards=1",
                              "--durability=fsync", "--commit_delay=100ms")
        return wd, sink, relay, relay_port

    def send(self, s, n):
        for i in range(n):
            self.assertEqual(s.sendmail("a@origin.test", [f"r{i}@dest.test"], BODY), {})

    def test_lone_client_is_not_held(self):
        wd, sink, relay, port = self.run_relay("window-lone")
        try:
            with smtplib.SMTP("127.0.0.1", port, timeout=30) as s:
                s.ehlo("client.test")
                start = time.monotonic()
                self.send(s, 20)
                elapsed = time.monotonic() - start
            # Held, 20 commits would take >= 2 s.
            self.assertLess(elapsed, 1.5, f"20 messages took {elapsed:.2f} s")
        finally:
            self.assertEqual(relay.stop(), 0)
            sink.stop()

    def test_held_commit_is_released_by_the_timer(self):
        wd, sink, relay, port = self.run_relay("window-idle")
        try:
            # A second, idle connection: the shard has two clients, so a
            # lone message waits for company until the window closes.
            with smtplib.SMTP("127.0.0.1", port, timeout=30) as idle, \
                    smtplib.SMTP("127.0.0.1", port, timeout=30) as s:
                idle.ehlo("idle.test")
                s.ehlo("client.test")
                start = time.monotonic()
                self.send(s, 5)
                elapsed = time.monotonic() - start
                self.assertEqual(idle.noop()[0], 250)
            self.assertGreaterEqual(elapsed, 0.45, f"5 messages took {elapsed:.2f} s: not held")
            self.assertLess(elapsed, 5, f"5 messages took {elapsed:.2f} s")
            h.wait_for(lambda: h.count_types(h.delivery_log(wd)).get("Delivery", 0) >= 5,
                       timeout=20, what="5 deliveries")
        finally:
            self.assertEqual(relay.stop(), 0)
            sink.stop()


if __name__ == "__main__":
    ARGV = sys.argv
    unittest.main(argv=[sys.argv[0]], verbosity=2)
