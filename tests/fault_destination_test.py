"""Faults at the destination: it drops the connection in the middle of DATA
or right after it, answers with garbage, or stalls beyond the relay's reply
timeouts (RFC 5321 4.5.3.2).

For each fault the relay acknowledges a few messages, meets the broken
destination for several attempts (each a TransientFailure, never a
Delivery), and then the destination is replaced on the same port by a
healthy sink: every acknowledged message must arrive, exactly once (the
broken peers never pass mail on, so a copy there cannot exist).
"""
import collections
import socket
import sys
import unittest

from tests import hostile_lib as hl
from tests.lib import harness as h

MESSAGES = 4
ATTEMPTS = 2        # failed attempts per message before the healthy sink comes
FAULT_WINDOW_S = 40  # bound on waiting for them

TIMEOUT_FLAGS = [f"--{t}=2s" for t in (
    "connect_timeout", "greeting_timeout", "command_timeout", "mail_timeout",
    "rcpt_timeout", "data_init_timeout", "data_block_timeout", "data_term_timeout")]


class BrokenServer(hl.ScriptedServer):
    """A destination that misbehaves in one way (`mode`):
      garbage-greeting  an HTTP error page instead of a 220 banner
      garbage-reply     a sane banner, then nonsense for EHLO
      garbage-data      nonsense instead of the reply after the final "."
      drop-mid-data     closes the connection after 2 KB of message data
      stall-greeting    accepts and says nothing
      stall-data        reads the whole message and never answers it
    One thread per connection; all bounded by `stop` and socket timeouts."""

    def __init__(self, port, mode):
        super().__init__(port)
        self.mode = mode
        self.data_ends = 0      # final "." seen (the message was fully sent)

    def _wait_stop(self, conn):
        """Holds the connection open, reading and ignoring, until stopped or
        the peer leaves."""
        conn.settimeout(0.2)
        while not self.stop_event.is_set():
            try:
                if not conn.recv(65536):
                    return
            except socket.timeout:
                continue
            except OSError:
                return

    def serve(self, conn):
        conn.settimeout(30)
        if self.mode == "stall-greeting":
            return self._wait_stop(conn)
        if self.mode == "garbage-greeting":
            conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
            return self._wait_stop(conn)
        conn.sendall(b"220 broken.test ESMTP\r\n")
        buf = b""
        in_data = False
        data_bytes = 0
        while not self.stop_event.is_set():
            chunk = conn.recv(65536)
            if not chunk:
                return
            buf += chunk
            if in_data:
                data_bytes += len(chunk)
                if self.mode == "drop-mid-data" and data_bytes >= 2048:
                    conn.shutdown(socket.SHUT_RDWR)
                    return
                end = buf.find(b"\r\n.\r\n")
                if end < 0:
                    buf = buf[-4:]
                    continue
                with self.lock:
                    self.data_ends += 1
                buf = buf[end + 5:]
                in_data = False
                if self.mode == "stall-data":
                    return self._wait_stop(conn)
                if self.mode == "garbage-data":
                    conn.sendall(b"\x00\x01 that was lovely\r\n")
                    return self._wait_stop(conn)
                conn.sendall(b"250 2.0.0 Ok\r\n")
                continue
            while b"\r\n" in buf and not in_data:
                line, buf = buf.split(b"\r\n", 1)
                verb = line[:4].upper()
                if verb in (b"EHLO", b"HELO"):
                    if self.mode == "garbage-reply":
                        conn.sendall(b"25O-what is this\r\n\xff\xfe\r\n")
                        return self._wait_stop(conn)
                    conn.sendall(b"250 broken.test\r\n")
                elif verb in (b"MAIL", b"RCPT", b"RSET", b"NOOP"):
                    conn.sendall(b"250 2.0.0 Ok\r\n")
                elif verb == b"DATA":
                    conn.sendall(b"354 go ahead\r\n")
                    in_data = True
                    data_bytes = len(buf)
                    buf = b"\r\n" + buf  # lets a message start with "."
                elif verb == b"QUIT":
                    conn.sendall(b"221 bye\r\n")
                    return
                else:
                    conn.sendall(b"500 what\r\n")


