#!/usr/bin/env bash
# Builds app/libs/purse-sdk.aar, the Purse SDK for Android: libpurse_ffi.so for each ABI (the
# release profile, cross-compiled with cargo-ndk), the Kotlin bindings generated from those very
# libraries, and JNA as a dependency, assembled by the :sdk Gradle module.
#
# Needs (none of it is installed on the project's Linux build machines; see README.md):
#   - the Android NDK: ANDROID_NDK_HOME, or ANDROID_HOME with one ndk/<version> inside;
#   - the Android SDK for Gradle (ANDROID_HOME, or sdk.dir in local.properties);
#   - cargo-ndk (`cargo install cargo-ndk --locked`, from crates.io);
#   - the Rust targets: rustup target add aarch64-linux-android armv7-linux-androideabi x86_64-linux-android;
#   - Gradle 8.9+ (`gradle` on PATH, or a wrapper `./gradlew` made with `gradle wrapper`).
#
# Usage: mobile-examples/android/build-aar.sh
# Environment: PURSE_ANDROID_ABIS   ABIs to build (default "arm64-v8a armeabi-v7a x86_64")
#              PURSE_ANDROID_API    minimum API level of the libraries (default 26, the app's minSdk)
set -euo pipefail
cd "$(dirname "$0")"
android=$PWD
repo=$(cd ../.. && pwd)
say() { echo "build-aar: $*"; }
die() { say "$*" >&2; exit 1; }

read -r -a abis <<<"${PURSE_ANDROID_ABIS:-arm64-v8a armeabi-v7a x86_64}"
api=${PURSE_ANDROID_API:-26}

cargo ndk --version >/dev/null 2>&1 || die "cargo-ndk missing: cargo install cargo-ndk --locked"
if [ -z "${ANDROID_NDK_HOME:-}" ] && [ -n "${ANDROID_HOME:-}" ] && [ -d "$ANDROID_HOME/ndk" ]; then
  ANDROID_NDK_HOME=$(find "$ANDROID_HOME/ndk" -mindepth 1 -maxdepth 1 -type d | sort -V | tail -n 1)
  export ANDROID_NDK_HOME
fi
[ -n "${ANDROID_NDK_HOME:-}" ] && [ -d "$ANDROID_NDK_HOME" ] || die "no Android NDK: set ANDROID_NDK_HOME"
if [ -x ./gradlew ]; then gradle=./gradlew; else gradle=gradle; fi
command -v "$gradle" >/dev/null || die "no Gradle: install Gradle 8.9+ or add a wrapper (gradle wrapper)"

# 1. The native libraries, into the :sdk module's jniLibs/<abi>/ (cargo-ndk's -o layout).
jni=$android/sdk/src/main/jniLibs
rm -rf "$jni"
targets=()
for abi in "${abis[@]}"; do targets+=(-t "$abi"); done
say "cargo ndk ${targets[*]} --platform $api build --release -p purse-ffi"
(cd "$repo" && cargo ndk "${targets[@]}" --platform "$api" -o "$jni" build --locked --release -p purse-ffi)
for abi in "${abis[@]}"; do
  [ -f "$jni/$abi/libpurse_ffi.so" ] || die "cargo-ndk wrote no $jni/$abi/libpurse_ffi.so"
done

# 2. The Kotlin bindings, read (library mode) from the first Android library just built, with the
#    workspace's own uniffi-bindgen built for this machine. scripts/gen-bindings writes all three
#    languages; the AAR takes the Kotlin.
(cd "$repo" && cargo build --locked --release -p purse-ffi --bin uniffi-bindgen)
out=$android/build/bindings
PURSE_FFI_LIB="$jni/${abis[0]}/libpurse_ffi.so" \
  PURSE_UNIFFI_BINDGEN="$repo/target/release/uniffi-bindgen" \
  PURSE_BINDINGS_OUT="$out" \
  "$repo/scripts/gen-bindings"
rm -rf "$android/sdk/src/main/kotlin"
mkdir -p "$android/sdk/src/main/kotlin"
cp -R "$out/kotlin/." "$android/sdk/src/main/kotlin/"

# 3. The AAR, where the app expects it.
"$gradle" --no-daemon -p "$android" :sdk:assembleRelease
mkdir -p "$android/app/libs"
cp "$android/sdk/build/outputs/aar/sdk-release.aar" "$android/app/libs/purse-sdk.aar"
say "wrote $android/app/libs/purse-sdk.aar (ABIs: ${abis[*]}); build the app with: $gradle -p $android :app:assembleDebug"
