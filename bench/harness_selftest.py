#!/usr/bin/env python3
"""Unit tests of bench/harness*.py's pure parts (no processes, no root):
`python3 bench/harness_selftest.py`."""
import os
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True

import harness  # noqa: E402
import harness_postfix  # noqa: E402
import harness_report  # noqa: E402


class Parsing(unittest.TestCase):
    def test_sizes(self):
        self.assertEqual(harness.parse_size("1k"), 1024)
        self.assertEqual(harness.parse_size("100K"), 102400)
        self.assertEqual(harness.parse_size("2m"), 2 << 20)
        self.assertEqual(harness.parse_size("512"), 512)

    def test_percentile_nearest_rank(self):
        v = list(range(1, 101))
        self.assertEqual(harness.percentile(v, 50), 50)
        self.assertEqual(harness.percentile(v, 99), 99)
        self.assertEqual(harness.percentile(v, 100), 100)
        self.assertEqual(harness.percentile([7], 99), 7)
        self.assertIsNone(harness.percentile([], 50))

    def test_e2e_summary_sorts_its_input(self):
        e = harness.e2e_summary([5, 1, 3, 2, 4], "test")
        self.assertEqual((e["p50"], e["p99"], e["max"], e["n"]), (3, 5, 5, 5))
        self.assertEqual(e["source"], "test")

    def test_delivery_log(self):
        rec = ('{{"type":"{t}","id":"X","sender":"{s}","recipient":"u@a.test",'
               '"domain":"a.test","peer":"127.0.0.1","code":250,"enhanced":"2.0.0",'
               '"response":"ok","attempt":1,"size":1024,"tls":false,'
               '"queued_at":"{q}","event_at":"{e}"}}\n')
        with tempfile.NamedTemporaryFile("w", delete=False) as f:
            f.write(rec.format(t="Reception", s=harness.MEASURE_SENDER,
                               q="2026-11-25T20:34:04.120Z", e="2026-11-25T20:34:04.121Z"))
            f.write(rec.format(t="Delivery", s=harness.MEASURE_SENDER,
                               q="2026-11-25T20:34:04.120Z", e="2026-11-25T20:34:05.003Z"))
            f.write(rec.format(t="Delivery", s=harness.WARMUP_SENDER,
                               q="2026-11-25T20:34:04.120Z", e="2026-11-25T20:34:04.130Z"))
            f.write(rec.format(t="TransientFailure", s=harness.MEASURE_SENDER,
                               q="2026-11-25T23:59:59.999Z", e="2026-11-26T00:00:00.001Z"))
        try:
            counts, delays = harness.parse_delivery_log(f.name, harness.MEASURE_SENDER)
        finally:
            os.unlink(f.name)
        self.assertEqual(counts["Delivery"], 2)
        self.assertEqual(counts["Delivery(measured)"], 1)
        self.assertEqual(counts["TransientFailure"], 1)
        self.assertEqual(delays, [883])

    def test_relay_exit_stats(self):
        with tempfile.NamedTemporaryFile("w", delete=False) as f:
            f.write("ringpost: shard 0: 100 messages in 10 commits (max 15 per commit); "
                    "50 loop turns, 50 io_uring_enter, 300 SQEs, 0 wake-ups sent\n"
                    "ringpost: shard 1: 60 messages in 10 commits (max 9 per commit); "
                    "40 loop turns, 40 io_uring_enter, 200 SQEs, 3 wake-ups sent\n")
        try:
            st = harness.relay_exit_stats(f.name)
        finally:
            os.unlink(f.name)
        self.assertEqual(st["msgs_per_commit"], 8.0)
        self.assertEqual(st["max_per_commit"], 15)
        self.assertEqual(len(st["relay_shard_stats"]), 2)

    def test_maillog(self):
        lines = [
            "Nov 25 20:34:04 postfix postfix/qmgr[1]: 31007A76473: from=<%s>, size=1, nrcpt=1"
            % harness.MEASURE_SENDER,
            "Nov 25 20:34:04 postfix postfix/qmgr[1]: 4100AA76473: from=<other@x>, size=1",
            "Nov 25 20:34:04 postfix postfix/smtp[2]: 31007A76473: to=<u@a.test>, "
            "relay=127.0.0.1[127.0.0.1]:2599, delay=0.15, delays=0.04/0.11/0/0, dsn=2.0.0, "
            "status=sent (250 2.0.0 Ok)",
            "Nov 25 20:34:04 postfix postfix/smtp[2]: 4100AA76473: to=<u@a.test>, "
            "relay=127.0.0.1[127.0.0.1]:2599, delay=9, delays=0/0/0/0, dsn=2.0.0, "
            "status=sent (250 2.0.0 Ok)",
        ]
        with tempfile.NamedTemporaryFile("w", delete=False) as f:
            f.write("\n".join(lines) + "\n")
        try:
            d = harness_postfix.maillog_delays_ms(f.name, harness.MEASURE_SENDER)
        finally:
            os.unlink(f.name)
        self.assertEqual(len(d), 1)
        self.assertAlmostEqual(d[0], 150.0)


