"""TLS and AUTH with real peers from Debian: Python's smtplib and ssl
(OpenSSL), swaks and `openssl s_client` as clients of the relay; a Python
SMTP server with OpenSSL's TLS as the relay's destination. Certificates are
made by the `openssl` command in the test.
"""
import os
import shutil
import signal
import smtplib
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import unittest

from tests import hostile_lib as hl
from tests.lib import harness as h

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "bench"))
import harness_postfix  # noqa: E402  (bench/: the private Postfix instance)

USER, PASSWORD = "alice", "correct horse battery"


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def make_pki(wd):
    """A CA and leaf certificates: good (localhost + 127.0.0.1), expired,
    wrong name, self-signed. Returns {name: (cert, key)} and the CA path."""
    pki = os.path.join(wd, "pki")
    os.makedirs(pki)
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", "ca.key", "-out", "ca.pem", "-days", "30", "-subj", "/CN=ringpost test CA",
            cwd=pki)
    out = {}

    def leaf(name, cn, san, days="30", start=None):
        openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={cn}", cwd=pki)
        with open(os.path.join(pki, f"{name}.ext"), "w") as f:
            f.write(f"subjectAltName={san}\nbasicConstraints=critical,CA:FALSE\n")
        if start is None:
            openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                    "-CAcreateserial", "-out", f"{name}.pem", "-days", days, "-extfile",
                    f"{name}.ext", cwd=pki)
        else:
            # An expired certificate: `openssl ca` takes explicit dates.
            with open(os.path.join(pki, "ca.cnf"), "w") as f:
                f.write("[ca]\ndefault_ca=d\n[d]\ndatabase=index.txt\nnew_certs_dir=.\n"
                        "serial=serial\ndefault_md=sha256\npolicy=p\ncopy_extensions=copy\n"
                        "[p]\ncommonName=supplied\n")
            open(os.path.join(pki, "index.txt"), "w").close()
            with open(os.path.join(pki, "serial"), "w") as f:
                f.write("1000\n")
            openssl("ca", "-batch", "-config", "ca.cnf", "-cert", "ca.pem", "-keyfile", "ca.key",
                    "-in", f"{name}.csr", "-out", f"{name}.pem", "-startdate", start,
                    "-enddate", "20200102000000Z", "-extfile", f"{name}.ext", cwd=pki)
        out[name] = (os.path.join(pki, f"{name}.pem"), os.path.join(pki, f"{name}.key"))

    leaf("good", "localhost", "DNS:localhost,IP:127.0.0.1")
    leaf("good2", "localhost", "DNS:localhost,IP:127.0.0.1")
    leaf("wrongname", "other.example", "DNS:other.example")
    leaf("expired", "localhost", "DNS:localhost,IP:127.0.0.1", start="20200101000000Z")
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", "self.key", "-out", "self.pem", "-days", "30", "-subj", "/CN=localhost",
            "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", cwd=pki)
    out["selfsigned"] = (os.path.join(pki, "self.pem"), os.path.join(pki, "self.key"))
    return out, os.path.join(pki, "ca.pem")


def passwd_line(bins, user, password):
    r = subprocess.run([bins.ringpost, "passwd", user], input=(password + "\n").encode(),
                       capture_output=True, timeout=60, check=True)
    return r.stdout.decode()


