#!/usr/bin/env bash
# Runs dialbridge-load against a fresh release bridge: in a loopback-only network namespace
# of its own (unshare -n, so root), with the flags the load benchmark gives the bridge
# (benches/support/loadkit.rs: capacity is measured, so no admission limits), N organizers
# created through the CLI and handed to the generator as ID:PIN lines. Prints the
# generator's results, then the bridge's CPU over the run and while the most callers were
# held, and some of its counters.
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
# DROP_RTP=N drops the bridge's RTP to all callers but one in N before delivery, as the SIPp
# benchmark drops RTP to SIPp: on loopback the kernel does the receiving half of each packet
# in the sender's thread, i.e. in the bridge, work a real network card takes off it. The
# generator then runs with --local-ip 127.0.0.2 --sample-ip 127.0.0.3 --sample-every N, and an
# nftables rule drops UDP from the bridge's RTP ports to 127.0.0.2 at the input hook (never
# queued to a socket); the sampled callers (RTP on 127.0.0.3) still hear, and check, their
# audio. DROP_HOOK=egress drops those packets instead at loopback's egress hook, where a
# network card would take them: the bridge then pays the whole sending half of each packet
# but not the receiving half that loopback runs in its thread (the default, input, is the
# SIPp benchmark's rule).
# Once a second a sampler records the bridge's CPU and dialbridge_calls_active; the bridge's CPU
# "while N callers were held" is over the consecutive seconds with at least 99 % of the most
# calls up at once (the hold window), so that call set-up and the ramp are left out.
# PROFILE=AT+FOR (say 25+15) also records a CPU profile of the bridge (perf, Debian package
# linux-perf) from AT seconds after the generator starts, for FOR seconds, and prints where its
# time went: the kernel, the bridge's code, libc, and the functions above 1 %.
# PROFILE_CALLERS=1 with PROFILE records call graphs too (perf -g) and also prints each function
# with everything it calls (perf --children, above 0.5 %): what a system call costs whole, say
# __sendmmsg, or how much of it is one kernel path such as sock_wfree.
# DIALBRIDGE_BIN=path runs another build of the bridge (say, the commit before a change) with
# the same generator, for a before/after comparison.
set -euo pipefail
organizers=${1:?usage: benches/loadgen_run.sh ORGANIZERS [dialbridge-load flags…]}
shift
if [ -n "${PROFILE:-}" ]; then
  [[ $PROFILE =~ ^[0-9]+\+[1-9][0-9]*$ ]] || { echo "PROFILE is AT+FOR in seconds, say 25+15" >&2; exit 2; }
  command -v perf >/dev/null || { echo "PROFILE needs perf: apt-get install linux-perf" >&2; exit 2; }
fi
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
rtp_ports=${RTP_PORTS:-10000-23999}
if [ -n "${DROP_RTP:-}" ]; then
  case "$DROP_RTP" in ''|*[!0-9]*|0) echo "DROP_RTP is N ≥ 1: one caller in N is sampled" >&2; exit 2 ;; esac
  gen+=(--local-ip 127.0.0.2 --sample-ip 127.0.0.3 --sample-every "$DROP_RTP")
  case "${DROP_HOOK:-input}" in
    input) nft -f - <<NFT
table inet dialbridge_loadgen {
  chain input {
    type filter hook input priority -300;
    ip daddr 127.0.0.2 udp sport $rtp_ports drop
  }
}
NFT
      where="at the input hook (nft), as the SIPp benchmark drops RTP to SIPp" ;;
    egress) nft -f - <<NFT
table netdev dialbridge_loadgen {
  chain egress {
    type filter hook egress device "lo" priority -300;
    ip daddr 127.0.0.2 udp sport $rtp_ports drop
  }
}
NFT
      where="at loopback's egress hook (nft), where a network card would take it" ;;
    *) echo "DROP_HOOK is input or egress" >&2; exit 2 ;;
  esac
  echo "RTP drop active: the bridge's RTP (UDP from ports $rtp_ports) to 127.0.0.2 is dropped $where; one caller in $DROP_RTP has its RTP on 127.0.0.3 and its audio checked"
