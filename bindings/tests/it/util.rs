//! Shared by the binding tests: generating the bindings once per test run (through
//! `scripts/gen-bindings`), finding the tools, reading the check protocol the Kotlin and Python
//! programs print, and finishing their checks with the core (pay codes verified by
//! `purse_core::paycode`, QR images read back by rqrr, EMV JSON compared with the core's).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use purse_core::{emv, paycode};

/// The repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("bindings/ is inside the repository")
        .to_path_buf()
}

/// The directory holding the cdylib cargo built for THIS test run: target/<profile>/deps/. (The
/// copy in target/<profile>/ is only refreshed by `cargo build`, so it may be stale here.)
pub fn cdylib_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_BIN_EXE_uniffi-bindgen"))
        .parent()
        .expect("the binary is in a directory")
        .join("deps");
    assert!(
        dir.join(CDYLIB).is_file(),
        "no {CDYLIB} in {}: is purse-ffi's crate-type still cdylib?",
        dir.display()
    );
    dir
}

pub const CDYLIB: &str = "libpurse_ffi.so";

/// Scratch space of this test run, inside the target directory.
pub fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    if dir.exists() {
        std::fs::remove_dir_all(&dir).unwrap();
    }
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A test that needs a tool outside Rust calls this when the tool is missing, then returns: it
/// says why the test checks nothing, or fails when env `CI=true`, where every suite is required.
/// The note goes straight to stderr so it shows in a normal `cargo test` run (libtest only
/// captures `print!`/`eprint!`).
pub fn missing_prerequisite(why: &str) {
    if std::env::var("CI").is_ok_and(|ci| ci == "true") {
        panic!("{why}: required because CI=true (scripts/install-test-deps installs it)");
    }
    let _ = writeln!(
        std::io::stderr(),
        "note: test skipped: {why} (run scripts/install-test-deps; with CI=true this fails)"
    );
}

/// The generated bindings of this build, made once per test run by `scripts/gen-bindings` (with
/// the cdylib and bindgen cargo just built for the tests, so no nested cargo build runs).
pub fn bindings() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("bindings");
        let output = Command::new(repo().join("scripts/gen-bindings"))
            .env("PURSE_FFI_LIB", cdylib_dir().join(CDYLIB))
            .env("PURSE_UNIFFI_BINDGEN", env!("CARGO_BIN_EXE_uniffi-bindgen"))
            .env("PURSE_BINDINGS_OUT", &out)
            .output()
            .expect("scripts/gen-bindings runs");
        assert_success("scripts/gen-bindings", &output);
        for file in [
            "kotlin/app/purse/sdk/purse.kt",
            "swift/purse.swift",
            "swift/purseFFI.h",
            "python/purse.py",
            "python/libpurse_ffi.so",
        ] {
            assert!(
                out.join(file).is_file(),
                "gen-bindings did not write {file}"
            );
        }
        out
    })
}

