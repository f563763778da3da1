#!/usr/bin/env bash
# Runs every cargo-fuzz target for SECONDS each (default 60), one after the other, and fails
# if any of them finds a crash, a timeout or a leak. Prints per target: executions, speed,
# edge coverage (cov), features (ft) and corpus size as libFuzzer reports them at the end.
#
#   fuzz/run.sh            # 60 s per target (the CI run)
#   fuzz/run.sh 600        # 10 min per target
#   FUZZ_TARGETS="sdp rtp" fuzz/run.sh 30
#   FUZZ_JOBS=2 fuzz/run.sh 20   # two targets at a time (one per core)
#
# cargo fuzz needs nightly-only flags (-Zsanitizer=address); RUSTC_BOOTSTRAP=1 lets the stable
# toolchain accept them, since no nightly toolchain can be installed here. New inputs found
# go to fuzz/target/corpus/<target> (the committed seeds in fuzz/corpus stay as they are);
# a crashing input is saved in fuzz/artifacts/<target>/ and its path printed.
set -euo pipefail

seconds="${1:-60}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "installing cargo-fuzz"
    cargo install cargo-fuzz --locked
fi
export RUSTC_BOOTSTRAP=1

targets="${FUZZ_TARGETS:-sip_message sdp rtp rfc4733 sip_info engine srtp}"

max_len() {
    case "$1" in
        sip_message | engine) echo 8192 ;;
        rfc4733 | sip_info) echo 1024 ;;
        *) echo 4096 ;;
    esac
}

start=$(date +%s)
# -a: debug assertions and overflow checks, so arithmetic overflow is found too.
cargo fuzz build -a
echo "build: $(($(date +%s) - start)) s"

jobs="${FUZZ_JOBS:-1}"

# One target's run; its status goes to target/fuzz-<target>.status.
run_one() {
    local target=$1
    local work="target/corpus/$target"
    local log="target/fuzz-$target.log"
    mkdir -p "$work" "artifacts/$target"
    local args=(-max_total_time="$seconds" -max_len="$(max_len "$target")" -timeout=10
                -print_final_stats=1)
    case "$target" in
        sip_message | sdp | sip_info | engine) args+=(-dict=sip.dict) ;;
    esac
    local t0
    t0=$(date +%s)
    if cargo fuzz run -a "$target" "$work" "corpus/$target" -- "${args[@]}" >"$log" 2>&1; then
        echo "ok $(($(date +%s) - t0))" >"target/fuzz-$target.status"
    else
        echo "FAILED $(($(date +%s) - t0))" >"target/fuzz-$target.status"
    fi
}

running=0
for target in $targets; do
    run_one "$target" &
    running=$((running + 1))
    if ((running >= jobs)); then
        wait -n || true
        running=$((running - 1))
    fi
done
wait

failed=()
for target in $targets; do
    log="target/fuzz-$target.log"
    read -r status took <"target/fuzz-$target.status"
    [[ $status == ok ]] || failed+=("$target")
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n1)
    speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n1)
    last=$(grep -E '^#[0-9]+[[:space:]]+(DONE|pulse|NEW|REDUCE|INITED)' "$log" | tail -n1 || true)
    cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
    ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
    corp=$(sed -n 's/.* corp: \([^ ]*\).*/\1/p' <<<"$last")
    echo "$target: $status in $took s, ${execs:-?} execs (${speed:-?}/s), cov ${cov:-?}, ft ${ft:-?}, corpus ${corp:-?}"
    if [[ $status == FAILED ]]; then
        grep -E 'panicked at|ERROR: libFuzzer|ERROR: AddressSanitizer|SUMMARY|Test unit written' "$log" | head -n 10 || true
        echo "full log: fuzz/$log"
    fi
done

echo "total: $(($(date +%s) - start)) s"
if ((${#failed[@]})); then
    echo "crashes in: ${failed[*]}"
    exit 1
fi
echo "fuzz: ${seconds} s per target, 0 crashes"
