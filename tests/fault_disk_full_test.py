"""The spool disk fills up.

The spool lives on a small tmpfs (mounted by the test; it needs root, and
is skipped otherwise). A tmpfs cannot fallocate beyond its size, so once
queued mail holds every segment the relay must answer new mail with
452 4.3.1 and keep everything it acknowledged. Then the relay is killed
with SIGKILL on the full disk and restarted: recovery must find every
acknowledged message intact (nothing corrupted), deliver all of them once
the destination is up, and — with the space freed — take new mail again.
"""
import os
import smtplib
import subprocess
import sys
import time
import unittest

from tests import hostile_lib as hl
from tests.lib import harness as h

TMPFS_SIZE = "1m"
MAX_MESSAGES = 400  # bound on the fill loop


class DiskFull(unittest.TestCase):
    def test_full_spool_answers_452_and_loses_nothing(self):
        bins = h.Binaries(ARGV)
        wd = h.workdir("diskfull")
        mnt = hl.mount_tmpfs(self, wd, TMPFS_SIZE)
        sink_port, relay_port = h.free_port(), h.free_port()
        # Small segments so the tmpfs holds only a handful; the destination
        # is down at first, so everything acknowledged stays queued.
        flags = ["--shards=1", "--segment_bytes=64K", "--commit_max_bytes=32K",
                 "--retry_min=1s", "--retry_max=2s", f"--log={wd}/delivery.log"]
        spool = os.path.join(mnt, "spool")
        relay = relay2 = sink = None
        body = "".join(f"{n:04d} " + "d" * 70 + "\r\n" for n in range(100))  # ~7.6 KB
        try:
            relay = h.start_relay(bins, wd, relay_port, sink_port, *flags, spool=spool)
            acked = {}
            refusals = []
            for i in range(MAX_MESSAGES):
                code, text = hl.try_send(relay_port, f"fill-{i}", body, helo="filler.test")
                if code == 250:
                    acked[f"fill-{i}"] = text
                    continue
                refusals.append((code, text))
                if len(refusals) >= 3:
                    break
            df = subprocess.run(["df", "-k", mnt], capture_output=True, text=True).stdout
            print(f"diskfull: {len(acked)} acknowledged, then {refusals}\n{df}",
                  file=sys.stderr)
            self.assertGreater(len(acked), 0)
            self.assertEqual(len(refusals), 3, "the spool never filled up")
            for code, text in refusals:
                self.assertEqual((code, text), (452, "4.3.1 Insufficient system storage"))
            # The session itself is still served.
            with smtplib.SMTP("127.0.0.1", relay_port, timeout=30) as s:
                self.assertEqual(s.ehlo("x.test")[0], 250)
                self.assertEqual(s.noop()[0], 250)
            # The log is written in batches (log_flush_interval, 100 ms).
            h.wait_for(lambda: any(r["type"] == "Rejection" and r["code"] == 452
                                   for r in h.delivery_log(wd)),
                       timeout=10, what="a 452 Rejection in the delivery log")

            # SIGKILL on the full disk, restart on the same spool.
            relay.kill9()
            relay2 = h.start_relay(bins, wd, relay_port, sink_port, *flags, spool=spool,
                                   name="relay2")
            h.wait_for(lambda: "recovered" in relay2.stderr(), timeout=20,
                       what="recovery log line")
            stderr = relay2.stderr()
            self.assertIn(f"recovered {len(acked)} messages", stderr)
            self.assertNotIn("damaged", stderr)
            # The destination comes up: everything acknowledged is delivered.
            sink = h.start_sink(bins, wd, sink_port)
            hl.wait_delivered(wd, acked.values(), timeout=120)
            # Delivered segments are recycled: new mail fits again.
            after = None
            for _ in range(50):
                code, text = hl.try_send(relay_port, "after-full", "fits again\r\n",
                                         helo="filler.test")
                if code == 250:
                    after = text
                    break
                self.assertEqual(code, 452, text)
                time.sleep(0.5)
            self.assertIsNotNone(after, "new mail still refused after the queue drained")
            hl.wait_delivered(wd, [after], timeout=30)
        finally:
            for p in (relay, relay2):
                if p is not None and p.alive():
                    p.stop(timeout=60)
            if sink is not None:
                sink.stop()
        received = hl.sink_ids(wd)
        lost = [i for i in acked if received[i] == 0]
        dupes = sum(1 for i in acked if received[i] > 1)
        hl.report("disk-full", acknowledged=len(acked), delivered=len(acked) - len(lost),
                  lost=len(lost), duplicated=dupes, refused_452=len(refusals))
        self.assertEqual(lost, [])
        self.assertEqual(received["after-full"], 1)


if __name__ == "__main__":
    ARGV = sys.argv
    unittest.main(argv=[sys.argv[0]] + sys.argv[4:], verbosity=2)
