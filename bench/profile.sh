#!/usr/bin/env bash
# bench/profile.sh — one quick measured run for the performance drive, and
# optionally a perf profile of the relay.
#
#   bench/profile.sh [--perf] [--messages=N] "RELAY FLAGS" "LOADGEN FLAGS"
#   bench/profile.sh "--shards=1" "--connections=16"
#   bench/profile.sh --perf "--shards=1" "--connections=16 --chunking --inflight=32"
#
# Starts the bundled sink (CPU 1), the relay (its flags; shard 0 pins itself
# to CPU 0) and the load generator (CPU 1) on loopback ports nobody uses,
# sends N messages (default 100000, 1 KB, recipients over four domains),
# waits until the delivery log holds a Delivery per message (at most 30 s),
# and prints one line: msgs/s as loadgen saw them, relay CPU µs per message
# from /proc/PID/stat (utime + stime, every thread incl. io-wq workers), and
# loadgen's p99 acceptance latency; then the relay's exit statistics.
# With --perf: `perf record -e cpu-clock -g` on the relay during the load
# (software clock: this VM has no hardware counters) and the hottest
# symbols by thread (PERF_CALLGRAPH=dwarf for stacks through libc, PERF_FREQ
# for the rate). RELAY_ENV="K=V ..." sets the relay's environment;
# SINK_FLAGS="..." adds sink flags (TLS: --tls_cert=PEM --tls_key=PEM);
# RINGPOST_BIN=path runs another relay binary (e.g. one built from the base
# commit in a git worktree) for an A/B against the same sink and loadgen. Work files under ${PROFILE_DIR:-/tmp/ringpost-profile}.
#
# The harness (tools/dev bench) is the reference; this is for A/B steps:
# run both variants alternately, several times, on a machine whose other
# tenants make absolute figures drift.
set -euo pipefail
cd "$(dirname "$0")/.."

perf=0
messages=100000
while [[ $# -gt 0 ]]; do
  case $1 in
    --perf) perf=1 ;;
    --messages=*) messages=${1#--messages=} ;;
    *) break ;;  # the relay's flags
  esac
  shift
done
relay_flags=${1:-}
loadgen_flags=${2:-}
bin=$(bazel info bazel-bin 2>/dev/null)
for b in relay/ringpost bench/sink bench/loadgen; do
  [[ -x $bin/$b ]] || { echo "profile.sh: build first: bazel build //relay:ringpost //bench:all" >&2; exit 2; }
done
dir=${PROFILE_DIR:-/tmp/ringpost-profile}
rm -rf "$dir/spool" "$dir/delivery.log"
mkdir -p "$dir"
read -r sink_port relay_port < <(python3 -c '
import socket
ss = [socket.socket() for _ in range(2)]
for s in ss: s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in ss))')

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

"$bin/bench/sink" --listen=127.0.0.1:$sink_port --cpu=1 ${SINK_FLAGS:-} >"$dir/sink.out" 2>&1 &
sink=$!; pids+=($sink)
# shellcheck disable=SC2086
env ${RELAY_ENV:-} "${RINGPOST_BIN:-$bin/relay/ringpost}" --listen=127.0.0.1:$relay_port --spool="$dir/spool" --drain_grace=0 \
  --log="$dir/delivery.log" --route="*=127.0.0.1:$sink_port" --dns=127.0.0.1:9 \
  $relay_flags >"$dir/relay.out" 2>&1 &
relay=$!; pids+=($relay)
for _ in $(seq 1 100); do
  (exec 3<>/dev/tcp/127.0.0.1/$relay_port) 2>/dev/null && break
  sleep 0.05
done
cpu() { awk '{print $14 + $15}' "/proc/$relay/stat"; }
before=$(cpu)
if [[ $perf == 1 ]]; then
  perf record -e cpu-clock -F ${PERF_FREQ:-4000} --call-graph ${PERF_CALLGRAPH:-fp} -p "$relay" -o "$dir/perf.data" >"$dir/perf.out" 2>&1 &
  perfpid=$!; pids+=($perfpid)
fi
# shellcheck disable=SC2086
"$bin/bench/loadgen" --target=127.0.0.1:$relay_port --messages="$messages" --quiet --cpu=1 \
  --rcpt_domains=a.test,b.test,c.test,d.test $loadgen_flags >"$dir/loadgen.json"
for _ in $(seq 1 300); do
  n=$(grep -c '"Delivery"' "$dir/delivery.log" 2>/dev/null || true)
  [[ ${n:-0} -ge $messages ]] && break
  sleep 0.1
done
after=$(cpu)
if [[ $perf == 1 ]]; then kill -INT "$perfpid"; wait "$perfpid" 2>/dev/null || true; fi
kill "$relay"; wait "$relay" 2>/dev/null || true
kill "$sink"; wait "$sink" 2>/dev/null || true
trap - EXIT
hz=$(getconf CLK_TCK)
python3 - "$before" "$after" "$hz" "$messages" "$dir/loadgen.json" <<'PY'
import json, sys
before, after, hz, n, path = float(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
d = json.load(open(path))
us = (after - before) / hz * 1e6 / n
print(f"{d['msgs_per_sec']:.0f} msgs/s, relay {us:.1f} us CPU/msg, accept p99 {d['latency_us']['p99']} us")
PY
grep -h "commits" "$dir/relay.out" || true
if [[ $perf == 1 ]]; then
  perf report -i "$dir/perf.data" --no-children --stdio --sort comm -g none 2>/dev/null | grep '%' | head -5
  perf report -i "$dir/perf.data" --no-children --stdio --sort dso,symbol -g none 2>/dev/null |
    grep '%' | head -30 | cut -c1-110
fi
