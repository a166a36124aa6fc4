"""Outbound defects of issue 11, seen from outside with a scripted destination.

Each test runs the relay against a destination (a Python server on
loopback) that misbehaves in exactly one phase of the SMTP dialogue, and
checks what the relay promises: the stalled phase is cut by its own
RFC 5321 4.5.3.2 timeout (the others are set to an hour, so no other timer
can end it), the mail is deferred (never delivered, never lost), and the
delivery log says what happened.

  test_timeout_<phase>      greeting, EHLO, MAIL, RCPT, DATA (354), the
                            content itself (data_block), the final reply
                            (data_term), RSET and QUIT
  test_data_2xx_is_not_delivered   250 to DATA instead of 354 (defect 4)
  test_max_age_without_attempt     expiry on time although no retry is due
  test_expiry_log_types            the failed attempt before an expiry is a
                                   TransientFailure, not a Reception (defect 10)
  test_drain_journals_every_outcome  nothing delivered twice after a drain
  test_ehlo_name_*                 EHLO sends a FQDN hostname, else an address
                                   literal (defect 9)
"""
import smtplib
import socket
import sys
import threading
import time
import unittest

from tests import hostile_lib as hl
from tests.lib import harness as h

HOUR = "1h"
PHASE_TIMEOUTS = ("greeting_timeout", "command_timeout", "mail_timeout", "rcpt_timeout",
                  "data_init_timeout", "data_block_timeout", "data_term_timeout")


def timeout_flags(**short):
    """Every outbound reply timeout at an hour except those given."""
    flags = [f"--{t}={short.get(t, HOUR)}" for t in PHASE_TIMEOUTS]
    return flags + ["--connect_timeout=5s"]


class Destination(hl.ScriptedServer):
    """An SMTP server that stalls (stops answering, and with `stall_reading`
    stops reading) at the phase named by `stall`:
      greeting, ehlo, mail, rcpt, data (no 354), content (stops reading the
      message data), term (never answers the final "."), rset, quit
    `mail_550_from`: MAIL FROM this sender gets 550 (the client then RSETs).
    `data_reply`: the reply to DATA (default 354).
    Offers neither PIPELINING nor CHUNKING, so the client goes step by step.
    Records each EHLO argument and each complete message."""

    def __init__(self, port, stall=None, mail_550_from=None, data_reply=b"354 go ahead"):
        # A small receive buffer, so a message the server stops reading
        # stalls the sender soon.
        super().__init__(port, rcvbuf=65536)
        self.stall = stall
        self.mail_550_from = mail_550_from
        self.data_reply = data_reply
        self.ehlo_names = []
        self.messages = 0
        self.closed_by_relay = threading.Event()  # the relay hung up a stalled conn
        self.stalled = threading.Event()
        self.release_reading = threading.Event()

    def _hold(self, conn, read):
        """Stalls: says nothing more until the relay hangs up or we stop."""
        self.stalled.set()
        conn.settimeout(0.2)
        while not self.stop_event.is_set():
            if not read:
                # Not reading, so the relay's data fills the buffers, until
                # the test has seen the relay give up; then read to its close.
                if not self.release_reading.wait(0.2):
                    continue
                read = True
                continue
            try:
                if not conn.recv(65536):
                    self.closed_by_relay.set()
                    return
            except socket.timeout:
                continue
            except OSError:
                self.closed_by_relay.set()
                return

    def serve(self, conn):
        conn.settimeout(30)
        if self.stall == "greeting":
            return self._hold(conn, read=True)
        conn.sendall(b"220 dest.test ESMTP\r\n")
        buf = b""
        while not self.stop_event.is_set():
            while b"\r\n" not in buf:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                buf += chunk
            line, buf = buf.split(b"\r\n", 1)
            verb = line[:4].upper()
            if verb in (b"EHLO", b"HELO"):
                with self.lock:
                    self.ehlo_names.append(line[5:].decode())
                if self.stall == "ehlo":
                    return self._hold(conn, read=True)
                conn.sendall(b"250-dest.test\r\n250 8BITMIME\r\n")
            elif verb == b"MAIL":
                if self.stall == "mail":
                    return self._hold(conn, read=True)
                if self.mail_550_from and self.mail_550_from.encode() in line:
                    conn.sendall(b"550 5.7.1 not from you\r\n")
                else:
                    conn.sendall(b"250 2.1.0 Ok\r\n")
            elif verb == b"RCPT":
                if self.stall == "rcpt":
                    return self._hold(conn, read=True)
                conn.sendall(b"250 2.1.5 Ok\r\n")
            elif verb == b"RSET":
                if self.stall == "rset":
                    return self._hold(conn, read=True)
                conn.sendall(b"250 2.0.0 Ok\r\n")
            elif verb == b"QUIT":
                if self.stall == "quit":
                    return self._hold(conn, read=True)
                conn.sendall(b"221 2.0.0 Bye\r\n")
                return
            elif verb == b"DATA":
                if self.stall == "data":
                    return self._hold(conn, read=True)
                conn.sendall(self.data_reply + b"\r\n")
                if not self.data_reply.startswith(b"354"):
                    continue
                if self.stall == "content":
                    return self._hold(conn, read=False)
                data = b"\r\n" + buf
                while b"\r\n.\r\n" not in data:
                    chunk = conn.recv(1 << 20)
                    if not chunk:
                        return
                    data = data[-4:] + chunk if len(data) > (1 << 22) else data + chunk
                buf = data[data.index(b"\r\n.\r\n") + 5:]
                if self.stall == "term":
                    return self._hold(conn, read=True)
                with self.lock:
                    self.messages += 1
                conn.sendall(b"250 2.0.0 Ok: queued\r\n")
            else:
                conn.sendall(b"250 2.0.0 Ok\r\n")


