//! Tests for `purse keys new|show|backup|restore`, driving the real binary in a temporary
//! directory.

use std::path::Path;

use purse_core::keys::{self, PublicKey, SecretKey, Signer};
use serde_json::Value;

use crate::util::purse;

const PASSWORD: &str = "correct horse battery staple";

fn path_str(path: &Path) -> &str {
    path.to_str().expect("temporary paths are UTF-8")
}

/// Creates a key file with `purse keys new` and returns its JSON answer.
fn new_key(dir: &Path, name: &str) -> Value {
    let file = dir.join(name);
    purse(["keys", "new", "--out", path_str(&file)]).run().ok()
}

fn read_key(path: &Path) -> SecretKey {
    SecretKey::from_text(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn new_writes_a_private_key_file_and_prints_only_public_facts() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("merchant.key");
    let out = purse(["keys", "new", "--out", path_str(&file)]).run();
    let json = out.ok();

    let secret = read_key(&file);
    assert_eq!(json["public_key"], secret.public_key().to_string());
    assert_eq!(json["key_id"], secret.key_id().to_string());
    assert_eq!(json["file"], path_str(&file));
    let public: PublicKey = json["public_key"].as_str().unwrap().parse().unwrap();
    assert_eq!(public.key_id().to_string(), json["key_id"]);

    // The secret is in the file and nowhere in the output.
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(
        text.ends_with('\n') && text.lines().count() == 1,
        "{text:?}"
    );
    let seed = text.trim().rsplit(':').next().unwrap();
    assert!(!out.stdout.contains(seed) && !out.stderr.contains(seed));

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "mode {mode:o}");
    }
}

#[test]
fn new_defaults_to_purse_key_in_the_current_directory() {
    let dir = tempfile::tempdir().unwrap();
    let json = purse(["keys", "new"]).current_dir(dir.path()).run().ok();
    assert_eq!(json["file"], "purse.key");
    assert_eq!(
        read_key(&dir.path().join("purse.key")).key_id().to_string(),
        json["key_id"]
    );
}

#[test]
fn new_gives_fresh_keys() {
    let dir = tempfile::tempdir().unwrap();
    let a = new_key(dir.path(), "a.key");
    let b = new_key(dir.path(), "b.key");
    assert_ne!(a["key_id"], b["key_id"]);
}

#[test]
fn new_never_overwrites() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("taken.key");
    std::fs::write(&file, "precious").unwrap();
    purse(["keys", "new", "--out", path_str(&file)])
        .run()
        .fails("key_file_exists");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "precious");
}

#[test]
fn new_reports_an_unwritable_target() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("no-such-dir").join("x.key");
    purse(["keys", "new", "--out", path_str(&file)])
        .run()
        .fails("key_file_write_failed");
}

#[test]
fn show_prints_the_public_key_of_a_known_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("rfc8032.key");
    // RFC 8032 TEST 1's seed in the key file format.
    std::fs::write(
        &file,
        "purse-ed25519-secret-v1:nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A\n",
    )
    .unwrap();

    let out = purse(["keys", "show", path_str(&file)]).run();
    let json = out.ok();
    assert_eq!(
        json["public_key"],
        "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
    );
    assert_eq!(json["key_id"], "21fe31dfa154a261");
    // Only public facts (and a warning, since the file was written with the default umask).
    for field in json.as_object().unwrap().keys() {
        assert!(
            ["public_key", "key_id", "warning"].contains(&field.as_str()),
            "{json}"
        );
    }
    assert!(
        !out.stdout
            .contains("nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A")
    );
}

#[cfg(unix)]
#[test]
fn show_warns_about_a_key_file_others_can_read() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let created = new_key(dir.path(), "k.key");
    let file = dir.path().join("k.key");
    let quiet = purse(["keys", "show", path_str(&file)]).run().ok();
    assert!(quiet.get("warning").is_none(), "{quiet}");

    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let loud = purse(["keys", "show", path_str(&file)]).run().ok();
    assert_eq!(loud["key_id"], created["key_id"]);
    let warning = loud["warning"].as_str().unwrap();
    assert!(
        warning.contains("0644") && warning.contains("chmod 600"),
        "{warning}"
    );
}

#[test]
fn show_refuses_missing_and_invalid_files() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.key");
    purse(["keys", "show", path_str(&missing)])
        .run()
        .fails("key_file_unreadable");

    for (name, content) in [
        ("empty.key", b"".to_vec()),
        ("garbage.key", b"hello world\n".to_vec()),
        ("binary.key", vec![0xff, 0xfe, 0x00]),
        ("huge.key", vec![b'a'; 100_000]),
        (
            "truncated.key",
            b"purse-ed25519-secret-v1:nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZ".to_vec(),
        ),
    ] {
        let file = dir.path().join(name);
        std::fs::write(&file, content).unwrap();
        purse(["keys", "show", path_str(&file)])
            .run()
            .fails("secret_key_invalid");
    }
}

#[test]
fn backup_with_the_password_in_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let json = new_key(dir.path(), "k.key");
    let file = dir.path().join("k.key");
    let out = purse(["keys", "backup", path_str(&file)])
        .env("PURSE_BACKUP_PASSWORD", PASSWORD)
        .run();
    let backup = out.ok();
    assert_eq!(backup["key_id"], json["key_id"]);
    let envelope = backup["envelope"].as_str().unwrap();
    assert!(envelope.starts_with("purse-backup-v1."), "{envelope}");
    assert!(!out.stdout.contains(PASSWORD));
    // The library restores what the CLI wrote.
    let restored = keys::restore(envelope, PASSWORD).unwrap();
    assert_eq!(restored.key_id(), read_key(&file).key_id());
}

