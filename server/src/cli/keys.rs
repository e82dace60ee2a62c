//! `purse keys new|show|backup|restore`: Ed25519 key files and their encrypted backups. Every
//! outcome is one JSON object on stdout (exit 0 done, 1 refused with `{"error": {code, message}}`),
//! like `purse qr decode`. It never prints a secret key and never takes a password as an argument
//! (arguments are visible to every user through `ps`): passwords come from the environment
//! variable `PURSE_BACKUP_PASSWORD` or from standard input.

use std::fs::OpenOptions;
use std::io::{BufRead, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};

use clap::Subcommand;
use purse_core::keys::{self, ENVELOPE_CHARS_MAX, PASSWORD_BYTES_MAX, SecretKey};
use serde_json::{Value, json};
use zeroize::Zeroizing;

use crate::cli::input::read_key_file;
use crate::cli::output::{Refusal, Verdict, coded, print_outcome};

/// Where `new` and `restore` write when no `--out` is given.
const KEY_FILE_DEFAULT: &str = "purse.key";

/// The environment variable holding the backup password.
const PASSWORD_ENV: &str = "PURSE_BACKUP_PASSWORD";

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Generate a new Ed25519 key into a new key file (mode 0600; never overwrites). Prints the
    /// public key and key id.
    New {
        /// The key file to create.
        #[arg(long, default_value = KEY_FILE_DEFAULT)]
        out: PathBuf,
    },
    /// Print the public key and key id of a key file (never the secret), with a warning when the
    /// file is accessible to other users.
    Show {
        /// The key file to read.
        file: PathBuf,
    },
    /// Print an encrypted backup of a key file: one line of text to store anywhere. The password
    /// (at least 12 characters) comes from PURSE_BACKUP_PASSWORD or the first line of stdin.
    Backup {
        /// The key file to back up.
        file: PathBuf,
    },
    /// Decrypt a backup into a new key file (mode 0600; never overwrites). The password comes
    /// from PURSE_BACKUP_PASSWORD or stdin; with ENVELOPE `-`, stdin holds the envelope on its
    /// first line and, without the variable, the password on its second.
    Restore {
        /// The backup text (`purse-backup-v1.…`), or `-` to read it from stdin.
        #[arg(allow_hyphen_values = true)]
        envelope: String,
        /// The key file to create.
        #[arg(long, default_value = KEY_FILE_DEFAULT)]
        out: PathBuf,
    },
}

/// The refusals only keys commands give; `code()` is the stable `error.code` in the JSON answer.
/// Core key errors and an unreadable key file come as [`Refusal`]s from the core and
/// [`read_key_file`], as they do for every command.
#[derive(Debug, thiserror::Error)]
enum KeysError {
    #[error("{path} already exists; refusing to overwrite a key file")]
    FileExists { path: String },
    #[error("cannot write {path}: {reason}")]
    FileWriteFailed { path: String, reason: String },
    #[error("cannot read the input: {reason}")]
    StdinUnreadable { reason: String },
    #[error("no password: set {PASSWORD_ENV} or write it on standard input")]
    PasswordMissing,
    #[error("no backup envelope on standard input")]
    EnvelopeMissing,
}

impl KeysError {
    fn code(&self) -> &'static str {
        match self {
            KeysError::FileExists { .. } => "key_file_exists",
            KeysError::FileWriteFailed { .. } => "key_file_write_failed",
            KeysError::StdinUnreadable { .. } => "input_unreadable",
            KeysError::PasswordMissing => "password_missing",
            KeysError::EnvelopeMissing => "envelope_missing",
        }
    }
}

coded!(KeysError);

pub fn run(cmd: KeysCommand) -> anyhow::Result<u8> {
    let outcome = match cmd {
        KeysCommand::New { out } => new(&out),
        KeysCommand::Show { file } => show(&file),
        KeysCommand::Backup { file } => backup(&file),
        KeysCommand::Restore { envelope, out } => restore(&envelope, &out),
    };
    print_outcome(outcome, Verdict::Plain)
}

fn new(out: &Path) -> Result<Value, Refusal> {
    let secret = SecretKey::generate();
    write_key_file(out, &secret)?;
    Ok(describe(&secret, Some(out)))
}

fn show(file: &Path) -> Result<Value, Refusal> {
    let secret = read_key_file(file)?;
    let mut answer = describe(&secret, None);
    if let Some(warning) = permission_warning(file) {
        answer["warning"] = Value::String(warning);
    }
    Ok(answer)
}

/// A secret key readable by other users is a leak waiting to happen; say so where it is seen.
#[cfg(unix)]
fn permission_warning(file: &Path) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(file).ok()?.permissions().mode() & 0o777;
    (mode & 0o077 != 0).then(|| {
        format!(
            "{} is accessible to other users (mode {mode:04o}); run: chmod 600 {}",
            display(file),
            display(file)
        )
    })
}

#[cfg(not(unix))]
fn permission_warning(_file: &Path) -> Option<String> {
    None
}

fn backup(file: &Path) -> Result<Value, Refusal> {
    let secret = read_key_file(file)?;
    let mut stdin = StdinLines::new();
    let password = password(&mut stdin)?;
    let envelope = keys::backup(&secret, &password)?;
    let mut answer = describe(&secret, None);
    answer["envelope"] = Value::String(envelope);
    Ok(answer)
}

