"""Python's email package reads the notices ComposeDsn writes.

dsn_report_example (argument 1) writes a few notices into a directory; each
is parsed with email.message_from_bytes(..., policy=email.policy.default),
a parser written independently of ours, and checked: a multipart/report of
report-type delivery-status with the parts in order, no parse defects, the
delivery-status fields per message and per recipient, the returned
original, and the human text quoting the explanation and the reply.
"""

import email
import email.policy
import os
import subprocess
import sys
import tempfile
import unittest

EXAMPLE = None  # set from argv in __main__


def parse(data):
    return email.message_from_bytes(data, policy=email.policy.default)


def walk_defects(msg):
    found = []
    for part in msg.walk():
        found.extend((part.get_content_type(), type(d).__name__) for d in part.defects)
    return found


class DsnReportPyTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(dir=os.environ.get("TEST_TMPDIR"))
        subprocess.run([EXAMPLE, cls.dir], check=True)
        cls.raw = {}
        for name in sorted(os.listdir(cls.dir)):
            with open(os.path.join(cls.dir, name), "rb") as f:
                cls.raw[name] = f.read()

    def notice(self, name):
        msg = parse(self.raw[name])
        self.assertEqual(msg.get_content_type(), "multipart/report", name)
        self.assertEqual(msg.get_param("report-type"), "delivery-status", name)
        self.assertEqual(walk_defects(msg), [], name)
        self.assertEqual(msg["Auto-Submitted"], "auto-replied")
        self.assertEqual(msg["MIME-Version"], "1.0")
        self.assertEqual(msg["From"].addresses[0].addr_spec, "MAILER-DAEMON@relay.example.net")
        self.assertEqual(msg["From"].addresses[0].display_name, "Mail Delivery System")
        self.assertEqual(msg["Message-ID"], "<dsn-example@relay.example.net>")
        self.assertIsNotNone(msg["Date"].datetime)
        return msg

    def parts(self, msg, types):
        parts = msg.get_payload()
        self.assertEqual([p.get_content_type() for p in parts], types)
        return parts

    def status_blocks(self, part):
        blocks = part.get_payload()
        self.assertGreaterEqual(len(blocks), 2)
        self.assertEqual(blocks[0]["Reporting-MTA"], "dns; relay.example.net")
        self.assertEqual(blocks[0]["Arrival-Date"], "Tue, 14 Nov 2023 22:13:20 +0000")
        return blocks

    def test_every_file_was_written(self):
        self.assertEqual(sorted(self.raw), sorted([
            "delay.eml", "failure_no_connection.eml", "failure_remote.eml", "full_big.eml",
            "full_over_limit.eml", "hostile.eml", "success.eml"]))
        for name, data in self.raw.items():
            for line in data.split(b"\r\n"):
                self.assertNotIn(b"\n", line, name)
                self.assertNotIn(b"\r", line, name)
                self.assertLessEqual(len(line), 998, name)

    def test_failure_with_remote_reply(self):
        msg = self.notice("failure_remote.eml")
        self.assertEqual(msg["Subject"], "Undelivered Mail Returned to Sender")
        self.assertEqual(msg["To"].addresses[0].addr_spec, "alice@sender.example")
        human, status, original = self.parts(
            msg, ["text/plain", "message/delivery-status", "message/rfc822"])
        text = human.get_content()
        self.assertIn("The recipient's mail server says this address does not exist.", text)
        self.assertIn("The mail server mx.example.com answered:", text)
        self.assertIn("550-5.1.1 The email account that you tried to reach does not exist.", text)
        self.assertIn("550 5.1.1 unnecessary spaces.", text)
        self.assertIn("(invalid-recipient)", text)
        blocks = self.status_blocks(status)
        self.assertEqual(len(blocks), 2)
        self.assertEqual(blocks[0]["Original-Envelope-Id"], "QQ314159")
        rcpt = blocks[1]
        self.assertEqual(rcpt["Final-Recipient"], "rfc822; bob@example.com")
        self.assertEqual(rcpt["Original-Recipient"], "rfc822; bob@example.com")
        self.assertEqual(rcpt["Action"], "failed")
        self.assertEqual(rcpt["Status"], "5.1.1")
        self.assertEqual(rcpt["Remote-MTA"], "dns; mx.example.com")
        self.assertTrue(rcpt["Diagnostic-Code"].startswith(
            "smtp; 550-5.1.1 The email account that you tried to reach does not exist."))
        self.assertTrue(rcpt["Diagnostic-Code"].endswith("550 5.1.1 unnecessary spaces."))
        self.assertIsNotNone(rcpt["Last-Attempt-Date"])
        self.assertIsNone(rcpt["Will-Retry-Until"])
        inner = original.get_payload()[0]
        self.assertEqual(inner["Subject"], "Quarterly report")
        self.assertIn("Line 2 of the report", inner.get_content())

    def test_failure_without_connection(self):
        msg = self.notice("failure_no_connection.eml")
        human, status, headers = self.parts(
            msg, ["text/plain", "message/delivery-status", "text/rfc822-headers"])
        text = human.get_content()
        self.assertIn("The domain nowhere.example does not exist (DNS: NXDOMAIN).", text)
        self.assertIn("headers only (RET=HDRS)", " ".join(text.split()))
        self.assertNotIn("answered", text)
        rcpt = self.status_blocks(status)[1]
        self.assertEqual(rcpt["Action"], "failed")
        self.assertEqual(rcpt["Status"], "5.1.2")
        for absent in ("Remote-MTA", "Diagnostic-Code", "Original-Envelope-Id"):
            self.assertIsNone(rcpt[absent], absent)
        self.assertIsNone(status.get_payload()[0]["Original-Envelope-Id"])
        returned = parse(headers.get_content().encode())
        self.assertEqual(returned["Subject"], "Quarterly report")
        self.assertNotIn("Line 0", headers.get_content())

    def test_delay(self):
        msg = self.notice("delay.eml")
        self.assertEqual(msg["Subject"], "Delayed Mail (still being retried)")
        human, status, _ = self.parts(
            msg, ["text/plain", "message/delivery-status", "text/rfc822-headers"])
        text = " ".join(human.get_content().split())
        self.assertIn("waiting for 4 hours", text)
        self.assertIn("Sun, 19 Nov 2023 22:13:20 +0000", text)
        self.assertIn("The mail server mx.slow.example answered: "
                      "451 4.7.1 Greylisted, please try again later", text)
        rcpt = self.status_blocks(status)[1]
        self.assertEqual(rcpt["Action"], "delayed")
        self.assertEqual(rcpt["Status"], "4.7.1")
        self.assertEqual(rcpt["Will-Retry-Until"], "Sun, 19 Nov 2023 22:13:20 +0000")

    def test_success(self):
        msg = self.notice("success.eml")
        self.assertEqual(msg["Subject"], "Successful Mail Delivery Report")
        human, status, _ = self.parts(
            msg, ["text/plain", "message/delivery-status", "text/rfc822-headers"])
        blocks = self.status_blocks(status)
        self.assertEqual(len(blocks), 3)
        self.assertEqual([b["Action"] for b in blocks[1:]], ["delivered", "relayed"])
        self.assertEqual([b["Status"] for b in blocks[1:]], ["2.0.0", "2.0.0"])
        text = " ".join(human.get_content().split())
        self.assertIn("<erin@example.com>: delivered", text)
        self.assertIn("<frank@legacy.example>: relayed: no further notices will come", text)

    def test_full_within_and_over_the_limit(self):
        msg = self.notice("full_big.eml")
        _, _, original = self.parts(
            msg, ["text/plain", "message/delivery-status", "message/rfc822"])
        self.assertIn("Line 2999 of the report", original.get_payload()[0].get_content())
        msg = self.notice("full_over_limit.eml")
        human, _, headers = self.parts(
            msg, ["text/plain", "message/delivery-status", "text/rfc822-headers"])
        self.assertIn("octets a notice returns", " ".join(human.get_content().split()))
        self.assertNotIn("Line 0", headers.get_content())
        self.assertLess(len(self.raw["full_over_limit.eml"]), 10000)

    def test_hostile_values_stay_inside_their_fields(self):
        msg = self.notice("hostile.eml")
        for part in msg.walk():
            for name in part.keys():
                self.assertFalse(name.lower().startswith("x-injected"), name)
            self.assertIsNone(part["Bcc"])
        human, status, _ = self.parts(
            msg, ["text/plain", "message/delivery-status", "message/rfc822"])
        self.assertIn("bad ?? octets", human.get_content())
        blocks = self.status_blocks(status)
        self.assertEqual(len(blocks), 2)
        rcpt = blocks[1]
        for name in rcpt.keys():
            self.assertFalse(name.lower().startswith("x-injected"), name)
        self.assertEqual(rcpt.get_all("Action"), ["failed"])
        self.assertEqual(rcpt["Status"], "5.0.0")
        self.assertTrue(rcpt["Original-Recipient"].startswith("utf-8; b\\x{F6}b@example.com"))
        self.assertTrue(rcpt["Diagnostic-Code"].isascii())
        self.assertIn("bad ?? octets", rcpt["Diagnostic-Code"])


if __name__ == "__main__":
    EXAMPLE = os.path.abspath(sys.argv[1])
    unittest.main(argv=sys.argv[:1])
