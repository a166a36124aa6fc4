"""Regression tests for bugs the hostile/fault/fuzz work found in code owned
elsewhere (relay/runtime, relay/config, relay/shard), fixed in 002f7a0 and
8aca949. Bugs still open
have their failing tests in tests/hostile_open_bugs_test.py (not in BUILD).
See docs/reliability.md, "Bugs found".
"""
import os
import random
import socket
import subprocess
import sys
import time
import unittest

from tests import hostile_lib as hl
from tests.lib import harness as h


class PendingBugs(unittest.TestCase):
    def test_idle_timeout_does_not_fire_early(self):
        # relay/runtime/loop.cc reaped completions (whose handlers arm timers
        # from loop->now_ms()) before UpdateClock(), so a timer armed right
        # after a sleep started from the time the loop went to sleep: up to
        # 1 s early. Was: --idle_timeout=3s cut an idle client after 2.2-2.9 s.
        r = hl.RelayUnderTest(h.Binaries(ARGV), "pending-idle",
                              relay_flags=["--shards=1", "--idle_timeout=2s"])
        rng = random.Random(1)
        waited = []
        try:
            for _ in range(3):
                time.sleep(rng.uniform(0.0, 1.0))  # meet the loop mid-sleep
                c = hl.RawClient(r.port)
                start = time.monotonic()
                self.assertEqual(c.reply()[0], 220)
                code, _ = c.reply(timeout=10)
                waited.append(round(time.monotonic() - start, 3))
                c.close()
                self.assertEqual(code, 421)
        finally:
            r.close()
        self.assertTrue(all(w >= 1.95 for w in waited), f"cut after {waited} s, not 2 s")

    def test_replies_to_a_client_that_never_reads_are_bounded(self):
        # There was no backpressure on output: a client that pipelines
        # commands and never reads the replies made the relay queue every
        # reply in memory (210 MB of "NOOP\r\n" in 40 s: VmRSS 9 MB ->
        # 505 MB). Since 8aca949 the relay stops reading such a client while
        # its unsent replies pass 256 KiB, so our send blocks and memory
        # stays flat. (Do not drain the replies afterwards with the tiny
        # receive buffer: window updates below one MSS crawl on loopback.)
        r = hl.RelayUnderTest(h.Binaries(ARGV), "pending-flood", relay_flags=["--shards=1"])
        try:
            c = hl.RawClient(r.port)
            c.hello()
            c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            before = hl.vm_rss_kb(r.relay.pid)
            chunk = b"NOOP\r\n" * 10000
            c.sock.settimeout(5)
            sent = 0
            start = time.monotonic()
            try:
                while sent < 64 << 20 and time.monotonic() - start < 30:
                    c.sock.sendall(chunk)
                    sent += len(chunk)
            except socket.timeout:
                pass  # the relay stopped reading: what we want
            time.sleep(1)
            grown_kb = hl.vm_rss_kb(r.relay.pid) - before
            hl.report("reply-flood", bytes_sent_before_blocked=sent, rss_growth_kb=grown_kb)
            c.close()
            hl.wait_delivered(r.wd, [hl.send_normal(r.port, "normal-flood")])
        finally:
            r.close()
        self.assertLess(grown_kb, 32 * 1024, f"relay grew {grown_kb} kB for {sent} bytes sent")


    def test_config_syntax_errors_never_abort(self):
        # relay/config + toml++ 3.3.0 (docs/reliability.md, bugs 2, 2b, 3): a
        # table header starting with a character no key starts with ("[!]")
        # and other syntax errors ("route = [}]") tripped assertions inside
        # toml++ (SIGABRT, exit 134) instead of "FILE:LINE: ..."; U+FB26..
        # U+FEFE reached __builtin_unreachable. Each is now a clear error.
        wd = h.workdir("pending-config")
        cases = [("shards = 1\n[!]\n", 2), ("route = [}]\n", 1),
                 ("shards = 1\nroute = [\"a=b:25\", }]\n", 2),
                 ("shards = 1\n[s\ufefc]\n", 2)]
        for i, (text, line) in enumerate(cases):
            path = os.path.join(wd, f"bad{i}.toml")
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
            p = subprocess.run([h.Binaries(ARGV).ringpost, f"--config={path}",
                                f"--spool={wd}/spool", "--drain_grace=0"],
                               capture_output=True, text=True,
                               timeout=30)
            self.assertGreater(p.returncode, 0,
                               f"{text!r}: killed by signal {-p.returncode}: {p.stderr}")
            self.assertIn(f"{path}:{line}", p.stderr, text)


if __name__ == "__main__":
    ARGV = sys.argv
    unittest.main(argv=[sys.argv[0]] + sys.argv[4:], verbosity=2)
