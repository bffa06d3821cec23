#!/bin/bash
# run.sh BUILD_DIR [SECONDS]: runs every fuzz target of BUILD_DIR (configured
# with -Dfuzz=true) for SECONDS each (default 25) on a copy of its seed corpus
# from tests/data/fuzz, so the repository is never written. Prints one line per
# target ("PASS fuzz_npy: 41230 runs" or "FAIL ...", with the sanitizer report)
# and last "fuzz: N passed, N failed". Exits 1 when a target found a crash, a
# leak or a sanitizer report; the inputs that did it are kept and named.
set -u
build=${1:?usage: run.sh BUILD_DIR [SECONDS]}
seconds=${2:-25}
here=$(cd "$(dirname "$0")" && pwd)
seeds=$here/../data/fuzz
work=$(mktemp -d /tmp/kcl-fuzz-run.XXXXXX)

# target:seed directories (the first gets the corpus copy's new inputs).
targets=(npy:npy idx:idx csv:csv safetensors:safetensors model_json:json
         model_load:"model safetensors" cache:cache)

# Sanitizer reports end the run; leaks are checked after each input and at
# exit. The device targets need full allocation stacks for the driver
# suppressions (lsan.supp) to match.
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export LSAN_OPTIONS=suppressions=$here/lsan.supp:print_suppressions=0
export KCL_CACHE_DIR=$work/kernel-cache     # the context's disk cache is off anyway

passed=0 failed=0
for entry in "${targets[@]}"; do
    name=${entry%%:*}
    exe=$build/tests/fuzz/fuzz_$name
    dir=$work/$name
    mkdir -p "$dir/corpus"
    for s in ${entry#*:}; do
        cp "$seeds/$s"/* "$dir/corpus/"
    done
    asan=detect_leaks=1:allocator_may_return_null=0
    [[ $name == model_* ]] && asan=$asan:fast_unwind_on_malloc=0
    ASAN_OPTIONS=$asan "$exe" -max_total_time="$seconds" -timeout=60 -rss_limit_mb=3072 \
        -print_final_stats=1 -artifact_prefix="$dir/" "$dir/corpus" > "$dir/log" 2>&1
    rc=$?
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$dir/log")
    found=$(ls "$dir" | grep -E '^(crash|leak|timeout|oom)-' || true)
    if [ $rc -eq 0 ] && [ -z "$found" ] &&
       ! grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$dir/log"; then
        echo "PASS fuzz_$name: ${runs:-?} runs in ${seconds} s"
        passed=$((passed + 1))
    else
        echo "FAIL fuzz_$name (exit $rc): inputs kept in $dir: ${found:-none}"
        grep -vE '^#[0-9]+|^INFO:|NEW_FUNC' "$dir/log" | tail -60
        failed=$((failed + 1))
    fi
done
[ $failed -eq 0 ] && rm -rf "$work"
echo "fuzz: $passed passed, $failed failed"
[ $failed -eq 0 ]
