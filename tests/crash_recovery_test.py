"""kill -9 the relay in the middle of a load, restart it on the same spool.

Every message that got a 250 must reach the sink at least once; messages in
flight at the crash may arrive twice, and the test reports how many did.
"""
import collections
import sys
import unittest

from tests.lib import harness as h


class CrashRecovery(unittest.TestCase):
    def test_kill9_under_load_loses_nothing_acknowledged(self):
        bins = h.Binaries(ARGV)
        wd = h.workdir("crash")
        sink_port, relay_port = h.free_port(), h.free_port()
        # A slow sink keeps a queue in the relay at the moment of the crash.
        sink = h.start_sink(bins, wd, sink_port, "--delay_ms=2")
        relay = h.start_relay(bins, wd, relay_port, sink_port, "--shards=2")
        loadgen = h.Proc("loadgen", [bins.loadgen, f"--target=127.0.0.1:{relay_port}",
                                     "--quiet", f"--record_ids={wd}/loadgen.ids",
                                     "--connections=8", "--messages=40000",
                                     "--rcpt_domains=a.test,b.test,c.test",
                                     "--timeout_s=120"], wd)
        try:
            h.wait_for(lambda: h.count_types(h.delivery_log(wd, torn_ok=True)).get("Reception", 0)
                       > 2000, timeout=60, what="load to build up")
            relay.kill9()
            loadgen.wait(120)
            acked = h.read_lines(f"{wd}/loadgen.ids")
            self.assertGreater(len(acked), 0)

            # Restart on the same spool until it is empty: decided by what a
            # restart recovers, not by the delivery log going quiet.
            rounds = h.drain_spool(bins, wd, relay_port, sink_port, "--shards=2",
                                   name="relay2")
        finally:
            for p in (relay, loadgen):
                p.kill9()
            sink.stop()

        received = collections.Counter(h.read_lines(f"{wd}/sink.ids"))
        lost = [i for i in acked if i not in received]
        dupes = sum(1 for i in acked if received[i] > 1)
        print(f"crash: acknowledged {len(acked)}, received {sum(received.values())}, "
              f"lost {len(lost)}, duplicated {dupes}; recovered per restart {rounds}",
              file=sys.stderr)
        self.assertEqual(lost, [], f"{len(lost)} acknowledged messages lost")


if __name__ == "__main__":
    ARGV = sys.argv
    unittest.main(argv=[sys.argv[0]], verbosity=2)
