"""DSN (RFC 3461) through the relay, seen from outside: a client gives RET,
ENVID, NOTIFY and ORCPT; a scripted destination records the MAIL and RCPT
lines the relay sends it.

- A destination that offers DSN gets each parameter back, xtext-encoded and
  in canonical form, each recipient's with that recipient, also when the
  message's recipients go to different domains (separate jobs, separate
  transactions).
- A destination that does not offer DSN gets none of them.
- The parameters are in the spool: a message queued while the destination
  was down is delivered with them after a restart.
"""
import smtplib
import sys
import unittest

from tests import hostile_lib as hl
from tests.lib import harness as h


class Destination(hl.ScriptedServer):
    """Offers PIPELINING and, with `dsn`, DSN; answers everything with 2xx
    and records each delivered transaction's MAIL and RCPT lines (the
    relay's connections run at once: each keeps its own)."""

    def __init__(self, port, dsn):
        super().__init__(port)
        self.dsn = dsn
        self.transactions = []

    def serve(self, conn):
        conn.settimeout(30)
        conn.sendall(b"220 dest.test ESMTP\r\n")
        buf = b""
        current = []
        while not self.stop_event.is_set():
            while b"\r\n" not in buf:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                buf += chunk
            line, buf = buf.split(b"\r\n", 1)
            verb = line[:4].upper()
            if verb == b"EHLO":
                conn.sendall(b"250-dest.test\r\n" + (b"250-DSN\r\n" if self.dsn else b"")
                             + b"250 PIPELINING\r\n")
            elif verb == b"MAIL":
                current = [line.decode()]
                conn.sendall(b"250 2.0.0 Ok\r\n")
            elif verb == b"RCPT":
                current.append(line.decode())
                conn.sendall(b"250 2.0.0 Ok\r\n")
            elif verb == b"DATA":
                conn.sendall(b"354 go ahead\r\n")
                data = b"\r\n" + buf
                while b"\r\n.\r\n" not in data:
                    chunk = conn.recv(1 << 16)
                    if not chunk:
                        return
                    data += chunk
                buf = data[data.index(b"\r\n.\r\n") + 5:]
                with self.lock:
                    self.transactions.append(current)
                conn.sendall(b"250 2.0.0 Ok: queued\r\n")
            elif verb == b"QUIT":
                conn.sendall(b"221 2.0.0 Bye\r\n")
                return
            else:
                conn.sendall(b"250 2.0.0 Ok\r\n")


# The client's transaction: per recipient, its RCPT parameters.
RECIPIENTS = [
    ("a@dest.test", ["NOTIFY=failure,success", "ORCPT=rfc822;a+2Bx@dest.test"]),
    ("b@dest.test", []),
    ("c@other.test", ["NOTIFY=NEVER"]),
    ("d@dest.test", ["ORCPT=rfc822;d@dest.test"]),
]
MAIL_OPTIONS = ["RET=HDRS", "ENVID=QQ+2B314+20159"]

# What a destination offering DSN must get: dest.test's transaction, then
# other.test's (or the other way round), each recipient with its own values.
WANT_MAIL = "MAIL FROM:<s@origin.test> RET=HDRS ENVID=QQ+2B314+20159"
WANT_DEST = ["RCPT TO:<a@dest.test> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;a+2Bx@dest.test",
             "RCPT TO:<b@dest.test>",
             "RCPT TO:<d@dest.test> ORCPT=rfc822;d@dest.test"]
WANT_OTHER = ["RCPT TO:<c@other.test> NOTIFY=NEVER"]


def send(port):
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as s:
        s.ehlo("client.test")
        code, text = s.mail("s@origin.test", MAIL_OPTIONS)
        assert code == 250, (code, text)
        for rcpt, opts in RECIPIENTS:
            code, text = s.rcpt(rcpt, opts)
            assert code == 250, (rcpt, code, text)
        code, text = s.data(b"Subject: dsn\r\n\r\nhello\r\n")
        assert code == 250, (code, text)


def in_order(transactions):
    """The transactions ordered by their first RCPT line."""
    return sorted(transactions, key=lambda t: t[1:])


class DsnThroughTheRelay(unittest.TestCase):
    def start(self, prefix, dsn, dest_up=True):
        self.bins = h.Binaries(ARGV)
        self.wd = h.workdir(prefix)
        self.dest_port, self.relay_port = h.free_port(), h.free_port()
        if dest_up:
            self.start_destination(dsn)
        self.relay = self.start_relay()

    def start_destination(self, dsn):
        # Its socket listens from here on.
        self.dest = Destination(self.dest_port, dsn)
        self.dest.start()
        self.addCleanup(self.dest.shutdown)

    def start_relay(self, name="relay"):
        # Each start its own name: its own stderr file to read recovery from.
        relay = h.start_relay(self.bins, self.wd, self.relay_port, self.dest_port, "--shards=2",
                              "--retry_min=1h", "--retry_max=1h", "--connect_timeout=2s",
                              name=name)
        self.addCleanup(self.stop_relay, relay)
        return relay

    @staticmethod
    def stop_relay(relay):
        if relay.alive():
            assert relay.stop() == 0, relay.stderr()

    def deliveries(self, sender="s@origin.test"):
        return [r for r in h.delivery_log(self.wd)
                if r["type"] == "Delivery" and r["sender"] == sender]

    def wait_delivered(self):
        h.wait_for(lambda: len(self.deliveries()) == len(RECIPIENTS), timeout=30,
                   what="every recipient delivered")

    def test_parameters_go_to_a_destination_that_offers_dsn(self):
        self.start("dsn-offered", dsn=True)
        send(self.relay_port)
        self.wait_delivered()
        self.assertEqual(in_order(self.dest.transactions),
                         [[WANT_MAIL] + WANT_DEST, [WANT_MAIL] + WANT_OTHER])

    def test_no_parameters_to_a_destination_without_dsn(self):
        self.start("dsn-not-offered", dsn=False)
        send(self.relay_port)
        self.wait_delivered()
        # a@ asked NOTIFY=SUCCESS and the hop takes no DSN: the relay tells
        # the sender itself ("relayed"), from <>, to the same destination.
        h.wait_for(lambda: len(self.deliveries(sender="")) == 1, timeout=30,
                   what="the success notice delivered")
        self.assertEqual(in_order(self.dest.transactions),
                         [["MAIL FROM:<s@origin.test>"] + [f"RCPT TO:<{r}>" for r in rcpts]
                          for rcpts in (["a@dest.test", "b@dest.test", "d@dest.test"],
                                        ["c@other.test"])]
                         + [["MAIL FROM:<>", "RCPT TO:<s@origin.test>"]])

    def test_parameters_survive_a_restart_in_the_spool(self):
        # Nothing listens at the destination (connections refused): the
        # message waits in the spool (the next retry an hour away), then the
        # relay stops and starts.
        self.start("dsn-restart", dsn=True, dest_up=False)
        send(self.relay_port)
        h.wait_for(lambda: [r for r in h.delivery_log(self.wd)
                            if r["type"] == "TransientFailure"],
                   timeout=30, what="a failed first attempt")
        self.assertEqual(self.relay.stop(), 0, self.relay.stderr())
        self.start_destination(dsn=True)
        self.relay = self.start_relay(name="relay-again")
        self.assertEqual(h.recovered_messages(self.relay), 1)
        self.wait_delivered()
        self.assertEqual(in_order(self.dest.transactions),
                         [[WANT_MAIL] + WANT_DEST, [WANT_MAIL] + WANT_OTHER])


if __name__ == "__main__":
    ARGV = sys.argv
    unittest.main(argv=[sys.argv[0]], verbosity=2)
