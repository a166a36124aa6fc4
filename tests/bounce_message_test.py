"""A non-delivery is never silent: the sender gets an RFC 3464 bounce.

The three causes an operator meets first, each end to end with real
processes: the destination's port is closed (deferred, then expired after a
short max_age, then a bounce saying the host refused connections), the
domain does not exist (NXDOMAIN from Debian's unbound: a 5.1.2 bounce at
once), the recipient is refused with 550 5.1.1 by the bundled sink (a bounce
quoting the reply). Each bounce is read back from a second sink (the
sender's domain) with Python's `email` package, part by part. Then the DSN
extension (RFC 3461) as a client uses it: NOTIFY=NEVER silences the bounce,
NOTIFY=SUCCESS gets a "relayed" report, RET=HDRS returns only the header,
ENVID and ORCPT come back; and no notice is ever written about a notice.
"""
import email
import email.policy
import glob
import os
import smtplib
import sys
import unittest

from tests.lib import harness as h
from tests.lib.dns_server import UNBOUND, start_unbound, wait_dns

SENDER = "sender@origin.test"


def send(port, rcpts, body, sender=SENDER, mail_options=(), rcpt_options=()):
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as s:
        s.ehlo("client.test")
        s.sendmail(sender, rcpts, body.encode(), mail_options=list(mail_options),
                   rcpt_options=list(rcpt_options))


def saved(save_dir):
    """Messages the sink saved, complete ones only (.env is written last)."""
    out = []
    for env in sorted(glob.glob(os.path.join(save_dir, "*.env"))):
        with open(env[:-4] + ".eml", "rb") as f:
            msg = email.message_from_bytes(f.read(), policy=email.policy.default)
        with open(env) as f:
            out.append((f.read(), msg))
    return out


def report_fields(msg):
    """(per-message fields, [per-recipient fields]) of the delivery-status part."""
    status = [p for p in msg.iter_parts() if p.get_content_type() == "message/delivery-status"]
    assert len(status) == 1, [p.get_content_type() for p in msg.iter_parts()]
    blocks = status[0].get_payload()
    return blocks[0], blocks[1:]


def norm(value):
    """A field's value with the optional space after "type;" removed."""
    return None if value is None else str(value).replace("; ", ";")


def human_text(msg):
    return next(p for p in msg.iter_parts()
                if p.get_content_type() == "text/plain").get_content()


class BounceCase(unittest.TestCase):
    """A destination sink (or none), a sink for the sender's domain that
    saves what it gets, and the relay between them."""

    def setUp(self):
        self.bins = h.Binaries(ARGV)
        self.wd = h.workdir("bounce")
        self.save_dir = os.path.join(self.wd, "bounces")
        os.makedirs(self.save_dir)
        self.back_port = h.free_port()
        self.back = h.start_sink(self.bins, self.wd, self.back_port,
                                 f"--save_dir={self.save_dir}", name="back")
        self.procs = [self.back]
        self.relay = None

    def tearDown(self):
        if self.relay is not None:
            self.assertEqual(self.relay.stop(), 0, self.relay.stderr())
        for p in self.procs:
            p.stop()

    def start_relay(self, *extra):
        self.relay_port = h.free_port()
        self.relay = h.start_relay(self.bins, self.wd, self.relay_port, None,
                                   f"--route=origin.test=127.0.0.1:{self.back_port}", *extra)

    def wait_records(self, **least):
        """The delivery log once it holds at least so many records of each
        type: the log is written in batches (log_flush_interval), and each
        shard flushes its own, so one record in the file says nothing of
        another."""
        def enough():
            counts = h.count_types(h.delivery_log(self.wd))
            return all(counts.get(kind, 0) >= n for kind, n in least.items())
        h.wait_for(enough, timeout=30, what=f"delivery log records {least}")
        return h.delivery_log(self.wd)

    def wait_bounces(self, n, what="bounces"):
        h.wait_for(lambda: len(saved(self.save_dir)) >= n, timeout=30, what=what)
        return saved(self.save_dir)

    def check_report(self, msg, report_to=SENDER):
        self.assertEqual(msg.get_content_type(), "multipart/report")
        self.assertEqual(msg.get_param("report-type"), "delivery-status")
        self.assertEqual(msg["To"], report_to)
        self.assertIn("MAILER-DAEMON@relay.test", msg["From"])
        self.assertEqual(msg["Auto-Submitted"], "auto-replied")
        types = [p.get_content_type() for p in msg.iter_parts()]
        self.assertEqual(types[:2], ["text/plain", "message/delivery-status"])
        per_message, _ = report_fields(msg)
        self.assertEqual(norm(per_message["Reporting-MTA"]), "dns;relay.test")
        self.assertIsNotNone(per_message["Arrival-Date"])
        return types


