"""A private Postfix instance for bench/harness.py.

Debian's Postfix (package `postfix`), configured from bench/postfix/*.cf.in
as a relay from a free loopback port to the benchmark's sink. Its
config_directory, queue_directory, data_directory and log all live under the
harness's temporary directory; it is started with `postfix -c DIR start` and
stopped with `postfix -c DIR stop`. The system's own instance (/etc/postfix)
is never read for settings, started, stopped or otherwise touched.

The instance starts inside a cgroup (when there is one) and pinned to the
given CPUs; every Postfix process (master, smtpd, cleanup, trivial-rewrite,
qmgr, smtp, postlogd, ...) inherits both, so its CPU is the cgroup's usage.
"""
import os
import pty
import pwd
import re
import shutil
import subprocess
import time

from harness_procs import (descendants, preexec, read_stat, reap_orphans,
                           stop_process, wait_port)

HERE = os.path.dirname(os.path.abspath(__file__))
TEMPLATES = os.path.join(HERE, "postfix")


def postfix_missing():
    """None when Postfix can run here, else why not."""
    if shutil.which("postfix") is None and not os.path.exists("/usr/sbin/postfix"):
        return "postfix is not installed (tools/packages lists it; tools/dev installs it)"
    if os.geteuid() != 0:
        return "a private Postfix instance needs root"
    try:
        pwd.getpwnam("postfix")
    except KeyError:
        return "no 'postfix' user"
    return None


def postfix_version():
    try:
        out = subprocess.run(["postconf", "-d", "-h", "mail_version"], capture_output=True,
                             text=True, timeout=20)
        return out.stdout.strip() or None
    except (OSError, subprocess.TimeoutExpired):
        return None


def _run_on_pty(argv, timeout, preexec_fn=None):
    """Run a Postfix command with stderr on a pseudo-terminal: `postfix` only
    prints its diagnostics when stderr is a terminal. Returns (rc, text)."""
    master, slave = pty.openpty()
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=slave, stderr=slave,
                                preexec_fn=preexec_fn)
    finally:
        os.close(slave)
    chunks = []
    deadline = time.monotonic() + timeout
    os.set_blocking(master, False)
    while True:
        try:
            data = os.read(master, 65536)
            if data:
                chunks.append(data)
        except BlockingIOError:
            pass
        except OSError:  # EIO: every writer closed the terminal
            pass
        if proc.poll() is not None:
            break
        if time.monotonic() >= deadline:
            stop_process(proc, timeout=5)
            chunks.append(b"\n(harness: timed out)\n")
            break
        time.sleep(0.05)
    try:
        while True:
            data = os.read(master, 65536)
            if not data:
                break
            chunks.append(data)
    except OSError:
        pass
    os.close(master)
    return proc.returncode, b"".join(chunks).decode(errors="replace").replace("\r", "")


