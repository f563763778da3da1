#!/usr/bin/env bash
# Runs dialbridge-load against a fresh release bridge: in a loopback-only network namespace
# of its own (unshare -n, so root), with the flags the load benchmark gives the bridge
# (benches/support/loadkit.rs: capacity is measured, so no admission limits), N organizers
# created through the CLI and handed to the generator as ID:PIN lines. Prints the
# generator's results, then the bridge's CPU over the run and some of its counters.
#
#     benches/loadgen_run.sh 4 --rate 200 --duration 20 --hold 2        # attendees
#     benches/loadgen_run.sh 4 --search --rate 250 --duration 60        # RFC 7501 search
#     benches/loadgen_run.sh 20 --meeting 21 --audio --rate 100 --duration 4 --hold 5
#     benches/loadgen_run.sh 4 --transport tls --rate 200 --duration 20 --hold 2  # SIP over TLS
#     benches/loadgen_run.sh 4 --srtp --rate 200 --duration 20 --hold 30          # SRTP callers
#
# With `--transport tls` the bridge gets a certificate from a throwaway CA (openssl) and the
# generator dials its TLS port; with `--srtp` the bridge takes SDES keys over the generator's
# cleartext SIP (`--srtp-over-cleartext-sip`), which only a benchmark should do.
# FIREWALL=stateful|notrack loads contrib/nftables/dialbridge.nft in the namespace first
# (stateful: without its RTP notrack chains), to measure what connection tracking costs.
# BRIDGE_FLAGS="--rtp-send io-uring" adds flags to the bridge's command line.
# DIALBRIDGE_BIN=path runs another build of the bridge (say, the commit before a change) with
# the same generator, for a before/after comparison.
set -euo pipefail
organizers=${1:?usage: benches/loadgen_run.sh ORGANIZERS [dialbridge-load flags…]}
shift
cd "$(dirname "$0")/.."
cargo build --release --bin dialbridge --bin dialbridge-load 2>/dev/null
data=$(mktemp -d)
trap 'rm -rf "$data"' EXIT
unshare -n bash -s "$organizers" "$data" "$@" <<'EOF'
set -euo pipefail
organizers=$1; data=$2; shift 2
ip link set lo up
bridge=${DIALBRIDGE_BIN:-target/release/dialbridge}
case "${FIREWALL:-none}" in
  none) ;;
  notrack) nft -f contrib/nftables/dialbridge.nft ;;
  stateful)
    nft -f contrib/nftables/dialbridge.nft
    nft delete chain inet dialbridge rtp_untracked_in
    nft delete chain inet dialbridge rtp_untracked_out ;;
  *) echo "FIREWALL is none, stateful or notrack" >&2; exit 2 ;;
esac
for i in $(seq "$organizers"); do
  $bridge --data-dir "$data" organizer add --name "Load $i" --email "load$i@example.com" \
      --json 2>/dev/null |
    sed -n 's/.*"conference_id":"\([0-9]*\)".*"pin":"\([0-9]*\)".*/\1:\2/p'
done >"$data/conferences.txt"
extra=(); target=127.0.0.1:5060; gen=()
case " $* " in *" tls "*)
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj "/CN=load CA" -keyout "$data/ca.key" -out "$data/ca.pem" 2>/dev/null
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=bridge" \
    -keyout "$data/bridge.key" -out "$data/bridge.csr" 2>/dev/null
  openssl x509 -req -in "$data/bridge.csr" -CA "$data/ca.pem" -CAkey "$data/ca.key" -days 2 \
    -out "$data/bridge.pem" -extfile <(printf "subjectAltName=IP:127.0.0.1") 2>/dev/null
  extra+=(--sip-tls-listen 127.0.0.1:5061 --tls-cert "$data/bridge.pem" --tls-key "$data/bridge.key")
  target=127.0.0.1:5061; gen+=(--tls-ca "$data/ca.pem") ;;
esac
case " $* " in *" --srtp "*) extra+=(--srtp-over-cleartext-sip) ;; esac
$bridge --data-dir "$data" --log warn serve --sip-listen 127.0.0.1:5060 \
  --http-listen 127.0.0.1:8080 --rtp-ports 10000-23999 --max-calls 0 --max-call-rate 0 \
  "${extra[@]}" ${BRIDGE_FLAGS:-} 2>"$data/bridge.log" &
pid=$!
for _ in $(seq 100); do
  [ -s "$data/admin-token" ] && break
  sleep 0.1
done
bridge_cpu() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
kib() { awk -v k="$1:" '$1 == k {print $2}' "/proc/$pid/status"; }
idle_rss=$(kib VmRSS)
before=$(bridge_cpu); t0=$(date +%s.%N)
status=0
target/release/dialbridge-load --target "$target" --conferences-file "$data/conferences.txt" "${gen[@]}" "$@" || status=$?
after=$(bridge_cpu); t1=$(date +%s.%N)
echo "bridge CPU: $(echo "($after - $before) / $(getconf CLK_TCK) / ($t1 - $t0) * 100" | bc -l | cut -c1-5) % of a core over the generator's run"
[ "${FIREWALL:-none}" = none ] ||
  echo "firewall: ${FIREWALL} (contrib/nftables/dialbridge.nft); connection-tracking entries now: $(cat /proc/sys/net/netfilter/nf_conntrack_count 2>/dev/null || echo '?')"
echo "bridge memory: RSS $((idle_rss / 1024)) MiB before the run, peak $(($(kib VmHWM) / 1024)) MiB (VmHWM; per caller: (peak - before) / callers held at once)"
curl -s 127.0.0.1:8080/metrics |
  grep -E '^dialbridge_(conference_joins_total|sip_retransmissions_total|last_lobby_move_callers|pin_checks_total|srtp_dropped_total)' || true
kill "$pid"
wait "$pid" || true
exit "$status"
EOF
