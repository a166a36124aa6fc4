"""Python's smtplib (Debian's python3) as an independent client.

Multi-recipient messages with 8-bit bodies and dot-leading lines must arrive
at the sink byte-exact, apart from the Received header the relay prepends.
"""
import glob
import os
import smtplib
import sys
import unittest

from tests.lib import harness as h


def strip_received(content):
    """Removes the first header (Received, with its folded lines)."""
    assert content.startswith(b"Received: "), content[:80]
    end = 0
    while True:
        nl = content.index(b"\r\n", end) + 2
        end = nl
        if content[end:end + 1] not in (b" ", b"\t"):
            return content[end:]


MESSAGES = [
    # (recipients, body bytes)
    (["alice@one.test", "bob@one.test", "carol@two.test"],
     b"From: sender@origin.test\r\nTo: alice@one.test\r\nSubject: dots\r\n"
     b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
     b"Content-Transfer-Encoding: 8bit\r\n\r\n"
     b".leading dot\r\n..two dots\r\n.\r\n"
     b"caf\xc3\xa9 cr\xc3\xa8me br\xc3\xbbl\xc3\xa9e \xe2\x82\xac\r\n"
     b"\xff\xfe raw 8-bit octets\r\nlast line\r\n"),
    (["dave@two.test"],
     b"Subject: small\r\n\r\n.\r\n..\r\n...\r\nend\r\n"),
    (["erin@three.test", "frank@three.test"],
     b"Subject: big\r\n\r\n" + b"".join(
         (b"." if i % 7 == 0 else b"") + (b"line %05d " % i) + b"x" * 60 + b"\r\n"
         for i in range(3000))),
]


class SmtplibClient(unittest.TestCase):
    def test_byte_exact_delivery(self):
        bins = h.Binaries(ARGV)
        wd = h.workdir("smtplib")
        save = os.path.join(wd, "saved")
        os.makedirs(save)
        sink_port, relay_port = h.free_port(), h.free_port()
        sink = h.start_sink(bins, wd, sink_port, f"--save_dir={save}")
        relay = h.start_relay(bins, wd, relay_port, sink_port, "--shards=2")
        expected_copies = 0
        try:
            with smtplib.SMTP("127.0.0.1", relay_port, timeout=30) as s:
                code, _ = s.ehlo("client.test")
                self.assertEqual(code, 250)
                self.assertTrue(s.has_extn("8bitmime"))
                self.assertTrue(s.has_extn("pipelining"))
                for rcpts, body in MESSAGES:
                    refused = s.sendmail("sender@origin.test", rcpts, body,
                                         mail_options=["BODY=8BITMIME"])
                    self.assertEqual(refused, {})
                    expected_copies += len({r.split("@")[1] for r in rcpts})
            h.wait_for(lambda: len(glob.glob(f"{save}/*.eml")) >= expected_copies,
                       timeout=30, what="messages at the sink")
        finally:
            self.assertEqual(relay.stop(), 0)
            sink.stop()

        by_rcpts = {}
        for env_path in glob.glob(f"{save}/*.env"):
            with open(env_path) as f:
                rcpts = sorted(line.split("<", 1)[1].rstrip(">\n")
                               for line in f if line.startswith("RCPT TO:"))
            with open(env_path[:-4] + ".eml", "rb") as f:
                by_rcpts[tuple(rcpts)] = f.read()
        self.assertEqual(len(by_rcpts), expected_copies)
        for rcpts, body in MESSAGES:
            domains = sorted({r.split("@")[1] for r in rcpts})
            for d in domains:
                group = tuple(sorted(r for r in rcpts if r.endswith("@" + d)))
                self.assertIn(group, by_rcpts)
                got = by_rcpts[group]
                self.assertIn(b"by relay.test (ringpost) with ESMTP id ", got[:300])
                self.assertEqual(strip_received(got), body, f"content for {group}")

    def test_relaying_refused_outside_relay_networks(self):
        bins = h.Binaries(ARGV)
        wd = h.workdir("relaydeny")
        sink_port, relay_port = h.free_port(), h.free_port()
        sink = h.start_sink(bins, wd, sink_port)
        relay = h.start_relay(bins, wd, relay_port, sink_port,
                              "--relay_networks=192.0.2.0/24")
        try:
            with smtplib.SMTP("127.0.0.1", relay_port, timeout=30) as s:
                with self.assertRaises(smtplib.SMTPRecipientsRefused) as ctx:
                    s.sendmail("a@origin.test", ["b@dest.test"], b"Subject: x\r\n\r\nx\r\n")
                code, text = ctx.exception.recipients["b@dest.test"]
                self.assertEqual(code, 554)
                self.assertIn(b"5.7.1", text)
                self.assertEqual(s.noop()[0], 250)  # the session goes on
            h.wait_for(lambda: h.count_types(h.delivery_log(wd)).get("Rejection", 0) >= 1,
                       timeout=10, what="Rejection record")
        finally:
            self.assertEqual(relay.stop(), 0)
            sink.stop()
        counts = h.count_types(h.delivery_log(wd))
        self.assertEqual(counts, {"Rejection": 1})
        r = h.delivery_log(wd)[0]
        self.assertEqual((r["code"], r["enhanced"], r["recipient"]), (554, "5.7.1", "b@dest.test"))
        self.assertEqual(h.read_json(f"{wd}/sink.report.json")["messages"], 0)


if __name__ == "__main__":
    ARGV = sys.argv
    unittest.main(argv=[sys.argv[0]], verbosity=2)