class ThreeCauses(BounceCase):
    def test_port_closed_defers_then_expires_then_bounces(self):
        closed = h.free_port()  # nothing listens there
        self.start_relay(f"--route=dest.test=127.0.0.1:{closed}", "--retry_min=1s",
                         "--retry_max=1s", "--max_age=3s", "--connect_timeout=2s")
        send(self.relay_port, ["user@dest.test"],
             "Subject: to a closed port\r\nMessage-ID: <closed@origin.test>\r\n\r\nhello\r\n")
        [(env, msg)] = self.wait_bounces(1)
        self.assertIn("MAIL FROM:<>", env)
        self.check_report(msg)
        _, [rcpt] = report_fields(msg)
        self.assertEqual(norm(rcpt["Final-Recipient"]), "rfc822;user@dest.test")
        self.assertEqual(rcpt["Action"], "failed")
        self.assertTrue(rcpt["Status"].startswith("4.4."), rcpt["Status"])
        self.assertIsNotNone(rcpt["Last-Attempt-Date"])
        text = human_text(msg)
        self.assertIn(f"127.0.0.1:{closed}", text)
        self.assertIn("Connection refused", text)
        self.assertIn("3s", text)  # within max_age
        # The whole original comes back (no RET: the full message, small).
        returned = msg.get_payload()[2]
        self.assertIn(returned.get_content_type(), ("message/rfc822", "text/rfc822-headers"))
        self.assertIn("<closed@origin.test>", returned.as_string())
        records = self.wait_records(Notice=1, TransientFailure=1, Expiration=1)
        kinds = [r["type"] for r in records if r["recipient"] == "user@dest.test"]
        self.assertIn("TransientFailure", kinds)
        self.assertIn("Expiration", kinds)
        expiration = next(r for r in records if r["type"] == "Expiration")
        self.assertEqual(expiration["category"], "transient")
        notices = [r for r in records if r["type"] == "Notice"]
        self.assertEqual(len(notices), 1, notices)
        self.assertEqual(notices[0]["about"], expiration["id"])

    def test_nxdomain_bounces_at_once_with_5_1_2(self):
        self.assertTrue(os.access(UNBOUND, os.X_OK),
                        f"{UNBOUND} missing: tools/dev installs Debian's unbound")
        dns_port = h.free_port()
        unbound = start_unbound(self.wd, dns_port, [
            'local-zone: "example.test." static',
            'local-data: "example.test. 300 IN SOA ns.example.test. '
            'host.example.test. 1 3600 600 86400 60"',
        ])
        self.procs.append(unbound)
        wait_dns(dns_port)
        self.start_relay(f"--dns=127.0.0.1:{dns_port}", "--retry_min=60s")
        send(self.relay_port, ["user@nosuch.example.test"], "Subject: nx\r\n\r\nhello\r\n")
        [(_, msg)] = self.wait_bounces(1)
        self.check_report(msg)
        _, [rcpt] = report_fields(msg)
        self.assertEqual(norm(rcpt["Final-Recipient"]), "rfc822;user@nosuch.example.test")
        self.assertEqual(rcpt["Action"], "failed")
        self.assertEqual(rcpt["Status"], "5.1.2")
        self.assertIsNone(rcpt["Remote-MTA"])  # no server was ever reached
        text = human_text(msg)
        self.assertIn("nosuch.example.test", text)
        self.assertIn("not found", text)
        records = self.wait_records(Notice=1, Bounce=1)
        bounce = next(r for r in records if r["type"] == "Bounce")
        self.assertEqual(bounce["category"], "bad-domain")
        self.assertEqual(bounce["attempt"], 1)

    def test_550_5_1_1_bounce_quotes_the_reply(self):
        dest_port = h.free_port()
        self.procs.append(h.start_sink(self.bins, self.wd, dest_port, "--fail_rcpt_5xx=1.0",
                                       name="dest"))
        self.start_relay(f"--route=dest.test=127.0.0.1:{dest_port}")
        send(self.relay_port, ["a@dest.test", "b@dest.test"], "Subject: refused\r\n\r\nhi\r\n")
        [(_, msg)] = self.wait_bounces(1)  # one bounce for both recipients
        self.check_report(msg)
        _, rcpts = report_fields(msg)
        self.assertEqual(sorted(norm(r["Final-Recipient"]) for r in rcpts),
                         ["rfc822;a@dest.test", "rfc822;b@dest.test"])
        for r in rcpts:
            self.assertEqual(r["Action"], "failed")
            self.assertEqual(r["Status"], "5.1.1")
            self.assertEqual(norm(r["Remote-MTA"]), "dns;127.0.0.1")
            self.assertTrue(norm(r["Diagnostic-Code"]).startswith("smtp;550 5.1.1"),
                            r["Diagnostic-Code"])
        self.assertIn("550 5.1.1", human_text(msg))
        records = self.wait_records(Notice=1, Bounce=2)
        bounces = [r for r in records if r["type"] == "Bounce"]
        self.assertEqual(len(bounces), 2)
        self.assertTrue(all(b["category"] == "invalid-recipient" for b in bounces), bounces)


