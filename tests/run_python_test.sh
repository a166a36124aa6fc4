#!/usr/bin/env bash
# Runs one Python integration test with Debian's python3 from the runfiles
# root, so `tests.lib` imports resolve. Arguments: script, then binaries.
set -euo pipefail
cd "${TEST_SRCDIR}/${TEST_WORKSPACE}"
script="$1"
shift
export PYTHONPATH="$PWD"
exec /usr/bin/python3 -u "$script" "$@"
