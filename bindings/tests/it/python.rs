//! Python: `bindings/tests/python/bindings_test.py` drives the generated module `purse` (ctypes
//! over the cdylib of this build, copied beside it by scripts/gen-bindings).

use std::process::Command;

use crate::util::{
    COMMON_CHECKS, Report, bindings, core_verifies_paycodes, emv_json_matches_core,
    missing_prerequisite, repo, runs, scratch,
};

#[test]
fn python_bindings_pass_every_check() {
    if !runs("python3", &["--version"]) {
        return missing_prerequisite("`python3` is not on PATH");
    }
    let dir = scratch("python-bindings");
    let output = Command::new("python3")
        .arg(repo().join("bindings/tests/python/bindings_test.py"))
        .arg(&dir)
        .env("PYTHONPATH", bindings().join("python"))
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .expect("python3 runs");
    let report = Report::parse(&output);
    report.assert_all_passed(COMMON_CHECKS, &output);
    assert_eq!(core_verifies_paycodes(&report), 2, "{}", report.text);
    assert_eq!(emv_json_matches_core(&report), 2, "{}", report.text);
}
