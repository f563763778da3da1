#!/usr/bin/env bash
# Runs dialbridge-load against a three-node cluster on one machine: a throwaway PostgreSQL,
# three fresh release nodes a, b, c on 127.0.0.11/12/13 (each its own data directory, the
# same pin.key and cluster secret, the load benchmark's flags: no admission limits) and
# Kamailio with the shipped contrib/kamailio/dialbridge.cfg on 127.0.0.1:5060 dispatching
# round robin over them, all in a loopback-only network namespace of its own (unshare -n,
# so root). N organizers are created once through the CLI on the shared database and
# handed to the generator as ID:PIN lines; the generator calls Kamailio and follows its
# Record-Route. Prints the generator's results, then per node its CPU over the run, calls
# answered, relay packets and relay legs in, then the scenario's own figure:
#
#     # setups: call setups/s through Kamailio (RFC 7501/7502 search, attendee calls)
#     benches/cluster_run.sh setups 4 --search --rate 100 --duration 20 --hold 2 --threads 2
#     # lobby: one meeting of 1,000 callers (999 attendees spread over the three nodes, then
#     # the organizer's PIN): PIN # → first meeting frame per moved caller, i.e. the
#     # cross-node lobby move (split by answering node: the owner's own callers and relayed)
#     benches/cluster_run.sh lobby 1 --meeting 1000 --rate 100 --duration 9.99 \
#         --organizer-delay 10 --hold 5 --threads 2
#     # relay: one meeting of 600 talkers (tone every 20 ms both ways) held 20 s: its owner
#     # mixes, the two other nodes only relay; CPU per relayed packet on the relaying nodes
#     benches/cluster_run.sh relay 1 --meeting 600 --audio --rate 100 --duration 5.99 \
#         --organizer-delay 8 --hold 20 --threads 2
#
# Any other dialbridge-load flags pass through (`run` is a scenario with no derived figure).
# KEEP_LOGS=DIR keeps the nodes', Kamailio's and the generator's output there (NODE_LOG=info: more).
# Kamailio's pike limit is raised (-A PIKE_DENSITY=1000000): the generator is one source
# address, which the shipped limit (30 requests per 2 s) would block at once, and its shared
# memory to 512 MB (-m 512: with the default 64 MB, 400 calls/s ran it out of room for
# transactions and it answered 503 "out of mem" in its log). On one machine
# the three nodes, Kamailio, PostgreSQL and the generator share the same cores: this
# measures what the cluster's extra hop and relaying cost, not capacity that nodes add.
#
# relay: nodes are sampled every second; the figure is taken over the plateau where relayed
# traffic is at ≥ 90 % of its peak rate (every caller connected; its first and last second
# left out): that node's CPU seconds there / the relay packets it passed there. A caller
# relayed by a node costs it a packet each way (caller → owner and owner → caller).
set -euo pipefail
usage="usage: benches/cluster_run.sh setups|lobby|relay|run ORGANIZERS [dialbridge-load flags…]"
scenario=${1:?$usage}
organizers=${2:?$usage}
shift 2
case $scenario in setups | lobby | relay | run) ;; *)
  echo "$usage" >&2
  exit 2
  ;;
