"""Process plumbing for bench/harness.py: CPU accounting, cgroups, perf, ports.

Everything here is bounded (every wait has a deadline) and only ever signals
processes the harness started itself, by PID.

CPU accounting, most honest first:
  * cgroup v2: each measured system (the relay, the Postfix instance) runs in
    its own cgroup under <cgroup2 mount>/ringpost-bench-<pid>/; cpu.stat
    usage_usec counts every thread and every process that ever ran in it,
    including exited children (Postfix's smtpd, cleanup, smtp...) and
    io_uring's io-wq workers.
  * /proc fallback (no cgroup2, not root): utime+stime of the process (all
    its threads) plus cutime+cstime (reaped children) plus live descendants.
"""
import ctypes
import os
import signal
import socket
import subprocess
import time

TICKS = os.sysconf("SC_CLK_TCK")
PR_SET_CHILD_SUBREAPER = 36


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=20.0, proc=None):
    """True once something accepts on 127.0.0.1:port; False on timeout or
    when `proc` exited."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            return False
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


def smtp_offers(port, keyword, timeout=5.0):
    """True/False whether the server's EHLO lists `keyword`; None when the
    server could not be asked."""
    import smtplib
    try:
        with smtplib.SMTP("127.0.0.1", port, timeout=timeout) as s:
            code, _ = s.ehlo("harness.ringpost.invalid")
            if code != 250:
                return None
            return s.has_extn(keyword)
    except (OSError, smtplib.SMTPException):
        return None


def set_subreaper():
    """Make orphaned descendants (Postfix's master daemonizes) our children, so
    we can reap them instead of leaving zombies to PID 1."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except OSError:
        return False


def reap_orphans(exclude=()):
    """waitpid() every zombie child of ours that no Popen object owns."""
    me = os.getpid()
    reaped = 0
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        pid = int(name)
        if pid in exclude:
            continue
        st = read_stat(pid)
        if st and st["ppid"] == me and st["state"] == "Z":
            try:
                os.waitpid(pid, os.WNOHANG)
                reaped += 1
            except ChildProcessError:
                pass
    return reaped


def read_stat(pid):
    """Fields of /proc/PID/stat we use; None if the process is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            text = f.read()
    except OSError:
        return None
    rest = text.rsplit(")", 1)[1].split()
    # rest[0] is field 3 (state); utime is field 14, so rest[11].
    return {"state": rest[0], "ppid": int(rest[1]), "minflt": int(rest[7]),
            "majflt": int(rest[9]),
            "utime": int(rest[11]), "stime": int(rest[12]),
            "cutime": int(rest[13]), "cstime": int(rest[14])}


def proc_cpu_us(pid):
    """utime+stime of the process (all threads), microseconds; None if gone."""
    st = read_stat(pid)
    if st is None:
        return None
    return (st["utime"] + st["stime"]) * 1e6 / TICKS


def children_map():
    kids = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            st = read_stat(int(name))
            if st:
                kids.setdefault(st["ppid"], []).append(int(name))
    return kids


def descendants(pid):
    kids, out, todo = children_map(), [], [pid]
    while todo:
        p = todo.pop()
        for c in kids.get(p, []):
            out.append(c)
            todo.append(c)
    return out


def tree_cpu_us(pid):
    """/proc fallback for a process tree: the root's own time, the time of its
    reaped children, and every live descendant's own time."""
    st = read_stat(pid)
    if st is None:
        return None
    ticks = st["utime"] + st["stime"] + st["cutime"] + st["cstime"]
    for d in descendants(pid):
        s = read_stat(d)
        if s:
            ticks += s["utime"] + s["stime"]
    return ticks * 1e6 / TICKS


def status_kib(pid, key):
    """A 'kB' line of /proc/PID/status (VmHWM, VmRSS), in KiB; None if absent."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def pss_kib(pids):
    """Sum of Pss over the processes (shared pages split fairly)."""
    total, seen = 0, 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Pss:"):
                        total += int(line.split()[1])
                        seen += 1
                        break
        except OSError:
            pass
    return total if seen else None


def cgroup2_mount():
    try:
        with open("/proc/mounts") as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 3 and parts[2] == "cgroup2":
                    return parts[1]
    except OSError:
        pass
    return None


class CgroupRoot:
    """<cgroup2>/ringpost-bench-<pid>: one child cgroup per measured system.
    `available` is False (and everything falls back to /proc) when cgroup v2
    is not mounted or not writable."""

    def __init__(self):
        self.mount = cgroup2_mount()
        self.path = None
        self.reason = None
        if self.mount is None:
            self.reason = "no cgroup2 mount"
            return
        path = os.path.join(self.mount, f"ringpost-bench-{os.getpid()}")
        try:
            os.mkdir(path)
        except OSError as e:
            self.reason = f"cannot create {path}: {e.strerror}"
            return
        self.path = path

    @property
    def available(self):
        return self.path is not None

    def child(self, name):
        if not self.available:
            return None
        p = os.path.join(self.path, name)
        try:
            os.mkdir(p)
        except FileExistsError:
            pass
        except OSError:
            return None
        return Cgroup(p, os.path.relpath(p, self.mount))

    def remove(self):
        if not self.available:
            return True
        ok = True
        for name in os.listdir(self.path):
            sub = os.path.join(self.path, name)
            if os.path.isdir(sub):
                ok = Cgroup(sub, "").remove() and ok
        try:
            os.rmdir(self.path)
        except OSError:
            ok = False
        return ok


class Cgroup:
    def __init__(self, path, rel):
        self.path = path
        self.rel = rel  # path relative to the cgroup2 mount, for perf -G

    def join_fn(self):
        """A preexec_fn moving the child into this cgroup (before exec)."""
        procs = os.path.join(self.path, "cgroup.procs")

        def join():
            with open(procs, "w") as f:
                f.write(str(os.getpid()))
        return join

    def usage_us(self):
        try:
            with open(os.path.join(self.path, "cpu.stat")) as f:
                for line in f:
                    k, v = line.split()
                    if k == "usage_usec":
                        return float(v)
        except OSError:
            pass
        return None

    def pids(self):
        try:
            with open(os.path.join(self.path, "cgroup.procs")) as f:
                return [int(x) for x in f.read().split()]
        except OSError:
            return []

    def remove(self, timeout=5.0):
        """rmdir once empty (processes leave a cgroup when they exit)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                os.rmdir(self.path)
                return True
            except FileNotFoundError:
                return True
            except OSError:
                if time.monotonic() >= deadline:
                    return False
                time.sleep(0.05)


def preexec(cpus=None, cgroup=None):
    """preexec_fn for Popen: pin to `cpus` (a set) and join `cgroup`."""
    join = cgroup.join_fn() if cgroup is not None else None

    def fn():
        if cpus:
            os.sched_setaffinity(0, cpus)
        if join:
            join()
    return fn


class CpuMeter:
    """CPU time of one measured system: the cgroup's usage when there is one,
    else the /proc process tree of `pid`."""

    def __init__(self, cgroup, pid, tree=False):
        self.cgroup, self.pid, self.tree = cgroup, pid, tree
        self.source = "cgroup2 cpu.stat usage_usec" if cgroup else (
            "/proc stat utime+stime (+children)" if tree else "/proc stat utime+stime")

    def read_us(self):
        if self.cgroup is not None:
            v = self.cgroup.usage_us()
            if v is not None:
                return v
        return tree_cpu_us(self.pid) if self.tree else proc_cpu_us(self.pid)


PERF_EVENTS = ["raw_syscalls:sys_enter", "syscalls:sys_enter_io_uring_enter",
               "io_uring:io_uring_submit_req"]


class PerfCounter:
    """`perf stat -a -G CGROUP` over tracepoints: every system call, every
    io_uring_enter, every io_uring request submitted, by the tasks of one
    cgroup. Started before the load, stopped (SIGINT) after it."""

    def __init__(self, cgroup, out_path, cpus=None):
        self.proc = None
        self.out_path = out_path
        self.error = None
        if cgroup is None:
            self.error = "no cgroup to filter on"
            return
        ev = ",".join(PERF_EVENTS)
        groups = ",".join([cgroup.rel] * len(PERF_EVENTS))
        try:
            self.proc = subprocess.Popen(
                ["perf", "stat", "-x,", "-a", "-o", out_path, "-e", ev, "-G", groups],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE, preexec_fn=preexec(cpus))
        except OSError as e:
            self.error = f"perf: {e.strerror}"
            return
        time.sleep(0.4)  # let it open its counters before the load starts
        if self.proc.poll() is not None:
            self.error = "perf exited: " + self.proc.stderr.read().decode(errors="replace")[-200:]
            self.proc = None

    def stop(self):
        """{event: count} or None (self.error says why)."""
        if self.proc is None:
            return None
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)
            self.error = "perf did not stop"
            return None
        counts = {}
        try:
            with open(self.out_path) as f:
                for line in f:
                    parts = line.strip().split(",")
                    if len(parts) >= 3 and parts[2] in PERF_EVENTS:
                        try:
                            counts[parts[2]] = int(parts[0])
                        except ValueError:
                            counts[parts[2]] = None  # "<not counted>"
        except OSError as e:
            self.error = f"perf output: {e.strerror}"
            return None
        if not counts:
            self.error = "perf printed no counts"
            return None
        return counts


