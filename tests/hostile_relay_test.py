"""Relaying from outside --relay_networks: refused with 554 5.7.1 at RCPT,
nothing queued, nothing delivered, a Rejection in the delivery log; a client
inside the networks is served by the same relay in the same test.

Loopback has a whole /8, so the relay allows only 127.0.0.2/32 and the test
connects from 127.0.0.3 (outside) and 127.0.0.2 (inside).
"""
import sys
import unittest

from tests import hostile_lib as hl
from tests.lib import harness as h


class HostileRelay(unittest.TestCase):
    def test_relaying_from_outside_is_refused_and_nothing_is_queued(self):
        r = hl.RelayUnderTest(h.Binaries(ARGV), "relay-denied",
                              relay_flags=["--shards=2", "--relay_networks=127.0.0.2/32"])
        try:
            for source in ("127.0.0.3", "127.0.0.1"):
                c = hl.RawClient(r.port, source=source)
                self.addCleanup(c.close)
                c.hello()
                self.assertEqual(c.cmd("MAIL FROM:<spammer@outside.test>")[0], 250)
                for rcpt in ("victim@dest.test", "postmaster@dest.test", "other@elsewhere.test"):
                    code, text = c.cmd(f"RCPT TO:<{rcpt}>")
                    self.assertEqual((code, text), (554, "5.7.1 Relay access denied"))
                self.assertEqual(c.cmd("DATA"), (554, "5.5.1 Error: no valid recipients"))
                # Pipelined all at once, the refusal is the same.
                c.send(b"RSET\r\nMAIL FROM:<spammer@outside.test>\r\n"
                       b"RCPT TO:<victim@dest.test>\r\nDATA\r\n"
                       b"Subject: spam\r\n\r\nspam\r\n.\r\nQUIT\r\n")
                codes = [x[0] for x in c.replies(4)]
                self.assertEqual(codes, [250, 250, 554, 554])
                # "Subject: spam" etc. arrive as commands: refused, never data.
                rest = []
                while True:
                    code, _ = c.reply()
                    rest.append(code)
                    if code == 221:
                        break
                self.assertTrue(all(x in (500, 501, 221) for x in rest), rest)
                self.assertTrue(c.closed_by_peer())
            # Inside the relay networks: served.
            relay_id = hl.send_normal(r.port, "normal-inside", source="127.0.0.2")
            hl.wait_delivered(r.wd, [relay_id])
            records = r.log()
            receptions = [x for x in records if x["type"] == "Reception"]
            self.assertEqual([x["id"] for x in receptions], [relay_id])
            rejected = [x for x in records if x["type"] == "Rejection" and x["code"] == 554
                        and x["enhanced"] == "5.7.1"]
            self.assertEqual(len(rejected), 8, rejected)
            self.assertEqual({x["peer"] for x in rejected}, {"127.0.0.3", "127.0.0.1"})
        finally:
            self.assertEqual(r.close(), 0)
        self.assertEqual(hl.sink_ids(r.wd), {"normal-inside": 1})
        hl.report("relay-denied", acknowledged=1, delivered=1, lost=0, duplicated=0,
                  refused_rcpts=8, queued_from_outside=0)


if __name__ == "__main__":
    ARGV = sys.argv
    unittest.main(argv=[sys.argv[0]] + sys.argv[4:], verbosity=2)
