# shellcheck shell=bash
# Shared by the bench/*.sh scripts: build the release `purse`, start a `purse serve` on a free
# loopback port in a folder of its own, and stop it again. Sourced, never run. It never starts
# anything that it does not also stop: callers install `trap bench_cleanup EXIT`.

BENCH_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# Set by bench_start_server; read by callers and by bench_cleanup.
SERVER_PID=""
SERVER_URL=""
# Extra cleanup steps callers register (commands, run in order).
BENCH_CLEANUP_STEPS=()

bench_log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# The release binary (PURSE_BIN overrides, e.g. to reuse a build).
bench_build() {
    if [[ -n "${PURSE_BIN:-}" ]]; then
        # Absolute: the server and the bench run from folders of their own.
        PURSE="$(cd "$(dirname "$PURSE_BIN")" && pwd)/$(basename "$PURSE_BIN")"
    else
        bench_log "building the release binary (cargo build --release --bin purse)"
        (cd "$BENCH_ROOT" && cargo build --release --bin purse >&2)
        PURSE="$BENCH_ROOT/target/release/purse"
    fi
    [[ -x "$PURSE" ]] || { echo "error: no purse binary at $PURSE" >&2; exit 2; }
}

# bench_start_server DIR: runs `purse serve --listen 127.0.0.1:0` in DIR with the caller's
# environment (PURSE_*), waits (at most 60 s) until it logs its address and answers /readyz.
bench_start_server() {
    local dir="$1"
    (cd "$dir" && exec "$PURSE" serve --listen 127.0.0.1:0 >"$dir/server.log" 2>&1) &
    SERVER_PID=$!
    local waited=0
    while ((waited < 600)); do
        if ! kill -0 "$SERVER_PID" 2>/dev/null; then
            echo "error: purse serve exited; its log:" >&2
            cat "$dir/server.log" >&2
            exit 2
        fi
        SERVER_URL="$({ grep -o 'listening on http://127\.0\.0\.1:[0-9]*' "$dir/server.log" 2>/dev/null || true; } | head -1 | sed 's/^listening on //')"
        if [[ -n "$SERVER_URL" ]] && curl -fsS -o /dev/null --max-time 2 "$SERVER_URL/readyz"; then
            bench_log "purse serve (pid $SERVER_PID) ready at $SERVER_URL"
            return 0
        fi
        sleep 0.1
        waited=$((waited + 1))
    done
    echo "error: purse serve did not become ready within 60 s; its log:" >&2
    cat "$dir/server.log" >&2
    exit 2
}

# Stops the server gracefully (SIGTERM drains in-flight requests), SIGKILL after 30 s.
bench_stop_server() {
    [[ -n "$SERVER_PID" ]] || return 0
    if kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM "$SERVER_PID" 2>/dev/null || true
        local waited=0
        while kill -0 "$SERVER_PID" 2>/dev/null && ((waited < 300)); do
            sleep 0.1
            waited=$((waited + 1))
        done
        kill -KILL "$SERVER_PID" 2>/dev/null || true
    fi
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=""
}

bench_cleanup() {
    local status=$?
    bench_stop_server
    local step
    for step in "${BENCH_CLEANUP_STEPS[@]}"; do
        eval "$step" || true
    done
    return "$status"
}

# Refuses non-loopback hosts: benchmarks only ever load this machine.
bench_require_loopback() {
    case "$1" in
        127.* | localhost | ::1 | '[::1]') ;;
        *)
            echo "error: refusing host $1: benchmarks only target loopback addresses" >&2
            exit 2
            ;;
    esac
}

# A random lowercase hex suffix for database names.
bench_random_suffix() { od -An -N6 -tx1 /dev/urandom | tr -d ' \n'; }

# The value of KEY=VALUE on the line starting with "result:" of a `purse bench` output file.
bench_result() {
    grep '^result:' "$2" | tail -1 | tr ' ' '\n' | sed -n "s/^$1=//p"
}
