"""Operator signals on a running relay: SIGTERM keeps taking mail for
drain_grace and then drains; a second SIGTERM cuts the grace short; SIGUSR1
reopens the delivery log after logrotate moved it.
"""
import os
import signal
import smtplib
import sys
import time
import unittest

from tests.lib import harness as h

MESSAGE = b"Subject: drain\r\n\r\nhello\r\n"


def exited(relay):
    return relay.popen.poll() is not None


class SignalsTest(h.RelayCase):
    WORKDIR = "signals"

    def test_mail_is_still_taken_during_the_grace(self):
        relay, port = self.start("--drain_grace=2s")
        started = time.monotonic()
        relay.popen.send_signal(signal.SIGTERM)
        h.wait_for(lambda: "SIGTERM: draining" in relay.stderr(), timeout=10,
                   what="the drain to start")
        # Inside the grace: a new session, a message, a 250.
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as s:
            self.assertEqual(s.sendmail("a@origin.test", ["b@dest.test"], MESSAGE), {})
        h.wait_for(lambda: exited(relay), timeout=60, what="the relay to exit")
        self.assertGreaterEqual(time.monotonic() - started, 2.0)
        self.assertEqual(relay.stop(), 0)
        types = h.count_types(h.delivery_log(self.wd))
        self.assertEqual((types.get("Reception"), types.get("Delivery")), (1, 1), types)

    def test_a_second_signal_ends_the_grace(self):
        relay, _ = self.start("--drain_grace=10m")
        relay.popen.send_signal(signal.SIGTERM)
        h.wait_for(lambda: "SIGTERM: draining" in relay.stderr(), timeout=10,
                   what="the drain to start")
        relay.popen.send_signal(signal.SIGTERM)
        h.wait_for(lambda: exited(relay), timeout=60, what="the relay to exit")
        self.assertEqual(relay.stop(), 0)

    def test_sigusr1_reopens_the_delivery_log(self):
        relay, port = self.start()
        log = os.path.join(self.wd, "delivery.log")
        try:
            with smtplib.SMTP("127.0.0.1", port, timeout=30) as s:
                s.sendmail("a@origin.test", ["first@dest.test"], MESSAGE)
            h.wait_for(lambda: h.count_types(h.delivery_log(self.wd)).get("Delivery", 0) == 1,
                       timeout=20, what="the first delivery")
            os.rename(log, log + ".1")  # what logrotate does
            relay.popen.send_signal(signal.SIGUSR1)
            h.wait_for(lambda: "SIGUSR1: reopened delivery log" in relay.stderr(), timeout=10,
                       what="the log to be reopened")
            with smtplib.SMTP("127.0.0.1", port, timeout=30) as s:
                s.sendmail("a@origin.test", ["second@dest.test"], MESSAGE)
            h.wait_for(lambda: os.path.exists(log) and
                       h.count_types(h.delivery_log(self.wd)).get("Delivery", 0) == 1,
                       timeout=20, what="the second delivery in the new log")
        finally:
            self.assertEqual(relay.stop(), 0)
        new = [r["recipient"] for r in h.delivery_log(self.wd)]
        self.assertEqual(set(new), {"second@dest.test"})
        with open(log + ".1") as f:
            self.assertNotIn("second@dest.test", f.read())


if __name__ == "__main__":
    unittest.main(argv=[sys.argv[0]], verbosity=2)
