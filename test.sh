#!/usr/bin/env bash
# Runs every dialbridge check: formatting, lints, unit tests, end-to-end tests against the real
# binary (Rust test phone, SIPp and the SIPVicious scanners over 127.0.0.1, speech scored with
# PESQ). Installs the test tools it needs.
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
echo "==> cargo test"
cargo test --all-targets
# A short run of every fuzz target (fuzz/README.md; longer runs: fuzz/run.sh 600).
echo "==> fuzz: every target for 20 s"
fuzz/run.sh 20
