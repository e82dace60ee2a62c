#!/usr/bin/env bash
# transfers-sqlite.sh: end-to-end P2P transfers on the zero-configuration server (SQLite in WAL
# mode at ./data/purse.db of a fresh folder), measured by `purse bench transfers` (or, with
# `--bench charges`, pay-code charges against transfers by `purse bench charges`, the server's
# PURSE_RISK_VELOCITY_PER_MINUTE raised unless set), then `purse ledger verify`.
#
#   bench/transfers-sqlite.sh [--bench transfers|charges] [--clients 64] [--duration 10]
#                             [--wallets 100] [-- more bench flags]
#
# The bench runs from the server's folder, so it funds its wallets with no further flags. The
# last line is the bench's `result: transfers_per_s=... p50_ms=... p99_ms=... p999_ms=...`.
# PURSE_BIN reuses a prebuilt binary; any PURSE_* variable configures the server. Everything it
# starts it stops, and the folder is removed, on any exit.
set -euo pipefail

# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"

BENCH=transfers
CLIENTS=64
DURATION=10
WALLETS=100
EXTRA=()
while (($#)); do
    case "$1" in
        --bench) BENCH="$2"; shift 2 ;;
        --clients) CLIENTS="$2"; shift 2 ;;
        --duration) DURATION="$2"; shift 2 ;;
        --wallets) WALLETS="$2"; shift 2 ;;
        --) shift; EXTRA=("$@"); break ;;
        -h | --help) sed -n '2,14p' "$0"; exit 0 ;;
        *) echo "error: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done
if [[ -n "${PURSE_DATABASE_URL:-}" ]]; then
    echo "error: PURSE_DATABASE_URL is set; this script measures the zero-config SQLite server" >&2
    exit 2
fi

case "$BENCH" in
    transfers) ;;
    # Every client charges its own device about once per round trip: far above 30 a minute.
    charges) export PURSE_RISK_VELOCITY_PER_MINUTE="${PURSE_RISK_VELOCITY_PER_MINUTE:-1000000}" ;;
    *) echo "error: --bench must be transfers or charges" >&2; exit 2 ;;
esac

bench_build
WORK="$(mktemp -d /tmp/purse-transfers-sqlite.XXXXXX)"
BENCH_CLEANUP_STEPS+=("rm -rf '$WORK'")
trap bench_cleanup EXIT
trap 'exit 130' INT TERM

bench_start_server "$WORK"
set +e
(cd "$WORK" && "$PURSE" bench "$BENCH" --url "$SERVER_URL" --wallets "$WALLETS" \
    --concurrency "$CLIENTS" --duration "$DURATION" --server-pid "$SERVER_PID" "${EXTRA[@]}") |
    tee "$WORK/purse-bench.log"
BENCH_STATUS=${PIPESTATUS[0]}
set -e
bench_stop_server
(cd "$WORK" && "$PURSE" ledger verify >"$WORK/verify.log" 2>&1) || { cat "$WORK/verify.log" >&2; exit 3; }
head -1 "$WORK/verify.log"
grep '^result:' "$WORK/purse-bench.log" | tail -1
exit "$BENCH_STATUS"