def stop_process(proc, sig=signal.SIGTERM, timeout=30.0):
    """Signal one Popen we started and wait, bounded; SIGKILL as last resort.
    Returns the exit status (negative: killed by that signal)."""
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
    return proc.returncode


def wait_rusage(proc, timeout, check=None):
    """Wait for a Popen (bounded) and return (status, user+sys CPU µs, why it
    was stopped early or None) from wait4(). `check()` runs every 0.25 s; when
    it returns a reason the process gets SIGTERM (loadgen then stops and still
    prints its summary). The Popen's returncode is set too."""
    deadline = time.monotonic() + timeout
    next_check = time.monotonic() + 0.25
    stopped = None
    while True:
        pid, status, ru = os.wait4(proc.pid, os.WNOHANG)
        if pid == proc.pid:
            proc.returncode = os.waitstatus_to_exitcode(status)
            return proc.returncode, (ru.ru_utime + ru.ru_stime) * 1e6, stopped
        now = time.monotonic()
        if now >= deadline:
            proc.kill()
            pid, status, ru = os.wait4(proc.pid, 0)
            proc.returncode = os.waitstatus_to_exitcode(status)
            return None, (ru.ru_utime + ru.ru_stime) * 1e6, stopped or "timed out"
        if check is not None and stopped is None and now >= next_check:
            next_check = now + 0.25
            stopped = check()
            if stopped:
                proc.send_signal(signal.SIGTERM)
                deadline = min(deadline, now + 30)
        time.sleep(0.02)