class PrivatePostfix:
    def __init__(self, workdir, sink_port, cpus=None, cgroup=None, process_limit=300,
                 dest_concurrency=32, main_cf_extra=""):
        self.dir = workdir
        self.conf = os.path.join(workdir, "conf")
        self.queue = os.path.join(workdir, "queue")
        self.data = os.path.join(workdir, "data")
        self.maillog = os.path.join(workdir, "maillog")
        self.sink_port = sink_port
        self.cpus = cpus
        self.cgroup = cgroup
        self.port = None
        self.master_pid = None
        self.process_limit = process_limit
        self.dest_concurrency = dest_concurrency
        self.main_cf_extra = main_cf_extra  # appended to main.cf (tests: TLS)
        self.started = False

    def _render(self, name, values):
        with open(os.path.join(TEMPLATES, name + ".in")) as f:
            text = f.read()
        for k, v in values.items():
            text = text.replace(f"@{k}@", str(v))
        left = re.search(r"@[A-Z_]+@", text)
        if left:
            raise RuntimeError(f"unfilled placeholder {left.group(0)} in {name}.in")
        with open(os.path.join(self.conf, name), "w") as f:
            f.write(text)

    def start(self, port, timeout=60.0):
        """Configure and start; raises RuntimeError with Postfix's words."""
        self.port = port
        # postfix(1) checks ownership and permissions of every path component.
        os.makedirs(self.conf, exist_ok=True)
        os.makedirs(self.data, exist_ok=True)
        os.makedirs(self.queue, exist_ok=True)  # postfix-script fills it in
        for d in (self.dir, self.conf, self.queue):
            os.chmod(d, 0o755)
        pw = pwd.getpwnam("postfix")
        os.chown(self.data, pw.pw_uid, pw.pw_gid)
        values = {"CONFIG_DIR": self.conf, "QUEUE_DIR": self.queue, "DATA_DIR": self.data,
                  "SINK_PORT": self.sink_port, "SMTPD_PORT": port,
                  "MAILLOG": self.maillog, "MAILLOG_PREFIX": self.dir,
                  "PROCESS_LIMIT": self.process_limit,
                  "DEST_CONCURRENCY": self.dest_concurrency}
        self._render("main.cf", values)
        if self.main_cf_extra:
            with open(os.path.join(self.conf, "main.cf"), "a") as f:
                f.write("\n" + self.main_cf_extra + "\n")
        self._render("master.cf", values)
        rc, text = _run_on_pty(["postfix", "-c", self.conf, "start"], timeout,
                               preexec_fn=preexec(self.cpus, self.cgroup))
        self.started = True  # from here on, stop() must run
        if rc != 0:
            raise RuntimeError(f"postfix start exited {rc}: {text.strip()[-600:]}")
        pid_file = os.path.join(self.queue, "pid", "master.pid")
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and self.master_pid is None:
            try:
                with open(pid_file) as f:
                    self.master_pid = int(f.read().split()[0])
            except (OSError, ValueError, IndexError):
                time.sleep(0.05)
        if self.master_pid is None:
            raise RuntimeError("postfix started but wrote no master.pid")
        if not wait_port(port, timeout=20):
            raise RuntimeError(f"postfix smtpd does not listen on 127.0.0.1:{port}; "
                               f"log: {self.log_tail()}")

    def warnings(self):
        """Unknown-parameter and similar warnings about our main.cf."""
        try:
            out = subprocess.run(["postconf", "-c", self.conf, "-n"], capture_output=True,
                                 text=True, timeout=20)
            return [line for line in out.stderr.splitlines() if "warning" in line]
        except (OSError, subprocess.TimeoutExpired):
            return []

    def pids(self):
        if self.cgroup is not None:
            return self.cgroup.pids()
        if self.master_pid is None:
            return []
        return [self.master_pid] + descendants(self.master_pid)

    def process_cpu(self):
        """{pid: (command name, CPU µs)} of the live Postfix processes, to show
        who does the work (postlogd's share of the log, say)."""
        import harness_procs
        out = {}
        for pid in self.pids():
            try:
                with open(f"/proc/{pid}/comm") as f:
                    name = f.read().strip()
            except OSError:
                continue
            us = harness_procs.proc_cpu_us(pid)
            if us is not None:
                out[pid] = (name, us)
        return out

    def log_tail(self, n=8):
        try:
            with open(self.maillog, errors="replace") as f:
                return " | ".join(f.read().splitlines()[-n:])
        except OSError:
            return "(no log)"

    def stop(self, timeout=30.0):
        """postfix stop, bounded; then make sure no process of the instance is
        left (each one signalled by PID), and reap the daemonized master."""
        if not self.started:
            return True
        _run_on_pty(["postfix", "-c", self.conf, "stop"], timeout)
        deadline = time.monotonic() + timeout
        clean = True
        while time.monotonic() < deadline:
            alive = [p for p in self.pids() if (read_stat(p) or {}).get("state") not in (None, "Z")]
            if self.master_pid and (read_stat(self.master_pid) or {}).get("state") not in (None, "Z"):
                alive.append(self.master_pid)
            if not alive:
                break
            time.sleep(0.1)
        else:
            clean = False
            _run_on_pty(["postfix", "-c", self.conf, "abort"], 15)
            for p in set(self.pids()):
                try:
                    os.kill(p, 9)
                except ProcessLookupError:
                    pass
        reap_orphans()
        self.started = False
        return clean


SENT_RE = re.compile(r"postfix/smtp\[\d+\]: ([0-9A-F]+): to=<[^>]*>, relay=.*? delay=([0-9.]+),"
                     r".*? status=sent ")
FROM_RE = re.compile(r"postfix/qmgr\[\d+\]: ([0-9A-F]+): from=<([^>]*)>")


def maillog_delays_ms(path, sender):
    """End-to-end delays (ms) of messages from `sender` delivered to the sink:
    Postfix's own `delay=` (arrival in the queue to delivery, logged with
    10 ms resolution below 10 s)."""
    ids = set()
    delays = []
    try:
        with open(path, errors="replace") as f:
            lines = f.readlines()
    except OSError:
        return None
    for line in lines:
        m = FROM_RE.search(line)
        if m and m.group(2) == sender:
            ids.add(m.group(1))
    for line in lines:
        m = SENT_RE.search(line)
        if m and m.group(1) in ids:
            delays.append(float(m.group(2)) * 1000.0)
    return delays
