#!/usr/bin/env bash
# bench/instructions.sh — user-space instructions per relayed message, by
# function, under callgrind: a figure the machine's other tenants cannot
# move (CPU time on this shared VM drifts by ±20% between runs).
#
#   bench/instructions.sh [RELAY_BINARY] ["LOADGEN FLAGS"]
#   bench/instructions.sh                      # this tree's relay, BDAT x32
#   bench/instructions.sh /tmp/ringpost-base "--connections=16"
#
# Runs bench/profile.sh twice (10,000 and 30,000 messages, 1 KB, one shard)
# with the relay under `valgrind --tool=callgrind`, dumps the counts once
# every message is delivered, and prints the difference divided by 20,000:
# start-up and warm-up cancel out. Counts instructions only (not cache
# misses, not the kernel): use it for user-space A/B steps, and
# bench/profile.sh or the harness for time. Needs valgrind (Debian's
# package). About a minute per run. RELAY_FLAGS="..." adds relay flags;
# SINK_FLAGS (see profile.sh) the sink's. TLS on both sides of the relay:
#   SINK_FLAGS="--tls_cert=C --tls_key=K" \
#   RELAY_FLAGS="--tls_cert=C --tls_key=K --outbound_tls=encrypt" \
#   bench/instructions.sh "" "--connections=16 --chunking --inflight=32 --tls"
set -euo pipefail
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null || { echo "instructions.sh: needs valgrind (apt-get install valgrind)" >&2; exit 2; }
bin=${1:-$(bazel info bazel-bin 2>/dev/null)/relay/ringpost}
loadgen_flags=${2:---connections=16 --chunking --inflight=32}
dir=${PROFILE_DIR:-/tmp/ringpost-profile}
out=$dir/callgrind
mkdir -p "$out"
wrapper=$out/relay.sh
cat >"$wrapper" <<WRAP
#!/bin/sh
exec valgrind --tool=callgrind --callgrind-out-file="$out/run.\$RINGPOST_CG_RUN" "$bin" "\$@"
WRAP
chmod +x "$wrapper"
for n in 10000 30000; do
  rm -f "$out/run.$n"* "$dir/delivery.log"  # (a previous run's log would end the wait)
  RINGPOST_CG_RUN=$n RINGPOST_BIN=$wrapper PROFILE_DIR=$dir \
    bench/profile.sh --messages=$n "--shards=1 ${RELAY_FLAGS:-}" "$loadgen_flags" >/dev/null 2>&1 &
  profile=$!
  # Dump once all are delivered: the relay's own shutdown under valgrind
  # may not see its signal, so it is then killed.
  for _ in $(seq 1 600); do
    sleep 0.5
    c=$(grep -c '"Delivery"' "$dir/delivery.log" 2>/dev/null || true)
    [[ ${c:-0} -ge $n ]] && break
  done
  pid=$(pgrep -f "callgrind-out-file=$out/run.$n" | head -1 || true)
  [[ -n $pid ]] || { echo "instructions.sh: the relay under valgrind is not running" >&2; exit 1; }
  timeout 30 callgrind_control -d "$pid" >/dev/null 2>&1
  kill -9 "$pid" 2>/dev/null || true
  wait "$profile" 2>/dev/null || true
done
python3 - "$out/run.10000.1" "$out/run.30000.1" <<'PY'
import re, subprocess, sys

def load(path):
    text = subprocess.run(["callgrind_annotate", "--threshold=100", path],
                          capture_output=True, text=True, check=True).stdout
    total, by_fn = 0, {}
    for line in text.splitlines():
        m = re.match(r"\s*([\d,]+) \([ \d.]+%\)\s+(\S.*)$", line)
        if not m:
            continue
        v = int(m.group(1).replace(",", ""))
        if "PROGRAM TOTALS" in m.group(2):
            total = v
            continue
        name = re.sub(r"\s*\[.*\]$", "", m.group(2))
        by_fn[name] = by_fn.get(name, 0) + v
    return total, by_fn

t1, a = load(sys.argv[1])
t2, b = load(sys.argv[2])
print(f"relay user-space instructions per message: {(t2 - t1) / 20000:.0f}")
rows = sorted(((b.get(k, 0) - a.get(k, 0)) / 20000, k) for k in set(a) | set(b))
for v, k in reversed(rows[-30:]):
    print(f"{v:8.0f}  {k[:140]}")
PY
