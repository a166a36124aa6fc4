"""Repeated kill -9 of the relay under load.

CYCLES times: start the relay on the same spool, put load on it (loadgen,
several connections, pipelined), and SIGKILL it at a random moment (seeded,
so a failure can be replayed with RINGPOST_KILL9_SEED). The sink stays up
throughout, so deliveries, retries and recovery all overlap with the kills.
Finally the relay runs once more until the queue is empty (until a start
on the spool recovers nothing).

Contract (DESIGN "Spool"): every message that got a 250 is delivered at
least once; only messages in flight at a crash may be delivered twice. The
test fails on any loss and prints the duplicates.
"""
import collections
import os
import random
import sys
import time
import unittest

from tests import hostile_lib as hl
from tests.lib import harness as h

CYCLES = int(os.environ.get("RINGPOST_KILL9_CYCLES", "20"))
SEED = int(os.environ.get("RINGPOST_KILL9_SEED", "20261125"))


class Kill9UnderLoad(unittest.TestCase):
    def test_repeated_kill9_loses_nothing_acknowledged(self):
        bins = h.Binaries(ARGV)
        wd = h.workdir("kill9")
        rng = random.Random(SEED)
        sink_port, relay_port = h.free_port(), h.free_port()
        # A slightly slow sink keeps a queue in the relay when it dies.
        sink = h.start_sink(bins, wd, sink_port, "--delay_ms=1")
        flags = ["--shards=2", "--retry_min=1s", "--retry_max=2s"]
        acked = []
        relay = None
        kill_points = []
        try:
            for cycle in range(CYCLES):
                t0 = time.monotonic()
                relay = h.start_relay(bins, wd, relay_port, sink_port, *flags,
                                      name=f"relay-{cycle}")
                start_s = time.monotonic() - t0
                loadgen = h.Proc(f"loadgen-{cycle}", [
                    bins.loadgen, f"--target=127.0.0.1:{relay_port}", "--quiet",
                    f"--record_ids={wd}/loadgen-{cycle}.ids", f"--id_prefix=c{cycle}",
                    "--connections=4", "--inflight=4", "--messages=200000", "--size=2048",
                    "--rcpt_domains=a.test,b.test,c.test", "--timeout_s=60"], wd)
                wait_s = rng.uniform(0.3, 1.5)
                kill_points.append(round(wait_s, 2))
                time.sleep(wait_s)
                relay.kill9()
                t1 = time.monotonic()
                loadgen.wait(90)
                loadgen._close()
                exit_s = time.monotonic() - t1
                got = h.read_lines(f"{wd}/loadgen-{cycle}.ids")
                acked.extend(got)
                print(f"kill9: cycle {cycle}: up in {start_s:.2f}s, killed after "
                      f"{wait_s:.2f}s, loadgen gone {exit_s:.2f}s later, "
                      f"{len(got)} acknowledged; "
                      f"{h.count_types(h.delivery_log(wd, torn_ok=True))}", file=sys.stderr)
            # Finally run the relay until its spool is empty: decided by what
            # a restart recovers, not by the delivery log going quiet.
            relay = None
            t0 = time.monotonic()
            rounds = h.drain_spool(bins, wd, relay_port, sink_port, *flags,
                                   name="relay-final")
            print(f"kill9: spool drained in {time.monotonic() - t0:.2f}s; "
                  f"recovered per final start: {rounds}", file=sys.stderr)
        finally:
            if relay is not None:
                relay.kill9()
            sink.stop()

        self.assertGreater(len(acked), 0)
        self.assertEqual(len(set(acked)), len(acked), "loadgen ids repeat")
        received = collections.Counter(h.read_lines(f"{wd}/sink.ids"))
        lost = [i for i in acked if received[i] == 0]
        dupes = sum(1 for i in acked if received[i] > 1)
        extra = sum(received[i] - 1 for i in acked if received[i] > 1)
        acked_set = set(acked)
        unacked_delivered = sum(1 for i in received if i not in acked_set)
        hl.report("kill9", cycles=CYCLES, seed=SEED, acknowledged=len(acked),
                  delivered=len(acked) - len(lost), lost=len(lost), duplicated=dupes,
                  extra_copies=extra, delivered_without_250=unacked_delivered)
        print(f"kill9: kill points (s): {kill_points}", file=sys.stderr)
        self.assertEqual(lost[:10], [], f"{len(lost)} acknowledged messages lost")


if __name__ == "__main__":
    ARGV = sys.argv
    unittest.main(argv=[sys.argv[0]] + sys.argv[4:], verbosity=2)
