#!/usr/bin/env bash
# scale-processes.sh: throughput and p99 of P2P transfers with 1, 2 and 3 `purse serve` processes
# on ONE PostgreSQL database under the same total load, with the invariants checked after each run.
#
#   bench/scale-processes.sh [--processes "1 2 3"] [--clients "16 48"] [--duration 10]
#                            [--wallets 60] [--out FILE.csv] [--smoke]
#
# For each (processes P, total clients C): a fresh database (purse_scale_<random>), P release
# `purse serve` processes on it, each on its own loopback port; P `purse bench transfers` runs at
# once, one per server, each with C/P clients and WALLETS/P wallets of its own (so the load is the
# same total whatever P). Throughput is the sum of the P runs; p50/p99 are the worst of the P runs
# (an upper bound of the merged distribution). After the load: every bench checks conservation of
# its wallets, the servers stop, `purse ledger verify` recomputes the chain and all balances, and
# the database is dropped. One CSV line per run goes to --out (default: stdout only).
#
# --smoke: 1 and 2 processes, 8 clients, 2 s, 8 wallets (a CI check that the script works).
#
# Environment: PGHOST (127.0.0.1; loopback only), PGPORT (5432), PGUSER (postgres), PURSE_BIN (a
# prebuilt binary instead of `cargo build --release`). Everything it starts it stops, on any exit.
set -euo pipefail

# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"

PROCESSES="1 2 3"
CLIENTS="16 48"
DURATION=10
WALLETS=60
OUT=""
while (($#)); do
    case "$1" in
        --processes) PROCESSES="$2"; shift 2 ;;
        --clients) CLIENTS="$2"; shift 2 ;;
        --duration) DURATION="$2"; shift 2 ;;
        --wallets) WALLETS="$2"; shift 2 ;;
        --out) OUT="$2"; shift 2 ;;
        --smoke) PROCESSES="1 2"; CLIENTS="8"; DURATION=2; WALLETS=8; shift ;;
        -h | --help) sed -n '2,21p' "$0"; exit 0 ;;
        *) echo "error: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done
((DURATION >= 1 && DURATION <= 120)) || { echo "error: --duration is 1..120 s" >&2; exit 2; }

export PGHOST="${PGHOST:-127.0.0.1}" PGPORT="${PGPORT:-5432}" PGUSER="${PGUSER:-postgres}"
bench_require_loopback "$PGHOST"
psql -d postgres -Atqc 'SELECT 1' >/dev/null ||
    { echo "error: PostgreSQL at $PGHOST:$PGPORT (user $PGUSER) is not reachable" >&2; exit 2; }

bench_build

WORK="$(mktemp -d /tmp/purse-scale.XXXXXX)"
PIDS=()
DB=""
stop_all() {
    local pid
    for pid in "${PIDS[@]}"; do
        SERVER_PID="$pid" bench_stop_server
    done
    PIDS=()
}
BENCH_CLEANUP_STEPS+=("stop_all")
BENCH_CLEANUP_STEPS+=("[[ -z \"\$DB\" ]] || dropdb --if-exists --force \"\$DB\" 2>/dev/null")
BENCH_CLEANUP_STEPS+=("rm -rf '$WORK'")
trap bench_cleanup EXIT
trap 'exit 130' INT TERM

HEADER="processes,clients,transfers_per_s,p50_ms,p99_ms,failed,conservation,ledger_verify"
echo "$HEADER"
[[ -z "$OUT" ]] || echo "$HEADER" >"$OUT"

for P in $PROCESSES; do
    for C in $CLIENTS; do
        DB="purse_scale_$(bench_random_suffix)"
        createdb "$DB"
        export PURSE_DATABASE_URL="postgres://$PGUSER@$PGHOST:$PGPORT/$DB"
        # Migrate once before the servers start side by side.
        "$PURSE" migrate >/dev/null
        URLS=()
        for i in $(seq 1 "$P"); do
            mkdir -p "$WORK/p$P-c$C/s$i"
            bench_start_server "$WORK/p$P-c$C/s$i"
            PIDS+=("$SERVER_PID")
            URLS+=("$SERVER_URL")
        done
        SERVER_PID=""
        BENCH_PIDS=()
        for i in $(seq 1 "$P"); do
            "$PURSE" bench transfers --url "${URLS[$((i - 1))]}" --wallets $((WALLETS / P)) \
                --concurrency $((C / P)) --duration "$DURATION" \
                >"$WORK/p$P-c$C/bench$i.log" 2>&1 &
            BENCH_PIDS+=($!)
        done
        STATUS=0
        for pid in "${BENCH_PIDS[@]}"; do wait "$pid" || STATUS=$?; done
        if ((STATUS != 0)); then
            cat "$WORK/p$P-c$C"/bench*.log >&2
            echo "error: a bench run failed ($STATUS)" >&2
            exit "$STATUS"
        fi
        stop_all
        VERIFY="failed"
        "$PURSE" ledger verify --format json >"$WORK/p$P-c$C/verify.json" 2>&1 && VERIFY="ok"
        LINE="$(awk -v p="$P" -v c="$C" -v verify="$VERIFY" '
            /^result:/ {
                for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
                tps += v["transfers_per_s"]; failed += v["failed"]
                if (v["p50_ms"] + 0 > p50 + 0) p50 = v["p50_ms"] + 0
                if (v["p99_ms"] + 0 > p99 + 0) p99 = v["p99_ms"] + 0
                if (v["conservation"] != "ok") cons = "FAILED"
            }
            END { printf "%d,%d,%.1f,%.2f,%.2f,%d,%s,%s\n", p, c, tps, p50, p99, failed, (cons ? cons : "ok"), verify }
        ' "$WORK/p$P-c$C"/bench*.log)"
        echo "$LINE"
        [[ -z "$OUT" ]] || echo "$LINE" >>"$OUT"
        dropdb --force "$DB"
        DB=""
        if [[ "$VERIFY" != "ok" ]] || [[ "$LINE" == *FAILED* ]]; then
            cat "$WORK/p$P-c$C/verify.json" >&2
            echo "error: invariants broken after $P processes / $C clients" >&2
            exit 3
        fi
    done
done
