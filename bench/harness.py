#!/usr/bin/env python3
"""bench/harness.py — the end-to-end benchmark: messages per second per core.

`tools/dev bench [ARGS]` builds everything and runs this. It starts the
bundled sink, the relay and the load generator on loopback, pinned (relay on
CPU 0, its shards pinning themselves to CPU index % ncpu; sink, loadgen, perf
and this script on CPU 1), and measures, for every combination asked for:

  msgs/s          loadgen's acceptance rate (2xx at end of data per second)
  CPU µs/msg      CPU time of the relay (cgroup v2 usage: every thread, io-wq
                  workers included; /proc utime+stime without cgroups) from
                  just before the load until the sink has every accepted
                  message, divided by the messages accepted
  msgs/s/core     1e6 / CPU µs/msg
  accept latency  loadgen's p50/p99/p999, last byte queued to its 2xx
  e2e latency     p50/p99 of event_at - queued_at of the relay's Delivery
                  records (relay clock, ms resolution; queued_at is when the
                  relay started receiving the content)
  peak RSS        VmHWM of the relay
  syscalls/msg    `perf stat` tracepoints for the relay's cgroup: every
                  system call, io_uring_enter calls, io_uring requests; in a
                  separate 1 s load of the same shape just before the
                  measured one (perf's cgroup filter costs CPU of its own)
  msgs/commit     group-commit size, from the relay's own exit report
  sink == acc     the sink's count of new messages equals loadgen's accepted

Each run: a fresh sink and relay (fresh spool), a warm-up load (not
measured), the syscall-counting load, then the measured load of --duration
seconds; the CPU window closes when the sink has every accepted message.

and next to it, the same load through a private Postfix instance (Debian's,
high-throughput settings, bench/postfix/*.cf.in) relaying to the same kind
of sink, its CPU summed over all its processes (cgroup), and the floor:
loadgen straight into the sink (sink on CPU 0 in the relay's place).

Usage:
  tools/dev bench --quick                # ~1-2 min: 1 KB, small sweep
  tools/dev bench                        # full matrix, ~10-20 min
  tools/dev bench --sizes=1k --shards=1 --durability=fsync --chunking=off
  tools/dev bench --quick --tls=off,on   # also every matrix and floor run
                                         # over STARTTLS (loadgen -> relay
                                         # -> sink), compared in a table
  tools/dev bench --docs                 # also rewrite docs/benchmarks.md's
                                         # harness section and the chart
  python3 bench/harness.py --render bench/results/X.json --docs

Results: bench/results/<UTC timestamp>.json (every figure and the raw loadgen
summaries); tables on stdout; progress on stderr. See docs/benchmarks.md.
Exit status: 0 when every run that ran delivered what was accepted, 1 if a
run failed or lost or duplicated messages, 2 on bad arguments or set-up.
"""
import argparse
import calendar
import fcntl
import http.client
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True  # no __pycache__ in the source tree

import harness_postfix  # noqa: E402
import harness_procs as hp  # noqa: E402
import harness_report  # noqa: E402
import harness_tls  # noqa: E402

ROOT = os.path.dirname(HERE)
DOMAINS = "a.test,b.test,c.test,d.test"
MEASURE_SENDER = "measure@loadgen.ringpost.invalid"
WARMUP_SENDER = "warmup@loadgen.ringpost.invalid"
BIG = 100_000_000  # --messages when a run is bounded by --duration_s
LOCK_PATH = "/tmp/ringpost-bench.lock"


def log(msg):
    print(f"harness: {msg}", file=sys.stderr, flush=True)


def parse_size(text):
    t = text.strip().lower()
    mult = 1
    if t.endswith("k"):
        mult, t = 1024, t[:-1]
    elif t.endswith("m"):
        mult, t = 1 << 20, t[:-1]
    return int(t) * mult


# --- binaries ------------------------------------------------------------------

def resolve_bins(explicit):
    """DIR with relay/ringpost, bench/sink, bench/loadgen: --bin, else what
    `bazel info bazel-bin` says for this workspace (the bazel-bin symlink may
    point at another output base), else ROOT/bazel-bin."""
    candidates = []
    if explicit:
        candidates.append(explicit)
    else:
        try:
            out = subprocess.run(["bazel", "info", "bazel-bin"], cwd=ROOT, capture_output=True,
                                 text=True, timeout=120)
            if out.returncode == 0 and out.stdout.strip():
                candidates.append(out.stdout.strip().splitlines()[-1])
        except (OSError, subprocess.TimeoutExpired):
            pass
        candidates.append(os.path.join(ROOT, "bazel-bin"))
    for d in candidates:
        paths = {k: os.path.join(d, p) for k, p in
                 (("ringpost", "relay/ringpost"), ("sink", "bench/sink"),
                  ("loadgen", "bench/loadgen"))}
        if all(os.access(p, os.X_OK) for p in paths.values()):
            return paths
    sys.exit(f"harness: no relay/ringpost, bench/sink, bench/loadgen under {candidates}; "
             "build with `bazel build //...` or pass --bin DIR")


def describe_bins(bins):
    out = {}
    for k, p in bins.items():
        st = os.stat(p)
        out[k] = {"path": p, "mtime": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                    time.gmtime(st.st_mtime)),
                  "bytes": st.st_size}
    return out


def git_state():
    def run(*a):
        try:
            r = subprocess.run(["git", *a], cwd=ROOT, capture_output=True, text=True, timeout=20)
            return r.stdout.strip() if r.returncode == 0 else None
        except (OSError, subprocess.TimeoutExpired):
            return None
    status = run("status", "--porcelain", "--untracked-files=no")
    return {"commit": run("rev-parse", "--short=12", "HEAD"),
            "dirty": bool(status) if status is not None else None}


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


