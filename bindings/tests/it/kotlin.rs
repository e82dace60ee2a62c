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
    let mut sources = vec![
        bindings().join("kotlin/app/purse/sdk/purse.kt"),
        repo().join("bindings/tests/kotlin/BindingsTest.kt"),
        repo().join("bindings/tests/kotlin/ClientFlowTest.kt"),
        repo().join("bindings/tests/kotlin/AndroidLogicTest.kt"),
        repo().join("mobile-examples/jvm/Demo.kt"),
        repo().join("mobile-examples/jvm/OnlineDemo.kt"),
        repo().join("mobile-examples/jvm/PayCodeBench.kt"),
    ];
    sources.extend(android_logic_sources());
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

/// The Android app's plain-Kotlin logic (`mobile-examples/android/.../logic/*.kt`), which must not
/// import android.* so that it compiles and runs here; the activities over it cannot be built
/// without the Android SDK.
fn android_logic_sources() -> Vec<PathBuf> {
    let dir = repo().join(ANDROID_LOGIC_DIR);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|err| panic!("{}: {err}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "kt"))
        .collect();
    files.sort();
    files
}

const ANDROID_LOGIC_DIR: &str = "mobile-examples/android/app/src/main/java/app/purse/wallet/logic";

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

/// The online JVM demo (mobile-examples/jvm/OnlineDemo.kt) against a real `purse serve`: consumer
/// and merchant sign up, the consumer is funded, pays the merchant's dynamic QR code after
/// verifying it with the key from the merchant's directory, the merchant sees `payment.succeeded`,
/// the consumer sees the payment in history; the QR image it wrote is a real, signed Purse code.
#[test]
fn jvm_online_demo_pays_a_merchant_qr() {
    let jvm = match jvm() {
        Ok(jvm) => jvm,
        Err(why) => return missing_prerequisite(why),
    };
    let server = PurseServer::start();
    let state = scratch("jvm-online-demo");
    let output = jvm.run(
        "app.purse.demo.OnlineDemoKt",
        &[
            "--server",
            &server.url,
            "--operator-token",
            &server.admin_token,
            "--state",
            state.to_str().unwrap(),
        ],
    );
    assert_success("the online JVM demo", &output);
    let text = String::from_utf8_lossy(&output.stdout);
    let report = Report::parse(&output);
    let payments = report.data("payment");
    assert_eq!(payments.len(), 1, "{text}");
    let [payment_id, transfer_id, merchant_wallet, amount] = payments[0] else {
        panic!("malformed payment line {:?}", payments[0]);
    };
    assert!(payment_id.starts_with("pay_"), "{text}");
    assert_eq!(amount, "4.20");
    for expected in [
        "operator: funded ".to_owned(),
        "shows a dynamic QR for 4.20 USD".to_owned(),
        "signature verified with key ".to_owned(),
        "pay 4.20 USD".to_owned(),
        "a forged copy is refused before paying: merchant_code_bad_signature".to_owned(),
        format!("paid 4.20 USD to Corner Coffee: {payment_id} succeeded"),
        format!("answers the same payment {payment_id}"),
        "paying the code again is refused: qr_already_paid (409)".to_owned(),
        "merchant: event payment.succeeded evt_".to_owned(),
        format!("consumer: history {transfer_id} payment -4.20 USD"),
        "+20.00 USD".to_owned(),
        "consumer: balance 15.80 USD".to_owned(),
        "consumer: restarted app resumed usr_".to_owned(),
        "online demo finished".to_owned(),
    ] {
        assert!(text.contains(&expected), "lacks {expected:?}:\n{text}");
    }
    assert!(
        text.contains(&format!(" for {payment_id}: 4.20 USD")),
        "{text}"
    );
    // Once read by the first client, once by the restarted one.
    assert_eq!(text.matches("balance 15.80 USD").count(), 2, "{text}");
    assert!(merchant_wallet.starts_with("wal_"), "{text}");
    // The image the merchant showed is the payload the server signed, a Purse merchant code.
    let payload = scan_png(&state.join("merchant-qr.png"));
    assert!(text.contains(&format!("merchant: {payload}\n")), "{text}");
    let code = merchant_code::decode(&payload).expect("a Purse merchant code");
    assert!(code.merchant_id().starts_with("mer_"), "{payload}");
    server.verify_ledger();
}

/// The Android app's logic on the JVM against a real `purse serve`: stores over a
/// SharedPreferences stand-in, formatting, the pay code refresh schedule and the balance, scan to
/// pay and history screens (bindings/tests/kotlin/AndroidLogicTest.kt).
#[test]
fn android_app_logic_on_the_jvm() {
    // No android.* in the logic: that is what lets it run here (and in plain JVM unit tests).
    let sources = android_logic_sources();
    assert!(sources.len() >= 4, "{sources:?}");
    for source in &sources {
        let text = std::fs::read_to_string(source).unwrap();
        assert!(
            !text.contains("import android.") && !text.contains("import androidx."),
            "{} imports Android classes; keep them in ui/",
            source.display()
        );
    }
    let jvm = match jvm() {
        Ok(jvm) => jvm,
        Err(why) => return missing_prerequisite(why),
    };
    let server = PurseServer::start();
    let output = jvm.run(
        "app.purse.wallet.logic.test.AndroidLogicTestKt",
        &[&server.url, &server.admin_token],
    );
    let report = Report::parse(&output);
    report.assert_all_passed(
        &[
            "android_money_format",
            "android_counter_store_prefs",
            "android_session_store",
            "android_device_key",
            "android_paycode_refresh",
            "android_charge_events",
            "android_balance_screen",
            "android_scan_to_pay",
            "android_history_screen",
            "android_errors_as_text",
        ],
        &output,
    );
    let payments = report.data("payment");
    assert_eq!(payments.len(), 1, "{}", report.text);
    assert!(payments[0][0].starts_with("pay_"), "{}", report.text);
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
    assert_eq!(text.matches(" us/call CPU ").count(), 6, "{text}");
}
