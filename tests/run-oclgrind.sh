#!/bin/sh
# Runs a test program on the Oclgrind simulator with its checks on, and fails
# when Oclgrind reports anything (out-of-bounds access, data race,
# uninitialised value, invalid API use) even if the test's own checks passed.
# usage: run-oclgrind.sh PROGRAM [ARGS...]   (KCL_DEVICE=oclgrind is set by meson)
log=$(mktemp "${TMPDIR:-/tmp}/kcl-oclgrind-XXXXXX.log") || exit 1
trap 'rm -f "$log"' EXIT
OCLGRIND_CHECK_API=1 OCLGRIND_DATA_RACES=1 OCLGRIND_UNINITIALIZED=1 OCLGRIND_LOG="$log" "$@"
rc=$?
if [ -s "$log" ]; then
    echo "# Oclgrind reported errors:" >&2
    sed 's/^/# /' "$log" >&2
    echo "Bail out! Oclgrind reported errors (see above)"
    [ "$rc" -eq 0 ] && rc=1
fi
exit "$rc"
