//! `purse device sign`: the printed headers verify under the device key with the one canonical
//! message, and a real `purse serve` accepts them on `POST /v1/transfers` (the curl tour of the
//! README, driven here over a hand-written HTTP/1.1 exchange on loopback).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use purse_core::api::identity::{
    HEADER_DEVICE_ID, HEADER_NONCE, HEADER_SIGNATURE, HEADER_TIMESTAMP, device_signature_message,
};
use purse_core::keys::{SecretKey, Signature};
use serde_json::{Value, json};

use crate::util::purse;

fn path_str(path: &Path) -> &str {
    path.to_str().expect("temp paths are UTF-8")
}

fn new_key(dir: &Path) -> (std::path::PathBuf, SecretKey) {
    let file = dir.join("device.key");
    purse(["keys", "new", "--out", path_str(&file)]).run().ok();
    let secret = SecretKey::from_text(&std::fs::read_to_string(&file).unwrap()).unwrap();
    (file, secret)
}

/// The `Name: value` lines of a `purse device sign` answer, in order.
fn header_lines(stdout: &str) -> Vec<(String, String)> {
    stdout
        .lines()
        .map(|line| {
            let (name, value) = line.split_once(": ").expect("a `Name: value` line");
            (name.to_owned(), value.to_owned())
        })
        .collect()
}

fn now_ms() -> i64 {
    let since = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    i64::try_from(since.as_millis()).unwrap()
}

#[test]
fn printed_headers_verify_against_the_canonical_message() {
    let dir = tempfile::tempdir().unwrap();
    let (key, secret) = new_key(dir.path());
    let body = br#"{"from_wallet":"wal_a","to":"wal_b","amount":"1.00","currency":"USD"}"#;
    let body_file = dir.path().join("body.json");
    std::fs::write(&body_file, body).unwrap();
    let args = |body: &str| {
        [
            "device",
            "sign",
            "--key",
            path_str(&key),
            "--device",
            "dev_abc123",
            "--method",
            "POST",
            "--path",
            "/v1/transfers?x=1",
            "--body",
            body,
        ]
        .map(str::to_owned)
    };

    let before = now_ms();
    let out = purse(args(path_str(&body_file))).run();
    assert_eq!(out.status, Some(0), "{out:#?}");
    let headers = header_lines(&out.stdout);
    let names: Vec<&str> = headers.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            HEADER_DEVICE_ID,
            HEADER_TIMESTAMP,
            HEADER_NONCE,
            HEADER_SIGNATURE
        ]
    );
    let [device, timestamp, nonce, signature]: [(String, String); 4] = headers.try_into().unwrap();
    assert_eq!(device.1, "dev_abc123");
    let timestamp: i64 = timestamp.1.parse().unwrap();
    assert!((before..=now_ms()).contains(&timestamp), "fresh timestamp");
    assert_eq!(nonce.1.len(), 22, "16 random bytes, base64url");
    let signature: Signature = signature.1.parse().unwrap();

    let message = |body: &[u8]| {
        device_signature_message(
            "POST",
            "/v1/transfers?x=1",
            body,
            timestamp,
            &nonce.1,
            "dev_abc123",
        )
    };
    let public = secret.public_key();
    public.verify(&message(body), &signature).unwrap();
    assert!(public.verify(&message(b"{}"), &signature).is_err());

    // The same body on stdin signs the same bytes; a second run draws a new nonce.
    let out = purse(args("-")).stdin(body.to_vec()).run();
    let again = header_lines(&out.stdout);
    assert_ne!(again[2].1, nonce.1, "a fresh nonce every time");
    let message = device_signature_message(
        "POST",
        "/v1/transfers?x=1",
        body,
        again[1].1.parse().unwrap(),
        &again[2].1,
        "dev_abc123",
    );
    public
        .verify(&message, &again[3].1.parse().unwrap())
        .unwrap();
}

#[test]
fn bad_inputs_are_refused_with_a_code() {
    let dir = tempfile::tempdir().unwrap();
    let (key, _) = new_key(dir.path());
    let key = path_str(&key);
    let sign = |device: &str, method: &str, path: &str| {
        purse([
            "device", "sign", "--key", key, "--device", device, "--method", method, "--path", path,
        ])
        .run()
    };
    sign("dev bad", "POST", "/v1/transfers").fails("device_id_invalid");
    sign("dev_1", "post", "/v1/transfers").fails("method_invalid");
    sign("dev_1", "POST", "http://host/v1/transfers").fails("path_invalid");
    sign("dev_1", "POST", "/v1/transfers#x").fails("path_invalid");
    purse([
        "device",
        "sign",
        "--key",
        "/nonexistent/key",
        "--device",
        "dev_1",
        "--path",
        "/v1/x",
    ])
    .run()
    .fails("key_file_unreadable");
    purse([
        "device", "sign", "--key", key, "--device", "dev_1", "--path", "/v1/x", "--body", "-",
    ])
    .stdin(vec![b'x'; 64 * 1024 + 1])
    .run()
    .fails("body_too_large");
}

