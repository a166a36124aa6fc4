"""Per-recipient outcomes against a sink that fails on purpose.

451 then 250: the message is retried after backoff and delivered.
550: a Bounce record and no retry. No route: a clear TransientFailure.
"""
import smtplib
import sys
import time
import unittest

from tests.lib import harness as h


def send(port, count, rcpt="user@dest.test", extra_header=""):
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as s:
        for i in range(count):
            body = (f"Subject: test {i}\r\nX-Ringpost-Test-Id: msg-{i}\r\n"
                    f"{extra_header}\r\nbody {i}\r\n")
            s.sendmail("sender@origin.test", [rcpt], body.encode())


class RetryAndBounce(unittest.TestCase):
    def test_451_then_250_is_retried_and_delivered(self):
        bins = h.Binaries(ARGV)
        wd = h.workdir("retry")
        sink_port, relay_port = h.free_port(), h.free_port()
        sink = h.start_sink(bins, wd, sink_port, "--fail_first_attempt_4xx")
        relay = h.start_relay(bins, wd, relay_port, sink_port, "--shards=2",
                              "--retry_min=1s", "--retry_max=2s")
        try:
            send(relay_port, 5)
            h.wait_for(lambda: h.count_types(h.delivery_log(wd)).get("Delivery", 0) >= 5,
                       timeout=30, what="5 deliveries after retry")
        finally:
            self.assertEqual(relay.stop(), 0)
            sink.stop()
        records = h.delivery_log(wd)
        transient = [r for r in records if r["type"] == "TransientFailure"]
        delivered = [r for r in records if r["type"] == "Delivery"]
        self.assertEqual(len(transient), 5)
        self.assertTrue(all(r["code"] == 451 for r in transient), transient)
        self.assertTrue(all(r["enhanced"].startswith("4.") for r in transient))
        self.assertEqual(len(delivered), 5)
        self.assertTrue(all(r["attempt"] == 2 for r in delivered), delivered)
        self.assertEqual(sorted(h.read_lines(f"{wd}/sink.ids")),
                         sorted(f"msg-{i}" for i in range(5)))

    def test_550_bounces_without_retry(self):
        bins = h.Binaries(ARGV)
        wd = h.workdir("bounce")
        sink_port, relay_port = h.free_port(), h.free_port()
        sink = h.start_sink(bins, wd, sink_port, "--fail_5xx=1.0")
        relay = h.start_relay(bins, wd, relay_port, sink_port, "--retry_min=1s")
        try:
            send(relay_port, 3)
            # Each 550 sends the sender a bounce (a Notice), which the same
            # sink refuses too: a Bounce of a message from <>, dropped.
            h.wait_for(lambda: h.count_types(h.delivery_log(wd)).get("Bounce", 0) >= 6,
                       timeout=30, what="3 bounces and 3 refused notices")
            time.sleep(2.5)  # longer than retry_min: a retry would show by now
        finally:
            self.assertEqual(relay.stop(), 0)
            sink.stop()
        records = h.delivery_log(wd)
        counts = h.count_types(records)
        self.assertEqual(counts.get("Bounce"), 6, counts)
        self.assertEqual(counts.get("Notice"), 3, counts)  # none about a notice
        self.assertNotIn("TransientFailure", counts)
        self.assertNotIn("Delivery", counts)
        originals = [r for r in records if r["type"] == "Bounce" and r["sender"]]
        self.assertEqual(len(originals), 3, originals)
        self.assertTrue(all(r["code"] == 550 and r["recipient"] == "user@dest.test"
                            for r in originals), originals)
        notices = [r for r in records if r["type"] == "Bounce" and not r["sender"]]
        self.assertTrue(all(r["recipient"] == "sender@origin.test" for r in notices), notices)
        report = h.read_json(f"{wd}/sink.report.json")
        self.assertEqual(report["rejected_5xx"], 6, report)

    def test_refused_connection_is_retried_until_the_destination_is_up(self):
        bins = h.Binaries(ARGV)
        wd = h.workdir("refused")
        sink_port, relay_port = h.free_port(), h.free_port()
        relay = h.start_relay(bins, wd, relay_port, sink_port, "--retry_min=1s",
                              "--retry_max=1s")
        sink = None
        try:
            send(relay_port, 3)
            h.wait_for(lambda: h.count_types(h.delivery_log(wd)).get(
                "TransientFailure", 0) >= 3, timeout=20, what="TransientFailure")
            sink = h.start_sink(bins, wd, sink_port)
            h.wait_for(lambda: h.count_types(h.delivery_log(wd)).get("Delivery", 0) >= 3,
                       timeout=30, what="delivery once the sink is up")
        finally:
            self.assertEqual(relay.stop(), 0)
            if sink:
                sink.stop()
        first = [r for r in h.delivery_log(wd) if r["type"] == "TransientFailure"][0]
        self.assertEqual((first["code"], first["enhanced"]), (451, "4.4.1"))
        self.assertIn("Connection refused", first["response"])
        self.assertEqual(sorted(h.read_lines(f"{wd}/sink.ids")),
                         sorted(f"msg-{i}" for i in range(3)))

    def test_queue_memory_limit_defers_new_mail_with_452(self):
        bins = h.Binaries(ARGV)
        wd = h.workdir("backpressure")
        sink_port, relay_port = h.free_port(), h.free_port()
        # Every delivery fails temporarily, so accepted mail stays queued.
        sink = h.start_sink(bins, wd, sink_port, "--fail_4xx=1.0")
        relay = h.start_relay(bins, wd, relay_port, sink_port, "--shards=1",
                              "--max_queue_memory=1M", "--retry_min=60s")
        body = b"Subject: big\r\n\r\n" + (b"x" * 998 + b"\r\n") * 100  # ~100 KB
        accepted, refused = 0, None
        try:
            with smtplib.SMTP("127.0.0.1", relay_port, timeout=30) as s:
                for _ in range(40):
                    try:
                        s.sendmail("a@origin.test", ["b@dest.test"], body)
                        accepted += 1
                    except smtplib.SMTPSenderRefused as e:
                        refused = (e.smtp_code, e.smtp_error)
                        break
                self.assertEqual(s.noop()[0], 250)  # the session goes on
        finally:
            self.assertEqual(relay.stop(), 0)
            sink.stop()
        self.assertIsNotNone(refused, "the queue memory limit never applied")
        self.assertEqual(refused[0], 452)
        self.assertIn(b"4.3.1", refused[1])
        self.assertGreaterEqual(accepted, 9)    # ~1 MiB of 100 KB messages
        self.assertLessEqual(accepted, 12)

    def test_failed_mx_lookup_is_a_clear_transient_failure(self):
        bins = h.Binaries(ARGV)
        wd = h.workdir("noroute")
        relay_port = h.free_port()
        # A route for another domain only; the DNS server does not answer.
        relay = h.Proc("relay", [bins.ringpost, f"--listen=127.0.0.1:{relay_port}",
                                 f"--spool={wd}/spool", f"--log={wd}/delivery.log",
                                 "--drain_grace=0", f"--admin=127.0.0.1:{h.free_port()}",
                                 "--route=only.test=127.0.0.1:9", "--retry_min=60s",
                                 h.NO_DNS, "--dns_timeout=200ms", "--dns_attempts=1"], wd)
        try:
            h.wait_port(relay_port)
            send(relay_port, 1, rcpt="user@elsewhere.test")
            h.wait_for(lambda: h.count_types(h.delivery_log(wd)).get(
                "TransientFailure", 0) >= 1, timeout=20, what="TransientFailure")
        finally:
            self.assertEqual(relay.stop(), 0)
        r = [r for r in h.delivery_log(wd) if r["type"] == "TransientFailure"][0]
        self.assertEqual(r["code"], 451)
        self.assertTrue(r["enhanced"].startswith("4.4."), r)
        self.assertIn("elsewhere.test", r["response"])


if __name__ == "__main__":
    ARGV = sys.argv
    unittest.main(argv=[sys.argv[0]], verbosity=2)