fi
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
# No limit on unknown conference IDs either: every generated call comes from the number
# "load" at one address, and a step past the generator's own limit (skipping its media
# slots, so some keys never leave) would get "load" cut off as a guesser for the next ten
# minutes, failing every later step of a search.
$bridge --data-dir "$data" --log warn serve --sip-listen 127.0.0.1:5060 \
  --http-listen 127.0.0.1:8080 --rtp-ports "$rtp_ports" --max-calls 0 --max-call-rate 0 \
  --id-guesses-per-caller 0 --id-guesses-per-source 0 \
  "${extra[@]}" ${BRIDGE_FLAGS:-} 2>"$data/bridge.log" &
pid=$!
for _ in $(seq 100); do
  [ -s "$data/admin-token" ] && break
  sleep 0.1
done
bridge_cpu() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
kib() { awk -v k="$1:" '$1 == k {print $2}' "/proc/$pid/status"; }
idle_rss=$(kib VmRSS)
# Once a second: time, the bridge's CPU ticks (utime + stime) and its calls up. Bounded by
# the bridge's life and a day, and killed when the generator is done.
sampler() {
  local n=0
  for _ in $(seq 86400); do
    kill -0 "$pid" 2>/dev/null || return 0
    local active
    n=$((n + 1))
    curl -s --max-time 1 127.0.0.1:8080/metrics >"$data/metrics.now" 2>/dev/null || true
    active=$(awk '$1 == "dialbridge_calls_active" {print $2}' "$data/metrics.now")
    grep '^dialbridge_media_\(tick\|send\)_lateness_seconds_bucket' "$data/metrics.now" \
      >"$data/lateness.$n" || true
    echo "$(date +%s.%N) $(bridge_cpu) ${active:-NA} $n"
    sleep 1
  done
}
sampler >"$data/samples.txt" 2>/dev/null &
sampler_pid=$!
trap 'kill "$sampler_pid" 2>/dev/null || true' EXIT
graph=(); flat=()
if [ -n "${PROFILE_CALLERS:-}" ]; then graph=(-g); flat=(--no-children -g none); fi
if [ -n "${PROFILE:-}" ]; then
  (sleep "${PROFILE%+*}" && perf record -q "${graph[@]}" -F 999 -e cpu-clock -p "$pid" \
    -o "$data/perf.data" -- sleep "${PROFILE#*+}" >/dev/null 2>&1) &
  profile_pid=$!
fi
before=$(bridge_cpu); t0=$(date +%s.%N)
status=0
target/release/dialbridge-load --target "$target" --conferences-file "$data/conferences.txt" "${gen[@]}" "$@" || status=$?
after=$(bridge_cpu); t1=$(date +%s.%N)
kill "$sampler_pid" 2>/dev/null || true
wait "$sampler_pid" 2>/dev/null || true
if [ -n "${PROFILE:-}" ]; then
  wait "$profile_pid" || true
  if [ -s "$data/perf.data" ]; then
    echo "bridge profile, ${PROFILE#*+} s from ${PROFILE%+*} s into the run (perf, cpu-clock): by object, then functions above 1 %"
    perf report -i "$data/perf.data" --sort dso --stdio --percent-limit 0.5 "${flat[@]}" 2>/dev/null | grep -v '^#' | grep -v '^$' || true
    perf report -i "$data/perf.data" --sort dso,sym --stdio --percent-limit 1 "${flat[@]}" 2>/dev/null | grep -v '^#' | grep -v '^$' || true
    if [ -n "${PROFILE_CALLERS:-}" ]; then
      echo "each function with what it calls (children), above 0.5 %:"
      perf report -i "$data/perf.data" --children --sort sym --stdio --percent-limit 0.5 -g none 2>/dev/null | grep -v '^#' | grep -v '^$' || true
    fi
  else
    echo "bridge profile: none recorded (the run ended before ${PROFILE%+*} s?)"
  fi
