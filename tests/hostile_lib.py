"""Shared helpers for the hostile-client and fault tests (tests/hostile_*,
tests/fault_*): a raw SMTP client that sends exact bytes and reads exact
replies, the "normal client" every such test must still serve, and a relay +
sink pair that is always torn down by PID.

Every socket has a timeout and every wait is bounded.
"""
import collections
import os
import resource
import smtplib
import socket
import subprocess
import sys
import threading
import time

from tests.lib import harness as h

TEST_ID_HEADER = "X-Ringpost-Test-Id"


class RawClient:
    """One SMTP connection driven byte by byte."""

    def __init__(self, port, host="127.0.0.1", source=None, timeout=10.0):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        if source:
            self.sock.bind((source, 0))
        self.sock.connect((host, port))
        self.buf = b""

    def send(self, data):
        self.sock.sendall(data)

    def _line(self, deadline):
        while b"\r\n" not in self.buf:
            if time.monotonic() > deadline:
                raise TimeoutError(f"no reply line; have {self.buf[:200]!r}")
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError(f"closed; have {self.buf[:200]!r}")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def reply(self, timeout=10.0):
        """(code, text) of the next complete reply; text lines joined by \\n."""
        deadline = time.monotonic() + timeout
        lines = []
        while True:
            line = self._line(deadline)
            lines.append(line[4:].decode("utf-8", "replace"))
            if len(line) < 4 or line[3:4] == b" ":
                return int(line[:3]), "\n".join(lines)

    def replies(self, n, timeout=10.0):
        return [self.reply(timeout) for _ in range(n)]

    def cmd(self, line, timeout=10.0):
        self.send(line if isinstance(line, bytes) else line.encode() + b"\r\n")
        return self.reply(timeout)

    def hello(self, name="hostile.test"):
        code, _ = self.reply()
        assert code == 220, code
        code, _ = self.cmd(f"EHLO {name}")
        assert code == 250, code

    def closed_by_peer(self, timeout=10.0):
        """True once the relay closed the connection (EOF or reset)."""
        deadline = time.monotonic() + timeout
        self.sock.settimeout(0.5)
        while time.monotonic() < deadline:
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                continue
            except (ConnectionResetError, BrokenPipeError):
                return True
            if not chunk:
                return True
            self.buf += chunk
        return False

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def message_bytes(test_id, body="normal body\r\n"):
    return (f"From: sender@origin.test\r\nSubject: {test_id}\r\n"
            f"{TEST_ID_HEADER}: {test_id}\r\n\r\n{body}").encode()


def send_normal(port, test_id, rcpt="user@dest.test", source=None, timeout=30,
                body="normal body\r\n"):
    """A well-behaved client: one message through smtplib. Returns the
    relay's queue id from "250 2.0.0 Ok: queued as ID"."""
    kw = {"source_address": (source, 0)} if source else {}
    with smtplib.SMTP("127.0.0.1", port, timeout=timeout, **kw) as s:
        code, _ = s.ehlo("normal.test")
        assert code == 250, code
        s.mail("sender@origin.test")
        code, msg = s.rcpt(rcpt)
        assert code == 250, (code, msg)
        code, msg = s.data(message_bytes(test_id, body))
        assert code == 250, (code, msg)
        return queued_id(msg.decode())


def try_send(port, test_id, body, helo="normal.test"):
    """One message through the relay: (250, relay queue id), or (code, text)
    of the first reply that refused it (MAIL, RCPT or DATA)."""
    try:
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as s:
            s.ehlo(helo)
            for step in (lambda: s.mail("sender@origin.test"),
                         lambda: s.rcpt("user@dest.test")):
                code, text = step()
                if code != 250:
                    return code, text.decode()
            code, text = s.data(message_bytes(test_id, body))
            if code != 250:
                return code, text.decode()
            return 250, queued_id(text.decode())
    except smtplib.SMTPResponseException as e:
        return e.smtp_code, e.smtp_error.decode()


def queued_id(reply_text):
    """The ID in "2.0.0 Ok: queued as ID"."""
    assert "queued as" in reply_text, reply_text
    return reply_text.split()[-1]


def sink_ids(wd, name="sink"):
    """Test ids the sink received (X-Ringpost-Test-Id), with counts. The sink
    writes this file when it exits: read it after stopping the sink."""
    return collections.Counter(h.read_lines(f"{wd}/{name}.ids"))


