//! Kotlin on the JVM: the generated bindings, `bindings/tests/kotlin/BindingsTest.kt`, the JVM demo
//! and the pay code benchmark of `mobile-examples/jvm/` are compiled together with kotlinc (npm
//! kotlin-compiler, in tests/toolchain) once per test run — reused while the sources are
//! unchanged, because kotlinc takes about half a minute — and run with Debian's JNA against the
//! cdylib of this build.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use purse_core::keys::SecretKey;
use purse_core::{merchant_code, paycode};
use sha2::{Digest, Sha256};

use crate::server::PurseServer;
use crate::util::{
    COMMON_CHECKS, Report, assert_success, bindings, cdylib_dir, core_verifies_paycodes,
    emv_json_matches_core, missing_prerequisite, now_unix, repo, runs, scan_png, scratch,
};

const JNA_JAR: &str = "/usr/share/java/jna.jar";

fn kotlin_home() -> PathBuf {
    repo().join("tests/toolchain/node_modules/kotlin-compiler")
}

/// Compiled classes and what `java` needs to run them.
struct Jvm {
    classes: PathBuf,
}

impl Jvm {
    fn run(&self, main_class: &str, args: &[&str]) -> Output {
        let classpath = [
            self.classes.clone(),
            kotlin_home().join("lib/kotlin-stdlib.jar"),
            PathBuf::from(JNA_JAR),
        ]
        .map(|path| path.display().to_string())
        .join(":");
        Command::new("java")
            .arg(format!("-Djna.library.path={}", cdylib_dir().display()))
            .args(["-cp", &classpath, main_class])
            .args(args)
            .output()
            .expect("java runs")
    }
}

/// The compiled programs, or why they cannot be built here.
fn jvm() -> Result<&'static Jvm, &'static str> {
    static JVM: OnceLock<Result<Jvm, &'static str>> = OnceLock::new();
    JVM.get_or_init(compile).as_ref().map_err(|why| *why)
}

fn compile() -> Result<Jvm, &'static str> {
    let kotlinc = kotlin_home().join("bin/kotlinc");
    if !kotlinc.is_file() {
        return Err(
            "kotlinc is not installed in tests/toolchain/node_modules (npm kotlin-compiler)",
        );
    }
    if !runs("java", &["-version"]) {
        return Err("`java` is not on PATH");
    }
    if !Path::new(JNA_JAR).is_file() {
        return Err("JNA is not installed (/usr/share/java/jna.jar, Debian libjna-java)");
    }
    let sources = [
        bindings().join("kotlin/app/purse/sdk/purse.kt"),
        repo().join("bindings/tests/kotlin/BindingsTest.kt"),
        repo().join("bindings/tests/kotlin/ClientFlowTest.kt"),
        repo().join("mobile-examples/jvm/Demo.kt"),
        repo().join("mobile-examples/jvm/PayCodeBench.kt"),
    ];
    // The cache key: the compiler's version and every source.
    let mut hash = Sha256::new();
    hash.update(std::fs::read(kotlin_home().join("build.txt")).unwrap_or_default());
    for source in &sources {
        hash.update(source.file_name().unwrap().as_encoded_bytes());
        hash.update(std::fs::read(source).unwrap());
    }
    let digest = hash.finalize();
    let key: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    let cache = Path::new(env!("CARGO_TARGET_TMPDIR")).join("kotlin-classes");
    let classes = cache.join(&key);
    let stamp = classes.join(".complete");
    if !stamp.is_file() {
        // Older compilations are of other sources; keep only this one.
        let _ = std::fs::remove_dir_all(&cache);
        std::fs::create_dir_all(&classes).unwrap();
        let output = Command::new(&kotlinc)
            .args(&sources)
            .args(["-cp", JNA_JAR, "-nowarn", "-d"])
            .arg(&classes)
            .output()
            .expect("kotlinc runs");
        assert_success("kotlinc", &output);
        std::fs::write(&stamp, "").unwrap();
    }
    Ok(Jvm { classes })
}

