//! A bench setup saved to a file, so the users and wallets made through one server process can
//! be used against a freshly started one on the same database (`purse bench actors
//! --save-setup` / `--load-setup`). The file holds the bench devices' secret keys and tokens: it
//! is created readable by its owner only, never overwritten, and never logged.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use anyhow::{Context, bail};
use purse_core::keys::SecretKey;
use purse_core::money::Currency;
use serde::{Deserialize, Serialize};

use super::api::Session;
use super::setup::{BenchUser, BenchWallet};

/// First field of every saved setup; a new layout gets a new tag.
pub const FORMAT: &str = "purse-bench-setup-v1";
/// Largest file read back (a million wallets take about 60 MB).
pub const FILE_BYTES_MAX: u64 = 256 * 1024 * 1024;

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    format: String,
    run: String,
    users: Vec<User>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct User {
    email: String,
    user_id: String,
    access_token: String,
    refresh_token: String,
    device_id: String,
    /// `SecretKey::to_text`: the key file format of `purse keys`.
    device_key: String,
    /// `(wallet id, currency code)`.
    wallets: Vec<(String, String)>,
}

/// Writes `users` of run `run` to a new file at `path`.
pub fn save(path: &Path, run: &str, users: &[BenchUser]) -> anyhow::Result<()> {
    let file = File {
        format: FORMAT.to_owned(),
        run: run.to_owned(),
        users: users
            .iter()
            .map(|u| User {
                email: u.email.clone(),
                user_id: u.session.user_id.clone(),
                access_token: u.session.access_token.clone(),
                refresh_token: u.session.refresh_token.clone(),
                device_id: u.session.device_id.clone(),
                device_key: u.session.key.to_text().to_string(),
                wallets: u
                    .wallets
                    .iter()
                    .map(|w| (w.id.clone(), w.currency.code.to_owned()))
                    .collect(),
            })
            .collect(),
    };
    let bytes = zeroize::Zeroizing::new(serde_json::to_vec(&file)?);
    let mut out = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {} (never overwritten)", path.display()))?;
    out.write_all(&bytes)
        .and_then(|()| out.sync_all())
        .with_context(|| format!("writing {}", path.display()))
}

/// Reads a file written by [`save`]: the run tag and the users.
pub fn load(path: &Path) -> anyhow::Result<(String, Vec<BenchUser>)> {
    let size = std::fs::metadata(path)
        .with_context(|| format!("reading {}", path.display()))?
        .len();
    if size > FILE_BYTES_MAX {
        bail!("{} is larger than {FILE_BYTES_MAX} bytes", path.display());
    }
    let bytes = zeroize::Zeroizing::new(
        std::fs::read(path).with_context(|| format!("reading {}", path.display()))?,
    );
    let file: File = serde_json::from_slice(&bytes)
        .with_context(|| format!("{} is not a saved bench setup", path.display()))?;
    if file.format != FORMAT {
        bail!(
            "{} has format {:?}, expected {FORMAT:?}",
            path.display(),
            file.format
        );
    }
    let users = file
        .users
        .into_iter()
        .map(|u| {
            let key = SecretKey::from_text(&u.device_key)
                .map_err(|err| anyhow::anyhow!("device key of {}: {}", u.email, err.code()))?;
            let wallets = u
                .wallets
                .into_iter()
                .map(|(id, code)| {
                    let currency = Currency::from_code(&code)
                        .map_err(|err| anyhow::anyhow!("wallet {id}: {}", err.code()))?;
                    Ok(BenchWallet { id, currency })
                })
                .collect::<anyhow::Result<_>>()?;
            Ok(BenchUser {
                email: u.email,
                session: Session {
                    user_id: u.user_id,
                    access_token: u.access_token,
                    refresh_token: u.refresh_token,
                    device_id: u.device_id,
                    key,
                },
                wallets,
            })
        })
        .collect::<anyhow::Result<_>>()?;
    Ok((file.run, users))
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn round_trips_owner_only_and_never_overwrites() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("setup.json");
        let user = BenchUser {
            email: "bench-x-0@example.com".into(),
            session: Session {
                user_id: "usr_a".into(),
                access_token: "at".into(),
                refresh_token: "rt".into(),
                device_id: "dev_a".into(),
                key: SecretKey::from_bytes(&[7; 32]),
            },
            wallets: vec![BenchWallet {
                id: "wal_a".into(),
                currency: Currency::from_code("JPY").unwrap(),
            }],
        };
        save(&path, "run1", std::slice::from_ref(&user)).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let (run, users) = load(&path).unwrap();
        assert_eq!(run, "run1");
        assert_eq!(users.len(), 1);
        let back = &users[0];
        assert_eq!(back.email, user.email);
        assert_eq!(back.session.refresh_token, "rt");
        assert_eq!(back.session.device_id, "dev_a");
        assert_eq!(back.wallets, user.wallets);
        assert_eq!(back.session.key.public_key(), user.session.key.public_key());
        assert!(save(&path, "run2", &users).is_err(), "overwrote");
        assert_eq!(load(&path).unwrap().0, "run1");

        std::fs::write(
            dir.path().join("other.json"),
            br#"{"format":"x","run":"r","users":[]}"#,
        )
        .unwrap();
        let err = load(&dir.path().join("other.json")).unwrap_err();
        assert!(err.to_string().contains("expected"), "{err}");
        std::fs::write(dir.path().join("junk.json"), b"not json").unwrap();
        assert!(load(&dir.path().join("junk.json")).is_err());
    }
}
