"""Hostile clients that attack with connections rather than bytes: idle and
slow (slowloris) sessions, ten thousand concurrent idle connections, and
more connections per client address (or in total) than allowed.

Each test asserts the exact reply and that a normal client is served by the
same relay meanwhile (with one shard, the very shard that holds the hostile
connections). The 10k test prints the relay's memory per idle connection.
"""
import os
import selectors
import socket
import sys
import threading
import time
import unittest

from tests import hostile_lib as hl
from tests.lib import harness as h

IDLE_CONNECTIONS = int(os.environ.get("RINGPOST_IDLE_CONNECTIONS", "10000"))
PER_SOURCE = 250  # connections per source address (127.0.0.x) in the 10k test


def bins():
    return h.Binaries(ARGV)


class Trickle(threading.Thread):
    """A slowloris: one byte of an endless command line per `interval_s`,
    until the relay closes the connection or `limit_s` passes."""

    def __init__(self, port, interval_s=1.0, limit_s=60.0):
        super().__init__(daemon=True)
        self.client = hl.RawClient(port)
        self.banner = self.client.reply()
        self.interval_s, self.limit_s = interval_s, limit_s
        self.sent = 0
        self.received = b""
        self.closed_after_s = None

    def run(self):
        sock = self.client.sock
        sock.settimeout(self.interval_s)
        start = time.monotonic()
        while time.monotonic() - start < self.limit_s:
            try:
                sock.send(b"N")
                self.sent += 1
            except OSError:
                self.closed_after_s = time.monotonic() - start
                return
            try:
                data = sock.recv(4096)
            except socket.timeout:
                continue
            except OSError:
                self.closed_after_s = time.monotonic() - start
                return
            if not data:
                self.closed_after_s = time.monotonic() - start
                return
            self.received += data