def maillog(pf):
    try:
        with open(pf.maillog, errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def client_context(ca):
    ctx = ssl.create_default_context(cafile=ca)
    ctx.check_hostname = True
    return ctx


class TlsDestination(hl.ScriptedServer):
    """An SMTP server whose TLS is OpenSSL's (Python's ssl module). It offers
    STARTTLS when `offer_tls`, accepts every message and remembers, per
    message, the TLS version it arrived under ("" for plaintext)."""

    def __init__(self, port, cert, key, offer_tls=True, break_tls=False):
        super().__init__(port)
        self.break_tls = break_tls  # answer 220 to STARTTLS, then garbage
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(cert, key)
        self.offer_tls = offer_tls
        self.messages = []  # (tls version, recipients)
        self.handshakes = 0

    def serve(self, conn):
        self.tls_socks = getattr(self, "tls_socks", [])
        try:
            self._converse(conn)
        finally:
            for t in self.tls_socks:
                t.close()

    def _converse(self, conn):
        conn.settimeout(10)
        f = conn.makefile("rb")
        out = conn
        out.sendall(b"220 dest.test ESMTP\r\n")
        tls_version, rcpts = "", []
        while not self.stop_event.is_set():
            line = f.readline()
            if not line:
                return
            verb = line[:4].upper()
            if verb in (b"EHLO", b"HELO"):
                caps = [b"250-dest.test", b"250-PIPELINING"]
                if self.offer_tls and not tls_version:
                    caps.append(b"250-STARTTLS")
                caps.append(b"250 8BITMIME")
                out.sendall(b"\r\n".join(caps) + b"\r\n")
            elif line.upper().startswith(b"STARTTLS"):
                out.sendall(b"220 2.0.0 go ahead\r\n")
                if self.break_tls:
                    # Garbage where the ServerHello belongs, once the
                    # ClientHello has started to arrive (sent with the 220,
                    # the relay would drop it as plaintext after STARTTLS);
                    # then wait for the relay to give up (closing with its
                    # ClientHello unread would reset the connection instead).
                    conn.recv(1)
                    out.sendall(b"this is not a TLS record\r\n")
                    conn.shutdown(socket.SHUT_WR)
                    while conn.recv(4096):
                        pass
                    return
                try:
                    tls = self.ctx.wrap_socket(conn, server_side=True)
                except (ssl.SSLError, OSError):
                    return
                with self.lock:
                    self.handshakes += 1
                    self.tls_socks.append(tls)
                tls_version = tls.version()
                out, f = tls, tls.makefile("rb")
            elif verb == b"MAIL":
                rcpts = []
                out.sendall(b"250 2.1.0 ok\r\n")
            elif verb == b"RCPT":
                rcpts.append(line.split(b"<", 1)[1].split(b">", 1)[0].decode())
                out.sendall(b"250 2.1.5 ok\r\n")
            elif verb == b"DATA":
                out.sendall(b"354 go\r\n")
                while True:
                    l = f.readline()
                    if not l or l == b".\r\n":
                        break
                with self.lock:
                    self.messages.append((tls_version, rcpts))
                out.sendall(b"250 2.0.0 queued\r\n")
            elif verb == b"QUIT":
                out.sendall(b"221 2.0.0 bye\r\n")
                return
            else:
                out.sendall(b"250 2.0.0 ok\r\n")


class TlsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.bins = h.Binaries(ARGV)
        cls.wd = h.workdir("tls")
        cls.certs, cls.ca = make_pki(cls.wd)
        cls.users = os.path.join(cls.wd, "users")
        with open(cls.users, "w") as f:
            f.write(passwd_line(cls.bins, USER, PASSWORD))

    def start(self, name, sink_port, *extra):
        wd = os.path.join(self.wd, name)
        os.makedirs(wd)
        port, tls_port = h.free_port(), h.free_port()
        cert, key = self.certs["good"]
        relay = h.start_relay(self.bins, wd, port, sink_port, f"--tls_cert={cert}",
                              f"--tls_key={key}", f"--listen_tls=127.0.0.1:{tls_port}",
                              f"--auth_users={self.users}", *extra)
        h.wait_port(tls_port, proc=relay)
        return wd, relay, port, tls_port

    def test_starttls_auth_and_relay_from_outside_relay_networks(self):
        sink_port = h.free_port()
        sink = h.start_sink(self.bins, self.wd, sink_port, name="sink-auth")
        wd, relay, port, _ = self.start("auth", sink_port, "--relay_networks=192.0.2.0/24")
        try:
            with smtplib.SMTP("127.0.0.1", port, timeout=30) as s:
                s.ehlo("client.test")
                self.assertTrue(s.has_extn("starttls"))
                self.assertFalse(s.has_extn("auth"))  # never over plaintext
                code, _ = s.docmd("AUTH", "PLAIN")
                self.assertEqual(code, 538)
                s.starttls(context=client_context(self.ca))
                s.ehlo("client.test")
                self.assertFalse(s.has_extn("starttls"))
                self.assertIn("PLAIN", s.esmtp_features["auth"].upper())
                with self.assertRaises(smtplib.SMTPAuthenticationError) as ctx:
                    s.login(USER, "wrong")
                self.assertEqual(ctx.exception.smtp_code, 535)
                self.assertIn(b"5.7.8", ctx.exception.smtp_error)
                s.login(USER, PASSWORD)
                self.assertEqual(
                    s.sendmail("a@origin.test", ["b@dest.test"], b"Subject: tls\r\n\r\nhi\r\n"), {})
            h.wait_for(lambda: h.count_types(h.delivery_log(wd)).get("Delivery", 0) >= 1,
                       timeout=20, what="Delivery record")
        finally:
            self.assertEqual(relay.stop(), 0)
            sink.stop()
        rec = [r for r in h.delivery_log(wd) if r["type"] == "Reception"][0]
        self.assertTrue(rec["tls"])
        self.assertEqual(rec["auth_user"], USER)
        self.assertIn(rec["tls_version"], ("TLSv1.2", "TLSv1.3"))

    def test_implicit_tls_swaks_and_openssl(self):
        if shutil.which("swaks") is None:
            self.fail("swaks is not installed (tools/packages lists it)")
        sink_port = h.free_port()
        sink = h.start_sink(self.bins, self.wd, sink_port, name="sink-implicit")
        wd, relay, port, tls_port = self.start("implicit", sink_port)
        try:
            base = ["swaks", "--server", "127.0.0.1", "--from", "a@origin.test",
                    "--to", "b@dest.test", "--helo", "client.test", "--timeout", "20"]
            for extra in (["--port", str(port), "--tls"],
                          ["--port", str(tls_port), "--tls-on-connect"],
                          ["--port", str(port), "--tls", "--auth", "PLAIN",
                           "--auth-user", USER, "--auth-password", PASSWORD],
                          ["--port", str(tls_port), "--tls-on-connect", "--auth", "LOGIN",
                           "--auth-user", USER, "--auth-password", PASSWORD]):
                r = subprocess.run(base + extra, capture_output=True, timeout=60)
                self.assertEqual(r.returncode, 0, (extra, r.stdout[-2000:], r.stderr[-2000:]))
            # openssl s_client: STARTTLS, and the chain verifies against the CA.
            r = subprocess.run(
                ["openssl", "s_client", "-starttls", "smtp", "-connect", f"127.0.0.1:{port}",
                 "-CAfile", self.ca, "-verify_return_error", "-verify_hostname", "localhost"],
                input=b"QUIT\r\n", capture_output=True, timeout=60)
            self.assertEqual(r.returncode, 0, r.stderr[-2000:])
            self.assertIn(b"Verify return code: 0 (ok)", r.stdout)
            # TLS 1.1 is refused.
            r = subprocess.run(
                ["openssl", "s_client", "-connect", f"127.0.0.1:{tls_port}", "-tls1_1"],
                input=b"", capture_output=True, timeout=60)
            self.assertNotEqual(r.returncode, 0)
            h.wait_for(lambda: h.count_types(h.delivery_log(wd)).get("Delivery", 0) >= 4,
                       timeout=30, what="four deliveries")
        finally:
            self.assertEqual(relay.stop(), 0)
            sink.stop()
        auth = [r.get("auth_user") for r in h.delivery_log(wd) if r["type"] == "Reception"]
        self.assertEqual(sorted(a or "" for a in auth), ["", "", USER, USER])

    def test_plaintext_pipelined_after_starttls_is_discarded(self):
        sink_port = h.free_port()
        sink = h.start_sink(self.bins, self.wd, sink_port, name="sink-cve")
        wd, relay, port, _ = self.start("cve", sink_port)
        try:
            sock = socket.create_connection(("127.0.0.1", port), timeout=20)
            f = sock.makefile("rb")
            self.assertTrue(f.readline().startswith(b"220"))
            sock.sendall(b"EHLO client.test\r\n")
            while True:
                line = f.readline()
                if line[3:4] == b" ":
                    break
            sock.sendall(b"STARTTLS\r\nRSET\r\n")  # one write (CVE-2011-0411)
            self.assertTrue(f.readline().startswith(b"220"))
            tls = client_context(self.ca).wrap_socket(sock, server_hostname="localhost")
            tf = tls.makefile("rb")
            tls.sendall(b"NOOP\r\n")
            # The first reply inside TLS answers NOOP, not an injected RSET.
            self.assertEqual(tf.readline(), b"250 2.0.0 Ok\r\n")
            tls.sendall(b"QUIT\r\n")
            self.assertTrue(tf.readline().startswith(b"221"))
            tls.close()
        finally:
            self.assertEqual(relay.stop(), 0)
            sink.stop()

    def test_auth_failures_get_421_after_a_delay(self):
        sink_port = h.free_port()
        sink = h.start_sink(self.bins, self.wd, sink_port, name="sink-limit")
        wd, relay, port, tls_port = self.start("limit", sink_port, "--auth_failures_max=2",
                                               "--auth_failure_delay=1s")
        try:
            with smtplib.SMTP_SSL("127.0.0.1", tls_port, timeout=30,
                                  context=client_context(self.ca)) as s:
                s.ehlo("client.test")
                wrong = "PLAIN AGFsaWNlAHdyb25n"  # \0alice\0wrong
                for _ in range(2):
                    self.assertEqual(s.docmd("AUTH", wrong)[0], 535)
                started = time.monotonic()
                code, text = s.docmd("AUTH", wrong)
                self.assertEqual(code, 421, text)
                self.assertGreaterEqual(time.monotonic() - started, 0.9)
        finally:
            self.assertEqual(relay.stop(), 0)
            sink.stop()

    def outbound(self, name, cert, level, offer_tls=True, break_tls=False):
        """Relay -> TlsDestination at `level`; returns (destination, log)."""
        dest_port = h.free_port()
        dest = TlsDestination(dest_port, *self.certs[cert], offer_tls=offer_tls,
                              break_tls=break_tls)
        dest.start()
        wd = os.path.join(self.wd, name)
        os.makedirs(wd)
        port = h.free_port()
        relay = h.start_relay(self.bins, wd, port, dest_port, f"--outbound_tls={level}",
                              f"--tls_ca_file={self.ca}", "--retry_min=1h", "--retry_max=1h")
        try:
            with smtplib.SMTP("127.0.0.1", port, timeout=30) as s:
                s.sendmail("a@origin.test", ["b@dest.test"], b"Subject: out\r\n\r\nhi\r\n")
            h.wait_for(lambda: any(r["type"] in ("Delivery", "TransientFailure")
                                   for r in h.delivery_log(wd)),
                       timeout=30, what="an outbound outcome")
        finally:
            self.assertEqual(relay.stop(), 0)
            dest.shutdown()
        return dest, [r for r in h.delivery_log(wd) if r["type"] != "Reception"]

    def test_outbound_levels(self):
        dest, log = self.outbound("verify-good", "good", "verify")
        self.assertEqual(log[0]["type"], "Delivery", log)
        self.assertTrue(log[0]["tls"] and log[0]["tls_verified"], log)
        self.assertEqual(dest.messages[0][0], log[0]["tls_version"])
        for cert, why in (("selfsigned", "untrusted certificate"),
                          ("expired", "certificate expired"),
                          ("wrongname", "certificate name mismatch")):
            with self.subTest(cert=cert):
                dest, log = self.outbound("verify-" + cert, cert, "verify")
                self.assertEqual(log[0]["type"], "TransientFailure", log)
                self.assertEqual(log[0]["enhanced"], "4.7.5", log)
                self.assertIn(why, log[0]["response"])
                self.assertEqual(dest.messages, [])
        # The same certificates are fine under `encrypt`.
        dest, log = self.outbound("encrypt-self", "selfsigned", "encrypt")
        self.assertEqual(log[0]["type"], "Delivery", log)
        self.assertTrue(log[0]["tls"])
        self.assertFalse(log[0]["tls_verified"])
        # Downgrade: the peer stops offering STARTTLS.
        dest, log = self.outbound("encrypt-downgrade", "good", "encrypt", offer_tls=False)
        self.assertEqual(log[0]["type"], "TransientFailure", log)
        self.assertEqual(log[0]["enhanced"], "4.7.5", log)
        self.assertIn("does not offer STARTTLS", log[0]["response"])
        # `may` whose handshake fails: the same host again, in plaintext; no
        # failure is logged. `encrypt` defers instead.
        dest, log = self.outbound("may-broken", "good", "may", break_tls=True)
        self.assertEqual([r["type"] for r in log], ["Delivery"], log)
        self.assertFalse(log[0]["tls"])
        self.assertEqual(dest.messages, [("", ["b@dest.test"])])
        self.assertGreaterEqual(dest.connections, 2)
        dest, log = self.outbound("encrypt-broken", "good", "encrypt", break_tls=True)
        self.assertEqual(log[0]["type"], "TransientFailure", log)
        self.assertEqual(log[0]["enhanced"], "4.7.5", log)
        self.assertIn("TLS handshake failed", log[0]["response"])
        # `may` without STARTTLS delivers in plaintext.
        dest, log = self.outbound("may-plain", "good", "may", offer_tls=False)
        self.assertEqual(log[0]["type"], "Delivery", log)
        self.assertFalse(log[0]["tls"])

    def test_sighup_reloads_the_certificate_without_dropping_sessions(self):
        sink_port = h.free_port()
        sink = h.start_sink(self.bins, self.wd, sink_port, name="sink-reload")
        wd = os.path.join(self.wd, "reload")
        os.makedirs(wd)
        live_cert, live_key = os.path.join(wd, "cert.pem"), os.path.join(wd, "key.pem")
        shutil.copy(self.certs["good"][0], live_cert)
        shutil.copy(self.certs["good"][1], live_key)
        port, tls_port = h.free_port(), h.free_port()
        relay = h.start_relay(self.bins, wd, port, sink_port, f"--tls_cert={live_cert}",
                              f"--tls_key={live_key}", f"--listen_tls=127.0.0.1:{tls_port}")
        h.wait_port(tls_port, proc=relay)

        def served_cert():
            with socket.create_connection(("127.0.0.1", tls_port), timeout=20) as raw:
                with client_context(self.ca).wrap_socket(raw, server_hostname="localhost") as t:
                    return t.getpeercert(binary_form=True)

        def pem_der(path):
            with open(path) as f:
                return ssl.PEM_cert_to_DER_cert(f.read())

        def sighup_and_wait(text, count):
            relay.popen.send_signal(signal.SIGHUP)
            h.wait_for(lambda: relay.stderr().count(text) >= count, timeout=20,
                       what=f"'{text}' in the relay's stderr")

        try:
            self.assertEqual(served_cert(), pem_der(self.certs["good"][0]))
            with smtplib.SMTP_SSL("127.0.0.1", tls_port, timeout=30,
                                  context=client_context(self.ca)) as open_session:
                open_session.ehlo("client.test")
                shutil.copy(self.certs["good2"][0], live_cert)
                shutil.copy(self.certs["good2"][1], live_key)
                sighup_and_wait("SIGHUP: reloaded", 1)
                self.assertEqual(served_cert(), pem_der(self.certs["good2"][0]))
                # A file that does not load keeps the pair in use.
                with open(live_cert, "w") as f:
                    f.write("not a certificate\n")
                sighup_and_wait("SIGHUP: reload refused, keeping the running configuration", 1)
                self.assertIn(live_cert, relay.stderr().splitlines()[-1])
                self.assertEqual(served_cert(), pem_der(self.certs["good2"][0]))
                # The session from before the reloads goes on.
                self.assertEqual(open_session.noop()[0], 250)
                self.assertEqual(open_session.sendmail("a@origin.test", ["b@dest.test"],
                                                       b"Subject: r\r\n\r\nx\r\n"), {})
        finally:
            self.assertEqual(relay.stop(), 0)
            sink.stop()

    def test_handshake_timeout_and_listener_requirements(self):
        sink_port = h.free_port()
        sink = h.start_sink(self.bins, self.wd, sink_port, name="sink-require")
        port = h.free_port()
        wd, relay, port, tls_port = self.start(
            "require", sink_port, "--tls_handshake_timeout=300ms")
        try:
            # A client that never starts its handshake is closed.
            with socket.create_connection(("127.0.0.1", tls_port), timeout=20) as raw:
                self.assertEqual(raw.recv(1), b"")
        finally:
            self.assertEqual(relay.stop(), 0)
        wd2 = os.path.join(self.wd, "require2")
        os.makedirs(wd2)
        port = h.free_port()
        cert, key = self.certs["good"]
        relay = h.start_relay(self.bins, wd2, port, sink_port, f"--tls_cert={cert}",
                              f"--tls_key={key}", f"--auth_users={self.users}",
                              f"--require_tls=127.0.0.1:{port}",
                              f"--require_auth=127.0.0.1:{port}")
        try:
            with smtplib.SMTP("127.0.0.1", port, timeout=30) as s:
                s.ehlo("client.test")
                code, text = s.docmd("MAIL", "FROM:<a@origin.test>")
                self.assertEqual((code, text[:5]), (530, b"5.7.0"), text)
                s.starttls(context=client_context(self.ca))
                s.ehlo("client.test")
                code, text = s.docmd("MAIL", "FROM:<a@origin.test>")
                self.assertEqual(code, 530, text)
                self.assertIn(b"Authentication required", text)
                s.login(USER, PASSWORD)
                self.assertEqual(s.sendmail("a@origin.test", ["b@dest.test"],
                                            b"Subject: q\r\n\r\nx\r\n"), {})
        finally:
            self.assertEqual(relay.stop(), 0)
            sink.stop()

    def test_postfix_as_tls_destination(self):
        why = harness_postfix.postfix_missing()
        if why is not None:
            self.fail(why)
        cert, key = self.certs["good"]
        sink_port, postfix_port = h.free_port(), h.free_port()
        sink = h.start_sink(self.bins, self.wd, sink_port, name="sink-postfix")
        # Postfix's unix sockets live under its queue directory: a path short
        # enough for sun_path (108 bytes), which TEST_TMPDIR may not be.
        pf_dir = tempfile.mkdtemp(prefix="rp-pf-", dir="/tmp")
        self.addCleanup(shutil.rmtree, pf_dir, ignore_errors=True)
        # Readable by Postfix's smtpd (the test's own directories are 0700).
        os.chmod(pf_dir, 0o755)
        for path in (cert, key):
            shutil.copy(path, pf_dir)
            os.chmod(os.path.join(pf_dir, os.path.basename(path)), 0o644)
        cert, key = (os.path.join(pf_dir, os.path.basename(p)) for p in (cert, key))
        pf = harness_postfix.PrivatePostfix(
            os.path.join(pf_dir, "pf"), sink_port, process_limit=20, dest_concurrency=2,
            main_cf_extra="\n".join([
                f"smtpd_tls_cert_file = {cert}",
                f"smtpd_tls_key_file = {key}",
                "smtpd_tls_security_level = may",
                "smtpd_tls_loglevel = 1",
                "smtpd_tls_received_header = yes",
            ]))
        wd = os.path.join(self.wd, "to-postfix")
        os.makedirs(wd)
        try:
            pf.start(postfix_port)
            relay_port = h.free_port()
            relay = h.start_relay(self.bins, wd, relay_port, postfix_port,
                                  "--outbound_tls=verify", f"--tls_ca_file={self.ca}")
            try:
                with smtplib.SMTP("127.0.0.1", relay_port, timeout=30) as s:
                    for i in range(3):
                        s.sendmail("a@origin.test", [f"b{i}@dest.test"],
                                   b"Subject: via postfix\r\n\r\nhi\r\n")
                h.wait_for(lambda: h.count_types(h.delivery_log(wd)).get("Delivery", 0) >= 3,
                           timeout=60, what="three deliveries to Postfix")
                h.wait_for(lambda: maillog(pf).count("status=sent") >= 3, timeout=60,
                           what="Postfix relayed three messages to the sink")
            finally:
                self.assertEqual(relay.stop(), 0)
        finally:
            pf.stop()
            sink.stop()
        deliveries = [r for r in h.delivery_log(wd) if r["type"] == "Delivery"]
        for r in deliveries:
            self.assertTrue(r["tls"] and r["tls_verified"], r)
            self.assertIn(r["tls_version"], ("TLSv1.2", "TLSv1.3"))
        self.assertEqual(h.read_json(f"{self.wd}/sink-postfix.report.json")["messages"], 3)
        log = maillog(pf)
        self.assertIn("TLS connection established from unknown[127.0.0.1]: "
                      f"{deliveries[0]['tls_version']} with cipher {deliveries[0]['tls_cipher']}",
                      log)


if __name__ == "__main__":
    ARGV = sys.argv
    unittest.main(argv=[sys.argv[0]], verbosity=2)
