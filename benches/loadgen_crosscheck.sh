#!/usr/bin/env bash
# Cross-checks dialbridge-load against SIPp at one call rate: the same calls (INVITE, 200, ACK,
# the 9-digit conference ID and ## as RFC 4733 events, the lobby for 2 s, BYE, spread over 4
# conferences) against the same release bridge started with the same flags, once driven by
# SIPp through the load benchmark's setup scenario and once by dialbridge-load.
#
#     sudo benches/loadgen_crosscheck.sh 200 20      # rate (calls/s) and seconds
#
# Root: the load benchmark puts SIPp in a network namespace of its own (SIPp's pcap player
# needs raw sockets); dialbridge-load runs in a fresh loopback-only namespace too
# (benches/loadgen_run.sh), without the benchmark's nftables rule, since it must receive the
# bridge's RTP to see the lobby. Needs sip-tester and nftables (./test.sh installs them).
set -euo pipefail
rate=${1:-200}
secs=${2:-20}
cd "$(dirname "$0")/.."
cargo build --release --bin dialbridge --bin dialbridge-load

echo "== SIPp: cargo bench --bench load -- setup --rate $rate --secs $secs"
cargo bench --bench load -- setup --rate "$rate" --secs "$secs" 2>/dev/null | grep -E '^setup:'

echo "== dialbridge-load --rate $rate --duration $secs (benches/loadgen_run.sh)"
benches/loadgen_run.sh 4 --rate "$rate" --duration "$secs" --hold 2 || true
