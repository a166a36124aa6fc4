"""The spool's disk fills, then frees up, with nothing retiring
(issue 11, item 6).

Before the fix one failed segment creation made the relay answer 452 until
some segment retired, and nothing retried the creation: with the
destination down nothing retires, so the relay refused mail for good even
after the space came back. Now a timer (1 s) retries the creation.

The spool lives on a small tmpfs (mounted by the test; it needs root, and is
skipped otherwise). With the relay running and its destination down, a
filler file takes every free byte; the active segment takes mail until it is
full, then new mail gets 452 4.3.1. The filler is removed, and within a few
seconds new mail gets 250 again: no segment retired (nothing was
delivered). Then the destination comes up and everything acknowledged is
delivered, once.
"""
import errno
import os
import sys
import unittest

from tests import hostile_lib as hl
from tests.lib import harness as h

TMPFS_SIZE = "2m"
MAX_MESSAGES = 100  # bound on the fill loop


def fill(path):
    """Writes zeros into `path` until the file system is full (unbuffered:
    nothing is left to flush, and fail, on close)."""
    with open(path, "wb", buffering=0) as f:
        for size in (65536, 512):
            chunk = b"\0" * size
            for _ in range(1 << 16):
                try:
                    f.write(chunk)
                except OSError as e:
                    if e.errno != errno.ENOSPC:
                        raise
                    break


class SpoolRetry(unittest.TestCase):
    def test_full_spool_takes_mail_again_without_a_retire(self):
        bins = h.Binaries(ARGV)
        wd = h.workdir("spoolretry")
        mnt = hl.mount_tmpfs(self, wd, TMPFS_SIZE)
        sink_port, relay_port = h.free_port(), h.free_port()
        flags = ["--shards=1", "--segment_bytes=64K", "--commit_max_bytes=32K",
                 "--retry_min=1s", "--retry_max=2s"]
        spool = os.path.join(mnt, "spool")
        filler = os.path.join(mnt, "filler")
        relay = sink = None
        body = "".join(f"{n:04d} " + "r" * 70 + "\r\n" for n in range(100))  # ~7.6 KB
        acked = {}
        refusals = []
        try:
            relay = h.start_relay(bins, wd, relay_port, sink_port, *flags, spool=spool)
            fill(filler)
            for i in range(MAX_MESSAGES):
                code, text = hl.try_send(relay_port, f"retry-{i}", body, helo="filler.test")
                if code == 250:
                    acked[f"retry-{i}"] = text
                    continue
                refusals.append((code, text))
                break
            self.assertEqual(len(refusals), 1, "the spool never filled up")
            self.assertEqual(refusals[0], (452, "4.3.1 Insufficient system storage"))

            # Space comes back; nothing is delivered, nothing retires.
            os.unlink(filler)
            accepted = []

            def accepted_again():
                code, text = hl.try_send(relay_port, "retry-after", "fits again\r\n",
                                         helo="filler.test")
                if code == 250:
                    accepted.append(text)
                    return True
                self.assertEqual((code, text), (452, "4.3.1 Insufficient system storage"))
                return False

            h.wait_for(accepted_again, timeout=10, interval=0.2,
                       what="250 again after the space came back")
            acked["retry-after"] = accepted[0]
            self.assertIn("disk full: new mail gets 452 4.3.1", relay.stderr())
            self.assertIn("taking new mail again", relay.stderr())
            self.assertEqual(
                [r for r in h.delivery_log(wd, torn_ok=True) if r["type"] == "Delivery"], [],
                "a message was delivered: a segment could have retired")

            sink = h.start_sink(bins, wd, sink_port)
            hl.wait_delivered(wd, acked.values(), timeout=60)
        finally:
            if relay is not None and relay.alive():
                relay.stop(timeout=60)
            if sink is not None:
                sink.stop()
        received = hl.sink_ids(wd)
        lost = [i for i in acked if received[i] == 0]
        dupes = [i for i in acked if received[i] > 1]
        hl.report("spool full, then space back, nothing retiring",
                  acknowledged=len(acked), delivered=len(acked) - len(lost),
                  lost=len(lost), duplicated=len(dupes), refused_452=len(refusals))
        self.assertEqual(lost, [])
        self.assertEqual(dupes, [])


if __name__ == "__main__":
    ARGV = sys.argv
    unittest.main(argv=[sys.argv[0]] + sys.argv[4:], verbosity=2)
