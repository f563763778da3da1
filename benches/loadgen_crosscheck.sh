#!/usr/bin/env bash
# Cross-checks dialbridge-load against SIPp at one call rate: the same calls (INVITE, 200, ACK,
# the 9-digit conference ID and ## as RFC 4733 events, the lobby for 2 s, BYE, spread over 4
# conferences) against the same release bridge started with the same flags, once driven by
# SIPp through the load benchmark's setup scenario and once by dialbridge-load.
#
#     sudo benches/loadgen_crosscheck.sh 200 20      # rate (calls/s) and seconds
#
# Root: the load benchmark puts SIPp in a network namespace of its own (SIPp's pcap player
# needs raw sockets); dialbridge-load runs in a fresh loopback-only namespace too (unshare -n),
# without the benchmark's nftables rule, since it must receive the bridge's RTP to see the
# lobby. Needs sip-tester and nftables (./test.sh installs them).
set -euo pipefail
rate=${1:-200}
secs=${2:-20}
cd "$(dirname "$0")/.."
cargo build --release --bin dialbridge --bin dialbridge-load

echo "== SIPp: cargo bench --bench load -- setup --rate $rate --secs $secs"
cargo bench --bench load -- setup --rate "$rate" --secs "$secs" 2>/dev/null | grep -E '^setup:'

echo "== dialbridge-load --rate $rate --duration $secs"
data=$(mktemp -d)
trap 'rm -rf "$data"' EXIT
unshare -n bash -s "$rate" "$secs" "$data" <<'EOF'
set -euo pipefail
rate=$1; secs=$2; data=$3
ip link set lo up
bridge=target/release/dialbridge
confs=()
for i in 0 1 2 3; do
  id=$($bridge --data-dir "$data" organizer add --name "Load $i" --email "load$i@example.com" --json 2>/dev/null |
       sed -n 's/.*"conference_id":"\([0-9]*\)".*/\1/p')
  confs+=(--conference "$id")
done
# The flags benches/support/loadkit.rs gives the bridge: capacity is what is measured.
$bridge --data-dir "$data" --log warn serve --sip-listen 127.0.0.1:5060 \
  --http-listen 127.0.0.1:8080 --rtp-ports 10000-23999 --max-calls 0 --max-call-rate 0 \
  2>"$data/bridge.log" &
pid=$!
for _ in $(seq 100); do
  [ -s "$data/admin-token" ] && break
  sleep 0.1
done
bridge_cpu() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
before=$(bridge_cpu); t0=$(date +%s.%N)
target/release/dialbridge-load --target 127.0.0.1:5060 "${confs[@]}" \
  --rate "$rate" --duration "$secs" --hold 2 || true
after=$(bridge_cpu); t1=$(date +%s.%N)
echo "bridge CPU: $(echo "($after - $before) / $(getconf CLK_TCK) / ($t1 - $t0) * 100" | bc -l | cut -c1-5) % of a core"
curl -s 127.0.0.1:8080/metrics | grep -E '^dialbridge_(conference_joins_total|sip_retransmissions_total)' || true
kill "$pid"
wait "$pid" || true
EOF