fn restore(envelope: &str, out: &Path) -> Result<Value, Refusal> {
    let mut stdin = StdinLines::new();
    let envelope = if envelope == "-" {
        stdin.line()?.ok_or(KeysError::EnvelopeMissing)?
    } else {
        Zeroizing::new(envelope.to_owned())
    };
    let password = password(&mut stdin)?;
    // Refuse an existing target before the (deliberately slow) key derivation, not after.
    if out.exists() {
        return Err(KeysError::FileExists { path: display(out) }.into());
    }
    let secret = keys::restore(&envelope, &password)?;
    write_key_file(out, &secret)?;
    Ok(describe(&secret, Some(out)))
}

/// The public facts about a key; `file` where one was written.
fn describe(secret: &SecretKey, file: Option<&Path>) -> Value {
    let mut answer = json!({
        "public_key": secret.public_key().to_string(),
        "key_id": secret.key_id().to_string(),
    });
    if let Some(file) = file {
        answer["file"] = Value::String(display(file));
    }
    answer
}

fn display(path: &Path) -> String {
    path.display().to_string()
}

/// Creates `path` with mode 0600 (owner only) and writes the key text. `create_new` makes the
/// existence check and the creation one atomic step, so a race cannot overwrite a key either.
fn write_key_file(path: &Path, secret: &SecretKey) -> Result<(), KeysError> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).map_err(|err| match err.kind() {
        std::io::ErrorKind::AlreadyExists => KeysError::FileExists {
            path: display(path),
        },
        _ => KeysError::FileWriteFailed {
            path: display(path),
            reason: err.to_string(),
        },
    })?;
    let text = secret.to_text();
    let written = file
        .write_all(text.as_bytes())
        .and_then(|()| file.write_all(b"\n"))
        .and_then(|()| file.sync_all());
    if let Err(err) = written {
        // A half-written key file is worse than none: it would fail later, far from the cause.
        drop(file);
        let _ = std::fs::remove_file(path);
        return Err(KeysError::FileWriteFailed {
            path: display(path),
            reason: err.to_string(),
        });
    }
    Ok(())
}

/// The backup password: the environment variable if set, else the next line of stdin.
fn password(stdin: &mut StdinLines) -> Result<Zeroizing<String>, KeysError> {
    if let Some(value) = std::env::var_os(PASSWORD_ENV) {
        let value = value
            .into_string()
            .map_err(|_| KeysError::StdinUnreadable {
                reason: format!("{PASSWORD_ENV} is not UTF-8"),
            })?;
        return Ok(Zeroizing::new(value));
    }
    if std::io::stdin().is_terminal() {
        // Plain prompt on stderr; stdout stays one JSON object. (The input is echoed: set the
        // environment variable or pipe the password in where that matters.)
        eprint!("Backup password: ");
    }
    stdin.line()?.ok_or(KeysError::PasswordMissing)
}

/// Reads stdin line by line with a bounded total, keeping what it read in zeroized memory.
/// From a pipe it reads everything at once (bounded); from a terminal one line per call, since a
/// person typing will not press Ctrl-D.
struct StdinLines {
    buffer: Zeroizing<Vec<u8>>,
    position: usize,
    loaded: bool,
}

impl StdinLines {
    /// Stdin holds at most an envelope and a password, each with a line break.
    const BYTES_MAX: usize = ENVELOPE_CHARS_MAX + PASSWORD_BYTES_MAX + 4;

    fn new() -> StdinLines {
        StdinLines {
            buffer: Zeroizing::new(Vec::new()),
            position: 0,
            loaded: false,
        }
    }

    /// The next line without its "\n" or "\r\n"; `None` at the end of input or for an empty line.
    fn line(&mut self) -> Result<Option<Zeroizing<String>>, KeysError> {
        let stdin = std::io::stdin();
        if stdin.is_terminal() {
            let mut line = Zeroizing::new(Vec::with_capacity(Self::BYTES_MAX + 1));
            stdin
                .lock()
                .take(Self::BYTES_MAX as u64)
                .read_until(b'\n', &mut line)
                .map_err(stdin_unreadable)?;
            return text_line(&line);
        }
        if !self.loaded {
            self.loaded = true;
            self.buffer.reserve(Self::BYTES_MAX + 1);
            stdin
                .lock()
                .take(Self::BYTES_MAX as u64 + 1)
                .read_to_end(&mut self.buffer)
                .map_err(stdin_unreadable)?;
            if self.buffer.len() > Self::BYTES_MAX {
                return Err(KeysError::StdinUnreadable {
                    reason: format!("more than {} bytes", Self::BYTES_MAX),
                });
            }
        }
        let rest = &self.buffer[self.position..];
        let end = rest
            .iter()
            .position(|&b| b == b'\n')
            .map_or(rest.len(), |i| i + 1);
        self.position += end;
        text_line(&rest[..end])
    }
}

/// One line as text, without "\n" or "\r\n"; `None` when nothing is left on it.
fn text_line(line: &[u8]) -> Result<Option<Zeroizing<String>>, KeysError> {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if line.is_empty() {
        return Ok(None);
    }
    let text = std::str::from_utf8(line).map_err(|_| KeysError::StdinUnreadable {
        reason: "not UTF-8".into(),
    })?;
    Ok(Some(Zeroizing::new(text.to_owned())))
}

fn stdin_unreadable(err: std::io::Error) -> KeysError {
    KeysError::StdinUnreadable {
        reason: err.to_string(),
    }
}