#[test]
fn backup_with_the_password_on_stdin() {
    let dir = tempfile::tempdir().unwrap();
    new_key(dir.path(), "k.key");
    let file = dir.path().join("k.key");
    let backup = purse(["keys", "backup", path_str(&file)])
        .stdin(format!("{PASSWORD}\r\n"))
        .run()
        .ok();
    let envelope = backup["envelope"].as_str().unwrap();
    assert_eq!(
        keys::restore(envelope, PASSWORD).unwrap().key_id(),
        read_key(&file).key_id()
    );
}

#[test]
fn backup_refusals() {
    let dir = tempfile::tempdir().unwrap();
    new_key(dir.path(), "k.key");
    let file = dir.path().join("k.key");
    let file = path_str(&file);
    purse(["keys", "backup", file])
        .run()
        .fails("password_missing");
    purse(["keys", "backup", file])
        .stdin("\n")
        .run()
        .fails("password_missing");
    purse(["keys", "backup", file])
        .stdin("short\n")
        .run()
        .fails("password_too_short");
    purse(["keys", "backup", file])
        .env("PURSE_BACKUP_PASSWORD", "x".repeat(2000))
        .run()
        .fails("password_too_long");
    purse(["keys", "backup", file])
        .stdin(vec![b'x'; 10_000])
        .run()
        .fails("input_unreadable");
    purse(["keys", "backup", path_str(&dir.path().join("missing.key"))])
        .env("PURSE_BACKUP_PASSWORD", PASSWORD)
        .run()
        .fails("key_file_unreadable");
}

/// Backs up a fresh key through the library and returns (key, envelope).
fn library_backup() -> (SecretKey, String) {
    let secret = SecretKey::generate();
    let envelope = keys::backup(&secret, PASSWORD).unwrap();
    (secret, envelope)
}

#[test]
fn restore_writes_the_same_key() {
    let dir = tempfile::tempdir().unwrap();
    let (secret, envelope) = library_backup();
    let out = dir.path().join("restored.key");
    let json = purse(["keys", "restore", &envelope, "--out", path_str(&out)])
        .env("PURSE_BACKUP_PASSWORD", PASSWORD)
        .run()
        .ok();
    assert_eq!(json["key_id"], secret.key_id().to_string());
    assert_eq!(json["public_key"], secret.public_key().to_string());
    let restored = read_key(&out);
    // Same key: a signature by the restored file verifies under the original public key.
    let sig = restored.sign(b"after restore").unwrap();
    secret.public_key().verify(b"after restore", &sig).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&out).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "mode {mode:o}");
    }
}

#[test]
fn restore_reads_envelope_and_password_from_stdin() {
    let dir = tempfile::tempdir().unwrap();
    let (secret, envelope) = library_backup();
    let out = dir.path().join("restored.key");
    let json = purse(["keys", "restore", "-", "--out", path_str(&out)])
        .stdin(format!("{envelope}\n{PASSWORD}\n"))
        .run()
        .ok();
    assert_eq!(json["key_id"], secret.key_id().to_string());
    assert_eq!(read_key(&out).key_id(), secret.key_id());
}

#[test]
fn full_cycle_through_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let created = new_key(dir.path(), "k.key");
    let backup = purse(["keys", "backup", path_str(&dir.path().join("k.key"))])
        .env("PURSE_BACKUP_PASSWORD", PASSWORD)
        .run()
        .ok();
    let envelope = backup["envelope"].as_str().unwrap();
    let out = dir.path().join("back.key");
    purse(["keys", "restore", envelope, "--out", path_str(&out)])
        .stdin(format!("{PASSWORD}\n"))
        .run()
        .ok();
    let shown = purse(["keys", "show", path_str(&out)]).run().ok();
    assert_eq!(shown["key_id"], created["key_id"]);
    assert_eq!(shown["public_key"], created["public_key"]);
}

#[test]
fn restore_refusals_leave_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let (_, envelope) = library_backup();
    let out = dir.path().join("never.key");
    let target = path_str(&out);
    let body = envelope.strip_prefix("purse-backup-v1.").unwrap();
    let v2 = format!("purse-backup-v2.{body}");
    let truncated = &envelope[..envelope.len() - 5];
    for (env_text, password, code) in [
        (
            envelope.as_str(),
            "wrong password entirely",
            "backup_wrong_password",
        ),
        (truncated, PASSWORD, "backup_corrupted"),
        ("hello", PASSWORD, "backup_corrupted"),
        (v2.as_str(), PASSWORD, "backup_unsupported_version"),
    ] {
        purse(["keys", "restore", env_text, "--out", target])
            .env("PURSE_BACKUP_PASSWORD", password)
            .run()
            .fails(code);
        assert!(!out.exists(), "{code} left a file behind");
    }
    purse(["keys", "restore", &envelope, "--out", target])
        .run()
        .fails("password_missing");
    purse(["keys", "restore", "-", "--out", target])
        .run()
        .fails("envelope_missing");
    assert!(!out.exists());
}

#[test]
fn restore_never_overwrites() {
    let dir = tempfile::tempdir().unwrap();
    let (_, envelope) = library_backup();
    let out = dir.path().join("taken.key");
    std::fs::write(&out, "precious").unwrap();
    purse(["keys", "restore", &envelope, "--out", path_str(&out)])
        .env("PURSE_BACKUP_PASSWORD", PASSWORD)
        .run()
        .fails("key_file_exists");
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "precious");
}

#[test]
fn usage_errors_are_not_silent() {
    let out = purse(["keys", "frobnicate"]).run();
    assert_eq!(out.status, Some(2), "{out:#?}");
    assert!(out.stderr.contains("frobnicate"), "{out:#?}");
    let out = purse(["keys", "show"]).run();
    assert_eq!(out.status, Some(2), "{out:#?}");
}
