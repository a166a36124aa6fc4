#!/usr/bin/env python3
"""bench/soak.py — a long run that checks the relay's memory stays flat.

    python3 bench/soak.py [--messages=10000000] [--relay-arg=FLAG ...]

Starts the bundled sink, the relay (one shard, durable, its delivery log on
disk) and the load generator (1 KB, BDAT 32 in flight per connection, 16
connections) on loopback, sends --messages, and samples the relay's VmRSS
and CPU once a second. Prints a table at every 10% of the messages and a
verdict: RSS growth between 20% (warm) and 100% must stay under
--max-growth-mib (default 8), and the sink must have received every
accepted message. Writes the samples as CSV beside the other results
(--out, default bench/results/soak-<time>.csv). Every wait is bounded;
only processes started here are signalled, by PID.
"""
import argparse
import csv
import datetime
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import harness  # noqa: E402
import harness_procs as hp  # noqa: E402



def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--messages", type=int, default=10_000_000)
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--inflight", type=int, default=32)
    ap.add_argument("--max-growth-mib", type=float, default=8.0)
    ap.add_argument("--relay-arg", action="append", default=[])
    ap.add_argument("--out", default=None)
    ap.add_argument("--timeout", type=float, default=3600.0, help="seconds for the whole run")
    args = ap.parse_args()

    b = harness.resolve_bins(None)
    work = tempfile.mkdtemp(prefix="ringpost-soak-", dir="/var/tmp")
    sink_port, relay_port = hp.free_port(), hp.free_port()
    procs = []
    samples = []
    try:
        sink = subprocess.Popen([b["sink"], f"--listen=127.0.0.1:{sink_port}", "--cpu=1",
                                 f"--report={work}/sink.json"],
                                stdout=subprocess.DEVNULL, stderr=open(f"{work}/sink.err", "w"))
        procs.append(sink)
        relay = subprocess.Popen([b["ringpost"], f"--listen=127.0.0.1:{relay_port}",
                                  f"--spool={work}/spool", f"--log={work}/delivery.log", "--drain_grace=0",
                                  f"--route=*=127.0.0.1:{sink_port}", "--dns=127.0.0.1:9",
                                  "--shards=1", *args.relay_arg],
                                 stdout=subprocess.DEVNULL,
                                 stderr=open(f"{work}/relay.err", "w"))
        procs.append(relay)
        if not hp.wait_port(sink_port, 20, sink) or not hp.wait_port(relay_port, 20, relay):
            sys.exit(f"soak: sink or relay did not start; see {work}")
        load = subprocess.Popen([b["loadgen"], f"--target=127.0.0.1:{relay_port}",
                                 f"--messages={args.messages}", "--cpu=1", "--quiet",
                                 "--chunking", f"--inflight={args.inflight}",
                                 f"--connections={args.connections}",
                                 "--rcpt_domains=a.test,b.test,c.test,d.test",
                                 f"--timeout_s={int(args.timeout)}"],
                                stdout=open(f"{work}/loadgen.json", "w"),
                                stderr=open(f"{work}/loadgen.err", "w"))
        procs.append(load)
        start = time.monotonic()
        cpu0 = hp.proc_cpu_us(relay.pid)
        deadline = start + args.timeout
        last_log_size = 0
        while load.poll() is None and time.monotonic() < deadline:
            time.sleep(1.0)
            # Delivery records so far, counted from the growth of the log.
            try:
                size = os.path.getsize(f"{work}/delivery.log")
            except OSError:
                size = last_log_size
            last_log_size = size
            samples.append({
                "t_s": round(time.monotonic() - start, 1),
                "rss_kib": hp.status_kib(relay.pid, "VmRSS"),
                "cpu_s": round((hp.proc_cpu_us(relay.pid) - cpu0) / 1e6, 2),
                "log_bytes": size,
            })
        if load.poll() is None:
            sys.exit(f"soak: loadgen still running after {args.timeout}s")
        summary = json.load(open(f"{work}/loadgen.json"))
        accepted = summary.get("messages", 0)
        # Let delivery finish: the sink's count (its report, written on
        # SIGUSR1) must reach what was accepted; bounded.
        got = -1
        settle = time.monotonic() + 120
        while time.monotonic() < settle:
            sink.send_signal(signal.SIGUSR1)
            time.sleep(0.5)
            try:
                got = json.load(open(f"{work}/sink.json")).get("messages", -1)
            except (OSError, ValueError):
                continue
            if got >= accepted:
                break
        hp.stop_process(relay)
        hp.stop_process(sink, timeout=30)
    finally:
        for p in procs:
            if p.poll() is None:
                hp.stop_process(p, timeout=30)

    n = len(samples)
    if n < 10:
        sys.exit("soak: too short to judge (fewer than 10 samples)")
    print(f"soak: {args.messages:,} messages, {summary.get('msgs_per_sec', 0):,.0f} msgs/s, "
          f"{n} s; sink received {got:,} of {accepted:,} accepted")
    print("| progress | t s | relay VmRSS MiB | relay CPU s |")
    print("| --- | --- | --- | --- |")
    for k in range(1, 11):
        s = samples[min(n - 1, n * k // 10 - 1)]
        print(f"| {k * 10}% | {s['t_s']} | {s['rss_kib'] / 1024:.1f} | {s['cpu_s']} |")
    warm_at = n * 2 // 10 - 1  # the 20% row of the table
    warm = samples[warm_at]["rss_kib"]
    late = max(s["rss_kib"] for s in samples[warm_at:])
    growth = (late - warm) / 1024
    out = args.out or os.path.join(
        HERE, "results", "soak-" + datetime.datetime.utcnow().strftime("%Y%m%dT%H%M%SZ") + ".csv")
    with open(out, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(samples[0]))
        w.writeheader()
        w.writerows(samples)
    ok = growth <= args.max_growth_mib and got == accepted and accepted > 0
    print(f"soak: RSS at 20% {warm / 1024:.1f} MiB, highest after {late / 1024:.1f} MiB: "
          f"growth {growth:+.1f} MiB (limit {args.max_growth_mib}); samples in {out}; "
          f"{'PASS' if ok else 'FAIL'}")
    shutil.rmtree(work, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