class DelayAndCrash(BounceCase):
    def test_one_delay_warning_after_delay_warning_time(self):
        closed = h.free_port()
        self.start_relay(f"--route=dest.test=127.0.0.1:{closed}", "--retry_min=1s",
                         "--retry_max=1s", "--max_age=1h", "--delay_warning_time=2s")
        send(self.relay_port, ["late@dest.test"], "Subject: slow\r\n\r\nhello\r\n")
        [(_, msg)] = self.wait_bounces(1, what="the delay warning")
        self.check_report(msg)
        self.assertIn("Delayed", msg["Subject"])
        _, [rcpt] = report_fields(msg)
        self.assertEqual(rcpt["Action"], "delayed")
        self.assertTrue(rcpt["Status"].startswith("4."), rcpt["Status"])
        self.assertIsNotNone(rcpt["Will-Retry-Until"])
        self.assertIn(f"127.0.0.1:{closed}", human_text(msg))
        # Later deferrals send no second warning: wait for three more.
        first = h.count_types(self.wait_records(Notice=1)).get("TransientFailure", 0)
        self.wait_records(TransientFailure=first + 3)
        self.assertEqual(len(saved(self.save_dir)), 1)
        self.assertEqual(h.count_types(h.delivery_log(self.wd)).get("Notice", 0), 1)

    def test_kill9_after_the_bounce_is_spooled_neither_loses_nor_repeats_it(self):
        dest_port = h.free_port()
        self.procs.append(h.start_sink(self.bins, self.wd, dest_port, "--fail_rcpt_5xx=1.0",
                                       name="dest"))
        # The sender's domain is down at first: the bounce stays queued.
        self.relay_port = h.free_port()
        spool = os.path.join(self.wd, "spool")
        down = h.free_port()
        self.relay = h.start_relay(self.bins, self.wd, self.relay_port, None,
                                   f"--route=origin.test=127.0.0.1:{down}",
                                   f"--route=dest.test=127.0.0.1:{dest_port}",
                                   "--retry_min=1h", spool=spool)
        send(self.relay_port, ["gone@dest.test"], "Subject: crash\r\n\r\nhi\r\n")
        # Both records written (the log is flushed in batches: a kill -9
        # loses what is still in memory, never what the spool holds).
        self.wait_records(Notice=1, Bounce=1)
        self.relay.kill9()
        self.relay = h.start_relay(self.bins, self.wd, self.relay_port, None,
                                   f"--route=origin.test=127.0.0.1:{self.back_port}",
                                   f"--route=dest.test=127.0.0.1:{dest_port}",
                                   "--retry_min=1h", spool=spool, name="relay-again")
        # Only the bounce was still queued: the original's recipient is done.
        self.assertEqual(h.recovered_messages(self.relay), 1)
        [(env, msg)] = self.wait_bounces(1)
        self.assertIn("MAIL FROM:<>", env)
        _, [rcpt] = report_fields(msg)
        self.assertEqual(norm(rcpt["Final-Recipient"]), "rfc822;gone@dest.test")
        h.wait_for(lambda: any(r["type"] == "Delivery" and r["sender"] == ""
                               for r in h.delivery_log(self.wd)), timeout=30,
                   what="the bounce's Delivery record")
        records = h.delivery_log(self.wd)
        self.assertEqual([r["type"] for r in records
                          if r["recipient"] == "gone@dest.test" and r["type"] != "Reception"],
                         ["Bounce"])  # never tried again
        self.assertEqual(h.count_types(records).get("Notice"), 1)