/// A `purse serve` child in its own directory, killed when dropped.
struct Server {
    child: Child,
    addr: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_server(dir: &Path) -> Server {
    // Ask the kernel for a free loopback port, then hand it to the server.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_purse"));
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("PURSE_") {
            cmd.env_remove(key);
        }
    }
    let child = cmd
        .args(["serve", "--listen", &addr])
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn purse serve");
    let mut server = Server { child, addr };
    let deadline = Instant::now() + Duration::from_secs(60);
    while TcpStream::connect(&server.addr).is_err() {
        if let Some(status) = server.child.try_wait().unwrap() {
            panic!("purse serve exited early: {status}");
        }
        assert!(Instant::now() < deadline, "purse serve did not listen");
        std::thread::sleep(Duration::from_millis(100));
    }
    server
}

/// One HTTP/1.1 exchange with `Connection: close`: the status and the body as JSON.
fn http(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, Value) {
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    if !body.is_empty() {
        request.push_str("Content-Type: application/json\r\n");
    }
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    let mut reply = Vec::new();
    stream.read_to_end(&mut reply).unwrap();
    let reply = String::from_utf8(reply).unwrap();
    let (head, body) = reply.split_once("\r\n\r\n").expect("a header block");
    assert!(
        !head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked"),
        "expected a sized body: {head}"
    );
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    let json = if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"))
    };
    (status, json)
}

#[test]
fn signed_transfer_through_a_real_server_is_created() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(dir.path());
    let addr = server.addr.as_str();
    let credentials =
        |email: &str| json!({ "email": email, "password": "correct horse battery" }).to_string();

    let (status, reply) = http(
        addr,
        "POST",
        "/v1/auth/signup",
        &[],
        credentials("bob@example.com").as_bytes(),
    );
    assert_eq!(status, 201, "{reply}");
    let (status, reply) = http(
        addr,
        "POST",
        "/v1/auth/signup",
        &[],
        credentials("alice@example.com").as_bytes(),
    );
    assert_eq!(status, 201, "{reply}");
    let (status, reply) = http(
        addr,
        "POST",
        "/v1/auth/login",
        &[],
        credentials("alice@example.com").as_bytes(),
    );
    assert_eq!(status, 200, "{reply}");
    let bearer = format!("Bearer {}", reply["access_token"].as_str().unwrap());
    let auth = ("Authorization", bearer.as_str());

    let (key, secret) = new_key(dir.path());
    let register = json!({ "public_key": secret.public_key().to_string(), "name": "laptop" });
    let (status, reply) = http(
        addr,
        "POST",
        "/v1/devices",
        &[auth],
        register.to_string().as_bytes(),
    );
    assert_eq!(status, 201, "{reply}");
    let device = reply["id"].as_str().unwrap().to_owned();
    let (status, reply) = http(
        addr,
        "POST",
        "/v1/wallets",
        &[auth],
        br#"{"currency":"USD"}"#,
    );
    assert_eq!(status, 201, "{reply}");
    let wallet = reply["id"].as_str().unwrap().to_owned();

    // The operator funds the wallet from the server's directory (./data/purse.db), as in the tour.
    let funded = purse(["admin", "fund", &wallet, "100.00"])
        .current_dir(dir.path())
        .run();
    assert_eq!(funded.status, Some(0), "{funded:#?}");
    assert_eq!(funded.json()["balance"], "100.00");

    let body = json!({
        "from_wallet": wallet,
        "to": { "email": "bob@example.com" },
        "amount": "12.50",
        "currency": "USD",
        "memo": "lunch",
    })
    .to_string();
    let body_file = dir.path().join("transfer.json");
    std::fs::write(&body_file, &body).unwrap();
    let sign = || {
        let out = purse([
            "device",
            "sign",
            "--key",
            path_str(&key),
            "--device",
            &device,
            "--method",
            "POST",
            "--path",
            "/v1/transfers",
            "--body",
            path_str(&body_file),
        ])
        .run();
        assert_eq!(out.status, Some(0), "{out:#?}");
        header_lines(&out.stdout)
    };
    let send = |signed: &[(String, String)], idempotency_key: &str| {
        let mut headers = vec![auth, ("Idempotency-Key", idempotency_key)];
        headers.extend(signed.iter().map(|(n, v)| (n.as_str(), v.as_str())));
        http(addr, "POST", "/v1/transfers", &headers, body.as_bytes())
    };

    let signed = sign();
    let (status, reply) = send(&signed, "tour-transfer-1");
    assert_eq!(status, 201, "{reply}");
    assert_eq!(reply["amount"], "12.50");
    assert_eq!(reply["from"], wallet.as_str());
    // The very same signed headers again are a replay, refused before any money moves.
    let (status, reply) = send(&signed, "tour-transfer-2");
    assert_eq!(status, 401, "{reply}");
    assert_eq!(reply["code"], "device_signature_replayed");

    let (status, reply) = http(addr, "GET", &format!("/v1/wallets/{wallet}"), &[auth], b"");
    assert_eq!(status, 200, "{reply}");
    assert_eq!(reply["balance"], "87.50");
}
