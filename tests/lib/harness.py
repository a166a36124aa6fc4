"""Helpers for integration tests: real processes on loopback.

Every process a test starts is tracked by PID and ended by that PID only.
Every wait is bounded in time.
"""
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest


_handed_out = set()


def _bindable(host, port):
    """True when a plain bind (no SO_REUSEADDR) to host:port succeeds, i.e. no
    socket at all holds that address: not a listener, not a connection, not a
    TIME_WAIT left by an earlier test's client bound to that source address."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((host, port))
            return True
        except OSError:
            return False


def free_port(hosts=("127.0.0.1",)):
    """A TCP port free on every address in `hosts`, that this test has not been
    given before. (The relay and the sink listen with SO_REUSEPORT, so two of
    them given the same port would silently share it: the kernel can hand the
    same free port out twice in a row. And a port free on 127.0.0.1 may still
    be held on 127.0.0.5 by a client socket that an earlier test bound there.)"""
    for _ in range(200):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind((hosts[0], 0))
            port = s.getsockname()[1]
        if port in _handed_out:
            continue
        if all(_bindable(host, port) for host in hosts):
            _handed_out.add(port)
            return port
    raise RuntimeError(f"no fresh port free on {', '.join(hosts)} after 200 tries")


def wait_port(port, timeout=20.0, host="127.0.0.1", proc=None):
    """Until host:port accepts connections. With `proc`, fail at once (with its
    stderr) if that process exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            if proc is not None and not proc.alive():
                raise RuntimeError(f"{proc.name} exited ({proc.popen.returncode}) before "
                                   f"listening on {host}:{port}: {proc.stderr()}")
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on {host}:{port} after {timeout}s")


def wait_for(predicate, timeout, interval=0.1, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what}")


