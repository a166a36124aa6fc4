#!/usr/bin/env bash
# dns/fuzz.sh — build and run the DNS reply fuzzer with clang + libFuzzer.
#
#   dns/fuzz.sh [SECONDS]        fuzz for SECONDS (default 60)
#   dns/fuzz.sh --build          build only
#   dns/fuzz.sh FILE...          re-run inputs (e.g. a crash artifact)
#
# Bazel builds with gcc; libFuzzer needs clang (Debian: clang,
# libclang-rt-14-dev). The target is compiled straight from its sources
# with -fsanitize=fuzzer,address,undefined, the same flags and layout as
# tools/fuzz: binary, working corpus and crash artifacts under $FUZZ_OUT
# (default /tmp/ringpost-fuzz), never in the repository. Seeds are read
# from dns/testdata/response_corpus/ (regenerate: dns/testdata/make_response_corpus.py).
# A crash: copy the artifact into dns/testdata/response_corpus/regress-<what>
# (//dns:response_fuzzer_regression_test replays it under gcc) and add a
# unit test in dns/message_test.cc.
set -euo pipefail
cd "$(dirname "$0")/.."

OUT="${FUZZ_OUT:-/tmp/ringpost-fuzz}"
CXX="${FUZZ_CXX:-clang++}"
T=dns_response
BIN="$OUT/bin/$T"
SEEDS=dns/testdata/response_corpus
SRCS="dns/response_fuzzer.cc dns/message.cc base/mailbox.cc dns/answer.cc dns/mx.cc dns/address.cc dns/random.cc"

command -v "$CXX" >/dev/null || {
  echo "dns/fuzz.sh: $CXX not found (apt-get install clang libclang-rt-14-dev)" >&2
  exit 2
}
abseil_libs() { grep -o '"-labsl_[a-z0-9_]*"' third_party/BUILD.bazel | tr -d '"' | tr '\n' ' '; }

build() {
  if [ -x "$BIN" ] && [ -z "$(find dns -name '*.cc' -newer "$BIN" -o -name '*.h' -newer "$BIN" | head -1)" ]; then
    return 0
  fi
  mkdir -p "$OUT/bin"
  echo "dns/fuzz.sh: building $BIN" >&2
  # shellcheck disable=SC2046,SC2086
  "$CXX" -std=c++20 -O1 -g -fno-omit-frame-pointer \
    -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
    -I. -Wno-unused-command-line-argument \
    $SRCS -o "$BIN.tmp" $(abseil_libs) -lldns -lpthread
  mv "$BIN.tmp" "$BIN"
}

build
case "${1:-}" in
  --build) exit 0 ;;
  ""|[0-9]*)
    secs="${1:-60}"
    mkdir -p "$OUT/corpus/$T" "$OUT/artifacts/$T"
    echo "dns/fuzz.sh: fuzzing for ${secs}s (corpus $OUT/corpus/$T, seeds $SEEDS)" >&2
    ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}" \
    timeout --kill-after=30 $((secs + 120)) \
      "$BIN" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
        -print_final_stats=1 -artifact_prefix="$OUT/artifacts/$T/" \
        "$OUT/corpus/$T" "$SEEDS"
    ;;
  *)
    exec "$BIN" "$@"
    ;;
esac
