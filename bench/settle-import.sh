#!/usr/bin/env bash
# settle-import.sh: `purse settle import` of a large settlement report on the zero-configuration
# SQLite database, under /usr/bin/time -v; prints wall time and peak memory (max RSS).
#
#   bench/settle-import.sh [--lines 1000000]
#
# It creates a fresh folder, migrates its database (`purse ledger verify`), inserts LINES captured
# top-ups in bulk with sqlite3 (not through HTTP: the figure is the import, not the top-ups),
# writes the matching report (one capture line per top-up, sandbox fees) with sqlite3, imports
# it, imports it again (must change nothing), and runs `purse ledger verify`. The last line is
# `result: lines=... seconds=... max_rss_mib=...`. PURSE_BIN reuses a prebuilt binary. The folder
# is removed on any exit.
set -euo pipefail

# shellcheck source=bench/lib.sh
source "$(dirname "$0")/lib.sh"

LINES=1000000
while (($#)); do
    case "$1" in
        --lines) LINES="$2"; shift 2 ;;
        -h | --help) sed -n '2,13p' "$0"; exit 0 ;;
        *) echo "error: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done
command -v sqlite3 >/dev/null || { echo "error: sqlite3 is required" >&2; exit 2; }
[[ -x /usr/bin/time ]] || { echo "error: /usr/bin/time (GNU time) is required" >&2; exit 2; }
unset PURSE_DATABASE_URL

bench_build
WORK="$(mktemp -d /tmp/purse-settle-import.XXXXXX)"
BENCH_CLEANUP_STEPS+=("rm -rf '$WORK'")
trap bench_cleanup EXIT
trap 'exit 130' INT TERM
export PURSE_DATA_DIR="$WORK/data"
DB="$PURSE_DATA_DIR/purse.db"

"$PURSE" ledger verify >/dev/null
DAY_MS=$(( ( $(date -u +%s) / 86400 ) * 86400000 ))
DATE="$(date -u +%Y-%m-%d)"
RID="sbxrpt_$(date -u +%Y%m%d)"

bench_log "inserting $LINES captured top-ups"
sqlite3 "$DB" <<SQL
PRAGMA journal_mode = WAL;
PRAGMA synchronous = NORMAL;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $LINES)
INSERT INTO topups (id, owner_id, wallet_id, currency, amount_minor, method, status, provider,
                    provider_ref, captured_at_ms, created_at_ms, updated_at_ms)
SELECT printf('top_bench%010d', i), 'usr_bench', 'wal_bench', 'USD', 1000 + i % 9000, 'card',
       'succeeded', 'sandbox', printf('pi_bench%010d', i), $DAY_MS + i % 86400000,
       $DAY_MS, $DAY_MS
FROM n;
SQL

bench_log "writing the report ($LINES lines)"
REPORT="$WORK/report.csv"
echo "report_id,report_date,type,provider_reference,currency,gross,fee,net" >"$REPORT"
sqlite3 "$DB" >>"$REPORT" <<SQL
.mode list
SELECT printf('%s,%s,capture,%s,USD,%d.%02d,%d.%02d,%d.%02d', '$RID', '$DATE', provider_ref,
              amount_minor / 100, amount_minor % 100,
              fee / 100, fee % 100,
              (amount_minor - fee) / 100, (amount_minor - fee) % 100)
FROM (SELECT provider_ref, amount_minor, (amount_minor * 290 + 5000) / 10000 + 30 AS fee
      FROM topups WHERE provider_ref LIKE 'pi_bench%' ORDER BY provider_ref);
SQL
bench_log "report: $(wc -l <"$REPORT") lines, $(du -h "$REPORT" | cut -f1)"

bench_log "importing under /usr/bin/time -v"
/usr/bin/time -v -o "$WORK/time.txt" "$PURSE" settle import "$REPORT" --quiet --out "$WORK/out" >"$WORK/summary.json"
SECONDS_TAKEN="$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$WORK/time.txt")"
RSS_KB="$(awk -F': ' '/Maximum resident set size/ {print $2}' "$WORK/time.txt")"
USER_S="$(awk -F': ' '/User time \(seconds\)/ {print $2}' "$WORK/time.txt")"
SYS_S="$(awk -F': ' '/System time \(seconds\)/ {print $2}' "$WORK/time.txt")"
MATCHED="$(grep -o '"matched": [0-9]*' "$WORK/summary.json" | head -1)"
bench_log "summary: $MATCHED"
"$PURSE" settle import "$REPORT" --quiet --out "$WORK/out" >"$WORK/again.json"
grep -q '"already_imported": true' "$WORK/again.json" \
    || { echo "error: the second import was not a no-op" >&2; exit 1; }
"$PURSE" ledger verify
echo "load: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores"
echo "result: lines=$LINES elapsed=$SECONDS_TAKEN user_s=$USER_S sys_s=$SYS_S max_rss_mib=$((RSS_KB / 1024))"