class Plan(unittest.TestCase):
    def test_quick_plan_dedupes_sweep(self):
        a = harness.parse_args(["--quick"])
        plan = harness.build_plan(a)
        keys = [harness.run_key(p) for p in plan]
        self.assertEqual(len(keys), len(set(keys)))
        shared = [p for p in plan if p["groups"] == ["matrix", "sweep"]]
        self.assertEqual(len(shared), 2)  # 16 connections, DATA and BDAT
        self.assertEqual(a.postfix_sweep, [])

    def test_subset(self):
        a = harness.parse_args(["--sizes=10k", "--durability=none", "--shards=2",
                                "--chunking=on", "--sweep=none", "--no-postfix", "--no-floor"])
        plan = harness.build_plan(a)
        self.assertEqual(len(plan), 1)
        self.assertEqual(plan[0]["size"], 10240)
        self.assertTrue(plan[0]["chunking"])

    def test_tls_doubles_matrix_and_floor_only(self):
        a = harness.parse_args(["--sizes=1k", "--durability=fsync", "--shards=1",
                                "--chunking=off,on", "--tls=off,on", "--sweep=16",
                                "--no-postfix"])
        plan = harness.build_plan(a)
        keys = [harness.run_key(p) for p in plan]
        self.assertEqual(len(keys), len(set(keys)))
        for group in ("matrix", "floor"):
            runs = [p for p in plan if group in p["groups"]]
            self.assertEqual(sorted((p["chunking"], p["tls"]) for p in runs),
                             [(False, False), (False, True), (True, False), (True, True)])
        self.assertFalse(any(p.get("tls") for p in plan
                             if "paced" in p["groups"] or p["groups"] == ["sweep"]))
        self.assertIn("TLS", harness.spec_label([p for p in plan if p.get("tls")][0]))
        self.assertEqual(harness.parse_args([]).tls, [False])
        with self.assertRaises(SystemExit):
            harness.parse_args(["--tls=maybe"])


class Report(unittest.TestCase):
    def result(self):
        def run(system, chunking, cpu, **kw):
            r = {"system": system, "size": 1024, "chunking": chunking, "inflight": 32,
                 "connections": 16, "status": "ok", "cpu_us_per_msg": cpu,
                 "label": f"{system} {chunking}", "groups": ["matrix" if system == "ringpost"
                                                            else system],
                 "accepted": 10, "sink_received": 10, "sink_matches": True,
                 "msgs_per_sec": 100.0, "accept_latency_us": {"p50": 1000, "p99": 2000,
                                                              "p999": 3000}}
            r.update(kw)
            return r
        return {"started_at": "T", "mode": "quick", "host": {"cpus": 2, "kernel": "k"},
                "settings": {"duration_s": 2, "connections": 16, "rcpt_domains": "a",
                             "relay_cpus": [0], "load_cpu": 1, "postfix_cpus": [0],
                             "sizes": [1024], "durability": ["fsync"], "shards": [1]},
                "runs": [run("ringpost", False, 50.0, durability="fsync", shards=1),
                         run("ringpost", True, 20.0, durability="fsync", shards=1),
                         run("postfix", False, 2500.0)]}

    def test_ratios(self):
        res = self.result()
        harness_report.add_ratios(res)
        self.assertAlmostEqual(res["runs"][0]["vs_postfix"], 50.0)
        # No Postfix BDAT run: falls back to Postfix DATA of the same size.
        self.assertAlmostEqual(res["runs"][1]["vs_postfix"], 125.0)

    def test_docs_section_replaced(self):
        res = self.result()
        with tempfile.NamedTemporaryFile("w", delete=False, suffix=".md") as f:
            f.write(f"# B\n\nkeep\n\n{harness_report.BEGIN}\nold\n{harness_report.END}\n"
                    "after\n")
        try:
            harness_report.write_docs(res, f.name, "/nonexistent/chart.png", "r.json")
            with open(f.name) as g:
                text = g.read()
        finally:
            os.unlink(f.name)
        self.assertIn("keep", text)
        self.assertIn("after", text)
        self.assertNotIn("\nold\n", text)
        self.assertEqual(text.count(harness_report.BEGIN), 1)
        self.assertIn("| 1 KB | fsync | 1 | DATA |", text)

    def test_tls_table_pairs_twins(self):
        res = self.result()
        tls = dict(res["runs"][0], tls=True, cpu_us_per_msg=60.0, label="tls")
        res["runs"].append(tls)
        t = harness_report.tls_table(harness_report.in_group(res, "matrix"))
        self.assertIn("| ringpost | 1 KB | fsync | 1 | DATA | 50.0 | 60.0 | 1.20× |", t)
        self.assertIn("DATA TLS", harness_report.text_tables(res))
        self.assertIsNone(harness_report.tls_table(harness_report.in_group(
            self.result(), "matrix")))

    def test_scrape_table_pairs_twins(self):
        res = self.result()
        scraped = dict(res["runs"][0], scrape=True, cpu_us_per_msg=50.5, label="scraped",
                       scrapes={"ok": 8, "failed": 0, "bytes": 40000})
        res["runs"].append(scraped)
        t = harness_report.scrape_table(harness_report.in_group(res, "matrix"))
        self.assertIn("| 1 KB | fsync | 1 | DATA | 50.0 | 50.5 | 1.010× |", t)
        self.assertIn("| 8 (40,000) |", t)
        self.assertIn("DATA /metrics 1/s", harness_report.text_tables(res))
        self.assertIsNone(harness_report.scrape_table(harness_report.in_group(
            self.result(), "matrix")))

    def test_scrape_doubles_the_matrix_only(self):
        a = harness.parse_args(["--sizes=1k", "--durability=fsync", "--shards=1",
                                "--chunking=off", "--scrape=off,on", "--sweep=none",
                                "--no-postfix"])
        plan = harness.build_plan(a)
        matrix = [p for p in plan if "matrix" in p["groups"]]
        self.assertEqual(sorted(p["scrape"] for p in matrix), [False, True])
        self.assertFalse(any(p.get("scrape") for p in plan if "matrix" not in p["groups"]))
        self.assertEqual(harness.parse_args([]).scrape, [False])
        with self.assertRaises(SystemExit):
            harness.parse_args(["--scrape=sometimes"])


if __name__ == "__main__":
    unittest.main()
