"""The inbound SMTP server against RFC 5321, 3030, 6152 and 6531, seen from
outside: a real relay and sink on loopback, clients on raw sockets and
smtplib (issue 11, items 2, 8 and 9).

- BDAT sizes: a size that once wrapped the limit check (2^64 - 1) and every
  malformed BDAT get 521 and the connection is closed; a huge declared size
  that parses is read and dropped with the relay's memory flat; a chunk past
  --max_message_size gets 552 5.3.4 and the session stays in sync.
- Mail loops: more than --max_hops Received: lines (the relay's own counted)
  get 554 5.4.0, by DATA and by BDAT.
- DSN (RFC 3461) is offered: RET, ENVID, NOTIFY and ORCPT are taken, a
  malformed or repeated one gets 501 5.5.4 naming it; parameters the relay
  does not offer (BINARYMIME, unknown) get 555.
- RCPT TO:<Postmaster> is accepted from outside --relay_networks and
  delivered to --postmaster.
- SMTPUTF8 is offered; a non-ASCII address without it gets 553 5.6.7.

The relay allows only 127.0.0.2/32: normal clients connect from there, the
"outside" client from 127.0.0.3. Every test ends by having a normal client
served; at the end the sink holds exactly the expected messages.
"""
import smtplib
import sys
import unittest

from tests import hostile_lib as hl
from tests.lib import harness as h

INSIDE = "127.0.0.2"
OUTSIDE = "127.0.0.3"
MAX_MESSAGE = 1 << 20
MAX_HOPS = 5
POSTMASTER = "hostmaster@admin.test"


def received_lines(n):
    return "".join(f"Received: from hop{i}.test ([192.0.2.{i}])\r\n\tby hop{i + 1}.test; "
                   f"Mon, 1 Jan 2024 00:00:{i:02d} +0000\r\n" for i in range(n))