#[test]
fn kotlin_bindings_pass_every_check() {
    let jvm = match jvm() {
        Ok(jvm) => jvm,
        Err(why) => return missing_prerequisite(why),
    };
    let dir = scratch("kotlin-bindings");
    let output = jvm.run(
        "app.purse.sdk.test.BindingsTestKt",
        &[dir.to_str().unwrap()],
    );
    let report = Report::parse(&output);
    report.assert_all_passed(COMMON_CHECKS, &output);

    // Pay codes made through the bindings (in-memory key and JDK keystore signer) verify in Rust.
    assert_eq!(core_verifies_paycodes(&report), 2, "{}", report.text);
    assert_eq!(emv_json_matches_core(&report), 2, "{}", report.text);
    // The PNG rendered through the bindings is read back by a real QR reader.
    let pngs = report.data("qr-png");
    assert_eq!(pngs.len(), 1, "{}", report.text);
    let [file, payload] = pngs[0] else {
        panic!("malformed qr-png line {:?}", pngs[0]);
    };
    assert_eq!(scan_png(Path::new(file)), *payload);
    merchant_code::decode(payload).expect("the core reads the merchant code Kotlin signed");
}

#[test]
fn jvm_demo_runs_and_continues_its_counter() {
    let jvm = match jvm() {
        Ok(jvm) => jvm,
        Err(why) => return missing_prerequisite(why),
    };
    let state = scratch("jvm-demo");
    let state_arg = state.to_str().unwrap();
    // Each run is a new process: it reserves a new block of 16 counters, so the second run's
    // first pay code is #17.
    for (run, counter) in [(1, 1), (2, 17)] {
        let output = jvm.run("app.purse.demo.DemoKt", &["--state", state_arg]);
        assert_success("the JVM demo", &output);
        let text = String::from_utf8_lossy(&output.stdout);
        for expected in [
            format!("shows pay code #{counter} "),
            format!("merchant: accepted pay code #{counter} from device"),
            "merchant: refused replay: paycode_replayed".to_owned(),
            "consumer: verified merchant code from Corner Coffee (mer_demo) for 4.20 EUR"
                .to_owned(),
            "consumer: refused tampered code: merchant_code_bad_signature".to_owned(),
            "demo finished".to_owned(),
        ] {
            assert!(
                text.contains(&expected),
                "run {run} lacks {expected:?}:\n{text}"
            );
        }
    }
    // The images the demo wrote are real QR codes whose contents the core verifies with the
    // demo's own keys.
    let read_key = |name: &str| {
        SecretKey::from_text(&std::fs::read_to_string(state.join(name)).unwrap())
            .unwrap()
            .public_key()
    };
    let pay_code = scan_png(&state.join("paycode.png"));
    let verified = paycode::verify(
        &pay_code,
        &read_key("device.key"),
        Some(1),
        now_unix(),
        None,
    )
    .expect("the second run's pay code verifies after the first's counter");
    assert_eq!(verified.counter(), 17);
    let merchant_payload = scan_png(&state.join("merchant-code.png"));
    let code = merchant_code::verify(&merchant_payload, &read_key("merchant.key"), now_unix())
        .expect("the demo's merchant code verifies");
    assert_eq!(code.reference(), Some("order-17"));
    assert!(
        std::fs::read_to_string(state.join("merchant-code.svg"))
            .unwrap()
            .contains("<svg")
    );
}

/// PurseClient from Kotlin against a real `purse serve`: a consumer pays a merchant's dynamic QR
/// code (the merchant side through the client too), then the ledger still verifies.
#[test]
fn kotlin_client_full_flow() {
    let jvm = match jvm() {
        Ok(jvm) => jvm,
        Err(why) => return missing_prerequisite(why),
    };
    let server = PurseServer::start();
    let output = jvm.run(
        "app.purse.sdk.flow.ClientFlowTestKt",
        &[&server.url, &server.admin_token],
    );
    let report = Report::parse(&output);
    report.assert_all_passed(
        &[
            "kotlin_client_signup_device_funding",
            "kotlin_client_pays_merchant_qr",
            "kotlin_client_payment_event",
            "kotlin_client_threads_share_one_session",
            "kotlin_client_errors",
        ],
        &output,
    );
    let payments = report.data("payment");
    assert_eq!(payments.len(), 1, "{}", report.text);
    assert!(payments[0][0].starts_with("pay_"), "{}", report.text);
    assert_eq!(payments[0][3], "3.75");
    server.verify_ledger();
}

/// The benchmark program works (its figures are measured with scripts/bench-bindings against the
/// release build; nothing here asserts a time).
#[test]
fn kotlin_paycode_bench_runs() {
    let jvm = match jvm() {
        Ok(jvm) => jvm,
        Err(why) => return missing_prerequisite(why),
    };
    let output = jvm.run("app.purse.bench.PayCodeBenchKt", &["20", "3"]);
    assert_success("PayCodeBench", &output);
    let text = String::from_utf8_lossy(&output.stdout);
    assert_eq!(text.matches(" us/call CPU ").count(), 5, "{text}");
}
