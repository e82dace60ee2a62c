#!/usr/bin/env bash
# Builds the Kotlin bindings, compiles the offline demo with kotlinc and runs it (see README.md).
# Usage: mobile-examples/jvm/run.sh [--release] [--state DIR]
#   --release    use the release cdylib (slower to build the first time, what apps ship)
#   --state DIR  where the demo keeps its keys and counters (default target/jvm-demo/state);
#                run it twice with the same DIR and the pay code counter continues
set -euo pipefail
cd "$(dirname "$0")/../.."

profile=debug
release=()
state=target/jvm-demo/state
while [ $# -gt 0 ]; do
  case "$1" in
    --release) profile=release; release=(--release) ;;
    --state) state=$2; shift ;;
    *) echo "usage: mobile-examples/jvm/run.sh [--release] [--state DIR]" >&2; exit 2 ;;
  esac
  shift
done

kotlin=tests/toolchain/node_modules/kotlin-compiler
jna=/usr/share/java/jna.jar
if [ ! -x "$kotlin/bin/kotlinc" ] || [ ! -f "$jna" ]; then
  echo "run.sh: kotlinc or JNA missing; run scripts/install-test-deps first" >&2
  exit 1
fi

scripts/gen-bindings "${release[@]}"
classes=target/jvm-demo/classes
rm -rf "$classes"
echo "run.sh: compiling the demo with kotlinc (about half a minute)"
"$kotlin/bin/kotlinc" target/bindings/kotlin/app/purse/sdk/purse.kt mobile-examples/jvm/Demo.kt \
  -cp "$jna" -nowarn -d "$classes"
mkdir -p "$state"
java -Djna.library.path="target/$profile" \
  -cp "$classes:$kotlin/lib/kotlin-stdlib.jar:$jna" app.purse.demo.DemoKt --state "$state"