class InboundConformance(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.r = hl.RelayUnderTest(
            h.Binaries(ARGV), "inbound-conformance",
            relay_flags=["--shards=1", f"--relay_networks={INSIDE}/32",
                         f"--max_message_size={MAX_MESSAGE}", f"--max_hops={MAX_HOPS}",
                         f"--postmaster={POSTMASTER}"])
        cls.expected = set()  # test ids that must reach the sink, once each

    @classmethod
    def tearDownClass(cls):
        rc = cls.r.close()
        assert rc == 0, f"relay exit {rc}: {cls.r.relay.stderr()}"
        received = hl.sink_ids(cls.r.wd)
        assert set(received) == cls.expected, (set(received) ^ cls.expected)
        assert all(v == 1 for v in received.values()), received

    def client(self, source=INSIDE):
        c = hl.RawClient(self.r.port, source=source)
        self.addCleanup(c.close)
        return c

    def transaction(self, source=INSIDE, mail="MAIL FROM:<a@origin.test>"):
        c = self.client(source)
        c.hello()
        self.assertEqual(c.cmd(mail)[0], 250)
        self.assertEqual(c.cmd("RCPT TO:<x@dest.test>")[0], 250)
        return c

    def normal_client_served(self, tag):
        test_id = f"normal-{tag}"
        relay_id = hl.send_normal(self.r.port, test_id, source=INSIDE)
        self.expected.add(test_id)
        hl.wait_delivered(self.r.wd, [relay_id], timeout=30)

    def rss_kb(self):
        return hl.vm_rss_kb(self.r.relay.popen.pid)

    # --- BDAT sizes (item 2) ---------------------------------------------------

    def test_bdat_size_that_wrapped_the_limit_gets_521_and_close(self):
        # Before: 2^64 - 1 wrapped "received + size" below the limit; the
        # relay took the chunk, buffered whatever came and never answered.
        rss_before = self.rss_kb()
        for size in (b"18446744073709551615", b"18446744073709551600"):
            c = self.transaction()
            c.send(b"BDAT " + size + b" LAST\r\n")
            code, text = c.reply(timeout=10)
            self.assertEqual((code, text.split()[0]), (521, "5.5.4"), text)
            self.assertTrue(c.closed_by_peer())
        self.assertLess(self.rss_kb() - rss_before, 8 * 1024)
        self.normal_client_served("bdat-wrap")

    def test_malformed_bdat_gets_521_and_close(self):
        for line in (b"BDAT", b"BDAT LAST", b"BDAT x", b"BDAT 10 junk", b"BDAT 10 LAST x",
                     b"BDAT -5", b"BDAT 99999999999999999999"):
            with self.subTest(line=line):
                c = self.transaction()
                # What follows would be the chunk; it must run as nothing.
                c.send(line + b"\r\nRSET\r\n")
                code, text = c.reply(timeout=10)
                self.assertEqual((code, text.split()[0]), (521, "5.5.4"), text)
                self.assertTrue(c.closed_by_peer())
                self.assertEqual(c.buf, b"")  # no reply to the RSET
        self.normal_client_served("bdat-malformed")

    def test_huge_declared_bdat_size_is_dropped_with_memory_flat(self):
        c = self.transaction()
        c.send(b"BDAT 9223372036854775807 LAST\r\n")
        piece = (b"z" * 1022 + b"\r\n") * 1024  # 1 MiB
        # The first MiBs warm the relay's receive buffers (resident once
        # used); what comes after must not add to its memory.
        for _ in range(16):
            c.send(piece)
        rss_before = self.rss_kb()
        for _ in range(64):
            c.send(piece)
        # The socket buffers hold a few MiB at most: the relay has read
        # well over 50 MiB of the chunk by now, and kept none of it.
        growth = self.rss_kb() - rss_before
        self.assertLess(growth, 4 * 1024, f"relay RSS grew {growth} KiB for 64 MiB dropped")
        c.close()
        self.normal_client_served("bdat-huge")

    def test_bdat_chunk_past_the_limit_gets_552_and_stays_in_sync(self):
        c = self.transaction()
        self.assertEqual(c.cmd(b"BDAT 1000\r\n" + b"x" * 998 + b"\r\n")[0], 250)
        chunk = (b"y" * 1022 + b"\r\n") * 1024  # 1 MiB: with the first, past the limit
        code, text = c.cmd(b"BDAT %d LAST\r\n" % len(chunk) + chunk)
        self.assertEqual((code, text), (552, "5.3.4 Error: message size exceeds fixed limit"))
        self.assertEqual(c.cmd("NOOP"), (250, "2.0.0 Ok"))
        # Exactly the limit is fine.
        test_id = "bdat-at-limit"
        header = hl.message_bytes(test_id, "")
        full, rem = divmod(MAX_MESSAGE - len(header), 1000)
        line = b"b" * 998 + b"\r\n"
        if rem >= 2:
            body = line * full + b"b" * (rem - 2) + b"\r\n"
        elif rem == 1:
            body = line * (full - 1) + b"b" * 997 + b"\r\n" + b"\r\n"
        else:
            body = line * full
        self.assertEqual(len(header) + len(body), MAX_MESSAGE)
        self.assertEqual(c.cmd("MAIL FROM:<a@origin.test>")[0], 250)
        self.assertEqual(c.cmd("RCPT TO:<x@dest.test>")[0], 250)
        code, text = c.cmd(b"BDAT %d LAST\r\n" % (len(header) + len(body)) + header + body)
        self.assertEqual(code, 250, text)
        self.expected.add(test_id)
        hl.wait_delivered(self.r.wd, [hl.queued_id(text)])
        self.normal_client_served("bdat-552")

    def test_bdat_without_mail_is_read_and_refused(self):
        c = self.client()
        c.hello()
        self.assertEqual(c.cmd(b"BDAT 6\r\nQUIT\r\n")[0], 503)
        self.assertEqual(c.cmd("MAIL FROM:<a@origin.test>")[0], 250)
        self.assertEqual(c.cmd("RCPT TO:<x@dest.test>")[0], 250)
        test_id = "bdat-after-503"
        data = hl.message_bytes(test_id)
        code, text = c.cmd(b"BDAT %d LAST\r\n" % len(data) + data)
        self.assertEqual(code, 250, text)
        self.expected.add(test_id)
        hl.wait_delivered(self.r.wd, [hl.queued_id(text)])

    # --- mail loops (item 8) ---------------------------------------------------

    def test_too_many_received_headers_get_554_5_4_0(self):
        # The relay's own Received counts: a client may bring MAX_HOPS - 1.
        for hops, refused in ((MAX_HOPS - 1, False), (MAX_HOPS, True), (MAX_HOPS + 20, True)):
            for how in ("data", "bdat"):
                with self.subTest(hops=hops, how=how):
                    test_id = f"hops-{hops}-{how}"
                    data = received_lines(hops).encode() + hl.message_bytes(test_id)
                    c = self.transaction()
                    if how == "data":
                        self.assertEqual(c.cmd("DATA")[0], 354)
                        c.send(data + b".\r\n")
                        code, text = c.reply()
                    else:
                        code, text = c.cmd(b"BDAT %d LAST\r\n" % len(data) + data)
                    if refused:
                        self.assertEqual((code, text), (554, "5.4.0 Too many hops"))
                        self.assertEqual(c.cmd("NOOP")[0], 250)
                    else:
                        self.assertEqual(code, 250, text)
                        self.expected.add(test_id)
                        hl.wait_delivered(self.r.wd, [hl.queued_id(text)])
        def rejected():
            return [x for x in self.r.log() if x["type"] == "Rejection"
                    and x["code"] == 554 and x["enhanced"] == "5.4.0"]
        # The delivery log is written in batches: wait for the records.
        h.wait_for(lambda: len(rejected()) >= 4, timeout=30, what="4 loop Rejection records")
        self.assertEqual(len(rejected()), 4, rejected())
        self.normal_client_served("hops")

    # --- parameters, Postmaster, SMTPUTF8 (item 9) ------------------------------

    def test_ehlo_offers_smtputf8_and_dsn_but_not_binarymime(self):
        with smtplib.SMTP("127.0.0.1", self.r.port, timeout=30,
                          source_address=(INSIDE, 0)) as s:
            s.ehlo("client.test")
            self.assertTrue(s.has_extn("smtputf8"))
            self.assertTrue(s.has_extn("8bitmime"))
            self.assertTrue(s.has_extn("chunking"))
            self.assertTrue(s.has_extn("dsn"))
            self.assertFalse(s.has_extn("binarymime"))

    def test_dsn_parameters_are_taken_and_bad_ones_get_501(self):
        with smtplib.SMTP("127.0.0.1", self.r.port, timeout=30,
                          source_address=(INSIDE, 0)) as s:
            s.ehlo("client.test")
            for opts, name in ((["RET=FULL", "RET=HDRS"], b"RET"), (["RET=ALL"], b"RET"),
                               (["ENVID=a+2b"], b"ENVID"), (["ENVID=" + "e" * 101], b"ENVID")):
                code, text = s.mail("a@origin.test", opts)
                self.assertEqual((code, text.split()[0]), (501, b"5.5.4"), (opts, text))
                self.assertIn(name, text)
            self.assertEqual(s.mail("a@origin.test", ["RET=HDRS", "ENVID=QQ+2B314159"])[0], 250)
            for opts, name in ((["NOTIFY=NEVER,SUCCESS"], b"NOTIFY"), (["NOTIFY=SOON"], b"NOTIFY"),
                               (["ORCPT=x@dest.test"], b"ORCPT"),
                               (["ORCPT=rfc822;a", "ORCPT=rfc822;a"], b"ORCPT")):
                code, text = s.rcpt("x@dest.test", opts)
                self.assertEqual((code, text.split()[0]), (501, b"5.5.4"), (opts, text))
                self.assertIn(name, text)
            self.assertEqual(
                s.rcpt("x@dest.test", ["NOTIFY=SUCCESS,FAILURE", "ORCPT=rfc822;x@dest.test"])[0],
                250)
            self.assertEqual(s.rcpt("y@dest.test", ["NOTIFY=NEVER"])[0], 250)
            # The sink offers no DSN: the relay delivers without the parameters.
            test_id = "dsn-params"
            code, text = s.data(hl.message_bytes(test_id))
            self.assertEqual(code, 250, text)
        self.expected.add(test_id)
        hl.wait_delivered(self.r.wd, [hl.queued_id(text.decode())], recipients=2)
        # x@ asked NOTIFY=SUCCESS of a hop without DSN: the relay sends the
        # sender a "relayed" notice itself (from <>; no test id: "-").
        self.expected.add("-")
        h.wait_for(lambda: any(x["type"] == "Delivery" and x["sender"] == ""
                               for x in self.r.log()), timeout=30, what="the success notice")

    def test_unsupported_parameters_get_555(self):
        with smtplib.SMTP("127.0.0.1", self.r.port, timeout=30,
                          source_address=(INSIDE, 0)) as s:
            s.ehlo("client.test")
            for opts in (["NOTIFY=NEVER"], ["BODY=BINARYMIME"], ["XFOO=1"],
                         ["SIZE=100", "AUTH=<>"]):
                code, text = s.mail("a@origin.test", opts)
                self.assertEqual((code, text.split()[0]), (555, b"5.5.4"), (opts, text))
            self.assertEqual(s.mail("a@origin.test", ["SIZE=100", "BODY=8BITMIME"])[0], 250)
            for opts in (["RET=FULL"], ["ENVID=QQ314159"], ["SIZE=100"]):
                code, text = s.rcpt("x@dest.test", opts)
                self.assertEqual((code, text.split()[0]), (555, b"5.5.4"), (opts, text))
            self.assertEqual(s.rcpt("x@dest.test")[0], 250)
            test_id = "params-after-555"
            code, text = s.data(hl.message_bytes(test_id))
            self.assertEqual(code, 250, text)
        self.expected.add(test_id)
        hl.wait_delivered(self.r.wd, [hl.queued_id(text.decode())])

    def test_postmaster_accepted_from_outside_and_delivered_to_the_configured_address(self):
        c = self.client(OUTSIDE)
        c.hello()
        self.assertEqual(c.cmd("MAIL FROM:<someone@outside.test>")[0], 250)
        self.assertEqual(c.cmd("RCPT TO:<x@dest.test>"), (554, "5.7.1 Relay access denied"))
        self.assertEqual(c.cmd("RCPT TO:<PostMaster>"), (250, "2.1.5 Ok"))
        self.assertEqual(c.cmd("DATA")[0], 354)
        test_id = "to-postmaster"
        c.send(hl.message_bytes(test_id) + b".\r\n")
        code, text = c.reply()
        self.assertEqual(code, 250, text)
        relay_id = hl.queued_id(text)
        self.expected.add(test_id)
        hl.wait_delivered(self.r.wd, [relay_id])
        deliveries = [x for x in self.r.log() if x["type"] == "Delivery" and x["id"] == relay_id]
        self.assertEqual([x["recipient"] for x in deliveries], [POSTMASTER])

    def test_non_ascii_address_needs_smtputf8(self):
        c = self.client()
        c.hello()
        sender = "j\u00f6rg@origin.test".encode()
        rcpt = "\u7528\u6237@\u4f8b\u5b50.test".encode()
        self.assertEqual(c.cmd(b"MAIL FROM:<" + sender + b">\r\n"),
                         (553, "5.6.7 Error: non-ASCII address requires SMTPUTF8"))
        self.assertEqual(c.cmd("MAIL FROM:<a@origin.test>")[0], 250)
        self.assertEqual(c.cmd(b"RCPT TO:<" + rcpt + b">\r\n"),
                         (553, "5.6.7 Error: non-ASCII address requires SMTPUTF8"))
        self.assertEqual(c.cmd("RSET")[0], 250)
        self.assertEqual(c.cmd(b"MAIL FROM:<" + sender + b"> SMTPUTF8\r\n"), (250, "2.1.0 Ok"))
        self.assertEqual(c.cmd(b"RCPT TO:<" + rcpt + b">\r\n"), (250, "2.1.5 Ok"))
        # Invalid UTF-8 stays a syntax error.
        self.assertEqual(c.cmd(b"RCPT TO:<\xc3@dest.test>\r\n")[0], 501)
        self.assertEqual(c.cmd("RSET")[0], 250)
        self.normal_client_served("smtputf8")


if __name__ == "__main__":
    ARGV = sys.argv
    unittest.main(argv=[sys.argv[0]] + sys.argv[4:], verbosity=2)