class DsnExtension(BounceCase):
    def setUp(self):
        super().setUp()
        self.refuse_port = h.free_port()
        self.accept_port = h.free_port()
        self.procs.append(h.start_sink(self.bins, self.wd, self.refuse_port,
                                       "--fail_rcpt_5xx=1.0", name="refuse"))
        self.procs.append(h.start_sink(self.bins, self.wd, self.accept_port, name="accept"))
        self.start_relay(f"--route=refuse.test=127.0.0.1:{self.refuse_port}",
                         f"--route=accept.test=127.0.0.1:{self.accept_port}")

    def test_ehlo_offers_dsn(self):
        with smtplib.SMTP("127.0.0.1", self.relay_port, timeout=30) as s:
            s.ehlo("client.test")
            self.assertTrue(s.has_extn("dsn"))

    def test_notify_never_sends_no_bounce_and_failure_one(self):
        send(self.relay_port, ["never@refuse.test"], "Subject: never\r\n\r\n.\r\n",
             rcpt_options=["NOTIFY=NEVER"])
        send(self.relay_port, ["failure@refuse.test"], "Subject: failure\r\n\r\n.\r\n",
             rcpt_options=["NOTIFY=FAILURE"])
        self.wait_bounces(1)
        self.wait_records(Bounce=2)
        # Stopped, the relay has journaled and logged everything: both
        # failures are logged, only one sender was told.
        self.assertEqual(self.relay.stop(), 0, self.relay.stderr())
        self.relay = None
        self.assertEqual(h.count_types(h.delivery_log(self.wd)).get("Notice", 0), 1)
        [(_, msg)] = saved(self.save_dir)
        _, [rcpt] = report_fields(msg)
        self.assertEqual(norm(rcpt["Final-Recipient"]), "rfc822;failure@refuse.test")

    def test_success_notice_from_a_hop_without_dsn(self):
        send(self.relay_port, ["ok@accept.test"], "Subject: success\r\n\r\n.\r\n",
             rcpt_options=["NOTIFY=SUCCESS,FAILURE", "ORCPT=rfc822;Original+2BX@accept.test"],
             mail_options=["ENVID=QQ+2B314", "RET=HDRS"])
        [(_, msg)] = self.wait_bounces(1)
        types = self.check_report(msg)
        self.assertEqual(types[2], "text/rfc822-headers")  # RET=HDRS
        per_message, [rcpt] = report_fields(msg)
        self.assertEqual(per_message["Original-Envelope-Id"], "QQ+314")  # xtext decoded
        self.assertEqual(rcpt["Action"], "relayed")
        self.assertTrue(rcpt["Status"].startswith("2."), rcpt["Status"])
        self.assertEqual(norm(rcpt["Original-Recipient"]), "rfc822;Original+X@accept.test")
        self.assertIn("Successful", msg["Subject"])

    def test_no_notice_about_a_notice_and_double_bounce(self):
        # A message from <> that fails is logged and dropped...
        send(self.relay_port, ["x@refuse.test"], "Subject: from null\r\n\r\n.\r\n", sender="")
        self.wait_records(Bounce=1)
        # Stopped, the relay has logged everything: no Notice, no bounce.
        self.assertEqual(self.relay.stop(), 0, self.relay.stderr())
        self.relay = None
        self.assertEqual(h.count_types(h.delivery_log(self.wd)).get("Notice", 0), 0)
        self.assertEqual(saved(self.save_dir), [])
        # ...or, with double_bounce, reported there.
        self.start_relay(f"--route=refuse.test=127.0.0.1:{self.refuse_port}",
                         "--double_bounce=postmaster@origin.test")
        send(self.relay_port, ["y@refuse.test"], "Subject: from null\r\n\r\n.\r\n", sender="")
        [(env, msg)] = self.wait_bounces(1)
        self.assertIn("RCPT TO:<postmaster@origin.test>", env)
        self.check_report(msg, report_to="postmaster@origin.test")


if __name__ == "__main__":
    ARGV = sys.argv
    unittest.main(argv=[sys.argv[0]], verbosity=2)
