#!/usr/bin/env bash
# Builds the Kotlin bindings, compiles the demos with kotlinc and runs one (see README.md).
# Usage: mobile-examples/jvm/run.sh [--release] [--state DIR] [--online [--server URL --operator-token T]]
#   --release    use the release cdylib (slower to build the first time, what apps ship)
#   --state DIR  where the demo keeps its keys, counters and QR images (default
#                target/jvm-demo/state); run the offline demo twice with the same DIR and the pay
#                code counter continues
#   --online     the online demo (OnlineDemo.kt): consumer and merchant through a QR payment
#                against a `purse serve`. Without --server, this script builds `purse`, starts it on
#                127.0.0.1:8089 with a fresh SQLite database under target/jvm-demo/server and a
#                random operator token, and stops it afterwards.
set -euo pipefail
cd "$(dirname "$0")/../.."

profile=debug
release=()
state=target/jvm-demo/state
online=false
server=
operator_token=
usage() {
  echo "usage: mobile-examples/jvm/run.sh [--release] [--state DIR] [--online [--server URL --operator-token T]]" >&2
  exit 2
}
while [ $# -gt 0 ]; do
  case "$1" in
    --release) profile=release; release=(--release) ;;
    --state) [ $# -ge 2 ] || usage; state=$2; shift ;;
    --online) online=true ;;
    --server) [ $# -ge 2 ] || usage; server=$2; shift ;;
    --operator-token) [ $# -ge 2 ] || usage; operator_token=$2; shift ;;
    *) usage ;;
  esac
  shift
done
if [ -n "$server" ] && [ -z "$operator_token" ]; then
  echo "run.sh: --server needs --operator-token (that server's PURSE_ADMIN_TOKEN)" >&2
  exit 2
fi

kotlin=tests/toolchain/node_modules/kotlin-compiler
jna=/usr/share/java/jna.jar
if [ ! -x "$kotlin/bin/kotlinc" ] || [ ! -f "$jna" ]; then
  echo "run.sh: kotlinc or JNA missing; run scripts/install-test-deps first" >&2
  exit 1
fi

scripts/gen-bindings "${release[@]}"
classes=target/jvm-demo/classes
rm -rf "$classes"
echo "run.sh: compiling the demos with kotlinc (about half a minute)"
"$kotlin/bin/kotlinc" target/bindings/kotlin/app/purse/sdk/purse.kt \
  mobile-examples/jvm/Demo.kt mobile-examples/jvm/OnlineDemo.kt \
  -cp "$jna" -nowarn -d "$classes"
mkdir -p "$state"
java_run() {
  java -Djna.library.path="target/$profile" \
    -cp "$classes:$kotlin/lib/kotlin-stdlib.jar:$jna" "$@"
}

if [ "$online" = false ]; then
  java_run app.purse.demo.DemoKt --state "$state"
  exit 0
fi

if [ -z "$server" ]; then
  cargo build --locked --bin purse "${release[@]}"
  data=target/jvm-demo/server
  rm -rf "$data"
  mkdir -p "$data"
  operator_token="demo-operator-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
  server=http://127.0.0.1:8089
  PURSE_DATA_DIR="$data" PURSE_ADMIN_TOKEN="$operator_token" \
    "target/$profile/purse" serve --listen 127.0.0.1:8089 >"$data/server.log" 2>&1 &
  server_pid=$!
  trap 'kill "$server_pid" 2>/dev/null || true' EXIT
  for _ in $(seq 1 100); do
    if curl -fsS "$server/healthz" >/dev/null 2>&1; then break; fi
    kill -0 "$server_pid" 2>/dev/null || { echo "run.sh: purse serve exited, see $data/server.log" >&2; exit 1; }
    sleep 0.2
  done
  echo "run.sh: purse serve on $server (log $data/server.log)"
fi
java_run app.purse.demo.OnlineDemoKt --server "$server" --operator-token "$operator_token" --state "$state"
