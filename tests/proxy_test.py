"""PROXY protocol on the relay's listeners: a header from a proxy_trusted
peer names the real client (the Reception record, relay_networks and the
per-client limit use it); a missing, malformed or untrusted header closes
the connection with a line naming the peer; a v2 LOCAL header is a session
from the balancer itself.
"""
import smtplib
import socket
import struct
import sys
import unittest

from tests.lib import harness as h

MESSAGE = b"Subject: proxied\r\n\r\nhello\r\n"
V2_SIG = b"\r\n\r\n\x00\r\nQUIT\n"


def v2_tcp4(src, dst, sport, dport):
    block = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!HH", sport, dport)
    return V2_SIG + bytes([0x21, 0x11]) + struct.pack("!H", len(block)) + block


def v2_local():
    return V2_SIG + bytes([0x20, 0x00]) + struct.pack("!H", 0)


class ProxiedSession:
    """A client that sends `header` first, then speaks SMTP."""

    def __init__(self, port, header):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=20)
        self.sock.sendall(header)
        self.f = self.sock.makefile("rb")

    def reply(self):
        lines = []
        while True:
            line = self.f.readline()
            if not line:
                return lines
            lines.append(line)
            if line[3:4] == b" ":
                return lines

    def cmd(self, text):
        self.sock.sendall(text + b"\r\n")
        return self.reply()

    def send_message(self, rcpt):
        assert self.cmd(b"EHLO client.test")[-1].startswith(b"250")
        assert self.cmd(b"MAIL FROM:<a@origin.test>")[0].startswith(b"250")
        r = self.cmd(b"RCPT TO:<" + rcpt.encode() + b">")
        if not r[0].startswith(b"250"):
            return r[0]
        assert self.cmd(b"DATA")[0].startswith(b"354")
        return self.cmd(MESSAGE + b".")[0]

    def close(self):
        self.sock.close()


class ProxyTest(h.RelayCase):
    WORKDIR = "proxy"

    def test_headers_name_the_real_client(self):
        relay, port = self.start("--proxy_trusted=127.0.0.1/32",
                                 "--relay_networks=192.0.2.0/24")
        try:
            # v1 and v2 from a client inside relay_networks: relayed.
            for header in (b"PROXY TCP4 192.0.2.10 127.0.0.1 40000 25\r\n",
                           v2_tcp4("192.0.2.11", "127.0.0.1", 40001, 25)):
                s = ProxiedSession(port, header)
                self.assertTrue(s.reply()[0].startswith(b"220"))
                self.assertTrue(s.send_message("b@dest.test").startswith(b"250"))
                s.close()
            # A client outside relay_networks, named by the header: refused.
            s = ProxiedSession(port, b"PROXY TCP4 198.51.100.7 127.0.0.1 40002 25\r\n")
            s.reply()
            self.assertTrue(s.send_message("c@dest.test").startswith(b"554"))
            s.close()
            # LOCAL (a health check): a session from the balancer itself,
            # which is outside relay_networks here.
            s = ProxiedSession(port, v2_local())
            self.assertTrue(s.reply()[0].startswith(b"220"))
            self.assertTrue(s.cmd(b"NOOP")[0].startswith(b"250"))
            s.close()
            h.wait_for(lambda: h.count_types(h.delivery_log(self.wd)).get("Delivery", 0) >= 2,
                       timeout=20, what="two deliveries")
        finally:
            self.assertEqual(relay.stop(), 0)
        log = h.delivery_log(self.wd)
        peers = sorted(r["peer"] for r in log if r["type"] == "Reception")
        self.assertEqual(peers, ["192.0.2.10", "192.0.2.11"])
        rejected = [r for r in log if r["type"] == "Rejection"]
        self.assertEqual([r["peer"] for r in rejected], ["198.51.100.7"])

    def test_bad_missing_and_untrusted_headers_close_the_connection(self):
        relay, port = self.start("--proxy_trusted=127.0.0.1/32", "--proxy_timeout=300ms")
        try:
            cases = ((b"PROXY TCP4 999.0.0.1 127.0.0.1 1 25\r\n", "v1 source address is not IPv4"),
                     (b"EHLO client.test\r\n", "neither a v1 nor a v2"),
                     (b"", "no PROXY header from 127.0.0.1 within proxy_timeout"))
            for header, why in cases:
                s = ProxiedSession(port, header)
                self.assertEqual(s.sock.recv(100), b"")  # closed, nothing said
                s.close()
                h.wait_for(lambda: why in relay.stderr(), timeout=10, what=f"'{why}' logged")
        finally:
            self.assertEqual(relay.stop(), 0)
        relay, port = self.start("--proxy_trusted=127.0.0.2/32")
        try:
            s = ProxiedSession(port, b"PROXY TCP4 192.0.2.10 127.0.0.1 40000 25\r\n")
            banner = s.sock.recv(100)  # the banner went out before the client spoke
            self.assertTrue(banner.startswith(b"220"), banner)
            rest = s.sock.recv(100)
            self.assertEqual(rest, b"")
            s.close()
            h.wait_for(lambda: "not in proxy_trusted" in relay.stderr(), timeout=10,
                       what="the untrusted header logged")
        finally:
            self.assertEqual(relay.stop(), 0)

    def test_per_client_limit_counts_the_real_client(self):
        relay, port = self.start("--proxy_trusted=127.0.0.1/32",
                                 "--max_connections_per_client=2")
        sessions = []
        try:
            # Three clients behind one balancer: none is over its limit.
            for i in range(3):
                s = ProxiedSession(port, f"PROXY TCP4 192.0.2.{i + 1} 127.0.0.1 4000{i} 25\r\n"
                                   .encode())
                self.assertTrue(s.reply()[0].startswith(b"220"))
                sessions.append(s)
            # A third connection from the same real client is.
            for _ in range(2):
                s = ProxiedSession(port, b"PROXY TCP4 192.0.2.9 127.0.0.1 40009 25\r\n")
                self.assertTrue(s.reply()[0].startswith(b"220"))
                sessions.append(s)
            s = ProxiedSession(port, b"PROXY TCP4 192.0.2.9 127.0.0.1 40010 25\r\n")
            self.assertTrue(s.reply()[0].startswith(b"421"))
            s.close()
        finally:
            for s in sessions:
                s.close()
            self.assertEqual(relay.stop(), 0)


if __name__ == "__main__":
    unittest.main(argv=[sys.argv[0]], verbosity=2)
