#!/usr/bin/env bash
# Re-derives rfc4475/*.dat from the RFC's own Appendix A (rfc4475-appendix-a.txt) and checks
# every corpus file against SHA256SUMS. Exits non-zero if anything differs.
#
#   tests/data/sip-torture/decode.sh          # check
#   tests/data/sip-torture/decode.sh --write  # (re)write rfc4475/ from the appendix
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# RFC 4475 Appendix A's own recipe (its Perl script, Figure 58): of the lines between the
# BEGIN/END MESSAGE ARCHIVE markers keep those that are a single token, and base64-decode them;
# page headers and footers have spaces and drop out by the same rule.
awk '/-- BEGIN MESSAGE ARCHIVE --/,/-- END MESSAGE ARCHIVE --/' "$here/rfc4475-appendix-a.txt" \
    | grep -E '^[[:space:]]*[^[:space:]]+[[:space:]]*$' \
    | tr -d ' \t' > "$work/archive.b64"
base64 -d "$work/archive.b64" > "$work/archive.tar.gz"
gzip -t "$work/archive.tar.gz"          # the gzip CRC proves the base64 text is intact
mkdir "$work/out"
tar -xzf "$work/archive.tar.gz" -C "$work/out"
count=$(find "$work/out" -type f | wc -l)
[ "$count" -eq 50 ] || { echo "expected 50 files in the RFC 4475 archive, got $count" >&2; exit 1; }

if [ "${1:-}" = "--write" ]; then
    mkdir -p "$here/rfc4475"
    cp "$work/out"/*.dat "$here/rfc4475/"
    echo "wrote $count files to rfc4475/"
fi

diff -r "$work/out" "$here/rfc4475" >/dev/null \
    || { echo "rfc4475/ differs from the RFC's archive" >&2; diff -rq "$work/out" "$here/rfc4475" >&2; exit 1; }
(cd "$here" && sha256sum --quiet -c SHA256SUMS)
echo "rfc4475/: $count files identical to RFC 4475 Appendix A; all corpus files match SHA256SUMS"
