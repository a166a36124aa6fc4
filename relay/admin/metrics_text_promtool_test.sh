#!/usr/bin/env bash
# metrics_text_promtool_test.sh — feeds metrics_text_example's document to
# `promtool check metrics` (Debian's prometheus package, tools/packages) and
# fails on any complaint: a parse error or a lint warning (promtool prints
# both and exits non-zero for either).
# Argument: the path of the metrics_text_example binary.
set -euo pipefail
PROMTOOL="${PROMTOOL:-/usr/bin/promtool}"
if [ ! -x "$PROMTOOL" ]; then
  echo "$PROMTOOL not found: apt-get install prometheus (tools/packages)" >&2
  exit 1
fi
document="$("$1")"
[ -n "$document" ] || { echo "the example printed nothing" >&2; exit 1; }
rc=0
complaints="$(printf '%s\n' "$document" | "$PROMTOOL" check metrics 2>&1)" || rc=$?
if [ "$rc" -ne 0 ] || [ -n "$complaints" ]; then
  echo "promtool check metrics (exit $rc):" >&2
  echo "$complaints" >&2
  echo "--- the document:" >&2
  echo "$document" >&2
  exit 1
fi
echo "promtool check metrics: no complaints ($(printf '%s\n' "$document" | wc -l) lines)"