def delivered_ids(wd):
    """Relay queue ids with a Delivery record, with counts (live)."""
    return collections.Counter(r["id"] for r in h.delivery_log(wd, torn_ok=True)
                               if r["type"] == "Delivery")


def wait_delivered(wd, relay_ids, timeout=60, recipients=1):
    """Waits for `recipients` Delivery records of each relay queue id."""
    relay_ids = list(relay_ids)
    h.wait_for(lambda: all(delivered_ids(wd)[i] >= recipients for i in relay_ids),
               timeout=timeout, interval=0.2,
               what=f"Delivery of {relay_ids[:5]} in the delivery log")


class ScriptedServer(threading.Thread):
    """A TCP server on 127.0.0.1:`port` for destinations that misbehave on
    purpose: one thread per connection runs `serve(conn)` (a subclass's
    script). Every wait is bounded by `stop_event` and socket timeouts;
    shutdown() closes the listener and every connection and joins the
    threads."""

    def __init__(self, port, rcvbuf=None):
        super().__init__(daemon=True)
        self.stop_event = threading.Event()
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if rcvbuf:
            self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.lsock.bind(("127.0.0.1", port))
        self.lsock.listen(64)
        self.lsock.settimeout(0.2)
        self.lock = threading.Lock()
        self.connections = 0
        self.conns = []
        self.threads = []

    def serve(self, conn):
        raise NotImplementedError

    def run(self):
        while not self.stop_event.is_set():
            try:
                conn, _ = self.lsock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with self.lock:
                self.connections += 1
                self.conns.append(conn)
            t = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            self.threads.append(t)
            t.start()

    def _serve(self, conn):
        try:
            self.serve(conn)
        except OSError:
            pass
        finally:
            try:
                conn.close()
            except OSError:
                pass

    def shutdown(self):
        self.stop_event.set()
        self.lsock.close()
        self.join(10)
        with self.lock:
            conns = list(self.conns)
        for c in conns:
            try:
                c.close()
            except OSError:
                pass
        for t in self.threads:
            t.join(10)


def mount_tmpfs(test, wd, size):
    """A tmpfs of `size` mounted under `wd` for this test (unmounted when the
    test ends); skips the test where it cannot be mounted (not root)."""
    if os.geteuid() != 0:
        test.skipTest("mounting a tmpfs needs root")
    mnt = os.path.join(wd, "spool-tmpfs")
    os.makedirs(mnt)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", mnt],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        test.skipTest(f"cannot mount a tmpfs: {mounted.stderr.strip()}")
    test.addCleanup(subprocess.run, ["umount", mnt], capture_output=True)
    return mnt


def raise_nofile(wanted):
    """Raises this process's RLIMIT_NOFILE soft limit (children inherit it)
    toward `wanted`; returns the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = min(max(soft, wanted), hard)
    if target > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def proc_limit_nofile(pid):
    with open(f"/proc/{pid}/limits") as f:
        for line in f:
            if line.startswith("Max open files"):
                return int(line.split()[3])
    return -1


def vm_rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return -1


class RelayUnderTest:
    """A sink and a relay on free ports; close() stops both by PID and
    returns the relay's exit code (SIGTERM drain)."""

    def __init__(self, bins, prefix, relay_flags=(), sink_flags=()):
        self.bins = bins
        self.wd = h.workdir(prefix)
        self.sink_port, self.port = h.free_port(), h.free_port()
        self.sink = h.start_sink(bins, self.wd, self.sink_port, *sink_flags)
        try:
            self.relay = h.start_relay(bins, self.wd, self.port, self.sink_port,
                                       *relay_flags)
        except BaseException:
            self.sink.stop()
            raise
        self.exit_code = None

    def log(self):
        return h.delivery_log(self.wd)

    def counts(self):
        return h.count_types(self.log())

    def close(self):
        if self.exit_code is None:
            try:
                self.exit_code = self.relay.stop(timeout=60)
            finally:
                self.sink.stop()
        return self.exit_code


def report(name, **figures):
    """One machine-readable line per scenario for docs/reliability.md."""
    print(f"RELIABILITY {name}: " + ", ".join(f"{k}={v}" for k, v in figures.items()),
          file=sys.stderr)
