#!/usr/bin/env python3
"""`tools/dev run` with no arguments: the relay relaying, with its figures.

Starts the bundled sink, a relay (durable spool in a temporary directory,
smarthost route to the sink) and the load generator on loopback, shows the
load generator's progress, waits until every message reached the sink, and
prints messages/sec and the relay's CPU microseconds per message (utime +
stime of the relay process from /proc, over the whole run: reception,
spooling and delivery). For scale it first runs the same load straight from
the load generator into the sink (no relay) and prints the ratio.

Options: --messages N (default 100000), --size BYTES (1024),
--connections N (16), --shards N (1), --durability fsync|none.
"""
import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "bazel-bin")
TICKS = os.sysconf("SC_CLK_TCK")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    sys.exit(f"demo: nothing listens on port {port}")


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


def count_deliveries(path):
    try:
        with open(path, "rb") as f:
            return f.read().count(b'"type":"Delivery"')
    except FileNotFoundError:
        return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=100000)
    ap.add_argument("--size", type=int, default=1024)
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--shards", type=int, default=1)
    ap.add_argument("--durability", default="fsync")
    a = ap.parse_args()

    tmp = tempfile.mkdtemp(prefix="ringpost-demo-")
    sink_port, relay_port = free_port(), free_port()
    log = os.path.join(tmp, "delivery.log")
    procs = []
    try:
        sink = subprocess.Popen([f"{BIN}/bench/sink", f"--listen=127.0.0.1:{sink_port}",
                                 "--cpu=1", f"--report={tmp}/sink.json"])
        procs.append(sink)
        wait_port(sink_port)
        relay = subprocess.Popen([f"{BIN}/relay/ringpost", f"--listen=127.0.0.1:{relay_port}",
                                  f"--shards={a.shards}", f"--spool={tmp}/spool", "--drain_grace=0",
                                  f"--log={log}", f"--route=*=127.0.0.1:{sink_port}",
                                  f"--durability={a.durability}", "--hostname=relay.demo"])
        procs.append(relay)
        wait_port(relay_port)
        print(f"demo: sink on :{sink_port}, relay on :{relay_port} "
              f"({a.shards} shard(s), durability={a.durability}), spool {tmp}/spool",
              file=sys.stderr)
        # Baseline in the same run: the same load straight into the sink.
        direct = subprocess.run([f"{BIN}/bench/loadgen", f"--target=127.0.0.1:{sink_port}",
                                 f"--messages={a.messages}", f"--size={a.size}",
                                 f"--connections={a.connections}", "--cpu=1", "--quiet"],
                                stdout=subprocess.PIPE, text=True, timeout=900)
        baseline = json.loads(direct.stdout.strip().splitlines()[-1])
        cpu0, t0 = cpu_seconds(relay.pid), time.monotonic()
        lg = subprocess.run([f"{BIN}/bench/loadgen", f"--target=127.0.0.1:{relay_port}",
                             f"--messages={a.messages}", f"--size={a.size}",
                             f"--connections={a.connections}", "--cpu=1",
                             "--rcpt_domains=a.test,b.test,c.test,d.test"],
                            stdout=subprocess.PIPE, text=True, timeout=900)
        summary = json.loads(lg.stdout.strip().splitlines()[-1])
        accepted = summary["messages"]
        deadline = time.monotonic() + 300
        while count_deliveries(log) < accepted and time.monotonic() < deadline:
            time.sleep(0.2)
        delivered = count_deliveries(log)
        elapsed = time.monotonic() - t0
        cpu = cpu_seconds(relay.pid) - cpu0
        relay.send_signal(signal.SIGTERM)
        relay.wait(timeout=60)
        us_per_msg = cpu * 1e6 / max(delivered, 1)
        print()
        print(f"messages accepted      {accepted}")
        print(f"messages delivered     {delivered}")
        print(f"accept rate            {summary['msgs_per_sec']:.0f} msgs/sec "
              f"(p50 {summary['latency_us']['p50']} us, p99 {summary['latency_us']['p99']} us)")
        print(f"end-to-end rate        {delivered / elapsed:.0f} msgs/sec")
        print(f"relay CPU per message  {us_per_msg:.1f} us")
        print(f"messages/sec/core      {1e6 / us_per_msg:.0f}")
        print(f"baseline (no relay)    {baseline['msgs_per_sec']:.0f} msgs/sec loadgen -> sink "
              f"directly; relay end-to-end = {delivered / elapsed / baseline['msgs_per_sec']:.2f}x")
        return 0 if delivered == accepted == a.messages else 1
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    p.kill()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