# --- the sink --------------------------------------------------------------------

class Sink:
    """The bundled sink on a free port; count() asks it (SIGUSR1) for its
    report without stopping it."""

    def __init__(self, ctx, workdir, cpu, cgroup=None, name="sink", tls=False):
        self.report = os.path.join(workdir, f"{name}.json")
        self.err_path = os.path.join(workdir, f"{name}.err")
        port_file = os.path.join(workdir, f"{name}.port")
        self.proc = subprocess.Popen(
            [ctx.bins["sink"], "--listen=127.0.0.1:0", f"--port_file={port_file}",
             f"--report={self.report}", f"--cpu={cpu}", *tls_args(ctx, tls)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=open(self.err_path, "w"), preexec_fn=hp.preexec({cpu}, cgroup))
        ctx.live.add(self.proc)
        self.port = None
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                with open(port_file) as f:
                    self.port = int(f.read().strip())
                break
            except (OSError, ValueError):
                time.sleep(0.02)
        if self.port is None or not hp.wait_port(self.port, 10, self.proc):
            raise RuntimeError(f"sink did not start: {tail(self.err_path)}")

    def count(self, timeout=5.0):
        try:
            os.unlink(self.report)
        except FileNotFoundError:
            pass
        self.proc.send_signal(signal.SIGUSR1)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with open(self.report) as f:
                    return json.load(f)["messages"]
            except (OSError, ValueError, KeyError):
                time.sleep(0.01)
        raise RuntimeError("sink did not answer SIGUSR1")

    def cpu_us(self):
        return hp.proc_cpu_us(self.proc.pid)

    def stop(self, ctx):
        hp.stop_process(self.proc, signal.SIGTERM, 20)
        ctx.live.discard(self.proc)
        try:
            with open(self.report) as f:
                return json.load(f)
        except (OSError, ValueError):
            return None


def tls_args(ctx, tls):
    """The certificate flags of a TLS server (sink or relay), or none."""
    if not tls:
        return []
    return [f"--tls_cert={ctx.tls_files['cert']}", f"--tls_key={ctx.tls_files['key']}"]


def tail(path, n=6):
    try:
        with open(path, errors="replace") as f:
            return " | ".join(f.read().splitlines()[-n:])
    except OSError:
        return ""


# --- loadgen ---------------------------------------------------------------------

def run_loadgen(ctx, port, spec, sender, tag, messages=None, duration=None, guard=None):
    """One loadgen run (bounded by its own --timeout_s and ours; stopped early
    when guard() names a reason). Returns {"rc", "summary", "cpu_us",
    "stderr", "no_chunking", "stopped"}."""
    out = os.path.join(ctx.tmp, f"{tag}.out")
    err = os.path.join(ctx.tmp, f"{tag}.err")
    limit = (duration or 0) + 180
    argv = [ctx.bins["loadgen"], f"--target=127.0.0.1:{port}",
            f"--messages={messages or BIG}", f"--size={spec['size']}",
            f"--connections={spec['connections']}", f"--cpu={ctx.load_cpu}", "--quiet",
            f"--rcpt_domains={DOMAINS}", f"--sender={sender}", f"--timeout_s={limit}",
            f"--id_prefix={tag}"]
    if duration:
        argv.append(f"--duration_s={duration}")
    if spec.get("rate"):
        argv.append(f"--rate={spec['rate']}")
    if spec["chunking"]:
        argv += ["--chunking", f"--inflight={spec['inflight']}"]
    if spec.get("tls"):
        argv.append("--tls")
    with open(out, "w") as fo, open(err, "w") as fe:
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=fo, stderr=fe,
                             preexec_fn=hp.preexec({ctx.load_cpu}))
    ctx.live.add(p)
    rc, cpu_us, stopped = hp.wait_rusage(p, limit + 30, guard)
    ctx.live.discard(p)
    summary = None
    try:
        with open(out) as f:
            lines = f.read().strip().splitlines()
        summary = json.loads(lines[-1]) if lines else None
    except (OSError, ValueError):
        pass
    with open(err, errors="replace") as f:
        stderr = f.read()
    return {"rc": rc, "summary": summary, "cpu_us": cpu_us, "stderr": stderr[-2000:],
            "no_chunking": "does not offer CHUNKING" in stderr, "stopped": stopped}


def wait_delivered(sink, base, target, timeout):
    """Poll the sink until `target` new messages arrived. Returns (new count,
    monotonic time it was seen, complete?)."""
    deadline = time.monotonic() + timeout
    last = -1
    stalled_since = time.monotonic()
    while True:
        n = sink.count() - base
        now = time.monotonic()
        if n >= target:
            return n, now, True
        if n != last:
            last, stalled_since = n, now
        # Give up early when nothing arrives for a long while (lost mail).
        if now >= deadline or now - stalled_since > 60:
            return n, now, False
        time.sleep(0.05 if target - n < 2000 else 0.2)


