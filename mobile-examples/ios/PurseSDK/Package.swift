// swift-tools-version:5.9
// The Purse SDK as a Swift package: the generated Swift bindings (Sources/PurseSDK/purse.swift)
// over the Rust library in PurseFFI.xcframework. Both are written by ../build-xcframework.sh and
// are not committed.
import PackageDescription

let package = Package(
    name: "PurseSDK",
    platforms: [.iOS(.v15)],
    products: [
        .library(name: "PurseSDK", targets: ["PurseSDK"]),
    ],
    targets: [
        .binaryTarget(name: "purseFFI", path: "PurseFFI.xcframework"),
        .target(name: "PurseSDK", dependencies: ["purseFFI"], path: "Sources/PurseSDK"),
    ]
)