def send(port, count=1, sender="sender@origin.test", body_bytes=0):
    body = b"Subject: phase test\r\n\r\n" + b"x" * 998 + b"\r\n"
    if body_bytes:
        body = b"Subject: big\r\n\r\n" + (b"y" * 998 + b"\r\n") * (body_bytes // 1000)
    with smtplib.SMTP("127.0.0.1", port, timeout=60) as s:
        for _ in range(count):
            s.sendmail(sender, ["user@dest.test"], body)


class Fixture:
    def __init__(self, test, prefix, relay_flags, **dest):
        self.bins = h.Binaries(ARGV)
        self.wd = h.workdir(prefix)
        self.dest_port, self.relay_port = h.free_port(), h.free_port()
        self.dest = Destination(self.dest_port, **dest)
        self.dest.start()
        self.relay = h.start_relay(self.bins, self.wd, self.relay_port, self.dest_port,
                                   "--shards=1", *relay_flags)
        test.addCleanup(self.close)

    def records(self, kind=None):
        r = h.delivery_log(self.wd)
        return [x for x in r if kind is None or x["type"] == kind]

    def wait_type(self, kind, n=1, timeout=30):
        return h.wait_for(lambda: len(self.records(kind)) >= n, timeout=timeout,
                          what=f"{n} {kind} record(s)")

    def close(self):
        if self.relay is not None:
            rc = self.relay.stop()
            self.relay = None
            assert rc == 0, f"relay exit {rc}"
        self.dest.shutdown()


class PhaseTimeouts(unittest.TestCase):
    def _stall(self, phase, timeout_name, why, body_bytes=0, extra=()):
        f = Fixture(self, f"stall-{phase}", timeout_flags(**{timeout_name: "1s"}) + [
            "--retry_min=1h", "--retry_max=1h", *extra], stall=phase)
        start = time.monotonic()
        send(f.relay_port, body_bytes=body_bytes)
        f.wait_type("TransientFailure", timeout=30)
        elapsed = time.monotonic() - start
        t = f.records("TransientFailure")[0]
        self.assertEqual((t["code"], t["enhanced"]), (451, "4.4.2"), t)
        self.assertIn(why, t["response"])
        self.assertEqual(f.records("Delivery"), [])
        self.assertLess(elapsed, 20, f"{phase}: cut after {elapsed:.1f}s")
        f.dest.release_reading.set()
        h.wait_for(f.dest.closed_by_relay.is_set, timeout=10,
                   what="the relay to close the stalled connection")

    def test_timeout_greeting(self):
        self._stall("greeting", "greeting_timeout", "timeout waiting for greeting")

    def test_timeout_ehlo(self):
        self._stall("ehlo", "command_timeout", "timeout waiting for reply to EHLO")

    def test_timeout_mail(self):
        self._stall("mail", "mail_timeout", "timeout waiting for reply to MAIL FROM")

    def test_timeout_rcpt(self):
        self._stall("rcpt", "rcpt_timeout", "timeout waiting for reply to RCPT TO")

    def test_timeout_data_init(self):
        self._stall("data", "data_init_timeout", "timeout waiting for reply to DATA")

    def test_timeout_data_block(self):
        # 32 MB: more than the loopback socket buffers hold, so the send stalls.
        self._stall("content", "data_block_timeout", "timeout waiting for reply to end of data",
                    body_bytes=32 << 20)

    def test_timeout_data_term(self):
        self._stall("term", "data_term_timeout", "timeout waiting for reply to end of data")

    def test_timeout_rset(self):
        # The first message's MAIL is refused, so the client sends RSET, which
        # is never answered; with one connection allowed, the second message
        # moves only once the RSET wait is cut (it used to wait forever).
        f = Fixture(self, "stall-rset", timeout_flags(command_timeout="1s") + [
            "--retry_min=1h", "--max_connections_per_destination=1"],
            stall="rset", mail_550_from="refused@origin.test")
        send(f.relay_port, sender="refused@origin.test")
        f.wait_type("Bounce")
        h.wait_for(f.dest.stalled.is_set, timeout=10, what="RSET sent")
        send(f.relay_port, sender="fine@origin.test")
        f.wait_type("Delivery", timeout=30)
        self.assertTrue(f.dest.closed_by_relay.is_set())

    def test_timeout_quit(self):
        f = Fixture(self, "stall-quit", timeout_flags(command_timeout="1s") + [
            "--connection_idle=500ms"], stall="quit")
        send(f.relay_port)
        f.wait_type("Delivery")
        h.wait_for(f.dest.closed_by_relay.is_set, timeout=15,
                   what="the relay to give up on the unanswered QUIT")


class Outcomes(unittest.TestCase):
    def test_data_2xx_is_not_delivered(self):
        f = Fixture(self, "data-250", timeout_flags() + ["--retry_min=1s", "--retry_max=1s"],
                    data_reply=b"250 2.0.0 Ok")
        send(f.relay_port)
        f.wait_type("TransientFailure", n=2, timeout=30)
        self.assertEqual(f.records("Delivery"), [])
        t = f.records("TransientFailure")[0]
        self.assertEqual(t["code"] // 100, 4, t)

    def test_max_age_without_attempt(self):
        # Nothing listens at the destination; the next retry would come after
        # an hour, but the message expires after 3 s all the same.
        bins = h.Binaries(ARGV)
        wd = h.workdir("maxage")
        relay_port, dead_port = h.free_port(), h.free_port()
        relay = h.start_relay(bins, wd, relay_port, dead_port, "--retry_min=1h",
                              "--retry_max=1h", "--max_age=3s")
        try:
            start = time.monotonic()
            send(relay_port)
            h.wait_for(lambda: h.count_types(h.delivery_log(wd)).get("Expiration"),
                       timeout=20, what="Expiration")
            self.assertLess(time.monotonic() - start, 15)
            # The sender is told (its bounce then waits for the same dead port).
            h.wait_for(lambda: h.count_types(h.delivery_log(wd)).get("Notice"),
                       timeout=20, what="the bounce")
        finally:
            self.assertEqual(relay.stop(), 0)
        counts = h.count_types(r for r in h.delivery_log(wd) if r["sender"])
        self.assertEqual(counts, {"Reception": 1, "TransientFailure": 1, "Expiration": 1})

    def test_expiry_log_types(self):
        # The attempt outlives max_age (the greeting never comes), so its
        # failure ends the message: that record is a TransientFailure.
        f = Fixture(self, "expiry-log", timeout_flags(greeting_timeout="3s") + [
            "--retry_min=1h", "--max_age=1s"], stall="greeting")
        send(f.relay_port, count=3)
        f.wait_type("Expiration", n=3)
        f.wait_type("Notice", n=3)  # a bounce each (sent to the same stalling server)
        counts = h.count_types(r for r in f.records() if r["sender"])
        self.assertEqual(counts, {"Reception": 3, "TransientFailure": 3, "Expiration": 3})


class Drain(unittest.TestCase):
    def test_drain_journals_every_outcome(self):
        """SIGTERM while deliveries are in flight on two shards, whose
        outcomes cross between them: the drain finishes them and journals
        every outcome before exiting, so the next start delivers only what
        was not delivered: no message twice, none lost."""
        bins = h.Binaries(ARGV)
        wd = h.workdir("drain")
        sink_port, relay_port = h.free_port(), h.free_port()
        sink = h.start_sink(bins, wd, sink_port, "--delay_ms=50")
        self.addCleanup(lambda: sink.alive() and sink.stop())
        flags = ["--shards=2", "--max_connections_per_destination=8"]
        relay = h.start_relay(bins, wd, relay_port, sink_port, *flags)
        lg = h.Proc("loadgen", [bins.loadgen, f"--target=127.0.0.1:{relay_port}", "--quiet",
                                f"--record_ids={wd}/loadgen.ids", "--messages=3000",
                                "--connections=8", "--inflight=4",
                                "--rcpt_domains=a.test,b.test,c.test,d.test,e.test"], wd)
        h.wait_for(lambda: h.count_types(h.delivery_log(wd)).get("Delivery", 0) >= 200,
                   timeout=60, what="deliveries under way")
        self.assertEqual(relay.stop(timeout=60), 0)
        lg.wait(120)
        acked = h.read_lines(f"{wd}/loadgen.ids")
        delivered_before = h.count_types(h.delivery_log(wd)).get("Delivery", 0)
        self.assertGreater(len(acked), delivered_before, "nothing left for the restart")
        relay = h.start_relay(bins, wd, relay_port, sink_port, *flags, name="relay2")
        try:
            h.wait_for(lambda: h.count_types(h.delivery_log(wd)).get("Delivery", 0)
                       >= len(acked), timeout=120, what="every acknowledged message delivered")
        finally:
            self.assertEqual(relay.stop(timeout=60), 0)
        sink.stop()
        got = h.read_lines(f"{wd}/sink.ids")
        self.assertEqual(sorted(set(got)), sorted(acked), "lost or unexpected messages")
        self.assertEqual(len(got), len(set(got)), "messages delivered twice")


class EhloName(unittest.TestCase):
    def test_ehlo_name_fqdn(self):
        f = Fixture(self, "ehlo-fqdn", timeout_flags())
        send(f.relay_port)
        f.wait_type("Delivery")
        self.assertEqual(f.dest.ehlo_names[0], "relay.test")

    def test_ehlo_name_address_literal(self):
        f = Fixture(self, "ehlo-literal", timeout_flags() + ["--hostname=mailhost"])
        send(f.relay_port)
        f.wait_type("Delivery")
        self.assertEqual(f.dest.ehlo_names[0], "[127.0.0.1]")
        self.assertIn("not a fully qualified domain name", f.relay.stderr())


if __name__ == "__main__":
    ARGV = sys.argv
    unittest.main(argv=[sys.argv[0]], verbosity=2)
