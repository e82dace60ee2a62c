#!/usr/bin/env bash
# actors-memory.sh: what wallet actors cost. On a zero-configuration server (SQLite, default
# idle timeout of 60 s) in a fresh folder, `purse bench actors` opens and funds WALLETS distinct
# wallets and saves that setup; the server is restarted on the same folder (so the sign-ups'
# argon2id memory, which the allocator may keep, is not counted); then every wallet is touched
# once with a device-signed transfer (which starts its actor), the server's resident-memory
# growth (/proc/PID/status VmRSS) is reported against the 150 MiB target, and the probe waits
# for idle passivation to bring the active-actor count (/metrics) back down.
#
#   bench/actors-memory.sh [--wallets 100000] [--concurrency 64] [--passivation-wait 180]
#
# PURSE_BIN reuses a prebuilt binary. Exit status: 0, or non-zero when the touches failed or the
# actors did not passivate in time. Everything it starts it stops, and the folder is removed.
set -euo pipefail

# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"

WALLETS=100000
CONCURRENCY=64
PASSIVATION_WAIT=180
while (($#)); do
    case "$1" in
        --wallets) WALLETS="$2"; shift 2 ;;
        --concurrency) CONCURRENCY="$2"; shift 2 ;;
        --passivation-wait) PASSIVATION_WAIT="$2"; shift 2 ;;
        -h | --help) sed -n '2,12p' "$0"; exit 0 ;;
        *) echo "error: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done
if [[ -n "${PURSE_DATABASE_URL:-}" ]]; then
    echo "error: PURSE_DATABASE_URL is set; this script measures the zero-config SQLite server" >&2
    exit 2
fi

bench_build
WORK="$(mktemp -d /tmp/purse-actors-memory.XXXXXX)"
BENCH_CLEANUP_STEPS+=("rm -rf '$WORK'")
trap bench_cleanup EXIT
trap 'exit 130' INT TERM

bench_start_server "$WORK"
(cd "$WORK" && "$PURSE" bench actors --url "$SERVER_URL" --wallets "$WALLETS" \
    --concurrency "$CONCURRENCY" --save-setup "$WORK/setup.json")
bench_log "restarting the server on the same folder before touching"
bench_stop_server
bench_start_server "$WORK"
set +e
(cd "$WORK" && "$PURSE" bench actors --url "$SERVER_URL" --load-setup "$WORK/setup.json" \
    --concurrency "$CONCURRENCY" --server-pid "$SERVER_PID" --passivation-wait "$PASSIVATION_WAIT")
STATUS=$?
set -e
exit "$STATUS"