esac
cd "$(dirname "$0")/.."
cargo build --release --bin dialbridge --bin dialbridge-load 2>/dev/null
pgbin=$(find /usr/lib/postgresql -maxdepth 2 -name bin -type d 2>/dev/null | sort -V | tail -n 1)
[ -x "$pgbin/initdb" ] || { echo "PostgreSQL server tools not found (Debian: postgresql)" >&2; exit 2; }
kamailio=$(command -v kamailio || echo /usr/sbin/kamailio)
[ -x "$kamailio" ] || { echo "kamailio not found (Debian: kamailio)" >&2; exit 2; }
data=$(mktemp -d)
trap 'rm -rf "$data"' EXIT
unshare -n bash -s "$scenario" "$organizers" "$data" "$pgbin" "$kamailio" "$@" <<'EOF'
set -euo pipefail
scenario=$1; organizers=$2; data=$3; pgbin=$4; kamailio=$5; shift 5
ip link set lo up
bridge=target/release/dialbridge
names=(a b c); ips=(127.0.0.11 127.0.0.12 127.0.0.13)
nodes=(); kpid=""; sampler=""; pg_up=""
as_postgres() { (cd / && runuser -u postgres -- "$@"); }
cleanup() {
  if [ -n "${KEEP_LOGS:-}" ]; then
    mkdir -p "$KEEP_LOGS"
    cp "$data"/{a,b,c,kamailio}.log "$data"/generator.out "$data"/samples "$KEEP_LOGS/" 2>/dev/null || true
  fi
  [ -n "$sampler" ] && kill "$sampler" 2>/dev/null || true
  [ -n "$kpid" ] && kill -TERM -- "-$kpid" 2>/dev/null || true
  for p in "${nodes[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${nodes[@]}" $kpid; do
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
  done
  [ -n "$kpid" ] && kill -KILL -- "-$kpid" 2>/dev/null || true
  for p in "${nodes[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  [ -n "$pg_up" ] && as_postgres "$pgbin/pg_ctl" -D "$data/pg" -m fast -w stop >/dev/null 2>&1 || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A throwaway PostgreSQL (initdb and postgres refuse root: they run as postgres).
chmod 755 "$data"
mkdir "$data/pg" && chown postgres:postgres "$data/pg"
as_postgres "$pgbin/initdb" -D "$data/pg" -A trust -U dialbridge --no-sync >/dev/null
as_postgres "$pgbin/pg_ctl" -D "$data/pg" -l "$data/pg/server.log" -w -t 30 \
  -o "-p 5432 -k $data/pg -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300" \
  start >/dev/null
pg_up=1
"$pgbin/createdb" -h 127.0.0.1 -p 5432 -U dialbridge dialbridge
url=postgres://dialbridge@127.0.0.1:5432/dialbridge

# Organizers once, on the shared database; every node gets the same pin.key and secret.
for n in "${names[@]}"; do mkdir -m 700 "$data/$n"; done
for i in $(seq "$organizers"); do
  $bridge --data-dir "$data/a" --database-url "$url" organizer add --name "Load $i" \
      --email "load$i@example.com" --json 2>/dev/null |
    sed -n 's/.*"conference_id":"\([0-9]*\)".*"pin":"\([0-9]*\)".*/\1:\2/p'
done >"$data/conferences.txt"
[ "$(wc -l <"$data/conferences.txt")" -eq "$organizers" ] || { echo "creating organizers failed" >&2; exit 2; }
for n in b c; do cp -p "$data/a/pin.key" "$data/$n/pin.key"; done
(umask 077 && od -An -N32 -tx1 /dev/urandom | tr -d ' \n' >"$data/cluster.secret")

for i in 0 1 2; do
  n=${names[i]}; ip=${ips[i]}
  $bridge --data-dir "$data/$n" --database-url "$url" --log "${NODE_LOG:-warn}" serve \
    --sip-listen "$ip:5060" --http-listen "$ip:8080" --rtp-ports 10000-23999 \
    --max-calls 0 --max-call-rate 0 --node-name "$n" \
    --cluster-secret-file "$data/cluster.secret" --cluster-advertise "$ip:5060" \
    2>"$data/$n.log" &
  nodes+=($!)
done
for n in "${names[@]}"; do
  for _ in $(seq 150); do [ -s "$data/$n/admin-token" ] && break; sleep 0.1; done
  [ -s "$data/$n/admin-token" ] || { echo "node $n did not start:" >&2; cat "$data/$n.log" >&2; exit 2; }
done

# Kamailio: the shipped configuration, the three nodes, pike raised for one-source load and
# 512 MB of shared memory (the default 64 MB ran out of transactions at 400 calls/s).
printf '1 sip:%s:5060 0 0\n' "${ips[@]}" >"$data/nodes.list"
mkdir "$data/kamailio"
setsid "$kamailio" -f contrib/kamailio/dialbridge.cfg -DD -E -m 512 -P "$data/kamailio/pid" \
  -Y "$data/kamailio" -A 'LISTEN=udp:127.0.0.1:5060' -A "NODES_FILE=\"$data/nodes.list\"" \
  -A 'PING_INTERVAL=1' -A 'PIKE_DENSITY=1000000' >"$data/kamailio.log" 2>&1 &
kpid=$!
for _ in $(seq 100); do ss -Huln 'sport = :5060' | grep -q '127.0.0.1:5060' && break; sleep 0.1; done
ss -Huln 'sport = :5060' | grep -q '127.0.0.1:5060' || { echo "kamailio did not start:" >&2; cat "$data/kamailio.log" >&2; exit 2; }
sleep 2 # its first OPTIONS probe of every node

metrics() { curl -s "$1:8080/metrics"; }
# Sum of a series over its labels in a /metrics text on stdin.
series() { awk -v s="$1" '$1 == s || index($1, s "{") == 1 { t += $2 } END { printf "%.0f\n", t }'; }
# The largest value of a per-worker gauge.
gauge() { awk -v s="$1" '($1 == s || index($1, s "{") == 1) && $2 > m { m = $2 } END { printf "%.0f\n", m }'; }
ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0; }
kam_ticks() { local t=0 p; for p in $(pgrep -g "$kpid"); do t=$((t + $(ticks "$p"))); done; echo "$t"; }
# PostgreSQL: the postmaster and its children (the nodes' pooled connections live long).
pg_ticks() {
  local pm t=0 p; pm=$(head -n 1 "$data/pg/postmaster.pid")
  for p in "$pm" $(pgrep -P "$pm"); do t=$((t + $(ticks "$p"))); done; echo "$t"
}
hz=$(getconf CLK_TCK)
# UDP datagrams the kernel dropped for full socket buffers (this namespace's counters).
udp_drops() { awk '/^Udp:/ { if (!h) { for (i = 2; i <= NF; i++) c[$i] = i; h = 1 } else print $c["RcvbufErrors"] + $c["SndbufErrors"] }' /proc/net/snmp; }
sample() {
  local line; line="$(date +%s.%N)"
  for i in 0 1 2; do line+=" $(ticks "${nodes[i]}")"; done
  for ip in "${ips[@]}"; do
    local m; m=$(metrics "$ip")
    line+=" $(series dialbridge_relay_packets_total <<<"$m")"
    line+=" $(series dialbridge_rtp_packets_received_total <<<"$m")"
    line+=" $(series dialbridge_rtp_packets_sent_total <<<"$m")"
    line+=" $(series dialbridge_cluster_leases_held <<<"$m")"
  done
  echo "$line"
}
( while :; do sample; sleep 1; done ) >"$data/samples" 2>/dev/null &
sampler=$!

