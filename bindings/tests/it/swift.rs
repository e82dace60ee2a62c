//! Swift: no Swift compiler runs on Linux, so the generated Swift and the iOS example
//! (`mobile-examples/ios/`) are syntax-checked with tree-sitter-swift
//! (`tests/toolchain/swift-syntax.cjs`, which documents the few grammar gaps it works around), and
//! the check is shown to catch a real syntax error.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

use crate::util::{bindings, missing_prerequisite, repo, runs, scratch};

/// The checker's JSON verdict on `files`, or `None` when node or the grammar is missing.
fn check(files: &[&Path]) -> Option<(Output, Value)> {
    let toolchain = repo().join("tests/toolchain");
    if !toolchain
        .join("node_modules/tree-sitter-swift/package.json")
        .is_file()
    {
        missing_prerequisite("tree-sitter-swift is not installed in tests/toolchain/node_modules");
        return None;
    }
    if !runs("node", &["--version"]) {
        missing_prerequisite("`node` (Node.js) is not on PATH");
        return None;
    }
    let output = Command::new("node")
        .arg(toolchain.join("swift-syntax.cjs"))
        .args(files)
        .output()
        .expect("node runs");
    let verdict: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|err| {
        panic!(
            "swift-syntax.cjs printed no JSON ({err}): {}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    assert_eq!(verdict["grammar"], "tree-sitter-swift@0.7.1");
    Some((output, verdict))
}

#[test]
fn generated_swift_parses() {
    let swift = bindings().join("swift/purse.swift");
    let Some((output, verdict)) = check(&[&swift]) else {
        return;
    };
    assert!(
        output.status.success() && verdict["files"][0]["errors"] == Value::Array(vec![]),
        "syntax errors in the generated Swift: {verdict:#}"
    );
    let source = std::fs::read_to_string(&swift).unwrap();
    for api in [
        "class KeyPair",
        "class PayCodes",
        "protocol Signer",
        "protocol CounterStore",
        "class PurseClient",
        "protocol SessionStore",
        "func payQr(",
    ] {
        assert!(source.contains(api), "the Swift bindings lack {api}");
    }
}

#[test]
fn ios_example_parses() {
    let ios = repo().join("mobile-examples/ios");
    let mut files = vec![ios.join("PurseSDK/Package.swift")];
    for entry in std::fs::read_dir(ios.join("PurseDemo")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|ext| ext == "swift") {
            files.push(path);
        }
    }
    assert!(files.len() >= 5, "iOS example files: {files:?}");
    assert!(
        files
            .iter()
            .any(|file| file.ends_with("PurseClientExample.swift")),
        "the PurseClient example is checked: {files:?}"
    );
    let paths: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
    let Some((output, verdict)) = check(&paths) else {
        return;
    };
    assert!(
        output.status.success(),
        "syntax errors in the iOS example: {verdict:#}"
    );
    for file in verdict["files"].as_array().unwrap() {
        assert_eq!(file["errors"], Value::Array(vec![]), "{file:#}");
    }
}

#[test]
fn swift_check_catches_a_syntax_error() {
    let generated = std::fs::read_to_string(bindings().join("swift/purse.swift")).unwrap();
    let broken = scratch("swift-broken").join("broken.swift");
    let lines = generated.lines().count();
    std::fs::write(&broken, format!("{generated}\nfunc broken(x: Int {{\n")).unwrap();
    let Some((output, verdict)) = check(&[&broken]) else {
        return;
    };
    assert!(
        !output.status.success(),
        "a broken file passed: {verdict:#}"
    );
    let errors = verdict["files"][0]["errors"].as_array().unwrap();
    assert!(
        errors
            .iter()
            .any(|e| e["line"].as_u64() > Some(lines as u64)),
        "the error is not reported at the broken line {}: {verdict:#}",
        lines + 2
    );
}