pub fn assert_success(what: &str, output: &Output) {
    assert!(
        output.status.success(),
        "{what} failed ({}):\n--- stdout\n{}\n--- stderr\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Whether `program` can be started (`program --version` or similar succeeds).
pub fn runs(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .output()
        .is_ok_and(|out| out.status.success())
}

pub fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// What a Kotlin or Python check program printed: check verdicts and tab-separated data lines.
pub struct Report {
    pub passed: Vec<String>,
    pub failed: Vec<String>,
    pub data: Vec<Vec<String>>,
    pub text: String,
}

impl Report {
    pub fn parse(output: &Output) -> Report {
        let text = format!(
            "{}\n--- stderr\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        let mut report = Report {
            passed: Vec::new(),
            failed: Vec::new(),
            data: Vec::new(),
            text: String::new(),
        };
        for line in String::from_utf8_lossy(&output.stdout).lines() {
            if let Some(name) = line.strip_prefix("ok ") {
                report.passed.push(name.to_owned());
            } else if let Some(failure) = line.strip_prefix("FAIL ") {
                report.failed.push(failure.to_owned());
            } else if line.contains('\t') {
                report
                    .data
                    .push(line.split('\t').map(str::to_owned).collect());
            }
        }
        report.text = text;
        report
    }

    /// Every expected check passed (none missing, none failed) and the program exited 0.
    pub fn assert_all_passed(&self, expected: &[&str], output: &Output) {
        assert!(
            self.failed.is_empty(),
            "failed checks: {:#?}\n{}",
            self.failed,
            self.text
        );
        for name in expected {
            assert!(
                self.passed.iter().any(|passed| passed == name),
                "check {name} did not run:\n{}",
                self.text
            );
        }
        assert!(
            output.status.success(),
            "exit {}:\n{}",
            output.status,
            self.text
        );
    }

    /// Data lines of one kind, without the kind.
    pub fn data(&self, kind: &str) -> Vec<&[String]> {
        self.data
            .iter()
            .filter(|fields| fields[0] == kind)
            .map(|fields| &fields[1..])
            .collect()
    }
}

/// The checks both the Kotlin and the Python programs run.
pub const COMMON_CHECKS: &[&str] = &[
    "sdk_version",
    "keys_generate",
    "keys_backup_restore",
    "keys_wrong_password",
    "emv_decode_pix",
    "emv_decode_khmer",
    "emv_decode_errors",
    "merchant_code_verify",
    "merchant_code_tampered",
    "qr_render",
    "paycode_generate",
    "paycode_counter_survives_restart",
    "paycode_store_failure",
    "signer_callback",
    "signer_failures",
    "no_panic_on_garbage",
];

/// The core verifies every pay code the bindings printed ("paycode", public key, counter, text):
/// generated in Kotlin or Python, accepted by Rust. Returns how many were checked.
pub fn core_verifies_paycodes(report: &Report) -> usize {
    let lines = report.data("paycode");
    for fields in &lines {
        let [public_key, counter, text] = fields else {
            panic!("malformed paycode line {fields:?}");
        };
        let key = public_key.parse().expect("a valid public key");
        let code = paycode::verify(text, &key, None, now_unix(), None)
            .unwrap_or_else(|err| panic!("core refuses {text}: {} {err}", err.code()));
        assert_eq!(code.counter().to_string(), *counter);
        assert_eq!(code.key_id(), key.key_id());
        let replay = paycode::verify(text, &key, Some(code.counter()), now_unix(), None);
        assert_eq!(replay.unwrap_err().code(), "paycode_replayed");
    }
    lines.len()
}

/// The EMV JSON that crossed the FFI is the core's own JSON for the same vector payload, read
/// from `core/tests/data/emv-mpm.json` by id. Returns how many were checked.
pub fn emv_json_matches_core(report: &Report) -> usize {
    let vectors: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("core/tests/data/emv-mpm.json")).unwrap(),
    )
    .unwrap();
    let lines = report.data("emv-json");
    for fields in &lines {
        let [id, json] = fields else {
            panic!("malformed emv-json line {fields:?}");
        };
        let vector = vectors
            .as_array()
            .unwrap()
            .iter()
            .find(|vector| vector["id"] == id.as_str())
            .unwrap_or_else(|| panic!("no vector {id}"));
        let payload = vector["payload"].as_str().unwrap();
        let expected = emv::decode(payload).unwrap().to_json();
        let crossed: serde_json::Value = serde_json::from_str(json).unwrap();
        assert_eq!(crossed, expected, "JSON of {id} changed across the FFI");
    }
    lines.len()
}

/// Reads the one QR code in a PNG file with rqrr.
pub fn scan_png(path: &Path) -> String {
    let image = image::open(path)
        .unwrap_or_else(|err| panic!("{}: {err}", path.display()))
        .to_luma8();
    let (width, height) = (image.width() as usize, image.height() as usize);
    let mut prepared = rqrr::PreparedImage::prepare_from_greyscale(width, height, |x, y| {
        image.get_pixel(x as u32, y as u32).0[0]
    });
    let grids = prepared.detect_grids();
    assert_eq!(grids.len(), 1, "expected one QR code in {}", path.display());
    grids[0].decode().expect("the QR reader decodes it").1
}