class FaultDestination(unittest.TestCase):
    def run_fault(self, name, start_fault, stop_fault, relay_flags=()):
        # 6 KB bodies: larger than what drop-mid-data lets through.
        body = "".join(f"line {n:04d} " + "x" * 60 + "\r\n" for n in range(80))
        bins = h.Binaries(ARGV)
        wd = h.workdir(f"fault-{name}")
        port, relay_port = h.free_port(), h.free_port()
        fault = start_fault(bins, wd, port)
        relay = h.start_relay(bins, wd, relay_port, port, "--shards=2", "--retry_min=1s",
                              "--retry_max=2s", *TIMEOUT_FLAGS, *relay_flags)
        sink = None
        try:
            acked = {}
            for i in range(MESSAGES):
                test_id = f"{name}-{i}"
                acked[test_id] = hl.send_normal(relay_port, test_id, body=body)

            def failures():
                return [r for r in h.delivery_log(wd) if r["type"] == "TransientFailure"]
            h.wait_for(lambda: len(failures()) >= MESSAGES * ATTEMPTS,
                       timeout=FAULT_WINDOW_S, interval=0.5,
                       what=f"{ATTEMPTS} failed attempts per message")
            counts = h.count_types(h.delivery_log(wd))
            self.assertNotIn("Delivery", counts, "delivered to a broken destination")
            self.assertNotIn("Bounce", counts, "a transient fault must not bounce")
            sample = failures()[0]
            self.assertEqual(sample["code"] // 100, 4, sample)
            stop_fault(fault)
            if isinstance(fault, BrokenServer):
                self.check_broken_server(fault)
            sink = h.start_sink(bins, wd, port)
            hl.wait_delivered(wd, acked.values(), timeout=60)
        finally:
            rc = relay.stop(timeout=60)
            if sink:
                sink.stop()
            stop_fault(fault)
        self.assertEqual(rc, 0, relay.stderr())
        received = hl.sink_ids(wd)
        records = h.delivery_log(wd)
        lost = [i for i in acked if received[i] == 0]
        dupes = sum(1 for i in acked if received[i] > 1)
        tries = len([r for r in records if r["type"] == "TransientFailure"])
        hl.report(f"destination-{name}", acknowledged=len(acked),
                  delivered=len(acked) - len(lost), lost=len(lost), duplicated=dupes,
                  failed_attempts=tries, example=repr(sample["response"][:60]))
        self.assertEqual(lost, [])
        self.assertEqual(dupes, 0)
        self.assertEqual(set(received), set(acked))
        delivered = collections.Counter(r["id"] for r in records if r["type"] == "Delivery")
        self.assertEqual(sorted(delivered), sorted(acked.values()))
        self.assertTrue(all(v == 1 for v in delivered.values()), delivered)

    def check_broken_server(self, fault):
        """The fault happened where it was meant to."""
        self.assertGreaterEqual(fault.connections, ATTEMPTS)
        if fault.mode == "drop-mid-data":
            self.assertEqual(fault.data_ends, 0, "the whole message got through")
        if fault.mode in ("stall-data", "garbage-data"):
            self.assertGreaterEqual(fault.data_ends, ATTEMPTS)
        if fault.mode in ("stall-greeting", "garbage-greeting", "garbage-reply"):
            self.assertEqual(fault.data_ends, 0)

    def broken(self, mode):
        def start(bins, wd, port):
            s = BrokenServer(port, mode)
            s.start()
            return s

        def stop(s):
            s.shutdown()
        return start, stop

    def test_sink_drops_the_connection_at_end_of_data(self):
        def start(bins, wd, port):
            return h.start_sink(bins, wd, port, "--drop=1.0", name="sink-drop")

        def stop(s):
            if s.alive():
                s.stop()
        self.run_fault("sink-drop", start, stop)

    def test_drop_in_the_middle_of_data(self):
        # Bodies larger than the 2 KB after which the peer hangs up.
        self.run_fault("drop-mid-data", *self.broken("drop-mid-data"))

    def test_garbage_instead_of_greeting(self):
        self.run_fault("garbage-greeting", *self.broken("garbage-greeting"))

    def test_garbage_reply_to_ehlo(self):
        self.run_fault("garbage-reply", *self.broken("garbage-reply"))

    def test_garbage_reply_after_data(self):
        self.run_fault("garbage-data", *self.broken("garbage-data"))

    def test_stall_at_greeting(self):
        self.run_fault("stall-greeting", *self.broken("stall-greeting"))

    def test_stall_after_data(self):
        self.run_fault("stall-data", *self.broken("stall-data"))


if __name__ == "__main__":
    ARGV = sys.argv
    unittest.main(argv=[sys.argv[0]] + sys.argv[4:], verbosity=2)
