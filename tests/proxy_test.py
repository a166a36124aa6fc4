"""PROXY protocol on the relay's listeners: a header from a proxy_trusted
peer names the real client (the Reception record, relay_networks and the
per-client limit use it); a missing, malformed or untrusted header closes
the connection with a line naming the peer; a v2 LOCAL header is a session
from the balancer itself. HostileProxyTest: headers trickled one byte per
segment, an endless v1 line, v2 length fields that lie, headers from peers
outside proxy_trusted and a second header inside a session.
"""
import smtplib
import socket
import struct
import sys
import time
import unittest

from tests.lib import harness as h

MESSAGE = b"Subject: proxied\r\n\r\nhello\r\n"
V2_SIG = b"\r\n\r\n\x00\r\nQUIT\n"


def v2_tcp4(src, dst, sport, dport):
    block = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!HH", sport, dport)
    return V2_SIG + bytes([0x21, 0x11]) + struct.pack("!H", len(block)) + block


def v2_tcp6(src, dst, sport, dport):
    block = (socket.inet_pton(socket.AF_INET6, src) + socket.inet_pton(socket.AF_INET6, dst) +
             struct.pack("!HH", sport, dport))
    return V2_SIG + bytes([0x21, 0x21]) + struct.pack("!H", len(block)) + block


def v2_with_length(fam, length, block):
    """A v2 PROXY header whose length field says `length`, followed by `block`
    whatever its real size."""
    return V2_SIG + bytes([0x21, fam]) + struct.pack("!H", length) + block


def v2_local():
    return V2_SIG + bytes([0x20, 0x00]) + struct.pack("!H", 0)