def percentile(sorted_vals, p):
    if not sorted_vals:
        return None
    k = max(0, min(len(sorted_vals) - 1, int(-(-p * len(sorted_vals) // 100)) - 1))
    return sorted_vals[k]


def e2e_summary(delays, source):
    """End-to-end latency figures (ms) from unsorted per-message delays."""
    delays = sorted(delays)
    return {"p50": percentile(delays, 50), "p99": percentile(delays, 99),
            "max": delays[-1], "n": len(delays), "source": source}


TS_RE = re.compile(rb'"queued_at":"([^"]+)","event_at":"([^"]+)"')


def _ms(ts, cache):
    # "2026-11-25T20:34:04.123Z"
    head = ts[:19]
    base = cache.get(head)
    if base is None:
        base = calendar.timegm(time.strptime(head.decode(), "%Y-%m-%dT%H:%M:%S")) * 1000
        cache[head] = base
    return base + int(ts[20:23])


def parse_delivery_log(path, sender):
    """Counts per record type (all senders) and the measured messages'
    end-to-end delays in ms (Delivery records of `sender`)."""
    counts = {}
    delays = []
    cache = {}
    needle = f'"sender":"{sender}"'.encode()
    try:
        with open(path, "rb") as f:
            for line in f:
                i = line.find(b'"type":"')
                if i < 0:
                    continue
                j = line.find(b'"', i + 8)
                kind = line[i + 8:j].decode(errors="replace")
                counts[kind] = counts.get(kind, 0) + 1
                if kind == "Delivery" and needle in line:
                    m = TS_RE.search(line)
                    if m:
                        delays.append(_ms(m.group(2), cache) - _ms(m.group(1), cache))
                        counts["Delivery(measured)"] = counts.get("Delivery(measured)", 0) + 1
    except OSError:
        return None, None
    return counts, delays


# --- runs ----------------------------------------------------------------------

def run_key(spec):
    return (spec["system"], spec["size"], spec.get("durability"), spec.get("shards"),
            spec["chunking"], spec["connections"], spec["inflight"] if spec["chunking"] else 1,
            spec.get("paced_of"), spec.get("tls", False), spec.get("scrape", False))


def spec_label(spec):
    parts = [spec["system"], harness_report.size_label(spec["size"])]
    if spec["system"] == "ringpost":
        parts += [spec["durability"], f"{spec['shards']} shard(s)"]
    parts.append(f"BDAT x{spec['inflight']}" if spec["chunking"] else "DATA")
    if spec.get("tls"):
        parts.append("TLS")
    if spec.get("scrape"):
        parts.append("/metrics 1/s")
    parts.append(f"{spec['connections']} conn")
    if spec.get("paced_of"):
        parts.append("at half the maximum")
    return " ".join(parts)


def base_result(spec):
    r = dict(spec)
    r["label"] = spec_label(spec)
    r["status"] = "ok"
    return r


def warmup_count(size):
    return 1000 if size <= 16384 else 300


COUNT_SENDER = "count@loadgen.ringpost.invalid"


def count_syscalls(ctx, r, spec, port, sink, cgroup, tag):
    """A short load of the same shape with `perf stat` counting the system's
    cgroup: kept apart from the measured load because perf's cgroup-filtered
    tracepoints cost the measured processes a few µs per message."""
    perf = hp.PerfCounter(cgroup, os.path.join(ctx.tmp, tag + ".perf"), {ctx.load_cpu})
    if perf.proc is None:
        r["syscalls_na"] = perf.error
        return
    base = sink.count()
    lg = run_loadgen(ctx, port, spec, COUNT_SENDER, tag + "-count", duration=ctx.count_duration)
    n = (lg["summary"] or {}).get("messages") or 0
    got, _, ok = wait_delivered(sink, base, n, 120)
    counts = perf.stop()
    if not counts or not n or not ok:
        r["syscalls_na"] = perf.error or f"count phase: {got} of {n} delivered"
        return
    r["perf_counts"] = dict(counts, messages=n)
    per = {k: (v / n if v is not None else None) for k, v in counts.items()}
    r["syscalls_per_msg"] = per.get("raw_syscalls:sys_enter")
    r["io_uring_enter_per_msg"] = per.get("syscalls:sys_enter_io_uring_enter")
    r["io_uring_sqes_per_msg"] = per.get("io_uring:io_uring_submit_req")


def measured_load(ctx, r, spec, port, sink, meter, cgroup, tag, extra_sample=None,
                  guard=None):
    """Warm-up, the syscall-counting load, then the measured load and the
    wait for delivery. Fills r."""
    w = run_loadgen(ctx, port, spec, WARMUP_SENDER, tag + "-warm",
                    messages=spec.get("warmup", warmup_count(spec["size"])))
    ws = w["summary"] or {}
    if spec["chunking"] and w["no_chunking"]:
        r["status"] = "n/a"
        r["reason"] = "server does not offer CHUNKING"
        return
    if not ws.get("messages"):
        r["status"] = "failed"
        r["reason"] = f"warm-up accepted nothing: {w['stderr'][-300:]}"
        return
    got, _, ok = wait_delivered(sink, 0, ws["messages"], 120)
    if not ok:
        r["status"] = "failed"
        r["reason"] = f"warm-up: sink has {got} of {ws['messages']}"
        return
    if ctx.perf and cgroup is not None:
        count_syscalls(ctx, r, spec, port, sink, cgroup, tag)
    elif ctx.perf:
        r["syscalls_na"] = "no cgroup to count in"
    base = sink.count()
    sink_cpu0 = sink.cpu_us()
    pre = extra_sample() if extra_sample else None
    flt0 = hp.read_stat(meter.pid) if not meter.tree else None
    cpu0, t0 = meter.read_us(), time.monotonic()
    lg = run_loadgen(ctx, port, spec, MEASURE_SENDER, tag, duration=ctx.duration, guard=guard)
    t_load = time.monotonic()
    s = lg["summary"]
    r["loadgen"] = s
    r["loadgen_rc"] = lg["rc"]
    if s is None:
        r["status"] = "failed"
        r["reason"] = f"loadgen printed no summary: {lg['stderr'][-300:]}"
        return
    accepted = s["messages"]
    delivered, t_end, complete = wait_delivered(sink, base, accepted,
                                                timeout=max(120, 10 * ctx.duration))
    cpu1 = meter.read_us()
    flt1 = hp.read_stat(meter.pid) if flt0 else None
    post = extra_sample() if extra_sample else None
    sink_cpu1 = sink.cpu_us()
    r["accepted"] = accepted
    r["sink_received"] = delivered
    r["delivered_all"] = complete
    r["sink_matches"] = delivered == accepted
    r["msgs_per_sec"] = s["msgs_per_sec"]
    r["e2e_msgs_per_sec"] = accepted / (t_end - t0) if t_end > t0 else None
    r["load_seconds"] = t_load - t0
    r["window_seconds"] = t_end - t0
    r["cpu_us"] = cpu1 - cpu0
    r["cpu_source"] = meter.source
    r["cpu_us_per_msg"] = (cpu1 - cpu0) / accepted if accepted else None
    r["msgs_per_sec_per_core"] = 1e6 / r["cpu_us_per_msg"] if r["cpu_us_per_msg"] else None
    r["accept_latency_us"] = s.get("latency_us")
    if flt0 and flt1 and accepted:
        # Minor page faults: first touches of new memory (a growing backlog).
        r["minflt_per_msg"] = (flt1["minflt"] - flt0["minflt"]) / accepted
    r["loadgen_cpu_us_per_msg"] = lg["cpu_us"] / accepted if accepted else None
    if sink_cpu0 is not None and sink_cpu1 is not None and delivered:
        r["sink_cpu_us_per_msg"] = (sink_cpu1 - sink_cpu0) / delivered
    if lg["no_chunking"] and spec["chunking"]:
        r["status"] = "n/a"
        r["reason"] = "server does not offer CHUNKING (loadgen fell back to DATA)"
    if pre is not None and post is not None and accepted:
        # Per process alive at the end: its CPU since the start of the window
        # (all of it if it started later), summed by command name.
        by_name = {}
        for pid, (name, us) in post.items():
            before = pre.get(pid)
            d = us - before[1] if before and before[0] == name else us
            by_name[name] = by_name.get(name, 0.0) + d
        r["process_cpu_us_per_msg"] = {k: v / accepted for k, v in by_name.items()}
    if lg["stopped"]:
        r["status"] = "aborted"
        r["reason"] = f"load stopped early: {lg['stopped']}"
    if r["status"] == "ok":
        if not complete:
            r["status"] = "failed"
            r["reason"] = f"sink received {delivered} of {accepted} accepted"
        elif delivered != accepted:
            r["status"] = "mismatch"
            r["reason"] = f"sink received {delivered}, loadgen accepted {accepted}"
        if s.get("errors") or s.get("rejected_4xx") or s.get("rejected_5xx"):
            r.setdefault("notes", []).append(
                f"loadgen: {s.get('rejected_4xx')} 4xx, {s.get('rejected_5xx')} 5xx, "
                f"{s.get('errors')} errors")


SHARD_STATS_RE = re.compile(r"shard (\d+): (\d+) messages in (\d+) commits \(max (\d+) per "
                            r"commit\); (\d+) loop turns, (\d+) io_uring_enter, (\d+) SQEs")


def relay_exit_stats(err_path):
    """The relay's own counts printed at exit (whole life, warm-up included):
    group-commit sizes, loop turns, io_uring_enter calls, SQEs."""
    try:
        with open(err_path, errors="replace") as f:
            text = f.read()
    except OSError:
        return {}
    shards = []
    for m in SHARD_STATS_RE.finditer(text):
        v = [int(x) for x in m.groups()]
        shards.append({"shard": v[0], "messages": v[1], "commits": v[2], "max_per_commit": v[3],
                       "loop_turns": v[4], "io_uring_enter": v[5], "sqes": v[6]})
    if not shards:
        return {}
    msgs = sum(s["messages"] for s in shards)
    commits = sum(s["commits"] for s in shards)
    return {"relay_shard_stats": shards,
            "msgs_per_commit": msgs / commits if commits else None,
            "max_per_commit": max(s["max_per_commit"] for s in shards)}


class Scraper:
    """GET /metrics on the relay's admin port once a second, as Prometheus
    would, from a thread of the harness (outside the relay's cgroup: only
    the relay's side of each scrape is in its CPU figure)."""

    def __init__(self, port, interval=1.0):
        self.port, self.interval = port, interval
        self.counts = {"ok": 0, "failed": 0, "bytes": 0}
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.done.wait(self.interval):
            try:
                c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                c.request("GET", "/metrics")
                resp = c.getresponse()
                body = resp.read()
                c.close()
                ok = resp.status == 200
                self.counts["ok" if ok else "failed"] += 1
                self.counts["bytes"] += len(body)
            except OSError:
                self.counts["failed"] += 1

    def stop(self):
        self.done.set()
        self.thread.join(10)
        return dict(self.counts)


def run_ringpost(ctx, spec, n):
    r = base_result(spec)
    if spec["chunking"] and ctx.relay_chunking is False:
        r["status"] = "n/a"
        r["reason"] = "the relay does not offer CHUNKING"
        return r
    work = tempfile.mkdtemp(prefix=f"run{n}-", dir=ctx.tmp)
    sink = relay = None
    cg = ctx.cgroups.child(f"relay-{n}")
    try:
        sink = Sink(ctx, work, ctx.load_cpu, tls=spec.get("tls"))
        port = hp.free_port()
        dlog = os.path.join(work, "delivery.log")
        # TLS: STARTTLS offered to loadgen, and TLS (any certificate) to the
        # sink; the relay's flags for both are the contract of issue 13.
        tls_relay = (tls_args(ctx, True) + ["--outbound_tls=encrypt"]) if spec.get("tls") else []
        admin_port = hp.free_port()
        err = os.path.join(work, "relay.err")
        relay = subprocess.Popen(
            [ctx.bins["ringpost"], f"--listen=127.0.0.1:{port}", f"--shards={spec['shards']}",
             f"--spool={work}/spool", f"--log={dlog}", f"--route=*=127.0.0.1:{sink.port}", "--drain_grace=0",
             f"--durability={spec['durability']}", "--hostname=relay.bench.ringpost.invalid",
             f"--admin=127.0.0.1:{admin_port}", *tls_relay, *ctx.relay_args],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=open(err, "w"),
            preexec_fn=hp.preexec(ctx.relay_cpus, cg))
        ctx.live.add(relay)
        if not hp.wait_port(port, 30, relay):
            r["status"] = "failed"
            r["reason"] = f"relay did not listen: {tail(err)}"
            return r
        meter = hp.CpuMeter(cg, relay.pid)

        def guard():
            rss = hp.status_kib(relay.pid, "VmRSS")
            if rss is not None and rss > ctx.max_rss_kib:
                return (f"relay RSS {rss // 1024} MiB over --max-rss "
                        f"{ctx.max_rss_kib // 1024} MiB")
            if relay.poll() is not None:
                return f"relay exited {relay.returncode}"
            return None
        scraper = Scraper(admin_port) if spec.get("scrape") else None
        try:
            measured_load(ctx, r, spec, port, sink, meter, cg, f"run{n}", guard=guard)
        finally:
            if scraper is not None:
                r["scrapes"] = scraper.stop()
        if scraper is not None and (r["scrapes"]["ok"] == 0 or r["scrapes"]["failed"]):
            r.setdefault("notes", []).append(f"/metrics scrapes: {r['scrapes']}")
        if relay.poll() is None:
            r["peak_rss_kib"] = hp.status_kib(relay.pid, "VmHWM")
        else:
            r["status"] = "failed"
            r["reason"] = f"relay exited {relay.returncode} during the run: {tail(err)}"
        rc = hp.stop_process(relay, signal.SIGTERM, 60)
        ctx.live.discard(relay)
        r["relay_exit"] = rc
        if rc != 0:
            r.setdefault("notes", []).append(f"relay exited {rc} after SIGTERM: {tail(err, 3)}")
        counts, delays = parse_delivery_log(dlog, MEASURE_SENDER)
        r["log_counts"] = counts
        if delays:
            r["e2e_ms"] = e2e_summary(delays, "relay delivery log event_at - queued_at (ms)")
        if counts is not None and r.get("accepted") is not None and \
                counts.get("Delivery(measured)", 0) != r["accepted"]:
            r.setdefault("notes", []).append(
                f"delivery log has {counts.get('Delivery(measured)', 0)} Delivery records for "
                f"{r['accepted']} accepted messages")
        r.update(relay_exit_stats(err))
        stderr_text = tail(err, 50)
        if re.search(r"(?i)error|warn|dropped", stderr_text):
            r["relay_stderr"] = stderr_text[-1500:]
        return r
    except RuntimeError as e:
        r["status"] = "failed"
        r["reason"] = str(e)
        return r
    finally:
        if relay is not None:
            hp.stop_process(relay, signal.SIGTERM, 60)
            ctx.live.discard(relay)
        if sink is not None:
            rep = sink.stop(ctx)
            if rep:
                r["sink_report"] = rep
        if cg is not None and not cg.remove():
            r.setdefault("notes", []).append("relay cgroup not empty after the run")
        if not ctx.keep:
            shutil.rmtree(work, ignore_errors=True)


def run_postfix(ctx, spec, n):
    r = base_result(spec)
    if ctx.postfix_missing:
        r["status"] = "n/a"
        r["reason"] = ctx.postfix_missing
        return r
    work = tempfile.mkdtemp(prefix=f"postfix{n}-", dir=ctx.tmp)
    os.chmod(work, 0o755)  # Postfix's unprivileged processes reach their queue below it
    sink = None
    cg = ctx.cgroups.child(f"postfix-{n}")
    pf = harness_postfix.PrivatePostfix(os.path.join(work, "pf"), 0, ctx.postfix_cpus, cg,
                                        process_limit=max(300, 2 * spec["connections"] + 100),
                                        dest_concurrency=ctx.postfix_concurrency)
    try:
        sink = Sink(ctx, work, ctx.load_cpu)
        pf.sink_port = sink.port
        os.makedirs(pf.dir, exist_ok=True)
        pf.start(hp.free_port())
        warnings = pf.warnings()
        if warnings:
            r.setdefault("notes", []).extend(warnings[:5])
        meter = hp.CpuMeter(cg, pf.master_pid, tree=True)
        spec = dict(spec, warmup=200)
        measured_load(ctx, r, spec, pf.port, sink, meter, cg, f"postfix{n}",
                      extra_sample=pf.process_cpu)
        r["pss_kib_sum"] = hp.pss_kib(pf.pids())
        delays = harness_postfix.maillog_delays_ms(pf.maillog, MEASURE_SENDER)
        if delays:
            r["e2e_ms"] = e2e_summary(delays, "Postfix maillog delay= (10 ms resolution)")
        return r
    except RuntimeError as e:
        r["status"] = "failed"
        r["reason"] = str(e)
        return r
    finally:
        if not pf.stop():
            r.setdefault("notes", []).append("postfix did not stop cleanly; aborted")
        if sink is not None:
            sink.stop(ctx)
        if cg is not None and not cg.remove():
            r.setdefault("notes", []).append("postfix cgroup not empty after the run")
        hp.reap_orphans({p.pid for p in ctx.live})
        if not ctx.keep:
            shutil.rmtree(work, ignore_errors=True)


def run_floor(ctx, spec, n):
    """loadgen -> sink, no relay: the sink stands where the relay stands
    (CPU 0); its CPU per message is the kernel-and-loopback floor for the
    receiving half of a relay."""
    r = base_result(spec)
    work = tempfile.mkdtemp(prefix=f"floor{n}-", dir=ctx.tmp)
    cg = ctx.cgroups.child(f"floor-{n}")
    sink = None
    try:
        sink = Sink(ctx, work, min(ctx.relay_cpus), cg, tls=spec.get("tls"))
        meter = hp.CpuMeter(cg, sink.proc.pid)
        measured_load(ctx, r, spec, sink.port, sink, meter, cg, f"floor{n}")
        r.pop("sink_cpu_us_per_msg", None)  # that is cpu_us_per_msg here
        return r
    except RuntimeError as e:
        r["status"] = "failed"
        r["reason"] = str(e)
        return r
    finally:
        if sink is not None:
            sink.stop(ctx)
        if cg is not None:
            cg.remove()
        if not ctx.keep:
            shutil.rmtree(work, ignore_errors=True)


def probe_relay_chunking(ctx):
    """Does this relay offer CHUNKING? A throwaway relay, one EHLO."""
    work = tempfile.mkdtemp(prefix="probe-", dir=ctx.tmp)
    port = hp.free_port()
    relay = subprocess.Popen(
        [ctx.bins["ringpost"], f"--listen=127.0.0.1:{port}", "--shards=1",
         f"--spool={work}/spool", f"--log={work}/delivery.log", "--route=*=127.0.0.1:9", "--drain_grace=0",
         "--durability=none"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        preexec_fn=hp.preexec(ctx.relay_cpus))
    ctx.live.add(relay)
    try:
        if not hp.wait_port(port, 30, relay):
            return None
        return hp.smtp_offers(port, "chunking")
    finally:
        hp.stop_process(relay, signal.SIGTERM, 30)
        ctx.live.discard(relay)
        shutil.rmtree(work, ignore_errors=True)


# --- the plan ------------------------------------------------------------------

def build_plan(a):
    """The list of run specs, in order, deduplicated."""
    plan, seen = [], set()

    def add(group, **spec):
        spec.setdefault("inflight", a.inflight)
        key = run_key(spec)
        if key in seen:
            for p in plan:
                if run_key(p) == key and group not in p["groups"]:
                    p["groups"].append(group)
            return
        seen.add(key)
        spec["groups"] = [group]
        plan.append(spec)

    # TLS and plaintext next to each other, in the matrix and the floor;
    # Postfix, the paced runs and the sweep stay plaintext.
    for size in a.sizes:
        for dur in a.durability:
            for shards in a.shards:
                for ch in a.chunking:
                    for tls in a.tls:
                        for scrape in a.scrape:
                            add("matrix", system="ringpost", size=size, durability=dur,
                                shards=shards, chunking=ch, connections=a.connections, tls=tls,
                                scrape=scrape)
    if a.postfix:
        for size in a.sizes:
            for ch in a.chunking:
                add("postfix", system="postfix", size=size, chunking=ch,
                    connections=a.connections)
    if a.floor:
        for size in a.sizes:
            for ch in a.chunking:
                for tls in a.tls:
                    add("floor", system="floor", size=size, chunking=ch,
                        connections=a.connections, tls=tls)
    # Latency at half the maximum throughput: each first-size, durable,
    # first-shard-count mode again, paced by loadgen --rate at half of what
    # its matrix run reached (known only then: see the main loop), and the
    # floor paced the same.
    if "fsync" in a.durability:
        for ch in a.chunking:
            ref = dict(system="ringpost", size=a.sizes[0], durability="fsync",
                       shards=a.shards[0], chunking=ch, connections=a.connections,
                       inflight=a.inflight)
            add("paced", **ref, paced_of=run_key(dict(ref)))
            if a.floor:
                # loadgen -> sink at the same pace: what the machine alone
                # adds to the latency (vCPU wake-ups, loopback).
                add("paced", system="floor", size=a.sizes[0], chunking=ch,
                    connections=a.connections, inflight=a.inflight,
                    paced_of=run_key(dict(ref)))
    if a.sweep:
        size = a.sizes[0]
        dur = a.durability[0]
        for c in a.sweep:
            for ch in a.chunking:
                add("sweep", system="ringpost", size=size, durability=dur, shards=a.shards[0],
                    chunking=ch, connections=c)
        if a.postfix and a.postfix_sweep:
            for c in a.postfix_sweep:
                add("sweep", system="postfix", size=size, chunking=False, connections=c)
    return plan


class Ctx:
    pass


def parse_args(argv):
    ap = argparse.ArgumentParser(
        prog="tools/dev bench",
        description="End-to-end benchmark: ringpost vs Postfix vs the loopback floor "
                    "(see the module docstring and docs/benchmarks.md).")
    ap.add_argument("--quick", action="store_true",
                    help="small matrix, short runs (~1-2 min): 1 KB, sweep 1/16/64")
    ap.add_argument("--sizes", help="comma list, e.g. 1k,10k,100k (full default)")
    ap.add_argument("--durability", help="comma list of fsync,none (default both)")
    ap.add_argument("--shards", help="comma list, e.g. 1,2 (default 1,2)")
    ap.add_argument("--chunking", help="comma list of off,on (default both)")
    ap.add_argument("--tls", help="comma list of off,on (default off): on = STARTTLS from "
                                  "loadgen to the relay (or the floor's sink) and TLS from "
                                  "the relay to the sink, with a throwaway certificate")
    ap.add_argument("--scrape", help="comma list of off,on (default off): on = the harness "
                    "GETs the relay's /metrics once a second during the run (matrix only)")
    ap.add_argument("--connections", type=int, default=16, help="loadgen connections (16)")
    ap.add_argument("--inflight", type=int, default=32,
                    help="transactions in flight per connection with CHUNKING (32)")
    ap.add_argument("--duration", type=int, help="seconds of load per run (8; --quick 2)")
    ap.add_argument("--sweep", help="connection counts for the chart (ringpost, first size, "
                                    "durability and shard count); 'none' to skip")
    ap.add_argument("--postfix-sweep", help="connection counts for Postfix in the sweep")
    ap.add_argument("--no-postfix", dest="postfix", action="store_false")
    ap.add_argument("--no-floor", dest="floor", action="store_false")
    ap.add_argument("--no-perf", dest="perf", action="store_false",
                    help="do not count system calls with perf")
    ap.add_argument("--postfix-cpus", default="0",
                    help="CPUs for every Postfix process (default 0, the relay's)")
    ap.add_argument("--postfix-concurrency", type=int, default=32,
                    help="Postfix smtp_destination_concurrency_limit (32, the relay's "
                         "max_connections_per_destination default)")
    ap.add_argument("--bin", help="directory with relay/ringpost, bench/sink, bench/loadgen "
                                  "(default: `bazel info bazel-bin`)")
    ap.add_argument("--out", help="result JSON path (default bench/results/<UTC time>.json)")
    ap.add_argument("--no-save", dest="save", action="store_false")
    ap.add_argument("--docs", action="store_true",
                    help="rewrite the marked section of docs/benchmarks.md and the chart")
    ap.add_argument("--chart", default=os.path.join(ROOT, "docs", "bench-throughput.png"))
    ap.add_argument("--render", metavar="RESULT_JSON",
                    help="no runs: print (and with --docs write) the tables of a result file")
    ap.add_argument("--relay-arg", action="append", default=[], metavar="FLAG",
                    help="extra relay flag, repeatable, e.g. --relay-arg=--recv_buffers=1024 "
                         "(recorded in the result file)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    ap.add_argument("--max-rss", type=int, default=8192,
                    help="stop a run's load when the relay's RSS passes this many MiB (8192)")
    ap.add_argument("--lock-wait", type=int, default=600,
                    help="seconds to wait for another harness run to finish (600)")
    a = ap.parse_args(argv)

    def ints(text):
        return [int(x) for x in text.split(",") if x.strip()]

    try:
        a.sizes = [parse_size(x) for x in (a.sizes or ("1k" if a.quick else "1k,10k,100k"))
                   .split(",") if x.strip()]
        a.durability = [x.strip() for x in (a.durability or "fsync,none").split(",")]
        a.shards = ints(a.shards or "1,2")
        chunk = [x.strip() for x in (a.chunking or "off,on").split(",")]
        tls = [x.strip() for x in (a.tls or "off").split(",")]
        scrape = [x.strip() for x in (a.scrape or "off").split(",")]
        if a.sweep == "none":
            a.sweep = []
        else:
            a.sweep = ints(a.sweep or ("1,16,64" if a.quick else "1,2,4,8,16,32,64"))
        if a.postfix_sweep == "none" or a.quick and a.postfix_sweep is None:
            a.postfix_sweep = []
        else:
            a.postfix_sweep = ints(a.postfix_sweep or "1,4,16,64")
        a.postfix_cpus = set(ints(a.postfix_cpus))
    except ValueError as e:
        ap.error(str(e))
    if any(d not in ("fsync", "none") for d in a.durability):
        ap.error("--durability takes fsync and/or none")
    if any(c not in ("off", "on") for c in chunk):
        ap.error("--chunking takes off and/or on")
    a.chunking = [c == "on" for c in chunk]
    if not tls or any(t not in ("off", "on") for t in tls):
        ap.error("--tls takes off and/or on")
    a.tls = [t == "on" for t in tls]
    if not scrape or any(t not in ("off", "on") for t in scrape):
        ap.error("--scrape takes off and/or on")
    a.scrape = [t == "on" for t in scrape]
    if a.duration is None:
        a.duration = 2 if a.quick else 8
    if a.duration < 1 or not a.sizes or not a.shards or a.connections < 1 or a.inflight < 1:
        ap.error("bad --duration, --sizes, --shards, --connections or --inflight")
    return a


def render_only(a):
    with open(a.render) as f:
        result = json.load(f)
    print(harness_report.text_tables(result))
    if a.docs:
        harness_report.write_docs(result, os.path.join(ROOT, "docs", "benchmarks.md"),
                                  a.chart, os.path.relpath(a.render, ROOT))
    return 0


def main(argv):
    a = parse_args(argv)
    if a.render:
        return render_only(a)

    lock = open(LOCK_PATH, "a")
    deadline = time.monotonic() + a.lock_wait
    while True:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if time.monotonic() >= deadline:
                log(f"another harness run holds {LOCK_PATH}; giving up")
                return 2
            time.sleep(1)

    ctx = Ctx()
    ctx.bins = resolve_bins(a.bin)
    ncpu = os.cpu_count() or 1
    ctx.relay_cpus = {0}
    ctx.load_cpu = 1 if ncpu > 1 else 0
    ctx.postfix_cpus = {c for c in a.postfix_cpus if c < ncpu} or {0}
    ctx.postfix_concurrency = a.postfix_concurrency
    ctx.duration = a.duration
    ctx.count_duration = 1
    ctx.relay_args = list(a.relay_arg)
    ctx.max_rss_kib = a.max_rss * 1024
    ctx.keep = a.keep
    ctx.live = set()
    ctx.tmp = tempfile.mkdtemp(prefix="ringpost-bench-")
    os.chmod(ctx.tmp, 0o755)  # Postfix's processes must reach their queue below it
    ctx.cgroups = hp.CgroupRoot() if os.geteuid() == 0 else None
    if ctx.cgroups is None or not ctx.cgroups.available:
        why = ctx.cgroups.reason if ctx.cgroups else "not root"
        log(f"no cgroup v2 ({why}): CPU from /proc, no syscall counts")

        class NoCgroups:
            available = False

            def child(self, name):
                return None

            def remove(self):
                return True
        ctx.cgroups = NoCgroups()
    ctx.perf = a.perf and shutil.which("perf") is not None and ctx.cgroups.available
    perf_note = None
    if a.perf and not ctx.perf:
        perf_note = ("perf (package linux-perf) is not installed" if shutil.which("perf") is None
                     else "no cgroup to filter perf on")
    ctx.postfix_missing = harness_postfix.postfix_missing() if a.postfix else "--no-postfix"
    try:
        ctx.tls_files = harness_tls.make_certs(os.path.join(ctx.tmp, "tls")) if any(a.tls) \
            else None
    except RuntimeError as e:
        log(str(e))
        shutil.rmtree(ctx.tmp, ignore_errors=True)
        return 2
    hp.set_subreaper()
    try:
        os.sched_setaffinity(0, {ctx.load_cpu})
    except OSError:
        pass

    started = time.time()
    result = {
        "harness": 1,
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        "mode": "quick" if a.quick else "full",
        "host": {"cpus": ncpu, "cpu_model": cpu_model(), "kernel": platform.release(),
                 "load_avg_at_start": os.getloadavg()},
        "git": git_state(),
        "binaries": describe_bins(ctx.bins),
        "settings": {"sizes": a.sizes, "durability": a.durability, "shards": a.shards,
                     "chunking": a.chunking, "connections": a.connections,
                     "inflight": a.inflight, "duration_s": a.duration, "sweep": a.sweep,
                     "postfix_sweep": a.postfix_sweep, "relay_cpus": sorted(ctx.relay_cpus),
                     "load_cpu": ctx.load_cpu, "postfix_cpus": sorted(ctx.postfix_cpus),
                     "postfix_concurrency": a.postfix_concurrency,
                     "relay_args": ctx.relay_args, "tls": a.tls,
                     "rcpt_domains": DOMAINS},
        "postfix_version": harness_postfix.postfix_version() if not ctx.postfix_missing
        else None,
        "postfix_missing": ctx.postfix_missing,
        "syscall_counting": ("perf stat -a -G <cgroup>: raw_syscalls:sys_enter, "
                             "syscalls:sys_enter_io_uring_enter, io_uring:io_uring_submit_req; "
                             "in a separate 1 s load of the same shape before the measured one")
        if ctx.perf else (perf_note or "off (--no-perf)"),
        "runs": [],
    }
    interrupted = False
    # SIGTERM/SIGINT: stop at the next run boundary, clean up, still write.
    def on_signal(signum, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, on_signal)
    try:
        ctx.relay_chunking = probe_relay_chunking(ctx) if any(a.chunking) else None
        result["relay_offers_chunking"] = ctx.relay_chunking
        if any(a.chunking) and ctx.relay_chunking is False:
            log("the relay does not offer CHUNKING: its BDAT runs are reported n/a")
        plan = build_plan(a)
        log(f"{len(plan)} runs, {a.duration} s of load each; relay on CPU "
            f"{sorted(ctx.relay_cpus)}, sink+loadgen on CPU {ctx.load_cpu}; tmp {ctx.tmp}")
        for n, spec in enumerate(plan, 1):
            if spec.get("paced_of"):
                ref = next((r for r in result["runs"] if run_key(r) == spec["paced_of"]
                            and r.get("status") == "ok" and r.get("msgs_per_sec")), None)
                if ref is None:
                    log(f"[{n}/{len(plan)}] {spec_label(spec)}: skipped (no maximum measured)")
                    continue
                spec = dict(spec, rate=max(1, int(ref["msgs_per_sec"] / 2)))
            t = time.monotonic()
            fn = {"ringpost": run_ringpost, "postfix": run_postfix, "floor": run_floor}
            r = fn[spec["system"]](ctx, dict(spec), n)
            r["wall_seconds"] = round(time.monotonic() - t, 2)
            result["runs"].append(r)
            log(f"[{n}/{len(plan)}] {harness_report.progress_line(r)}")
    except KeyboardInterrupt:
        interrupted = True
        log("interrupted: cleaning up, writing what was measured")
    finally:
        for p in list(ctx.live):
            hp.stop_process(p, signal.SIGTERM, 20)
        hp.reap_orphans()
        if not ctx.cgroups.remove():
            log("warning: a benchmark cgroup could not be removed")
        if not ctx.keep:
            shutil.rmtree(ctx.tmp, ignore_errors=True)
        else:
            log(f"kept {ctx.tmp}")
    result["interrupted"] = interrupted
    result["wall_seconds"] = round(time.time() - started, 1)
    result["load_avg_at_end"] = os.getloadavg()
    harness_report.add_ratios(result)
    out = None
    if a.save:
        out = a.out or os.path.join(HERE, "results", time.strftime(
            "%Y%m%dT%H%M%SZ", time.gmtime(started)) + (f"-{result['mode']}") + ".json")
        os.makedirs(os.path.dirname(out), exist_ok=True)
        with open(out, "w") as f:
            json.dump(result, f, indent=1, sort_keys=False)
            f.write("\n")
    print(harness_report.text_tables(result))
    if out:
        log(f"results: {os.path.relpath(out, ROOT)}")
    if a.docs and out:
        harness_report.write_docs(result, os.path.join(ROOT, "docs", "benchmarks.md"),
                                  a.chart, os.path.relpath(out, ROOT))
        log("docs/benchmarks.md harness section and chart rewritten")
    bad = [r for r in result["runs"] if r["status"] in ("failed", "mismatch", "aborted")]
    return 1 if bad or interrupted else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
