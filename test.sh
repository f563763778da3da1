#!/usr/bin/env bash
# Runs every dialbridge check: formatting, lints, unit tests, end-to-end tests against the real
# binary (Rust test phone, SIPp, Kamailio as a provider's registrar, the softphones baresip and
# linphonec, and the SIPVicious scanners over 127.0.0.1; speech scored with PESQ). Installs the
# test tools it needs.
set -euo pipefail
cd "$(dirname "$0")"

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# SIPp (Debian package sip-tester) drives the SIPp scenarios in sip-test-scenarios/.
if ! command -v sipp >/dev/null 2>&1; then
  echo "==> installing sip-tester (SIPp)"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq sip-tester >/dev/null
fi

# Kamailio (Debian package kamailio, 5.6: registrar, usrloc, auth in the main package; TLS in
# kamailio-tls-modules) is the provider's registrar in tests/registration.rs, started by the
# test on a free port. The package's own service is not needed: it is stopped and disabled
# where systemd runs it.
if ! { command -v kamailio >/dev/null 2>&1 || [ -x /usr/sbin/kamailio ]; } ||
  ! compgen -G "/usr/lib/*/kamailio/modules/tls.so" >/dev/null; then
  echo "==> installing kamailio and its TLS module (registration tests)"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq kamailio kamailio-tls-modules >/dev/null
  as_root systemctl disable --now kamailio >/dev/null 2>&1 || true
fi

# PostgreSQL (Debian package postgresql, 15): tests/postgres.rs and the store's unit tests
# start a throwaway server of their own (initdb in a temp directory, a free loopback port).
# The package's own cluster is not needed: it is stopped where it runs (no systemd in a
# container: pg_ctlcluster stops it there).
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  echo "==> installing postgresql (directory in PostgreSQL tests)"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  as_root systemctl disable --now postgresql >/dev/null 2>&1 || true
  as_root pg_ctlcluster 15 main stop >/dev/null 2>&1 || true
fi

# Debian's Chromium and ChromeDriver drive the web pages in tests/admin_web.rs.
if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
  echo "==> installing chromium and chromium-driver (browser tests)"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
fi

# nftables: the load benchmark's smoke run (benches/load.rs) drops the RTP it sends to SIPp in
# a network namespace of its own, as the full benchmark does.
if ! command -v nft >/dev/null 2>&1; then
  echo "==> installing nftables (load benchmark)"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nftables >/dev/null
fi

# fail2ban-regex checks contrib/fail2ban's filter against real bridge logs (tests/ops.rs);
# systemd-analyze (Debian's systemd) checks contrib/systemd's unit.
if ! command -v fail2ban-regex >/dev/null 2>&1 || ! command -v systemd-analyze >/dev/null 2>&1; then
  echo "==> installing fail2ban and systemd (contrib/ checks)"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends fail2ban systemd >/dev/null
fi

# Real softphones call the bridge in tests/softphones.rs: baresip (baresip-core) and linphonec
# (linphone-cli), each test in a loopback-only network namespace (unshare, from util-linux, which
# Debian always has).
if ! command -v baresip >/dev/null 2>&1 || ! command -v linphonec >/dev/null 2>&1; then
  echo "==> installing baresip-core and linphone-cli (softphone tests)"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    baresip-core linphone-cli >/dev/null
fi

# tcpdump captures an SRTP meeting in tests/srtp.rs, to show nothing readable crossed the wire.
if ! command -v tcpdump >/dev/null 2>&1; then
  echo "==> installing tcpdump (SRTP capture test)"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends tcpdump >/dev/null
fi

# Debian's own Python refuses pip installs outside a venv (PEP 668
# "externally-managed-environment"); test tools from PyPI are then installed with
# --break-system-packages, beside the system's packages.
pip_install() {
  if ! python3 -m pip --version >/dev/null 2>&1; then
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-pip >/dev/null
  fi
  local out
  if ! out=$(as_root python3 -m pip install --quiet "$@" 2>&1); then
    if grep -q externally-managed-environment <<<"$out"; then
      as_root python3 -m pip install --quiet --break-system-packages "$@"
    else
      echo "$out" >&2
      return 1
    fi
  fi
}