def connect_nodelay(port):
    """A client socket with Nagle off: each send leaves as its own segment
    unless the kernel is backed up."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=20)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def trickle(sock, data):
    """One byte per send. The pause only makes separate segments (and separate
    reads on the relay) likely; nothing asserted depends on it."""
    for i in range(len(data)):
        sock.sendall(data[i:i + 1])
        time.sleep(0.001)


def read_until_closed(sock, timeout=10):
    """Everything the relay sends before it closes the connection (a reset
    counts as closed: the relay may close with our bytes still unread)."""
    sock.settimeout(timeout)
    got = b""
    try:
        while True:
            chunk = sock.recv(4096)
            if not chunk:
                return got
            got += chunk
    except ConnectionResetError:
        return got


class ProxiedSession:
    """A client that sends `header` first (trickled one byte per segment with
    `trickled`), then speaks SMTP."""

    def __init__(self, port, header, trickled=False):
        self.sock = connect_nodelay(port)
        if trickled:
            trickle(self.sock, header)
        else:
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


class HostileProxyTest(h.RelayCase):
    """PROXY headers from hostile or broken peers, over real TCP."""
    WORKDIR = "proxy-hostile"
    TIMEOUT = "1s"  # proxy_timeout: short, so the idle case ends quickly

    def start_trusting(self, *extra):
        return self.start("--proxy_trusted=127.0.0.1/32", f"--proxy_timeout={self.TIMEOUT}",
                          "--relay_networks=192.0.2.0/24,2001:db8::/32", *extra)

    def refused(self, relay, why, before):
        """Waits for the relay's line about a refused header, the
        `before`+1-th line containing `why`."""
        h.wait_for(lambda: relay.stderr().count(why) > before, timeout=10,
                   what=f"'{why}' logged")
        self.assertIn(f"PROXY header from 127.0.0.1 refused: {why}", relay.stderr())

    def test_headers_trickled_one_byte_per_segment(self):
        relay, port = self.start_trusting()
        try:
            headers = (b"PROXY TCP4 192.0.2.21 127.0.0.1 40021 25\r\n",
                       v2_tcp4("192.0.2.22", "127.0.0.1", 40022, 25),
                       b"PROXY TCP6 2001:db8::23 ::1 40023 25\r\n",
                       v2_tcp6("2001:db8::24", "::1", 40024, 25))
            for header in headers:
                s = ProxiedSession(port, header, trickled=True)
                banner = s.reply()
                self.assertTrue(banner and banner[0].startswith(b"220"), (header, banner))
                self.assertTrue(s.send_message("b@dest.test").startswith(b"250"), header)
                s.close()
            h.wait_for(lambda: h.count_types(h.delivery_log(self.wd)).get("Delivery", 0) >= 4,
                       timeout=20, what="four deliveries")
        finally:
            self.assertEqual(relay.stop(), 0)
        # Each Reception names the client from its header, not the balancer.
        log = h.delivery_log(self.wd)
        self.assertEqual(sorted(r["peer"] for r in log if r["type"] == "Reception"),
                         ["192.0.2.21", "192.0.2.22", "2001:db8::23", "2001:db8::24"])
        self.assertNotIn("refused", relay.stderr())

    def test_v1_line_without_crlf_is_cut_at_107_octets(self):
        relay, port = self.start_trusting()
        why = "v1 line longer than 107 octets"
        try:
            # "PROXY UNKNOWN " may carry anything up to the CRLF, so only the
            # length stops it: the 107th octet without a CRLF ends it.
            endless = b"PROXY UNKNOWN " + b"x" * 150
            for n, send in enumerate((lambda s: s.sendall(endless),
                                      lambda s: trickle(s, endless[:107]))):
                sock = connect_nodelay(port)
                send(sock)
                self.assertEqual(read_until_closed(sock), b"")  # closed, nothing said
                sock.close()
                self.refused(relay, why, n)
            # The CRLF as octets 107-108: one octet too long.
            sock = connect_nodelay(port)
            sock.sendall(b"PROXY UNKNOWN " + b"x" * 92 + b"\r\n")
            self.assertEqual(read_until_closed(sock), b"")
            sock.close()
            self.refused(relay, why, 2)
            # Exactly 107 octets with the CRLF: a header (UNKNOWN: a session
            # from the balancer itself).
            line = b"PROXY UNKNOWN " + b"x" * 91 + b"\r\n"
            self.assertEqual(len(line), 107)
            s = ProxiedSession(port, line)
            self.assertTrue(s.reply()[0].startswith(b"220"))
            self.assertTrue(s.cmd(b"NOOP")[0].startswith(b"250"))
            s.close()
        finally:
            self.assertEqual(relay.stop(), 0)

    def test_v2_length_longer_than_the_data_waits_for_proxy_timeout(self):
        relay, port = self.start_trusting()
        try:
            # 12 octets of TCP4 addresses where the length says 40: the relay
            # waits for the rest, and the balancer never sends it.
            block = socket.inet_aton("192.0.2.30") + socket.inet_aton("127.0.0.1") + \
                struct.pack("!HH", 40030, 25)
            sock = connect_nodelay(port)
            started = time.monotonic()
            sock.sendall(v2_with_length(0x11, 40, block))
            self.assertEqual(read_until_closed(sock), b"")
            waited = time.monotonic() - started
            sock.close()
            h.wait_for(lambda: "no PROXY header from 127.0.0.1 within proxy_timeout"
                       in relay.stderr(), timeout=10, what="the timeout logged")
            self.assertGreaterEqual(waited, 0.8)  # proxy_timeout is 1 s: not refused early
        finally:
            self.assertEqual(relay.stop(), 0)
        self.assertNotIn("refused", relay.stderr())
        self.assertEqual(h.delivery_log(self.wd), [])

    def test_v2_length_too_short_for_its_family_is_refused_at_once(self):
        relay, port = self.start_trusting()
        cases = (
            # The length is judged from the first 16 octets: the bytes after
            # it (here what the family would need) change nothing.
            (v2_with_length(0x11, 8, b"\xc0\x00\x02\x1f" * 3),
             "v2 TCP4 address block of 8 octets, want 12"),
            (v2_with_length(0x21, 12, b"\x00" * 36),
             "v2 TCP6 address block of 12 octets, want 36"),
            (v2_with_length(0x11, 2000, b"\x00" * 12),
             "v2 address block of 2000 octets, more than the 1024 accepted"),
        )
        try:
            for header, why in cases:
                sock = connect_nodelay(port)
                sock.sendall(header)
                self.assertEqual(read_until_closed(sock), b"")
                sock.close()
                self.refused(relay, why, 0)
        finally:
            self.assertEqual(relay.stop(), 0)
        # Refused, not left to time out.
        self.assertNotIn("within proxy_timeout", relay.stderr())

    def test_header_from_a_peer_outside_proxy_trusted_is_not_a_header(self):
        # 127.0.0.1 is not the balancer here; relay_networks holds only the
        # address its header claims.
        relay, port = self.start("--proxy_trusted=127.0.0.2/32", "--relay_networks=192.0.2.0/24")
        try:
            # As the first bytes: someone speaking for another address. The
            # banner went out before it spoke; then the connection closes.
            for n, header in enumerate((b"PROXY TCP4 192.0.2.40 127.0.0.1 40040 25\r\n",
                                        v2_tcp4("192.0.2.41", "127.0.0.1", 40041, 25))):
                sock = connect_nodelay(port)
                sock.sendall(header)
                got = read_until_closed(sock)
                self.assertTrue(got.startswith(b"220 "), got)
                self.assertEqual(got.count(b"\r\n"), 1, got)  # the banner, nothing else
                sock.close()
                h.wait_for(lambda: relay.stderr().count("not in proxy_trusted") > n, timeout=10,
                           what="the untrusted header logged")
            # Later in the session the same line is just an unknown command:
            # the client stays the real peer, outside relay_networks.
            s = ProxiedSession(port, b"")
            self.assertTrue(s.reply()[0].startswith(b"220"))
            self.assertTrue(s.cmd(b"NOOP")[0].startswith(b"250"))
            reply = s.cmd(b"PROXY TCP4 192.0.2.42 127.0.0.1 40042 25")
            self.assertTrue(reply[0].startswith(b"500 5.5.2"), reply)
            self.assertTrue(s.send_message("c@dest.test").startswith(b"554"))
            s.close()
            h.wait_for(lambda: h.count_types(h.delivery_log(self.wd)).get("Rejection", 0) == 1,
                       timeout=20, what="the rejection logged")
        finally:
            self.assertEqual(relay.stop(), 0)
        self.assertIn("PROXY header from 127.0.0.1 refused: not in proxy_trusted", relay.stderr())
        log = h.delivery_log(self.wd)
        self.assertEqual([r["peer"] for r in log], ["127.0.0.1"])
        self.assertEqual(log[0]["type"], "Rejection")

    def test_a_second_header_never_renames_the_client(self):
        relay, port = self.start_trusting()
        try:
            # Right behind the first header, as the session's first bytes (a
            # balancer chained behind another, both sending headers): refused
            # like an untrusted one, after the banner; the line names the
            # client of the first header.
            s = ProxiedSession(port, b"PROXY TCP4 192.0.2.50 127.0.0.1 40050 25\r\n")
            self.assertTrue(s.reply()[0].startswith(b"220"))
            s.sock.sendall(b"PROXY TCP4 198.51.100.50 127.0.0.1 40051 25\r\n")
            self.assertEqual(read_until_closed(s.sock), b"")
            s.close()
            h.wait_for(lambda: "PROXY header from 192.0.2.50 refused: a second header"
                       in relay.stderr(), timeout=10, what="the second header logged")
            # Later in a session it is an unknown command, and the client
            # stays the one the first header named.
            s = ProxiedSession(port, b"PROXY TCP4 192.0.2.51 127.0.0.1 40052 25\r\n")
            self.assertTrue(s.reply()[0].startswith(b"220"))
            self.assertTrue(s.cmd(b"NOOP")[0].startswith(b"250"))
            reply = s.cmd(b"PROXY TCP4 198.51.100.51 127.0.0.1 40053 25")
            self.assertTrue(reply[0].startswith(b"500 5.5.2"), reply)
            self.assertTrue(s.send_message("d@dest.test").startswith(b"250"))
            s.close()
            h.wait_for(lambda: h.count_types(h.delivery_log(self.wd)).get("Delivery", 0) == 1,
                       timeout=20, what="the delivery")
        finally:
            self.assertEqual(relay.stop(), 0)
        peers = [r["peer"] for r in h.delivery_log(self.wd) if r["type"] == "Reception"]
        self.assertEqual(peers, ["192.0.2.51"])
        self.assertNotIn("198.51.100", relay.stderr())

if __name__ == "__main__":
    unittest.main(argv=[sys.argv[0]], verbosity=2)
