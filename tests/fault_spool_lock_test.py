"""Two relays on one spool (issue 11, item 3).

SO_REUSEPORT lets a second relay bind the ports of a running one; before
the spool was locked it then recovered, retired and unlinked the first
one's segments, destroying acknowledged mail. Relay A runs with its
destination down, so acknowledged mail stays queued; relay B is started on
the same spool and the same port: it must exit non-zero at once, with a
message naming the spool and A's PID, and leave every file of the spool as
it was (names, sizes, modification times). Then the destination comes up
and A delivers every acknowledged message exactly once.
"""
import os
import sys
import time
import unittest

from tests import hostile_lib as hl
from tests.lib import harness as h

MESSAGES = 6


def spool_listing(root):
    """{relative path: (size, mtime_ns)} of every file under the spool."""
    out = {}
    for dirpath, _, files in os.walk(root):
        for name in files:
            path = os.path.join(dirpath, name)
            st = os.stat(path)
            out[os.path.relpath(path, root)] = (st.st_size, st.st_mtime_ns)
    return out


class SpoolLock(unittest.TestCase):
    def test_second_relay_on_the_spool_is_refused_and_touches_nothing(self):
        bins = h.Binaries(ARGV)
        wd = h.workdir("spoollock")
        spool = os.path.join(wd, "spool")
        sink_port, relay_port = h.free_port(), h.free_port()
        flags = ["--shards=2", "--retry_min=1s", "--retry_max=2s"]
        relay = sink = second = None
        try:
            relay = h.start_relay(bins, wd, relay_port, sink_port, *flags, spool=spool)
            acked = {f"lock-{i}": hl.send_normal(relay_port, f"lock-{i}")
                     for i in range(MESSAGES)}
            # Every recipient tried once against the closed port, so the
            # relay is at rest with everything queued.
            h.wait_for(lambda: sum(1 for r in h.delivery_log(wd, torn_ok=True)
                                   if r["type"] == "TransientFailure") >= MESSAGES,
                       timeout=30, what="a failed attempt per message")
            before = spool_listing(spool)
            self.assertTrue(any(p.endswith(".dat") for p in before), before)

            started = time.monotonic()
            second = h.Proc("relay-b", [bins.ringpost, f"--listen=127.0.0.1:{relay_port}",
                                        f"--spool={spool}", f"--log={wd}/delivery-b.log",
                                        "--drain_grace=0", f"--admin=127.0.0.1:{h.free_port()}",
                                        f"--route=*=127.0.0.1:{sink_port}",
                                        "--hostname=relay.test", h.NO_DNS, *flags], wd)
            rc = second.wait(timeout=20)
            elapsed = time.monotonic() - started
            err = second.stderr()
            print(f"second relay: exit {rc} after {elapsed:.2f}s:\n{err}", file=sys.stderr)
            self.assertNotEqual(rc, 0, "the second relay started on a spool in use")
            self.assertLess(elapsed, 10)
            self.assertIn(spool, err)
            self.assertIn(f"pid {relay.pid}", err)
            self.assertNotIn("ready", err)
            self.assertEqual(spool_listing(spool), before,
                             "the refused relay changed the spool")
            self.assertTrue(relay.alive())

            # A still owns its mail: the destination comes up, all delivered.
            sink = h.start_sink(bins, wd, sink_port)
            hl.wait_delivered(wd, acked.values(), timeout=60)
            # And a normal client is served meanwhile.
            hl.wait_delivered(wd, [hl.send_normal(relay_port, "lock-after")], timeout=30)
        finally:
            if second is not None and second.alive():
                second.kill9()
            if relay is not None and relay.alive():
                relay.stop(timeout=60)
            if sink is not None:
                sink.stop()
        received = hl.sink_ids(wd)
        lost = [i for i in acked if received[i] == 0]
        dupes = [i for i in acked if received[i] > 1]
        hl.report("second relay on the same spool", acknowledged=len(acked),
                  delivered=len(acked) - len(lost), lost=len(lost), duplicated=len(dupes),
                  second_exit=rc)
        self.assertEqual(lost, [])
        self.assertEqual(dupes, [])


if __name__ == "__main__":
    ARGV = sys.argv
    unittest.main(argv=[sys.argv[0]] + sys.argv[4:], verbosity=2)
