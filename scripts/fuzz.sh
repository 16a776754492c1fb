#!/usr/bin/env bash
# Runs lucid's fuzz targets (fuzz/, issue 19): every webhook parser, the signature
# checks, the mention and task-text parsers and the renderers, each asserting no panic
# and each platform's size limit.
#
#   scripts/fuzz.sh                    every target for 60 s
#   scripts/fuzz.sh 600                every target for 600 s
#   scripts/fuzz.sh --runs 10000000    every target for 10 million executions
#   scripts/fuzz.sh 30 slack_events    one target (or several) for 30 s
#
# Installs cargo-fuzz when it is missing. Builds with libFuzzer, no sanitizer (lucid is
# safe Rust: a panic is what is looked for), debug assertions and overflow checks on.
# Builds go to LUCID_FUZZ_TARGET_DIR (default /var/tmp/lucid-fuzz-target, apart from
# the tests' target directory so neither invalidates the other), and the corpus each
# run grows to $LUCID_FUZZ_TARGET_DIR/corpus/<target>; the seeds in fuzz/corpus/ are
# read, never written. A crash is kept in fuzz/artifacts/<target>/ and fails the
# script. A table of each target's executions, rate, coverage and the CPU steal during
# its run is printed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=60
runs=
case "${1:-}" in
    --runs) runs=${2:?--runs takes a number}; shift 2 ;;
    '' | -*) ;;
    *) seconds=$1; shift ;;
esac

if ! command -v cargo-fuzz > /dev/null; then
    cargo install cargo-fuzz --locked
fi
# cargo-fuzz passes rustc flags that stable rustc takes only with this (the
# instrumentation itself is stable).
export RUSTC_BOOTSTRAP=1
export CARGO_TARGET_DIR="${LUCID_FUZZ_TARGET_DIR:-/var/tmp/lucid-fuzz-target}"
flags=(--sanitizer none --debug-assertions --target-dir "$CARGO_TARGET_DIR")

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    mapfile -t targets < <(cargo fuzz list)
fi
# LUCID_FUZZ_NO_BUILD=1 runs what was built last (while the tree changes under it).
if [ -z "${LUCID_FUZZ_NO_BUILD:-}" ]; then
    if [ ${#targets[@]} -eq 1 ]; then
        cargo fuzz build "${flags[@]}" "${targets[0]}"
    else
        cargo fuzz build "${flags[@]}"
    fi
fi
bin="$CARGO_TARGET_DIR/$(rustc -vV | sed -n 's/^host: //p')/release"

if [ -n "$runs" ]; then
    limit=(-runs="$runs")
else
    limit=(-max_total_time="$seconds")
fi

# Jiffies (all, steal) from /proc/stat, to report the steal during a run.
cpu() { awk '/^cpu /{ t=0; for (i=2; i<=NF; i++) t+=$i; print t, $9 }' /proc/stat; }

logs="$CARGO_TARGET_DIR/logs"
mkdir -p "$logs"
rows=()
failed=0
for target in "${targets[@]}"; do
    corpus="$CARGO_TARGET_DIR/corpus/$target"
    mkdir -p "$corpus" "fuzz/corpus/$target"
    read -r t0 s0 < <(cpu)
    start=$(date +%s)
    status=ok
    mkdir -p "fuzz/artifacts/$target"
    if ! "$bin/$target" "$corpus" "fuzz/corpus/$target" \
        -artifact_prefix="fuzz/artifacts/$target/" "${limit[@]}" -print_final_stats=1 \
        -timeout=10 -rss_limit_mb=2048 > "$logs/$target.log" 2>&1; then
        status=CRASH
        failed=1
        grep -E "panicked at|^SUMMARY|Test unit written|Running: " "$logs/$target.log" | head -n 8 >&2 || true
    fi
    read -r t1 s1 < <(cpu)
    took=$(($(date +%s) - start))
    log="$logs/$target.log"
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
    cov=$( (grep -oE 'cov: [0-9]+ ft: [0-9]+' "$log" || true) | tail -n 1 | sed 's/cov: //; s/ ft: /\//')
    size=$(find "$corpus" -type f | wc -l)
    steal=$(awk -v a="$((t1 - t0))" -v b="$((s1 - s0))" 'BEGIN { printf "%.1f%%", a ? 100 * b / a : 0 }')
    rows+=("$(printf '%-20s %12s %6ss %9s %14s %7s %7s %6s' \
        "$target" "${execs:-?}" "$took" "${rate:-?}" "${cov:-?}" "$size" "$steal" "$status")")
    echo "${rows[-1]}"
done

echo
printf '%-20s %12s %7s %9s %14s %7s %7s %6s\n' target executions time exec/s cov/features corpus steal result
printf '%s\n' "${rows[@]}"
exit "$failed"
