#!/usr/bin/env bash
# Runs every dialbridge check: formatting, lints, unit tests, end-to-end tests against the real
# binary (Rust test phone and SIPp over 127.0.0.1). Installs the test tools it needs.
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

echo "==> cargo fmt --check"
cargo fmt --check
echo "==> cargo clippy --all-targets -- -D warnings"
cargo clippy --all-targets -- -D warnings
echo "==> cargo test"
cargo test --all-targets