class Proc:
    """A child process with its output in files under `workdir`."""

    def __init__(self, name, argv, workdir):
        self.name = name
        self.argv = argv
        self.stdout_path = os.path.join(workdir, f"{name}.stdout")
        self.stderr_path = os.path.join(workdir, f"{name}.stderr")
        self._out = open(self.stdout_path, "ab")
        self._err = open(self.stderr_path, "ab")
        self.popen = subprocess.Popen(argv, stdout=self._out, stderr=self._err,
                                      stdin=subprocess.DEVNULL)
        self.pid = self.popen.pid

    def alive(self):
        return self.popen.poll() is None

    def wait(self, timeout):
        try:
            return self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill9()
            raise TimeoutError(f"{self.name} (pid {self.pid}) did not exit in {timeout}s")

    def stop(self, timeout=30.0):
        """SIGTERM and wait; returns the exit code."""
        if self.alive():
            os.kill(self.pid, signal.SIGTERM)
        rc = self.wait(timeout)
        self._close()
        return rc

    def kill9(self):
        if self.alive():
            os.kill(self.pid, signal.SIGKILL)
            self.popen.wait(timeout=10)
        self._close()

    def _close(self):
        for f in (self._out, self._err):
            if not f.closed:
                f.close()

    def stdout(self):
        with open(self.stdout_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def stderr(self):
        with open(self.stderr_path, "rb") as f:
            return f.read().decode("utf-8", "replace")


class Binaries:
    """Paths of the built binaries, from the test's command line."""

    def __init__(self, argv):
        self.ringpost, self.sink, self.loadgen = argv[1:4]


def workdir(prefix):
    base = os.environ.get("TEST_TMPDIR") or tempfile.gettempdir()
    return tempfile.mkdtemp(prefix=prefix, dir=base)


def start_sink(bins, wd, port, *extra, name="sink"):
    p = Proc(name, [bins.sink, f"--listen=127.0.0.1:{port}",
                    f"--report={wd}/{name}.report.json",
                    f"--record_ids={wd}/{name}.ids", *extra], wd)
    wait_port(port, proc=p)
    return p


# SIGTERM drains at once: the grace a load balancer needs (drain_grace,
# 10 s by default) would only make every test's stop slower. Tests of the
# grace itself pass their own --drain_grace (the later flag wins).
DRAIN = ["--drain_grace=0"]

# Tests never query a real resolver: unless a test names its own --dns, the
# relay gets a loopback port where nothing listens (lookups fail fast).
NO_DNS = "--dns=127.0.0.1:9"


def start_relay(bins, wd, port, sink_port, *extra, name="relay", spool=None):
    spool = spool or f"{wd}/spool"
    dns = [] if any(a.startswith("--dns=") for a in extra) else [NO_DNS]
    # Its own admin port: the default (127.0.0.1:8025) would be shared by
    # every relay on the machine, other test runs' included, once the admin
    # listener exists.
    admin = ([] if any(a.startswith("--admin=") for a in extra)
             else [f"--admin=127.0.0.1:{free_port()}"])
    route = [] if sink_port is None else [f"--route=*=127.0.0.1:{sink_port}"]
    p = Proc(name, [bins.ringpost, f"--listen=127.0.0.1:{port}", f"--spool={spool}", *DRAIN,
                    f"--log={wd}/delivery.log", *route,
                    "--hostname=relay.test", *dns, *admin, *extra], wd)
    try:
        wait_port(port, proc=p)
    except (TimeoutError, RuntimeError):
        p.kill9()
        raise AssertionError("relay did not start:\n" + p.stderr())
    return p


_RECOVERED = re.compile(r"spool shard-\d+: recovered (\d+) messages")


def recovered_messages(relay, timeout=60.0):
    """Messages with undone recipients that `relay`'s spool recovered at
    start (summed over its shards), read from its log once it is ready."""
    wait_for(lambda: "ringpost: ready" in relay.stderr() or not relay.alive(),
             timeout, interval=0.05, what=f"{relay.name} ready")
    text = relay.stderr()
    found = _RECOVERED.findall(text)
    if "ringpost: ready" not in text or not found:
        raise AssertionError(f"{relay.name} did not start and report recovery:\n{text}")
    return sum(int(n) for n in found)


def wait_log_quiet(wd, quiet_s, timeout):
    """Until the delivery log has not grown for `quiet_s` seconds. Only a hint
    that a relay is done: a retry may be due later (see drain_spool)."""
    last = [-1, time.monotonic()]

    def quiet():
        n = len(read_lines(f"{wd}/delivery.log"))
        if n != last[0]:
            last[0], last[1] = n, time.monotonic()
            return False
        return time.monotonic() - last[1] > quiet_s
    wait_for(quiet, timeout, interval=0.5, what=f"the delivery log to stop growing for {quiet_s}s")


def drain_spool(bins, wd, port, sink_port, *extra, name="relay-drain", timeout=300.0,
                quiet_s=3.0):
    """Runs the relay on its spool until the spool holds no mail, and stops it.

    "Nothing more is written to the delivery log for a while" is not proof
    that the queue is empty (a message may wait for its retry, and a slow
    machine may pause longer than any quiet period). The spool itself is: each
    round starts a relay, waits for the log to go quiet, stops it (SIGTERM,
    exit 0), and the next round's relay reports how many messages it
    recovered. Done when that is 0. Returns the recovered count per round."""
    deadline = time.monotonic() + timeout
    rounds = []
    while True:
        p = start_relay(bins, wd, port, sink_port, *extra, name=f"{name}-{len(rounds)}")
        try:
            n = recovered_messages(p)
            rounds.append(n)
            if n > 0:
                wait_log_quiet(wd, quiet_s, max(1.0, deadline - time.monotonic()))
        except BaseException:
            p.kill9()
            raise
        rc = p.stop(timeout=60)
        if rc != 0:
            raise AssertionError(f"{p.name} exited {rc}:\n{p.stderr()}")
        if n == 0:
            return rounds
        if time.monotonic() > deadline:
            raise TimeoutError(f"spool not empty after {timeout}s: recovered per round {rounds}")


def run_loadgen(bins, wd, port, *extra, timeout=600, name="loadgen"):
    p = Proc(name, [bins.loadgen, f"--target=127.0.0.1:{port}", "--quiet",
                    f"--record_ids={wd}/{name}.ids", *extra], wd)
    rc = p.wait(timeout)
    p._close()
    out = p.stdout().strip().splitlines()
    summary = json.loads(out[-1]) if out else {}
    return rc, summary


def read_lines(path):
    if not os.path.exists(path):
        return []
    with open(path, "r", encoding="utf-8", errors="replace") as f:
        return [line.rstrip("\n") for line in f if line.strip()]


def delivery_log(wd, torn_ok=False):
    """The delivery log's records, complete lines only. A running relay may
    be in the middle of a write when we read: a last line without its
    newline is a record still being written, not yet a record, and is left
    for the next read. A relay killed with -9 in the middle of a log write
    leaves a partial line inside the file (the next start terminates it):
    pass torn_ok=True where a test kills the relay, to skip such lines."""
    path = f"{wd}/delivery.log"
    if not os.path.exists(path):
        return []
    with open(path, "r", encoding="utf-8", errors="replace") as f:
        text = f.read()
    lines = text.split("\n")
    lines.pop()  # "" after the last newline, or a record still being written
    records = []
    for line in lines:
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except ValueError:
            if not torn_ok:
                raise
    return records


def count_types(records):
    counts = {}
    for r in records:
        counts[r["type"]] = counts.get(r["type"], 0) + 1
    return counts


def read_json(path):
    with open(path) as f:
        return json.load(f)


def sink_report(path):
    """The sink's report file (its --report=PATH; start_sink passes
    {wd}/{name}.report.json) as a dict: the counts described in
    bench/sink_main.cc, "peers" and "ehlo_names" as dicts of name to count.
    The sink writes it at exit and on SIGUSR1 through a rename, so a read
    never sees half of one. This neither signals the sink nor waits: for a
    fresh report, unlink the file, send SIGUSR1 and wait_for this to stop
    raising OSError (see tests/admin_test.py)."""
    return read_json(path)


class RelayCase(unittest.TestCase):
    """A test case with a sink started in setUp (stopped at cleanup) and
    start(*flags) for relays routed to it."""

    WORKDIR = "relay"

    def setUp(self):
        self.bins = Binaries(sys.argv)  # the test's command line: the binaries
        self.wd = workdir(self.WORKDIR)
        self.sink_port = free_port()
        self.sink = start_sink(self.bins, self.wd, self.sink_port)
        self.addCleanup(self.sink.stop)

    def start(self, *extra):
        port = free_port()
        relay = start_relay(self.bins, self.wd, port, self.sink_port, *extra)
        return relay, port