declare -a before
for i in 0 1 2; do before[i]=$(ticks "${nodes[i]}"); done
kbefore=$(kam_ticks); pgbefore=$(pg_ticks); drops_before=$(udp_drops); t0=$(date +%s.%N)
status=0
target/release/dialbridge-load --target 127.0.0.1:5060 --conferences-file "$data/conferences.txt" \
  "$@" | tee "$data/generator.out" || status=$?
t1=$(date +%s.%N)
wall=$(echo "$t1 - $t0" | bc -l)
kill "$sampler" 2>/dev/null || true
wait "$sampler" 2>/dev/null || true
sampler=""

echo
echo "cluster: 3 nodes (127.0.0.11-13) behind Kamailio (127.0.0.1:5060), PostgreSQL, one machine; ${wall%.*} s run"
echo "| node | CPU (% of a core, over the run) | calls answered from Kamailio | relay legs in (accepted) | relay packets | meetings hosted (most at once, sampled every s) | last lobby move (callers) |"
echo "|---|---|---|---|---|---|---|"
total_cpu=0; total_answered=0
for i in 0 1 2; do
  m=$(metrics "${ips[i]}")
  cpu=$(echo "($(ticks "${nodes[i]}") - ${before[i]}) / $hz" | bc -l)
  legs=$(series 'dialbridge_cluster_relay_legs_in_total{result="accepted"}' <<<"$m")
  # The nodes count a relay leg from another node as an answered call too.
  answered=$(( $(series dialbridge_calls_answered_total <<<"$m") - legs ))
  total_cpu=$(echo "$total_cpu + $cpu" | bc -l); total_answered=$((total_answered + answered))
  printf '| %s (%s) | %.1f | %s | %s | %s | %s | %s |\n' "${names[i]}" "${ips[i]}" \
    "$(echo "$cpu / $wall * 100" | bc -l)" "$answered" "$legs" \
    "$(series dialbridge_relay_packets_total <<<"$m")" \
    "$(awk -v k=$((8 + 4 * i)) '$k > m { m = $k } END { print m + 0 }' "$data/samples")" \
    "$(gauge dialbridge_last_lobby_move_callers <<<"$m")"
done
kcpu=$(echo "($(kam_ticks) - $kbefore) / $hz" | bc -l)
pgcpu=$(echo "($(pg_ticks) - $pgbefore) / $hz" | bc -l)
printf 'kamailio: %.1f %% of a core over the run (all its processes); PostgreSQL: %.1f %%\n' \
  "$(echo "$kcpu / $wall * 100" | bc -l)" "$(echo "$pgcpu / $wall * 100" | bc -l)"
refused=$(for ip in "${ips[@]}"; do metrics "$ip" | series dialbridge_calls_refused_total; done | paste -sd+ | bc)
echo "UDP datagrams dropped by the kernel for full socket buffers (any process here): $(( $(udp_drops) - drops_before ))"
echo "calls refused by the nodes: $refused; relay legs refused: $(for ip in "${ips[@]}"; do metrics "$ip" | series 'dialbridge_cluster_relay_legs_in_total{result="refused"}'; done | paste -sd+ | bc)"