class HostileConnections(unittest.TestCase):
    def test_idle_client_is_cut_by_idle_timeout(self):
        r = hl.RelayUnderTest(bins(), "idle", relay_flags=["--shards=1", "--idle_timeout=2s"])
        try:
            idle = hl.RawClient(r.port)
            self.addCleanup(idle.close)
            self.assertEqual(idle.reply()[0], 220)
            start = time.monotonic()
            code, text = idle.reply(timeout=10)
            waited = time.monotonic() - start
            self.assertEqual((code, text.split()[0]), (421, "4.4.2"), text)
            self.assertIn("timeout exceeded", text)
            self.assertTrue(idle.closed_by_peer())
            self.assertGreater(waited, 1.95)
            self.assertLess(waited, 5.0)
            hl.wait_delivered(r.wd, [hl.send_normal(r.port, "normal-idle")])
        finally:
            self.assertEqual(r.close(), 0)

    def test_slowloris_is_cut_and_the_shard_keeps_serving(self):
        # One byte per second of a command line that never ends: the command
        # timer restarts only when a command arrives (RFC 5321 4.5.3.2.7), so
        # idle_timeout cuts it, long before the session timeout.
        r = hl.RelayUnderTest(bins(), "slowloris",
                              relay_flags=["--shards=1", "--idle_timeout=3s"])
        try:
            loris = Trickle(r.port, interval_s=1.0, limit_s=30.0)
            self.assertEqual(loris.banner[0], 220)
            loris.start()
            # Meanwhile the one shard serves normal clients.
            served = []
            for i in range(3):
                served.append(hl.send_normal(r.port, f"normal-loris-{i}"))
                time.sleep(1.0)
            hl.wait_delivered(r.wd, served, timeout=30)
            loris.join(40)
            self.assertFalse(loris.is_alive())
            self.assertIsNotNone(loris.closed_after_s, "slowloris never cut")
            self.assertTrue(loris.received.startswith(b"421 4.4.2 "), loris.received)
            self.assertGreater(loris.closed_after_s, 2.0)
            self.assertLess(loris.closed_after_s, 8.0)
            hl.report("slowloris", bytes_sent=loris.sent,
                      cut_after_s=round(loris.closed_after_s, 1),
                      normal_served=len(served))
            hl.wait_delivered(r.wd, [hl.send_normal(r.port, "normal-after-loris")])
        finally:
            loris.client.close()
            self.assertEqual(r.close(), 0)

    def test_slow_message_content_is_not_cut(self):
        # Inside DATA each read restarts the timer (the data block timeout):
        # a client sending one line per second for 5 s with idle_timeout=2s
        # gets its message accepted.
        r = hl.RelayUnderTest(bins(), "slowdata",
                              relay_flags=["--shards=1", "--idle_timeout=2s"])
        try:
            c = hl.RawClient(r.port)
            self.addCleanup(c.close)
            self.assertEqual(c.reply()[0], 220)
            for cmd, want in [(b"EHLO slow.test\r\n", 250),
                              (b"MAIL FROM:<a@slow.test>\r\n", 250),
                              (b"RCPT TO:<user@dest.test>\r\n", 250),
                              (b"DATA\r\n", 354)]:
                c.send(cmd)
                self.assertEqual(c.reply()[0], want, cmd)
            c.send(b"X-Ringpost-Test-Id: slowdata\r\n\r\n")
            for i in range(5):
                time.sleep(1.0)
                c.send(b"line %d\r\n" % i)
            c.send(b".\r\n")
            code, text = c.reply(timeout=10)
            self.assertEqual(code, 250, text)
            hl.wait_delivered(r.wd, [hl.queued_id(text)])
            hl.report("slow DATA (1 line/s, idle_timeout 2s)", acknowledged=1, delivered=1)
        finally:
            self.assertEqual(r.close(), 0)

    def test_connection_limits_total_and_per_client(self):
        r = hl.RelayUnderTest(bins(), "limits",
                              relay_flags=["--shards=2", "--max_connections=6",
                                           "--max_connections_per_client=3"])
        held = []
        try:
            for _ in range(3):
                c = hl.RawClient(r.port, source="127.0.0.2")
                held.append(c)
                self.assertEqual(c.reply()[0], 220)
            over = hl.RawClient(r.port, source="127.0.0.2")
            held.append(over)
            code, text = over.reply()
            self.assertEqual(code, 421)
            self.assertEqual(text, "4.7.0 relay.test Error: too many connections from your address")
            self.assertTrue(over.closed_by_peer())
            # Another address still gets in, up to the total of 6 (3 + 2 + the
            # normal client below).
            for _ in range(2):
                c = hl.RawClient(r.port, source="127.0.0.3")
                held.append(c)
                self.assertEqual(c.reply()[0], 220)
            hl.wait_delivered(r.wd, [hl.send_normal(r.port, "normal-limits")])
            # With 5 held, the 6th is allowed and the 7th over the total.
            sixth = hl.RawClient(r.port, source="127.0.0.4")
            held.append(sixth)
            self.assertEqual(sixth.reply()[0], 220)
            seventh = hl.RawClient(r.port, source="127.0.0.5")
            held.append(seventh)
            self.assertEqual(seventh.reply(), (421, "4.7.0 relay.test Error: too many connections"))
            self.assertTrue(seventh.closed_by_peer())
            # Slots come back when clients leave.
            for c in held[:3]:
                c.close()
            h.wait_for(lambda: self._banner(r.port, "127.0.0.2") == 220, timeout=10,
                       what="a freed per-client slot")
        finally:
            for c in held:
                c.close()
            self.assertEqual(r.close(), 0)

    @staticmethod
    def _banner(port, source):
        c = hl.RawClient(port, source=source)
        try:
            return c.reply()[0]
        finally:
            c.close()

    def test_10000_idle_connections(self):
        wanted = IDLE_CONNECTIONS
        limit = hl.raise_nofile(wanted * 2 + 1000)
        r = hl.RelayUnderTest(bins(), "c10k",
                              relay_flags=["--shards=2", "--max_connections=20000",
                                           f"--max_connections_per_client={PER_SOURCE}"])
        socks = []
        sel = selectors.DefaultSelector()
        try:
            relay_limit = hl.proc_limit_nofile(r.relay.pid)
            n = min(wanted, limit - 500, relay_limit - 500)
            n -= n % PER_SOURCE
            print(f"c10k: RLIMIT_NOFILE test {limit}, relay {relay_limit}: "
                  f"{n} connections", file=sys.stderr)
            self.assertGreaterEqual(n, 1000, "too few file descriptors for this test")
            time.sleep(0.5)
            rss_before = hl.vm_rss_kb(r.relay.pid)
            start = time.monotonic()
            banners = 0
            for batch in range(0, n, 500):
                pending = {}
                for i in range(batch, min(n, batch + 500)):
                    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                    s.setblocking(False)
                    s.bind((f"127.0.0.{2 + i // PER_SOURCE}", 0))
                    s.connect_ex(("127.0.0.1", r.port))
                    socks.append(s)
                    pending[s] = b""
                    sel.register(s, selectors.EVENT_READ)
                deadline = time.monotonic() + 30
                while pending and time.monotonic() < deadline:
                    for key, _ in sel.select(timeout=1.0):
                        s = key.fileobj
                        try:
                            data = s.recv(512)
                        except BlockingIOError:
                            continue
                        pending[s] += data
                        if b"\r\n" in pending[s] or not data:
                            self.assertTrue(pending[s].startswith(b"220 "), pending[s])
                            banners += 1
                            sel.unregister(s)
                            del pending[s]
                self.assertEqual(pending, {}, f"{len(pending)} connections got no banner")
            setup_s = time.monotonic() - start
            time.sleep(1.0)
            rss_after = hl.vm_rss_kb(r.relay.pid)
            per_conn = (rss_after - rss_before) * 1024 / n
            print(f"c10k: {banners} idle connections in {setup_s:.1f}s; relay VmRSS "
                  f"{rss_before} kB -> {rss_after} kB: {per_conn:.0f} bytes per "
                  f"connection", file=sys.stderr)
            hl.report("c10k", connections=banners, rss_before_kb=rss_before,
                      rss_after_kb=rss_after, bytes_per_connection=round(per_conn))
            self.assertEqual(banners, n)
            # All of them still open (the relay did not shed any).
            alive = 0
            for s in socks:
                try:
                    s.recv(1)  # b"": closed by the relay; data: unexpected
                except BlockingIOError:
                    alive += 1  # nothing to read: still open and idle
            self.assertEqual(alive, n)
            # The per-client limit holds at this scale: 421 for one more
            # from a full source address.
            over = hl.RawClient(r.port, source="127.0.0.2")
            self.addCleanup(over.close)
            self.assertEqual(over.reply(), (421, "4.7.0 relay.test Error: too many "
                                                 "connections from your address"))
            # And a normal client is served while 10k sessions sit idle.
            t0 = time.monotonic()
            relay_id = hl.send_normal(r.port, "normal-c10k")
            hl.wait_delivered(r.wd, [relay_id], timeout=30)
            print(f"c10k: normal message delivered in {time.monotonic() - t0:.2f}s "
                  f"with {n} idle connections", file=sys.stderr)
        finally:
            sel.close()
            for s in socks:
                s.close()
            self.assertEqual(r.close(), 0)


if __name__ == "__main__":
    ARGV = sys.argv
    unittest.main(argv=[sys.argv[0]] + sys.argv[4:], verbosity=2)