fi
echo "bridge CPU: $(echo "($after - $before) / $(getconf CLK_TCK) / ($t1 - $t0) * 100" | bc -l | cut -c1-5) % of a core over the generator's run"
# The hold window: the longest run of consecutive samples with calls up ≥ 99 % of the most.
awk -v hz="$(getconf CLK_TCK)" -v window="$data/window" '
  { t[NR] = $1; cpu[NR] = $2; up[NR] = $3; n[NR] = $4; if ($3 != "NA" && $3 + 0 > max) max = $3 + 0 }
  END {
    if (max == 0) { print "bridge CPU while callers were held: no calls up in the samples"; exit }
    best = 0; run = 0
    for (i = 1; i <= NR; i++) {
      if (up[i] != "NA" && up[i] + 0 >= 0.99 * max) {
        if (run == 0) start = i
        run++
        if (run > best) { best = run; from = start; to = i }
      } else run = 0
    }
    span = best > 1 ? t[to] - t[from] : 0
    if (span < 3) {
      printf "bridge CPU while callers were held: only %.0f s with calls up ≥ 99 %% of their peak (%d), need 3 s: hold longer\n", span, max
      exit
    }
    sum = 0
    for (i = from; i <= to; i++) sum += up[i]
    held = sum / (to - from + 1)
    pct = (cpu[to] - cpu[from]) / hz / span * 100
    printf "bridge CPU while %.0f callers were held: %.1f %% of a core over %.0f s (%.2f %% per 1,000 callers)\n", held, pct, span, pct / held * 1000
    print n[from], n[to] > window
  }' "$data/samples.txt"
# The media clock over the same window: p99 of when each worker's tick began and when its last
# frame left, from the bridge's lateness histograms (bucket bounds, all workers together).
if [ -s "$data/window" ]; then
  read -r first last <"$data/window"
  for what in tick send; do
    awk -v what="$what" '
      $1 ~ "^dialbridge_media_" what "_lateness_seconds_bucket" {
        match($1, /le="[^"]*"/); le = substr($1, RSTART + 4, RLENGTH - 5)
        if (FILENAME == ARGV[1]) c[le] -= $2; else c[le] += $2
        if (!(le in seen)) { seen[le] = 1; order[++k] = le }
      }
      END {
        total = c["+Inf"]
        if (total <= 0) exit
        for (i = 1; i <= k; i++) if (c[order[i]] >= 0.99 * total) { p = order[i]; break }
        label = what == "tick" ? "tick start" : "last frame of each tick"
        # The bridge counts a tick per slice of the frame (--media-slices, 4 by default).
        printf "media clock while held: %s p99 ≤ %s ms late (%d ticks, one per slice)\n", label, p == "+Inf" ? "> 100" : p * 1000, total
      }' "$data/lateness.$first" "$data/lateness.$last"
  done
fi
[ "${FIREWALL:-none}" = none ] ||
  echo "firewall: ${FIREWALL} (contrib/nftables/dialbridge.nft); connection-tracking entries now: $(cat /proc/sys/net/netfilter/nf_conntrack_count 2>/dev/null || echo '?')"
echo "bridge memory: RSS $((idle_rss / 1024)) MiB before the run, peak $(($(kib VmHWM) / 1024)) MiB (VmHWM; per caller: (peak - before) / callers held at once)"
curl -s 127.0.0.1:8080/metrics |
  grep -E '^dialbridge_(conference_joins_total|sip_retransmissions_total|last_lobby_move_callers|pin_checks_total|srtp_dropped_total)' || true
kill "$pid"
wait "$pid" || true
exit "$status"
EOF
