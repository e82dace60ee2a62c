#!/usr/bin/env bash
# pgbench-compare.sh: on one PostgreSQL, pgbench's built-in TPC-B-like transaction against Purse's
# end-to-end P2P transfers, with the same client count for the same duration.
#
#   bench/pgbench-compare.sh [--clients 64] [--duration 10] [--wallets 100] [--scale N]
#
# 1. pgbench: a database of its own (pgbench_cmp_<random>), `pgbench -i -s SCALE` (SCALE defaults
#    to the client count, as pgbench's documentation asks, so clients do not all queue on a few
#    branch rows), then `pgbench -c CLIENTS -j 2 -T DURATION -M prepared`; the database is dropped.
# 2. Purse: a fresh database (purse_cmp_<random>), the release `purse serve` on it
#    (PURSE_DATABASE_URL) on a free loopback port, `purse bench transfers` with the same clients and
#    duration (it funds its wallets through the same PURSE_DATABASE_URL), `purse ledger verify`.
# 3. Prints both figures; the LAST line is `ratio=X.XX` (Purse transfers/s / pgbench tps).
#
# Environment: PGHOST (127.0.0.1; loopback only), PGPORT (5432), PGUSER (postgres), PURSE_BIN (a
# prebuilt binary instead of `cargo build --release`), PGBENCH_PROTOCOL (prepared), any PURSE_*
# for the server. Everything it starts it stops, and both databases are dropped, on any exit.
set -euo pipefail

# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"

CLIENTS=64
DURATION=10
WALLETS=100
SCALE=""
while (($#)); do
    case "$1" in
        --clients) CLIENTS="$2"; shift 2 ;;
        --duration) DURATION="$2"; shift 2 ;;
        --wallets) WALLETS="$2"; shift 2 ;;
        --scale) SCALE="$2"; shift 2 ;;
        -h | --help) sed -n '2,20p' "$0"; exit 0 ;;
        *) echo "error: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done
for n in "$CLIENTS" "$DURATION" "$WALLETS" "${SCALE:-1}"; do
    [[ "$n" =~ ^[0-9]+$ && "$n" -ge 1 ]] || { echo "error: counts must be positive integers" >&2; exit 2; }
done
((DURATION <= 600)) || { echo "error: --duration is at most 600 s" >&2; exit 2; }
SCALE="${SCALE:-$CLIENTS}"

export PGHOST="${PGHOST:-127.0.0.1}" PGPORT="${PGPORT:-5432}" PGUSER="${PGUSER:-postgres}"
bench_require_loopback "$PGHOST"
PROTOCOL="${PGBENCH_PROTOCOL:-prepared}"

psql -d postgres -Atqc 'SELECT 1' >/dev/null ||
    { echo "error: PostgreSQL at $PGHOST:$PGPORT (user $PGUSER) is not reachable" >&2; exit 2; }

bench_build

SUFFIX="$(bench_random_suffix)"
PGBENCH_DB="pgbench_cmp_$SUFFIX"
PURSE_DB="purse_cmp_$SUFFIX"
WORK="$(mktemp -d /tmp/purse-pgbench-compare.XXXXXX)"
BENCH_CLEANUP_STEPS+=("dropdb --if-exists --force '$PGBENCH_DB' 2>/dev/null")
BENCH_CLEANUP_STEPS+=("dropdb --if-exists --force '$PURSE_DB' 2>/dev/null")
BENCH_CLEANUP_STEPS+=("rm -rf '$WORK'")
trap bench_cleanup EXIT
trap 'exit 130' INT TERM

# --- pgbench ---------------------------------------------------------------------------------
bench_log "pgbench: initialising $PGBENCH_DB at scale $SCALE"
createdb "$PGBENCH_DB"
pgbench -i -q -s "$SCALE" "$PGBENCH_DB" >"$WORK/pgbench-init.log" 2>&1 ||
    { cat "$WORK/pgbench-init.log" >&2; exit 2; }
bench_log "pgbench: TPC-B-like, $CLIENTS clients, $DURATION s, -M $PROTOCOL"
pgbench -c "$CLIENTS" -j 2 -T "$DURATION" -M "$PROTOCOL" "$PGBENCH_DB" >"$WORK/pgbench.log" 2>&1 ||
    { cat "$WORK/pgbench.log" >&2; exit 2; }
cat "$WORK/pgbench.log"
# "tps = 1234.5 (without initial connection time)" (PostgreSQL 14+), or "(excluding connections
# establishing)" before that; never the figure that includes connecting.
PGBENCH_TPS="$(grep -E '^tps = [0-9.]+ \((without initial|excluding)' "$WORK/pgbench.log" | head -1 | awk '{print $3}')"
[[ -n "$PGBENCH_TPS" ]] || { echo "error: no tps figure in the pgbench output" >&2; exit 2; }
dropdb --force "$PGBENCH_DB"

# --- Purse -----------------------------------------------------------------------------------
createdb "$PURSE_DB"
export PURSE_DATABASE_URL="postgres://$PGUSER@$PGHOST:$PGPORT/$PURSE_DB"
bench_start_server "$WORK"
set +e
"$PURSE" bench transfers --url "$SERVER_URL" --wallets "$WALLETS" --concurrency "$CLIENTS" \
    --duration "$DURATION" --server-pid "$SERVER_PID" | tee "$WORK/purse-bench.log"
BENCH_STATUS=${PIPESTATUS[0]}
set -e
((BENCH_STATUS == 0)) || { echo "error: purse bench transfers exited with $BENCH_STATUS" >&2; exit "$BENCH_STATUS"; }
PURSE_TPS="$(bench_result transfers_per_s "$WORK/purse-bench.log")"
[[ -n "$PURSE_TPS" ]] || { echo "error: no transfers_per_s in the purse bench output" >&2; exit 2; }
bench_stop_server
"$PURSE" ledger verify >"$WORK/verify.log" 2>&1 || { cat "$WORK/verify.log" >&2; exit 3; }
head -1 "$WORK/verify.log"

echo "pgbench TPC-B-like (scale $SCALE, $CLIENTS clients, $DURATION s): $PGBENCH_TPS tps"
echo "purse P2P transfers ($WALLETS wallets, $CLIENTS clients, $DURATION s): $PURSE_TPS transfers/s"
awk -v p="$PURSE_TPS" -v g="$PGBENCH_TPS" 'BEGIN { printf "ratio=%.2f\n", p / g }'
