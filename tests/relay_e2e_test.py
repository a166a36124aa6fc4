"""loadgen → relay (2 shards) → sink, durable spool: 100,000 messages with
classic DATA, and 50,000 with BDAT pipelined 32 deep.

Checks: every message the relay acknowledged with 250 reaches the sink exactly
once, the delivery log has one Reception and one Delivery per message, and
the relay drains and exits 0 on SIGTERM.
"""
import collections
import sys
import unittest

from tests.lib import harness as h

MESSAGES = 100_000


class RelayEndToEnd(unittest.TestCase):
    def test_100k_messages_through_two_shards(self):
        self.run_load(MESSAGES, "--connections=16")

    def test_bdat_pipelined_32_deep(self):
        # CHUNKING both ways (the sink offers it too), 32 messages in flight
        # per connection: replies must stay in order across pending commits.
        self.run_load(50_000, "--connections=8", "--chunking", "--inflight=32")

    def run_load(self, MESSAGES, *load_flags):
        bins = h.Binaries(ARGV)
        wd = h.workdir("e2e")
        sink_port, relay_port = h.free_port(), h.free_port()
        sink = h.start_sink(bins, wd, sink_port)
        relay = h.start_relay(bins, wd, relay_port, sink_port, "--shards=2")
        try:
            rc, summary = h.run_loadgen(
                bins, wd, relay_port, *load_flags, f"--messages={MESSAGES}",
                "--size=1024", "--rcpt_domains=a.test,b.test,c.test,d.test,e.test",
                timeout=600)
            self.assertEqual(rc, 0, summary)
            self.assertEqual(summary["messages"], MESSAGES, summary)
            h.wait_for(lambda: h.count_types(h.delivery_log(wd)).get("Delivery", 0)
                       >= MESSAGES, timeout=300, interval=0.5,
                       what="all Delivery records")
        finally:
            rc = relay.stop(timeout=60)
            sink.stop()
        self.assertEqual(rc, 0, relay.stderr())

        records = h.delivery_log(wd)
        counts = h.count_types(records)
        self.assertEqual(counts.get("Reception"), MESSAGES, counts)
        self.assertEqual(counts.get("Delivery"), MESSAGES, counts)
        self.assertNotIn("Bounce", counts)
        delivered_ids = collections.Counter(r["id"] for r in records
                                            if r["type"] == "Delivery")
        self.assertEqual(len(delivered_ids), MESSAGES, "duplicate Delivery records")

        sent = h.read_lines(f"{wd}/loadgen.ids")
        received = h.read_lines(f"{wd}/sink.ids")
        self.assertEqual(len(sent), MESSAGES)
        dupes = [k for k, v in collections.Counter(received).items() if v > 1]
        self.assertEqual(dupes, [], f"{len(dupes)} messages reached the sink twice")
        self.assertEqual(set(received), set(sent))
        report = h.read_json(f"{wd}/sink.report.json")
        self.assertEqual(report["messages"], MESSAGES, report)
        print(f"e2e: {summary['msgs_per_sec']:.0f} msgs/s accepted, "
              f"latency p99 {summary['latency_us']['p99']} us", file=sys.stderr)


if __name__ == "__main__":
    ARGV = sys.argv
    unittest.main(argv=[sys.argv[0]], verbosity=2)
