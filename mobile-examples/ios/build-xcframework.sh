#!/usr/bin/env bash
# macOS only: builds purse-ffi for iOS devices and simulators, generates the Swift bindings, and
# assembles PurseSDK/PurseFFI.xcframework plus PurseSDK/Sources/PurseSDK/purse.swift for the Swift
# package in PurseSDK/. Needs Xcode and the Rust iOS targets:
#   rustup target add aarch64-apple-ios aarch64-apple-ios-sim x86_64-apple-ios
# NOT run on the Linux development machine (see README.md for what is verified where).
set -euo pipefail
cd "$(dirname "$0")/../.."
[ "$(uname -s)" = Darwin ] || { echo "build-xcframework.sh: needs macOS and Xcode" >&2; exit 1; }

targets=(aarch64-apple-ios aarch64-apple-ios-sim x86_64-apple-ios)
# The static library is not a standing crate type of purse-ffi (it would be written on every
# build); `cargo rustc --crate-type staticlib` makes it for these targets only.
for target in "${targets[@]}"; do
  cargo rustc --locked --release -p purse-ffi --lib --crate-type staticlib --target "$target"
done

# The Swift bindings, generated from the host build (the metadata is the same on every target).
cargo build --locked --release -p purse-ffi
out=target/ios
rm -rf "$out" && mkdir -p "$out/headers" "$out/sim"
target/release/uniffi-bindgen generate --no-format --library target/release/libpurse_ffi.dylib \
  --language swift --out-dir "$out/swift"
cp "$out/swift/purseFFI.h" "$out/headers/"
# An XCFramework's headers need the module map under this exact name.
cp "$out/swift/purseFFI.modulemap" "$out/headers/module.modulemap"

# One simulator library for both simulator architectures.
lipo -create target/aarch64-apple-ios-sim/release/libpurse_ffi.a \
  target/x86_64-apple-ios/release/libpurse_ffi.a -output "$out/sim/libpurse_ffi.a"

package=mobile-examples/ios/PurseSDK
rm -rf "$package/PurseFFI.xcframework"
xcodebuild -create-xcframework \
  -library target/aarch64-apple-ios/release/libpurse_ffi.a -headers "$out/headers" \
  -library "$out/sim/libpurse_ffi.a" -headers "$out/headers" \
  -output "$package/PurseFFI.xcframework"
cp "$out/swift/purse.swift" "$package/Sources/PurseSDK/purse.swift"
echo "build-xcframework.sh: wrote $package/PurseFFI.xcframework and Sources/PurseSDK/purse.swift"