case $scenario in
setups)
  [ "$total_answered" -gt 0 ] &&
    printf 'setups: %d calls answered over the run (relay legs not counted); CPU per call (lobby hold included): nodes %.3f + kamailio %.3f + PostgreSQL %.3f ms\n' \
      "$total_answered" "$(echo "$total_cpu * 1000 / $total_answered" | bc -l)" \
      "$(echo "$kcpu * 1000 / $total_answered" | bc -l)" "$(echo "$pgcpu * 1000 / $total_answered" | bc -l)"
  grep -E '^(search|[0-9]+ calls/s)' "$data/generator.out" | tail -n 1 | sed 's/^/setups: /' || true
  ;;
lobby)
  awk '/^PIN # → meeting audio/ { printf "lobby move (PIN # → first meeting frame, all moved callers): %s samples, p50 %s / p99 %s / max %s ms\n", $(NF-5), $(NF-4), $(NF-2), $NF }' \
    "$data/generator.out"
  grep '^answered by' "$data/generator.out" | sed 's/^/lobby move by answering node: /' || true
  for i in 0 1 2; do
    m=$(metrics "${ips[i]}")
    moved=$(gauge dialbridge_last_lobby_move_callers <<<"$m")
    [ "$moved" -gt 0 ] && echo "owner ${names[i]}: moved $moved callers (relay legs included); PIN # → the move's tick $(gauge dialbridge_last_lobby_move_pin_to_tick_microseconds <<<"$m") µs (0: the meeting was started by the organizer's relay leg), first to last moved caller's frame in that tick $(gauge dialbridge_last_lobby_move_tick_microseconds <<<"$m") µs"
  done
  ;;
relay)
  awk -v hz="$hz" -v names="${names[*]}" '
    { n++; t[n] = $1; for (k = 2; k <= NF; k++) v[n, k] = $k }
    END {
      split(names, nm, " ")
      # columns: 2-4 CPU ticks a b c; then per node 4: relay, rtp in, rtp out, leases (5.., 9.., 13..)
      max = 0
      for (i = 2; i <= n; i++) {
        r[i] = 0
        for (j = 0; j < 3; j++) r[i] += v[i, 5 + 4 * j] - v[i - 1, 5 + 4 * j]
        r[i] /= (t[i] - t[i - 1]); if (r[i] > max) max = r[i]
      }
      best = 0; s = 0
      for (i = 2; i <= n + 1; i++) {
        if (i <= n && r[i] >= 0.9 * max) { if (!s) s = i; continue }
        if (s && i - s > best) { best = i - s; bs = s; be = i - 1 }
        s = 0
      }
      if (best < 3 || max == 0) { print "relay: no plateau of relayed traffic found"; exit }
      a = bs; b = be - 1   # intervals a+1 .. b: the first and last of the plateau left out
      secs = t[b] - t[a]
      for (j = 0; j < 3; j++) { h[j] = 0; for (i = a; i <= b; i++) if (v[i, 8 + 4 * j] > h[j]) h[j] = v[i, 8 + 4 * j] }
      printf "relay: plateau %.1f s (%d-%d s into the run), relayed %.0f packets/s over the cluster at its peak\n", secs, t[a] - t[1], t[b] - t[1], max
      print "| node | meetings hosted | CPU in the plateau (% of a core) | relay packets/s | µs of CPU per relay packet (nodes hosting nothing) | RTP in + out packets/s (dialbridge_rtp_packets_*) | µs of CPU per RTP packet (nodes relaying nothing) |"
      print "|---|---|---|---|---|---|---|"
      for (j = 0; j < 3; j++) {
        cpu = (v[b, 2 + j] - v[a, 2 + j]) / hz
        rel = v[b, 5 + 4 * j] - v[a, 5 + 4 * j]
        rtp = (v[b, 6 + 4 * j] - v[a, 6 + 4 * j]) + (v[b, 7 + 4 * j] - v[a, 7 + 4 * j])
        printf "| %s | %d | %.1f | %.0f | %s | %.0f | %s |\n", nm[j + 1], h[j], cpu / secs * 100, rel / secs, \
          (rel > 0 && !h[j] ? sprintf("%.2f", cpu * 1e6 / rel) : "-"), rtp / secs, \
          (rtp > 0 && !rel ? sprintf("%.2f", cpu * 1e6 / rtp) : "-")
      }
    }' "$data/samples"
  ;;
esac
exit "$status"
EOF
