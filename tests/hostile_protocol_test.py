"""Hostile SMTP clients against the running relay: malformed, out-of-order,
oversized and smuggling input.

Each test sends its hostile bytes on a raw socket, asserts the exact reply
codes, and then has a normal smtplib client hand a message to the same relay
that must reach the sink. Nothing the hostile client sends may be delivered;
at the end the sink must hold exactly the normal messages and the accepted
ones, nothing else.
"""
import socket
import struct
import sys
import time
import unittest

from tests import hostile_lib as hl
from tests.lib import harness as h

MAX_RECIPIENTS = 3
MAX_MESSAGE = 10 * 1024


class HostileProtocol(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.r = hl.RelayUnderTest(
            hl_bins(), "hostile-proto",
            relay_flags=["--shards=2", f"--max_recipients={MAX_RECIPIENTS}",
                         f"--max_message_size={MAX_MESSAGE}"])
        cls.expected = set()   # ids that must reach the sink
        cls.forbidden = set()  # ids that must never reach it

    @classmethod
    def tearDownClass(cls):
        rc = cls.r.close()
        assert rc == 0, f"relay exit {rc}: {cls.r.relay.stderr()}"
        # The sink has written what it received: exactly the expected test
        # ids, once each; nothing hostile, nothing smuggled.
        received = hl.sink_ids(cls.r.wd)
        counts = h.count_types(h.delivery_log(cls.r.wd))
        hl.report("hostile-protocol", acknowledged=len(cls.expected),
                  delivered=len(set(received) & cls.expected),
                  lost=len(cls.expected - set(received)),
                  duplicated=sum(1 for v in received.values() if v > 1),
                  injected=len(set(received) - cls.expected),
                  rejections=counts.get("Rejection", 0))
        assert set(received) == cls.expected, (set(received) ^ cls.expected)
        assert all(v == 1 for v in received.values()), received

    def normal_client_served(self, tag):
        test_id = f"normal-{tag}"
        relay_id = hl.send_normal(self.r.port, test_id)
        self.expected.add(test_id)
        hl.wait_delivered(self.r.wd, [relay_id], timeout=30)

    def client(self):
        c = hl.RawClient(self.r.port)
        self.addCleanup(c.close)
        return c

    # --- garbage -------------------------------------------------------------

    def test_garbage_and_nul_bytes(self):
        c = self.client()
        c.hello()
        self.assertEqual(c.cmd(b"\x00\x01\x02\xff\xfe garbage\r\n")[0], 500)
        self.assertEqual(c.cmd(b"\x00\x00\x00\x00\r\n")[0], 500)
        self.assertEqual(c.cmd(b"MAIL FROM:<a\x00b@origin.test>\r\n")[0], 501)
        self.assertEqual(c.cmd(b"HELO a\x00b\r\n")[0], 501)
        self.assertEqual(c.cmd(b"NOOP\x00\r\n")[0], 500)
        # A bare LF or CR ends no command line.
        self.assertEqual(c.cmd(b"NOOP\n")[0], 500)
        self.assertEqual(c.cmd(b"NOOP\rNOOP\r\n")[0], 500)
        # The session is still in sync: a valid command works.
        self.assertEqual(c.cmd("NOOP"), (250, "2.0.0 Ok"))
        # The 20th error in one session (7 so far): its 500, then 421, and
        # the relay hangs up.
        codes = [c.cmd(b"\xde\xad\xbe\xef\r\n")[0] for _ in range(13)]
        self.assertEqual(codes, [500] * 13)
        self.assertEqual(c.reply()[0], 421)
        self.assertTrue(c.closed_by_peer())
        # Megabytes of random binary with no line end at all.
        c2 = self.client()
        c2.hello()
        c2.send(bytes(range(256)) * 64)  # 16 KiB, contains LF bytes
        c2.send(b"\r\nNOOP\r\n")
        deadline = time.monotonic() + 10
        code = 0
        while code != 250 and time.monotonic() < deadline:
            code, _ = c2.reply()
            self.assertIn(code, (250, 500, 501, 421))
            if code == 421:
                break
        self.normal_client_served("garbage")

    def test_unknown_verbs(self):
        c = self.client()
        self.assertEqual(c.reply()[0], 220)
        self.assertEqual(c.cmd("XYZZY"), (500, "5.5.2 Error: command not recognized"))
        self.assertEqual(c.cmd("GET / HTTP/1.1")[0], 500)
        self.assertEqual(c.cmd("MAILFROM:<a@b.test>")[0], 500)
        self.assertEqual(c.cmd("EXPN staff")[0], 502)
        self.assertEqual(c.cmd("TURN")[0], 500)
        self.assertEqual(c.cmd("QUIT")[0], 221)
        self.assertTrue(c.closed_by_peer())
        self.normal_client_served("unknown")

    def test_commands_out_of_order(self):
        c = self.client()
        self.assertEqual(c.reply()[0], 220)
        self.assertEqual(c.cmd("MAIL FROM:<a@origin.test>"),
                         (503, "5.5.1 Error: send HELO/EHLO first"))
        self.assertEqual(c.cmd("EHLO hostile.test")[0], 250)
        self.assertEqual(c.cmd("RCPT TO:<x@dest.test>"), (503, "5.5.1 Error: need MAIL command"))
        self.assertEqual(c.cmd("DATA"), (503, "5.5.1 Error: need MAIL command"))
        self.assertEqual(c.cmd("MAIL FROM:<a@origin.test>")[0], 250)
        self.assertEqual(c.cmd("MAIL FROM:<b@origin.test>"),
                         (503, "5.5.1 Error: nested MAIL command"))
        self.assertEqual(c.cmd("DATA"), (554, "5.5.1 Error: no valid recipients"))
        self.assertEqual(c.cmd("RSET")[0], 250)
        # BDAT without MAIL: the chunk is read (the session stays in sync)
        # and refused.
        self.assertEqual(c.cmd(b"BDAT 6 LAST\r\nQUIT\r\n")[0], 503)
        self.assertEqual(c.cmd("NOOP")[0], 250)
        self.normal_client_served("order")

    # --- limits ----------------------------------------------------------------

    def test_overlong_command_and_text_lines(self):
        c = self.client()
        c.hello()
        self.assertEqual(c.cmd(b"NOOP " + b"a" * 600 + b"\r\n"),
                         (500, "5.5.2 Error: line too long"))
        self.assertEqual(c.cmd(b"RCPT TO:<" + b"a" * 3000 + b"@dest.test>\r\n")[0], 500)
        # A line with no end in sight: one 500, the rest discarded up to LF.
        c.send(b"NOOP " + b"b" * 100_000)
        self.assertEqual(c.reply(), (500, "5.5.2 Error: line too long"))
        c.send(b"bbbb\r\n")
        self.assertEqual(c.cmd("NOOP"), (250, "2.0.0 Ok"))
        # A text line over 1000 octets in DATA rejects the message.
        forbidden = "overlong-text"
        self.forbidden.add(forbidden)
        self.assertEqual(c.cmd("MAIL FROM:<a@origin.test>")[0], 250)
        self.assertEqual(c.cmd("RCPT TO:<x@dest.test>")[0], 250)
        self.assertEqual(c.cmd("DATA")[0], 354)
        c.send(hl.message_bytes(forbidden, "x" * 1001 + "\r\n") + b".\r\n")
        self.assertEqual(c.reply()[0:1], (550,))
        self.assertEqual(c.cmd("NOOP")[0], 250)
        self.normal_client_served("overlong")

    def test_more_recipients_than_allowed(self):
        c = self.client()
        c.hello()
        self.assertEqual(c.cmd("MAIL FROM:<a@origin.test>")[0], 250)
        for i in range(MAX_RECIPIENTS):
            self.assertEqual(c.cmd(f"RCPT TO:<r{i}@dest.test>")[0], 250)
        self.assertEqual(c.cmd("RCPT TO:<extra@dest.test>"),
                         (452, "4.5.3 Error: too many recipients"))
        self.assertEqual(c.cmd("RCPT TO:<extra2@dest.test>")[0], 452)
        self.assertEqual(c.cmd("DATA")[0], 354)
        test_id = "max-rcpt"
        c.send(hl.message_bytes(test_id) + b".\r\n")
        code, text = c.reply()
        self.assertEqual(code, 250, text)
        self.expected.add(test_id)
        relay_id = hl.queued_id(text)
        hl.wait_delivered(self.r.wd, [relay_id], recipients=MAX_RECIPIENTS)
        deliveries = [x for x in self.r.log() if x["type"] == "Delivery"
                      and x["id"] == relay_id]
        self.assertEqual(sorted(x["recipient"] for x in deliveries),
                         [f"r{i}@dest.test" for i in range(MAX_RECIPIENTS)])
        self.normal_client_served("max-rcpt")

    def test_size_over_the_limit(self):
        c = self.client()
        c.hello()
        self.assertEqual(c.cmd(f"MAIL FROM:<a@origin.test> SIZE={MAX_MESSAGE + 1}"),
                         (552, "5.3.4 Error: message size exceeds fixed limit"))
        self.assertEqual(c.cmd("MAIL FROM:<a@origin.test> SIZE=99999999999999999999999")[0],
                         501)
        # No SIZE given, but the data is larger: refused after the data.
        forbidden = "too-big"
        self.forbidden.add(forbidden)
        self.assertEqual(c.cmd("MAIL FROM:<a@origin.test>")[0], 250)
        self.assertEqual(c.cmd("RCPT TO:<x@dest.test>")[0], 250)
        self.assertEqual(c.cmd("DATA")[0], 354)
        c.send(hl.message_bytes(forbidden, ("y" * 78 + "\r\n") * 200) + b".\r\n")
        self.assertEqual(c.reply()[0], 552)
        # BDAT over the limit: refused too, connection in sync.
        self.assertEqual(c.cmd("MAIL FROM:<a@origin.test>")[0], 250)
        self.assertEqual(c.cmd("RCPT TO:<x@dest.test>")[0], 250)
        chunk = hl.message_bytes("too-big-bdat", "z" * 70 + "\r\n") * 200
        self.forbidden.add("too-big-bdat")
        self.assertEqual(c.cmd(b"BDAT %d LAST\r\n" % len(chunk) + chunk)[0], 552)
        self.assertEqual(c.cmd("NOOP")[0], 250)
        self.normal_client_served("size")

    def test_client_vanishes_mid_data(self):
        # Half-close, then a reset, in the middle of the data: the message
        # is incomplete, so it is neither queued nor delivered.
        for how in ("shutdown", "reset"):
            test_id = f"vanished-{how}"
            self.forbidden.add(test_id)
            c = self.client()
            c.hello()
            self.assertEqual(c.cmd("MAIL FROM:<a@origin.test>")[0], 250)
            self.assertEqual(c.cmd("RCPT TO:<x@dest.test>")[0], 250)
            self.assertEqual(c.cmd("DATA")[0], 354)
            c.send(hl.message_bytes(test_id, "half a message\r\nand no end"))
            if how == "shutdown":
                c.sock.shutdown(socket.SHUT_WR)
                self.assertTrue(c.closed_by_peer())
            else:
                c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                  struct.pack("ii", 1, 0))
                c.close()
        # Not at the sink: checked once it has stopped (tearDownClass).
        self.normal_client_served("vanished")

    # --- smuggling -------------------------------------------------------------

    SMUGGLE = {
        "lf-dot-lf": b"\n.\n",
        "cr-dot-cr": b"\r.\r",
        "lf-dot-crlf": b"\n.\r\n",
        "crlf-dot-lf": b"\r\n.\n",
        "cr-dot-crlf": b"\r.\r\n",
        "crlf-dot-cr": b"\r\n.\r",
        "lf-dot-cr": b"\n.\r",
    }

    def test_smtp_smuggling_variants(self):
        for name, seq in self.SMUGGLE.items():
            with self.subTest(variant=name):
                outer = f"smuggle-outer-{name}"
                inner = f"smuggled-{name}"
                self.forbidden.update({outer, inner})
                c = self.client()
                c.hello()
                self.assertEqual(c.cmd("MAIL FROM:<a@origin.test>")[0], 250)
                self.assertEqual(c.cmd("RCPT TO:<x@dest.test>")[0], 250)
                self.assertEqual(c.cmd("DATA")[0], 354)
                payload = (hl.message_bytes(outer, "hello") + seq +
                           b"MAIL FROM:<evil@origin.test>\r\n"
                           b"RCPT TO:<victim@dest.test>\r\nDATA\r\n" +
                           hl.message_bytes(inner, "injected\r\n") + b".\r\n")
                c.send(payload)
                # Exactly one reply: the whole thing was one message (the
                # smuggled commands were data), refused for its bare CR/LF.
                code, text = c.reply()
                self.assertEqual((code, text.split()[0]), (550, "5.6.11"), text)
                self.assertEqual(c.cmd("NOOP"), (250, "2.0.0 Ok"))
                self.assertEqual(c.cmd("QUIT")[0], 221)
        # The same sequences inside BDAT chunks: refused too (BDAT content
        # must not carry what DATA would refuse).
        for name, seq in self.SMUGGLE.items():
            with self.subTest(variant=f"bdat-{name}"):
                inner = f"smuggled-bdat-{name}"
                self.forbidden.add(inner)
                c = self.client()
                c.hello()
                self.assertEqual(c.cmd("MAIL FROM:<a@origin.test>")[0], 250)
                self.assertEqual(c.cmd("RCPT TO:<x@dest.test>")[0], 250)
                chunk = (hl.message_bytes(f"smuggle-bdat-outer-{name}", "hello") + seq +
                         b"MAIL FROM:<evil@origin.test>\r\nRCPT TO:<victim@dest.test>\r\n"
                         b"DATA\r\n" + hl.message_bytes(inner, "injected\r\n") + b".\r\n")
                code, text = c.cmd(b"BDAT %d LAST\r\n" % len(chunk) + chunk)
                self.assertEqual((code, text.split()[0]), (550, "5.6.11"), text)
                self.assertEqual(c.cmd("NOOP"), (250, "2.0.0 Ok"))
        self.normal_client_served("smuggling")
        # Nothing was accepted: no Reception for any of them (the sink's
        # view is checked once it has stopped, in tearDownClass).
        self.assertEqual([r for r in self.r.log() if r["type"] == "Reception"
                          and r["recipient"] == "victim@dest.test"], [])

    def test_dot_line_that_is_not_a_terminator_stays_content(self):
        # CRLF "." NUL CRLF is a dot-stuffed line, not an end: the message is
        # ONE message whose body contains the would-be commands.
        outer, inner = "dotnul-outer", "dotnul-inner"
        self.forbidden.add(inner)
        c = self.client()
        c.hello()
        self.assertEqual(c.cmd("MAIL FROM:<a@origin.test>")[0], 250)
        self.assertEqual(c.cmd("RCPT TO:<x@dest.test>")[0], 250)
        self.assertEqual(c.cmd("DATA")[0], 354)
        c.send(hl.message_bytes(outer, "hello") + b"\r\n.\x00\r\n"
               b"MAIL FROM:<evil@origin.test>\r\nRCPT TO:<victim@dest.test>\r\n"
               b"DATA\r\n" + hl.message_bytes(inner, "injected\r\n") + b".\r\n")
        code, text = c.reply()
        self.assertEqual(code, 250, text)
        self.assertEqual(c.cmd("NOOP")[0], 250)
        self.expected.add(outer)
        hl.wait_delivered(self.r.wd, [hl.queued_id(text)])
        self.normal_client_served("dotnul")


def hl_bins():
    return h.Binaries(ARGV)


if __name__ == "__main__":
    ARGV = sys.argv
    unittest.main(argv=[sys.argv[0]] + sys.argv[4:], verbosity=2)