# SIPVicious (PyPI sipvicious: svmap, svwar, svcrack) scans the bridge in tests/scanners.rs, which
# reads the output of this version.
SIPVICIOUS_VERSION=0.3.8
if ! grep -qx "sipvicious_svmap v$SIPVICIOUS_VERSION" <<<"$(sipvicious_svmap --version 2>/dev/null || true)"; then
  echo "==> installing sipvicious $SIPVICIOUS_VERSION (scanner tests)"
  pip_install "sipvicious==$SIPVICIOUS_VERSION"
fi

# tests/audio_quality.rs: espeak-ng speaks the test speech, sox resamples it to 8 kHz, and PESQ
# (PyPI pesq, which needs numpy) scores what the bridge made of it (tests/data/pesq_score.py).
if ! command -v espeak-ng >/dev/null 2>&1 || ! command -v sox >/dev/null 2>&1; then
  echo "==> installing espeak-ng and sox (speech quality test)"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq espeak-ng sox >/dev/null
fi
PESQ_VERSION=0.0.4
if ! python3 -c "import numpy, pesq" >/dev/null 2>&1; then
  echo "==> installing pesq $PESQ_VERSION and numpy (speech quality test)"
  # pesq comes as source only: its C code builds against Python's headers with a C compiler.
  if ! pip_install "pesq==$PESQ_VERSION" "numpy>=1.21"; then
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-dev gcc >/dev/null
    pip_install "pesq==$PESQ_VERSION" "numpy>=1.21"
  fi
fi

echo "==> cargo fmt --check"
cargo fmt --check
echo "==> cargo clippy --all-targets -- -D warnings"
cargo clippy --all-targets -- -D warnings
echo "==> cargo test (build)"
cargo test --all-targets --no-run
# The test binaries (unit tests, each end-to-end file, the benchmarks' smoke runs) mostly wait
# on real-time audio and the network, so they run three at a time, the slowest first; each
# binary's output goes to target/test-logs/ and is shown when it fails. Run one file alone
# with `cargo test --test NAME`. The PESQ test scores speech that arrives on time: it runs by
# itself after the others, as a scheduling hiccup of a loaded machine is not the bridge's loss.
echo "==> cargo test (run, ${TEST_JOBS:-3} at a time)"
logs=target/test-logs
rm -rf "$logs" && mkdir -p "$logs"
cargo test --all-targets --no-run --message-format=json 2>/dev/null |
  python3 -c '
import json, sys
alone = ["audio_quality"]
slow = ["load", "meeting_keys", "call_flow", "security", "admin_api", "audio", "audio_quality",
        "softphones", "cluster", "webhooks", "postgres", "srtp", "lobby", "torture", "sipp", "demo",
        "readme"]
found = []
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("profile", {}).get("test") and m.get("executable"):
        name = m["target"]["name"]
        if "lib" in m["target"]["kind"]:
            name = "unit"
        found.append((slow.index(name) if name in slow else len(slow), name, m["executable"]))
with open(sys.argv[1], "w") as later:
    for _, name, exe in sorted(found):
        print(name, exe, file=later if name in alone else sys.stdout)
' "$logs/alone" >"$logs/list"
started=$(date +%s)
run_binary() {
  local name=$1 exe=$2 t0
  t0=$(date +%s)
  if "$exe" >"$logs/$name.log" 2>&1; then
    echo "  ok     $name ($(($(date +%s) - t0)) s): $(grep -E '^test result' "$logs/$name.log" | tail -n1 | cut -c14-)"
  else
    echo "  FAILED $name ($(($(date +%s) - t0)) s)"
    touch "$logs/$name.failed"
  fi
}
running=0
while read -r name exe; do
  run_binary "$name" "$exe" &
  running=$((running + 1))
  if ((running >= ${TEST_JOBS:-3})); then
    wait -n || true
    running=$((running - 1))
  fi
done <"$logs/list"
wait
while read -r name exe; do
  run_binary "$name" "$exe"
done <"$logs/alone"
echo "    all test binaries: $(($(date +%s) - started)) s"
if compgen -G "$logs/*.failed" >/dev/null; then
  for f in "$logs"/*.failed; do
    name=$(basename "$f" .failed)
    echo "==> $name failed; its output:"
    cat "$logs/$name.log"
  done
  exit 1
fi
# A short run of every fuzz target, two at a time (fuzz/README.md; longer runs: fuzz/run.sh 600).
echo "==> fuzz: every target for 20 s"
FUZZ_JOBS=2 fuzz/run.sh 20
