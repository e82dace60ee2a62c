//! Identity over real HTTP on SQLite and PostgreSQL: sign-up, login, refresh rotation and reuse,
//! logout, devices, JWT attacks, login back-off, and device request signatures (replay, stale,
//! wrong key, revoked device), including two server processes sharing one database.
//!
//! Device signatures are checked through the `SignedDevice` extractor mounted on a probe route of
//! a second in-process server on the same database (the transfer routes use the same extractor).

use std::time::Duration;

use actix_web::{HttpResponse, web};
use data_encoding::BASE64URL_NOPAD as B64;
use purse_core::api::identity::device_signature_message;
use purse_core::keys::{SecretKey, Signer};
use purse_server::app::AppState;
use purse_server::config::Config;
use purse_server::identity::jwt::TokenSigner;
use purse_server::identity::keys::ServerKey;
use purse_server::identity::{AuthUser, SignedDevice};
use serde_json::{Value, json};
use sqlx::Connection;

use crate::util::{BACKENDS, Backend, Reply, TestServer, assert_problem, client, read};

pub const PASSWORD: &str = "correct horse battery";

// --- helpers -------------------------------------------------------------------------------------

/// A reply plus the `Retry-After` header.
pub struct Full {
    pub reply: Reply,
    pub retry_after: Option<String>,
}

pub async fn call(
    base: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    headers: &[(&str, String)],
    body: Option<&[u8]>,
) -> Full {
    let url = format!("{base}{path}");
    let mut request = match method {
        "GET" => client().get(&url),
        "POST" => client().post(&url),
        "PUT" => client().put(&url),
        other => panic!("method {other}"),
    };
    if let Some(token) = token {
        request = request.insert_header(("authorization", format!("Bearer {token}")));
    }
    for (name, value) in headers {
        request = request.insert_header((*name, value.clone()));
    }
    let response = match body {
        Some(body) => request
            .insert_header(("content-type", "application/json"))
            .send_body(body.to_vec())
            .await
            .expect("request sent"),
        None => request.send().await.expect("request sent"),
    };
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    Full {
        reply: read(response).await,
        retry_after,
    }
}

async fn post(base: &str, path: &str, token: Option<&str>, body: &Value) -> Reply {
    let body = serde_json::to_vec(body).unwrap();
    call(base, "POST", path, token, &[], Some(&body))
        .await
        .reply
}

async fn get_auth(base: &str, path: &str, token: &str) -> Reply {
    call(base, "GET", path, Some(token), &[], None).await.reply
}

/// Signs up `email` and returns the token response.
pub async fn signup(base: &str, email: &str) -> Value {
    let reply = post(
        base,
        "/v1/auth/signup",
        None,
        &json!({"email": email, "password": PASSWORD}),
    )
    .await;
    assert_eq!(reply.status, 201, "{}", reply.text);
    reply.json
}

pub fn token(tokens: &Value) -> &str {
    tokens["access_token"].as_str().expect("access_token")
}

pub fn refresh_of(tokens: &Value) -> &str {
    tokens["refresh_token"].as_str().expect("refresh_token")
}

fn b64_json(value: &Value) -> String {
    B64.encode(&serde_json::to_vec(value).unwrap())
}

fn now_s() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn now_ms() -> i64 {
    i64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap()
}

/// The server's own token signer, rebuilt from the key row in its database: lets a test forge
/// tokens that carry a *valid* signature but bad claims (expired, wrong issuer or audience).
async fn server_signer(server: &TestServer, issuer: &str, audience: &str) -> TokenSigner {
    let sql = "SELECT secret_seed FROM server_keys WHERE purpose = 'access_token'";
    let seed: Vec<u8> = match server.backend {
        Backend::Sqlite => {
            let mut conn = sqlx::SqliteConnection::connect(&server.database_url)
                .await
                .unwrap();
            sqlx::query_scalar(sql).fetch_one(&mut conn).await.unwrap()
        }
        Backend::Postgres => {
            let mut conn = sqlx::PgConnection::connect(&server.database_url)
                .await
                .unwrap();
            sqlx::query_scalar(sql).fetch_one(&mut conn).await.unwrap()
        }
    };
    let key = ServerKey::from_seed(seed.try_into().expect("32-byte seed"));
    TokenSigner::new(&key, issuer, audience).unwrap()
}

/// Runs one SQL query returning text rows against the server's database.
async fn query_texts(server: &TestServer, sql: &str) -> Vec<String> {
    match server.backend {
        Backend::Sqlite => {
            let mut conn = sqlx::SqliteConnection::connect(&server.database_url)
                .await
                .unwrap();
            sqlx::query_scalar(sql).fetch_all(&mut conn).await.unwrap()
        }
        Backend::Postgres => {
            let mut conn = sqlx::PgConnection::connect(&server.database_url)
                .await
                .unwrap();
            sqlx::query_scalar(sql).fetch_all(&mut conn).await.unwrap()
        }
    }
}

/// A phone's device key and its registered id.
pub struct Phone {
    pub secret: SecretKey,
    pub device_id: String,
}

pub fn device_key(seed: u8) -> SecretKey {
    let mut bytes = [seed; 32];
    bytes[0] = 0xA5;
    SecretKey::from_bytes(&bytes)
}

async fn register(base: &str, token: &str, secret: &SecretKey, name: &str) -> Reply {
    post(
        base,
        "/v1/devices",
        Some(token),
        &json!({"public_key": secret.public_key().to_string(), "name": name}),
    )
    .await
}

/// Registers a device key derived from `seed` for the user of `token`.
pub async fn phone(base: &str, token: &str, seed: u8) -> Phone {
    let secret = device_key(seed);
    let reply = register(base, token, &secret, "test phone").await;
    assert_eq!(reply.status, 201, "{}", reply.text);
    Phone {
        secret,
        device_id: reply.json["id"].as_str().unwrap().to_owned(),
    }
}

pub fn nonce() -> String {
    use rand_core::RngCore;
    let mut bytes = [0u8; 16];
    rand_core::OsRng.fill_bytes(&mut bytes);
    B64.encode(&bytes)
}

/// The four signature headers for a request, as the SDK makes them.
pub fn sign(
    secret: &SecretKey,
    device_id: &str,
    method: &str,
    path: &str,
    body: &[u8],
    timestamp_ms: i64,
    nonce: &str,
) -> Vec<(&'static str, String)> {
    let message = device_signature_message(method, path, body, timestamp_ms, nonce, device_id);
    vec![
        ("purse-device-id", device_id.to_owned()),
        ("purse-timestamp", timestamp_ms.to_string()),
        ("purse-nonce", nonce.to_owned()),
        (
            "purse-signature",
            B64.encode(&secret.sign(&message).expect("signed").to_bytes()),
        ),
    ]
}

/// POSTs `body` to `path` as a money-moving request: bearer token, device signature over the
/// exact bytes sent (timestamp now, fresh nonce), plus `extra` headers such as `Idempotency-Key`.
/// For other areas' tests: `crate::identity::{signup, phone, signed_post}`.
pub async fn signed_post(
    base: &str,
    path: &str,
    token: &str,
    phone: &Phone,
    body: &Value,
    extra: &[(&str, String)],
) -> Full {
    let bytes = serde_json::to_vec(body).unwrap();
    let mut headers = sign(
        &phone.secret,
        &phone.device_id,
        "POST",
        path,
        &bytes,
        now_ms(),
        &nonce(),
    );
    headers.extend(extra.iter().map(|(name, value)| (*name, value.clone())));
    call(base, "POST", path, Some(token), &headers, Some(&bytes)).await
}

// --- the probe server: SignedDevice on a route of a second server on the same database --------

struct ProbeServer {
    base: String,
    handle: actix_web::dev::ServerHandle,
    thread: Option<std::thread::JoinHandle<()>>,
    _dir: tempfile::TempDir,
}

async fn probe(signed: SignedDevice<Value>) -> HttpResponse {
    HttpResponse::Ok().json(json!({
        "user_id": signed.user.user_id,
        "device_id": signed.device_id,
        "body": signed.body,
        "raw_len": signed.raw_body.len(),
    }))
}

async fn probe_auth(user: AuthUser) -> HttpResponse {
    HttpResponse::Ok().json(json!({"user_id": user.user_id}))
}

impl ProbeServer {
    fn start(database_url: &str) -> ProbeServer {
        let dir = tempfile::tempdir().unwrap();
        let config = Config {
            listen: "127.0.0.1:0".to_owned(),
            data_dir: dir.path().join("data"),
            database_url: Some(database_url.to_owned()),
            http_workers: 1,
            db_pool_max: 4,
            shutdown_timeout_ms: 2_000,
            ..Config::default()
        };
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            actix_rt::System::new().block_on(async move {
                let state = AppState::start(config).await.expect("probe state");
                let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
                let addr = listener.local_addr().unwrap();
                let app_state = state.clone();
                let server = actix_web::HttpServer::new(move || {
                    actix_web::App::new()
                        .configure(purse_server::app::configure(app_state.clone()))
                        .route("/probe/signed", web::post().to(probe))
                        .route("/probe/auth", web::get().to(probe_auth))
                })
                .workers(1)
                .disable_signals()
                .listen(listener)
                .unwrap()
                .run();
                tx.send((addr, server.handle())).unwrap();
                server.await.unwrap();
                state.shutdown().await;
            })
        });
        let (addr, handle) = rx.recv().expect("probe server started");
        ProbeServer {
            base: format!("http://{addr}"),
            handle,
            thread: Some(thread),
            _dir: dir,
        }
    }
}

impl Drop for ProbeServer {
    fn drop(&mut self) {
        // The stop command is sent at once; joining the thread waits for the drain.
        drop(self.handle.stop(true));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

// --- sign-up, login, me --------------------------------------------------------------------------

#[actix_rt::test]
async fn signup_login_and_me() {
    for backend in BACKENDS {
        let Some(server) = TestServer::start(backend, "signup_login_and_me") else {
            continue;
        };
        let base = server.base.as_str();

        let tokens = signup(base, "  Ana.Silva@Example.COM ").await;
        assert_eq!(tokens["token_type"], "Bearer");
        assert_eq!(tokens["expires_in"], 900);
        assert!(tokens["user_id"].as_str().unwrap().starts_with("usr_"));
        assert!(refresh_of(&tokens).starts_with("rt_"));
        let me = get_auth(base, "/v1/me", token(&tokens)).await;
        assert_eq!(me.status, 200, "{}", me.text);
        assert_eq!(me.json["email"], "ana.silva@example.com");
        assert_eq!(me.json["phone"], Value::Null);
        assert_eq!(me.json["id"], tokens["user_id"]);

        // Phone sign-up, normalised to E.164; login with another spelling of the same number.
        let reply = post(
            base,
            "/v1/auth/signup",
            None,
            &json!({"phone": "+1 (415) 555-0100", "password": PASSWORD}),
        )
        .await;
        assert_eq!(reply.status, 201, "{}", reply.text);
        let phone_user = reply.json["user_id"].clone();
        let reply = post(
            base,
            "/v1/auth/login",
            None,
            &json!({"phone": "0014155550100", "password": PASSWORD}),
        )
        .await;
        assert_eq!(reply.status, 200, "{}", reply.text);
        assert_eq!(reply.json["user_id"], phone_user);
        let me = get_auth(base, "/v1/me", reply.json["access_token"].as_str().unwrap()).await;
        assert_eq!(me.json["phone"], "+14155550100");

        // Duplicates, in any letter case or spelling: 409.
        let dup = post(
            base,
            "/v1/auth/signup",
            None,
            &json!({"email": "ANA.SILVA@example.com", "password": PASSWORD}),
        )
        .await;
        assert_problem(&dup, 409, "account_exists");
        let dup = post(
            base,
            "/v1/auth/signup",
            None,
            &json!({"phone": "+14155550100", "password": PASSWORD}),
        )
        .await;
        assert_problem(&dup, 409, "account_exists");

        // Validation failures, each with its code.
        for (body, status, code) in [
            (
                json!({"email": "not-an-email", "password": PASSWORD}),
                400,
                "email_invalid",
            ),
            (
                json!({"phone": "4155550100", "password": PASSWORD}),
                400,
                "phone_invalid",
            ),
            (
                json!({"email": "bo@example.com", "password": "short"}),
                400,
                "password_too_short",
            ),
            (
                json!({"email": "bo@example.com", "password": "x".repeat(129)}),
                400,
                "password_too_long",
            ),
            (
                json!({"email": "bo@example.com", "phone": "+14155550199", "password": PASSWORD}),
                400,
                "login_id_ambiguous",
            ),
            (json!({"password": PASSWORD}), 400, "login_id_missing"),
            (
                json!({"email": "bo@example.com", "password": PASSWORD, "admin": true}),
                400,
                "body_invalid",
            ),
            (json!({"email": "bo@example.com"}), 400, "body_invalid"),
        ] {
            let reply = post(base, "/v1/auth/signup", None, &body).await;
            assert_problem(&reply, status, code);
        }

        // SQL-shaped text is data: stored verbatim, harmless.
        let sly = "x'or'1'='1--@example.com";
        let tokens_sly = signup(base, sly).await;
        let me = get_auth(base, "/v1/me", token(&tokens_sly)).await;
        assert_eq!(me.json["email"], sly);

        // Login failures: wrong password and unknown account look the same.
        let wrong = post(
            base,
            "/v1/auth/login",
            None,
            &json!({"email": "ana.silva@example.com", "password": "wrong password!"}),
        )
        .await;
        assert_problem(&wrong, 401, "credentials_invalid");
        let unknown = post(
            base,
            "/v1/auth/login",
            None,
            &json!({"email": "nobody@example.com", "password": PASSWORD}),
        )
        .await;
        assert_problem(&unknown, 401, "credentials_invalid");
        assert_eq!(wrong.json["detail"], unknown.json["detail"]);
        let ok = post(
            base,
            "/v1/auth/login",
            None,
            &json!({"email": "Ana.Silva@example.com", "password": PASSWORD}),
        )
        .await;
        assert_eq!(ok.status, 200, "{}", ok.text);
        assert_eq!(ok.json["user_id"], tokens["user_id"]);
        assert_ne!(ok.json["refresh_token"], tokens["refresh_token"]);

        // Only argon2id hashes with the OWASP parameters are stored, never the password.
        let hashes = query_texts(&server, "SELECT password_hash FROM users").await;
        assert_eq!(hashes.len(), 3);
        for hash in &hashes {
            assert!(
                hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
                "{hash}"
            );
            assert!(!hash.contains(PASSWORD));
        }
        // Refresh tokens are stored hashed only.
        let stored = query_texts(&server, "SELECT session_id FROM refresh_tokens").await;
        assert!(!stored.is_empty());
    }
}

// --- JWT attacks ---------------------------------------------------------------------------------

#[actix_rt::test]
async fn jwt_attacks_are_refused() {
    for backend in BACKENDS {
        let Some(server) = TestServer::start(backend, "jwt_attacks_are_refused") else {
            continue;
        };
        let base = server.base.as_str();
        let tokens = signup(base, "victim@example.com").await;
        let user_id = tokens["user_id"].as_str().unwrap().to_owned();
        let good = token(&tokens).to_owned();
        assert_eq!(get_auth(base, "/v1/me", &good).await.status, 200);

        let keys = call(base, "GET", "/v1/auth/keys", None, &[], None)
            .await
            .reply;
        assert_eq!(keys.json["alg"], "EdDSA");
        let public_key = B64
            .decode(keys.json["public_key"].as_str().unwrap().as_bytes())
            .unwrap();
        let kid = keys.json["kid"].as_str().unwrap().to_owned();

        let parts: Vec<&str> = good.split('.').collect();
        let claims: Value =
            serde_json::from_slice(&B64.decode(parts[1].as_bytes()).unwrap()).unwrap();
        assert_eq!(claims["iss"], "purse");
        assert_eq!(claims["aud"], "purse-api");
        assert_eq!(claims["sub"], user_id);
        for claim in ["exp", "iat", "jti", "sid"] {
            assert!(!claims[claim].is_null(), "claim {claim}");
        }

        // alg none, with and without a signature part.
        let none_head = b64_json(&json!({"alg": "none", "typ": "JWT"}));
        let none = format!("{none_head}.{}.", parts[1]);
        let mut attacks: Vec<(String, &str, &str)> = vec![
            (none.clone(), "token_algorithm_rejected", "alg none"),
            (
                format!("{none_head}.{}.{}", parts[1], parts[2]),
                "token_algorithm_rejected",
                "alg none + sig",
            ),
        ];

        // HS256 keyed with the server's public key (the classic key-confusion attack).
        {
            use hmac::{Hmac, Mac};
            let head = b64_json(&json!({"alg": "HS256", "typ": "JWT", "kid": kid}));
            let mut mac = Hmac::<sha2::Sha256>::new_from_slice(&public_key).unwrap();
            mac.update(format!("{head}.{}", parts[1]).as_bytes());
            let sig = B64.encode(&mac.finalize().into_bytes());
            attacks.push((
                format!("{head}.{}.{sig}", parts[1]),
                "token_algorithm_rejected",
                "HS256",
            ));
        }

        // Valid signatures by the real key over bad claims.
        let signer = server_signer(&server, "purse", "purse-api").await;
        let now = now_s();
        let expired = signer
            .sign(&signer.claims_for(&user_id, "ses_x", now - 2000, now - 1000))
            .unwrap();
        attacks.push((expired, "token_expired", "expired"));
        let evil_iss = server_signer(&server, "evil", "purse-api").await;
        attacks.push((
            evil_iss.issue(&user_id, "ses_x", now).unwrap().token,
            "token_issuer_invalid",
            "issuer",
        ));
        let other_aud = server_signer(&server, "purse", "someone-else").await;
        attacks.push((
            other_aud.issue(&user_id, "ses_x", now).unwrap().token,
            "token_audience_invalid",
            "audience",
        ));

        // Tampering: another user in the payload; a flipped signature bit; a foreign key.
        let mut forged = claims.clone();
        forged["sub"] = json!("usr_0000000000000000000000aa");
        attacks.push((
            format!("{}.{}.{}", parts[0], b64_json(&forged), parts[2]),
            "token_signature_invalid",
            "payload",
        ));
        let mut sig = B64.decode(parts[2].as_bytes()).unwrap();
        sig[10] ^= 0x40;
        attacks.push((
            format!("{}.{}.{}", parts[0], parts[1], B64.encode(&sig)),
            "token_signature_invalid",
            "signature",
        ));
        let foreign = TokenSigner::new(&ServerKey::generate(), "purse", "purse-api").unwrap();
        attacks.push((
            foreign.issue(&user_id, "ses_x", now).unwrap().token,
            "token_signature_invalid",
            "foreign key",
        ));
        attacks.push(("not.a.jwt".to_owned(), "token_malformed", "garbage"));

        for (attack, code, what) in &attacks {
            let reply = get_auth(base, "/v1/me", attack).await;
            assert_eq!(reply.status, 401, "{what}: {}", reply.text);
            assert_problem(&reply, 401, code);
            // The same refusal on a device route.
            let reply = get_auth(base, "/v1/devices", attack).await;
            assert_problem(&reply, 401, code);
        }

        // No header, and a header of another scheme.
        let reply = call(base, "GET", "/v1/me", None, &[], None).await.reply;
        assert_problem(&reply, 401, "token_missing");
        let reply = call(
            base,
            "GET",
            "/v1/me",
            None,
            &[("authorization", format!("Basic {good}"))],
            None,
        )
        .await
        .reply;
        assert_problem(&reply, 401, "token_malformed");
        // And the genuine token still works.
        assert_eq!(get_auth(base, "/v1/me", &good).await.status, 200);
    }
}

// --- refresh tokens and logout -------------------------------------------------------------------

#[actix_rt::test]
async fn refresh_rotates_and_reuse_revokes_the_family() {
    for backend in BACKENDS {
        let Some(server) =
            TestServer::start(backend, "refresh_rotates_and_reuse_revokes_the_family")
        else {
            continue;
        };
        let base = server.base.as_str();
        let first = signup(base, "rita@example.com").await;
        let other_session = post(
            base,
            "/v1/auth/login",
            None,
            &json!({"email": "rita@example.com", "password": PASSWORD}),
        )
        .await
        .json;

        let r1 = refresh_of(&first).to_owned();
        let second = post(
            base,
            "/v1/auth/refresh",
            None,
            &json!({"refresh_token": r1}),
        )
        .await;
        assert_eq!(second.status, 200, "{}", second.text);
        let r2 = refresh_of(&second.json).to_owned();
        assert_ne!(r1, r2);
        assert_eq!(
            get_auth(base, "/v1/me", token(&second.json)).await.status,
            200
        );
        let third = post(
            base,
            "/v1/auth/refresh",
            None,
            &json!({"refresh_token": r2}),
        )
        .await;
        assert_eq!(third.status, 200, "{}", third.text);
        let r3 = refresh_of(&third.json).to_owned();

        // A thief replays r1 (already rotated): the whole family dies, r3 included.
        let reuse = post(
            base,
            "/v1/auth/refresh",
            None,
            &json!({"refresh_token": r1}),
        )
        .await;
        assert_problem(&reuse, 401, "refresh_token_reused");
        let after = post(
            base,
            "/v1/auth/refresh",
            None,
            &json!({"refresh_token": r3}),
        )
        .await;
        assert_problem(&after, 401, "refresh_token_revoked");
        let again = post(
            base,
            "/v1/auth/refresh",
            None,
            &json!({"refresh_token": r2}),
        )
        .await;
        assert_problem(&again, 401, "refresh_token_reused");

        // The user's other session is untouched.
        let other = post(
            base,
            "/v1/auth/refresh",
            None,
            &json!({"refresh_token": refresh_of(&other_session)}),
        )
        .await;
        assert_eq!(other.status, 200, "{}", other.text);

        // Unknown and malformed tokens.
        let unknown = format!("rt_{}", B64.encode(&[7u8; 32]));
        assert_problem(
            &post(
                base,
                "/v1/auth/refresh",
                None,
                &json!({"refresh_token": unknown}),
            )
            .await,
            401,
            "refresh_token_invalid",
        );
        assert_problem(
            &post(
                base,
                "/v1/auth/refresh",
                None,
                &json!({"refresh_token": "x' OR '1'='1"}),
            )
            .await,
            401,
            "refresh_token_invalid",
        );
        assert_problem(
            &post(base, "/v1/auth/refresh", None, &json!({})).await,
            400,
            "body_invalid",
        );

        // Concurrent use of one token: exactly one rotation wins, the family is then revoked.
        let racing = refresh_of(&other.json).to_owned();
        let racing_body = json!({"refresh_token": racing});
        let attempts = (0..6).map(|_| post(base, "/v1/auth/refresh", None, &racing_body));
        let replies = futures_util::future::join_all(attempts).await;
        let wins = replies.iter().filter(|r| r.status == 200).count();
        assert_eq!(
            wins,
            1,
            "{:?}",
            replies.iter().map(|r| &r.text).collect::<Vec<_>>()
        );
        for reply in replies.iter().filter(|r| r.status != 200) {
            assert_problem(reply, 401, "refresh_token_reused");
        }
        let winner = replies.iter().find(|r| r.status == 200).unwrap();
        let dead = post(
            base,
            "/v1/auth/refresh",
            None,
            &json!({"refresh_token": refresh_of(&winner.json)}),
        )
        .await;
        assert_problem(&dead, 401, "refresh_token_revoked");
    }
}

#[actix_rt::test]
async fn logout_revokes_the_session() {
    for backend in BACKENDS {
        let Some(server) = TestServer::start(backend, "logout_revokes_the_session") else {
            continue;
        };
        let base = server.base.as_str();
        let a = signup(base, "lou@example.com").await;
        let b = post(
            base,
            "/v1/auth/login",
            None,
            &json!({"email": "lou@example.com", "password": PASSWORD}),
        )
        .await
        .json;
        let mallory = signup(base, "mallory@example.com").await;

        // With the refresh token in the body.
        let out = call(
            base,
            "POST",
            "/v1/auth/logout",
            None,
            &[],
            Some(&serde_json::to_vec(&json!({"refresh_token": refresh_of(&a)})).unwrap()),
        )
        .await
        .reply;
        assert_eq!(out.status, 204, "{}", out.text);
        assert_problem(
            &post(
                base,
                "/v1/auth/refresh",
                None,
                &json!({"refresh_token": refresh_of(&a)}),
            )
            .await,
            401,
            "refresh_token_revoked",
        );

        // Someone else cannot log this session out with their own access token.
        let body = serde_json::to_vec(&json!({"refresh_token": refresh_of(&b)})).unwrap();
        let out = call(
            base,
            "POST",
            "/v1/auth/logout",
            Some(token(&mallory)),
            &[],
            Some(&body),
        )
        .await
        .reply;
        assert_problem(&out, 401, "refresh_token_invalid");

        // With only the access token: its own session ends.
        let out = call(base, "POST", "/v1/auth/logout", Some(token(&b)), &[], None)
            .await
            .reply;
        assert_eq!(out.status, 204, "{}", out.text);
        assert_problem(
            &post(
                base,
                "/v1/auth/refresh",
                None,
                &json!({"refresh_token": refresh_of(&b)}),
            )
            .await,
            401,
            "refresh_token_revoked",
        );
        // Mallory's session was not touched.
        assert_eq!(
            post(
                base,
                "/v1/auth/refresh",
                None,
                &json!({"refresh_token": refresh_of(&mallory)})
            )
            .await
            .status,
            200
        );

        // Neither: 401; garbage body: 400.
        let out = call(base, "POST", "/v1/auth/logout", None, &[], None)
            .await
            .reply;
        assert_problem(&out, 401, "token_missing");
        let out = call(base, "POST", "/v1/auth/logout", None, &[], Some(b"{nope"))
            .await
            .reply;
        assert_problem(&out, 400, "body_invalid");
    }
}

// --- devices -------------------------------------------------------------------------------------

#[actix_rt::test]
async fn devices_register_list_get_revoke() {
    for backend in BACKENDS {
        let Some(server) = TestServer::start(backend, "devices_register_list_get_revoke") else {
            continue;
        };
        let base = server.base.as_str();
        let ana = signup(base, "dana@example.com").await;
        let bob = signup(base, "bob@example.com").await;
        let ana_t = token(&ana);
        let bob_t = token(&bob);

        let secret = device_key(1);
        let created = register(base, ana_t, &secret, "Dana's Pixel").await;
        assert_eq!(created.status, 201, "{}", created.text);
        let device_id = created.json["id"].as_str().unwrap().to_owned();
        assert!(device_id.starts_with("dev_"));
        assert_eq!(created.json["public_key"], secret.public_key().to_string());
        assert_eq!(created.json["key_id"].as_str().unwrap().len(), 16);
        assert_eq!(created.json["name"], "Dana's Pixel");
        assert_eq!(created.json["revoked_at_ms"], Value::Null);

        // Registering the same key again is idempotent for its owner, refused for anyone else.
        let again = register(base, ana_t, &secret, "Dana's Pixel").await;
        assert_eq!(again.status, 200, "{}", again.text);
        assert_eq!(again.json["id"], device_id.as_str());
        assert_problem(
            &register(base, bob_t, &secret, "stolen").await,
            409,
            "device_key_taken",
        );

        // Bad keys and names.
        for (key, code) in [
            ("", "device_key_invalid"),
            ("AAAA", "device_key_invalid"),
            (&*B64.encode(&[0u8; 32]), "device_key_invalid"),
            (
                &*format!("{}=", device_key(2).public_key()),
                "device_key_invalid",
            ),
        ] {
            let reply = post(
                base,
                "/v1/devices",
                Some(ana_t),
                &json!({"public_key": key}),
            )
            .await;
            assert_problem(&reply, 400, code);
        }
        let long_name = post(
            base,
            "/v1/devices",
            Some(ana_t),
            &json!({"public_key": device_key(3).public_key().to_string(), "name": "n".repeat(65)}),
        )
        .await;
        assert_problem(&long_name, 400, "device_name_invalid");
        let no_token = call(base, "POST", "/v1/devices", None, &[], Some(b"{}"))
            .await
            .reply;
        assert_problem(&no_token, 401, "token_missing");

        // List and get.
        let list = get_auth(base, "/v1/devices", ana_t).await;
        assert_eq!(list.status, 200);
        assert_eq!(list.json["has_more"], false);
        assert_eq!(list.json["data"].as_array().unwrap().len(), 1);
        assert_eq!(list.json["data"][0]["id"], device_id.as_str());
        assert_eq!(
            get_auth(base, "/v1/devices", bob_t).await.json["data"]
                .as_array()
                .unwrap()
                .len(),
            0
        );
        let one = get_auth(base, &format!("/v1/devices/{device_id}"), ana_t).await;
        assert_eq!(one.status, 200);
        assert_eq!(one.json, created.json);

        // Another user's device is simply not found, for reading and for revoking.
        assert_problem(
            &get_auth(base, &format!("/v1/devices/{device_id}"), bob_t).await,
            404,
            "not_found",
        );
        let revoke_path = format!("/v1/devices/{device_id}/revoke");
        assert_problem(
            &call(base, "POST", &revoke_path, Some(bob_t), &[], None)
                .await
                .reply,
            404,
            "not_found",
        );
        assert_problem(
            &get_auth(base, "/v1/devices/dev_nope", ana_t).await,
            404,
            "not_found",
        );

        // Revoke, twice.
        let revoked = call(base, "POST", &revoke_path, Some(ana_t), &[], None)
            .await
            .reply;
        assert_eq!(revoked.status, 200, "{}", revoked.text);
        let at = revoked.json["revoked_at_ms"]
            .as_i64()
            .expect("revoked_at_ms");
        let twice = call(base, "POST", &revoke_path, Some(ana_t), &[], None)
            .await
            .reply;
        assert_eq!(twice.json["revoked_at_ms"].as_i64(), Some(at));

        // The server keeps public keys only: 32 bytes per device, nothing else key-like.
        let columns = query_texts(&server, "SELECT name FROM devices").await;
        assert_eq!(columns, vec!["Dana's Pixel".to_owned()]);

        // At most 10 active devices per user (the revoked one does not count).
        for seed in 10..20u8 {
            let reply = register(base, ana_t, &device_key(seed), "more").await;
            assert_eq!(reply.status, 201, "{}", reply.text);
        }
        assert_problem(
            &register(base, ana_t, &device_key(30), "one too many").await,
            409,
            "device_limit_reached",
        );
    }
}

// --- device request signatures -------------------------------------------------------------------

#[actix_rt::test]
async fn device_signatures_refuse_replay_stale_wrong_key_and_revoked_devices() {
    for backend in BACKENDS {
        let Some(server) = TestServer::start(
            backend,
            "device_signatures_refuse_replay_stale_wrong_key_and_revoked_devices",
        ) else {
            continue;
        };
        let base = server.base.as_str();
        let probe = ProbeServer::start(&server.database_url);
        let pbase = probe.base.as_str();
        let tokens = signup(base, "sig@example.com").await;
        let t = token(&tokens);
        let device = phone(base, t, 40).await;
        let path = "/probe/signed?x=1";
        let body = br#"{"amount":"12.50","currency":"USD"}"#;
        let signed = |ts: i64, nonce: &str| {
            sign(
                &device.secret,
                &device.device_id,
                "POST",
                path,
                body,
                ts,
                nonce,
            )
        };

        // A good request: accepted, body parsed from the signed bytes.
        let n1 = nonce();
        let headers = signed(now_ms(), &n1);
        let ok = call(pbase, "POST", path, Some(t), &headers, Some(body))
            .await
            .reply;
        assert_eq!(ok.status, 200, "{}", ok.text);
        assert_eq!(ok.json["device_id"], device.device_id.as_str());
        assert_eq!(ok.json["user_id"], tokens["user_id"]);
        assert_eq!(ok.json["body"]["amount"], "12.50");
        assert_eq!(ok.json["raw_len"], body.len());

        // Replayed verbatim: refused.
        let replay = call(pbase, "POST", path, Some(t), &headers, Some(body))
            .await
            .reply;
        assert_problem(&replay, 401, "device_signature_replayed");

        // Stale and future timestamps (beyond ±5 minutes); just inside the window is fine.
        for (offset_ms, code) in [
            (-301_000, "device_signature_stale"),
            (301_000, "device_signature_stale"),
        ] {
            let reply = call(
                pbase,
                "POST",
                path,
                Some(t),
                &signed(now_ms() + offset_ms, &nonce()),
                Some(body),
            )
            .await
            .reply;
            assert_problem(&reply, 401, code);
        }
        let helper = signed_post(pbase, path, t, &device, &json!({"via": "helper"}), &[]).await;
        assert_eq!(helper.reply.status, 200, "{}", helper.reply.text);
        assert_eq!(helper.reply.json["body"]["via"], "helper");
        let edge = call(
            pbase,
            "POST",
            path,
            Some(t),
            &signed(now_ms() - 240_000, &nonce()),
            Some(body),
        )
        .await
        .reply;
        assert_eq!(edge.status, 200, "{}", edge.text);

        // Signed by another key; body, path or method changed after signing.
        let thief = device_key(99);
        let wrong_key = sign(
            &thief,
            &device.device_id,
            "POST",
            path,
            body,
            now_ms(),
            &nonce(),
        );
        assert_problem(
            &call(pbase, "POST", path, Some(t), &wrong_key, Some(body))
                .await
                .reply,
            401,
            "device_signature_invalid",
        );
        let other_body = br#"{"amount":"99.00","currency":"USD"}"#;
        assert_problem(
            &call(
                pbase,
                "POST",
                path,
                Some(t),
                &signed(now_ms(), &nonce()),
                Some(other_body),
            )
            .await
            .reply,
            401,
            "device_signature_invalid",
        );
        let moved = sign(
            &device.secret,
            &device.device_id,
            "POST",
            "/probe/signed?x=2",
            body,
            now_ms(),
            &nonce(),
        );
        assert_problem(
            &call(pbase, "POST", path, Some(t), &moved, Some(body))
                .await
                .reply,
            401,
            "device_signature_invalid",
        );
        // A failed signature does not burn its nonce, so the rightful request with it still passes.
        let n2 = nonce();
        let forged = sign(&thief, &device.device_id, "POST", path, body, now_ms(), &n2);
        assert_problem(
            &call(pbase, "POST", path, Some(t), &forged, Some(body))
                .await
                .reply,
            401,
            "device_signature_invalid",
        );
        assert_eq!(
            call(
                pbase,
                "POST",
                path,
                Some(t),
                &signed(now_ms(), &n2),
                Some(body)
            )
            .await
            .reply
            .status,
            200
        );

        // Missing and malformed headers.
        let mut missing = signed(now_ms(), &nonce());
        missing.retain(|(name, _)| *name != "purse-nonce");
        assert_problem(
            &call(pbase, "POST", path, Some(t), &missing, Some(body))
                .await
                .reply,
            401,
            "device_signature_missing",
        );
        let mut malformed = signed(now_ms(), &nonce());
        malformed[3].1 = "not base64!".to_owned();
        assert_problem(
            &call(pbase, "POST", path, Some(t), &malformed, Some(body))
                .await
                .reply,
            401,
            "device_signature_malformed",
        );
        // No access token: the device signature alone is not enough.
        assert_problem(
            &call(
                pbase,
                "POST",
                path,
                None,
                &signed(now_ms(), &nonce()),
                Some(body),
            )
            .await
            .reply,
            401,
            "token_missing",
        );

        // Another user's token with this device's signature: the device is not theirs.
        let eve = signup(base, "eve@example.com").await;
        let reply = call(
            pbase,
            "POST",
            path,
            Some(token(&eve)),
            &signed(now_ms(), &nonce()),
            Some(body),
        )
        .await
        .reply;
        assert_problem(&reply, 401, "device_unknown");
        let ghost = sign(
            &device.secret,
            "dev_0000000000000000000000ab",
            "POST",
            path,
            body,
            now_ms(),
            &nonce(),
        );
        assert_problem(
            &call(pbase, "POST", path, Some(t), &ghost, Some(body))
                .await
                .reply,
            401,
            "device_unknown",
        );

        // Concurrent replays of one fresh request: exactly one is accepted.
        let burst = signed(now_ms(), &nonce());
        let replies = futures_util::future::join_all(
            (0..8).map(|_| call(pbase, "POST", path, Some(t), &burst, Some(body))),
        )
        .await;
        assert_eq!(replies.iter().filter(|r| r.reply.status == 200).count(), 1);
        for r in replies.iter().filter(|r| r.reply.status != 200) {
            assert_problem(&r.reply, 401, "device_signature_replayed");
        }

        // Body over the limit: 413 before any signature work.
        let huge = vec![b' '; 70 * 1024];
        let reply = call(
            pbase,
            "POST",
            path,
            Some(t),
            &sign(
                &device.secret,
                &device.device_id,
                "POST",
                path,
                &huge,
                now_ms(),
                &nonce(),
            ),
            Some(&huge),
        )
        .await
        .reply;
        assert_problem(&reply, 413, "body_too_large");

        // A revoked device signs nothing.
        let revoked = call(
            base,
            "POST",
            &format!("/v1/devices/{}/revoke", device.device_id),
            Some(t),
            &[],
            None,
        )
        .await
        .reply;
        assert_eq!(revoked.status, 200);
        // The probe is another server on the same database: it caches device keys, so it must
        // refuse the revoked device within the cache's TTL (a revocation through the probe itself
        // takes effect at once; see `purse_server::recent`).
        let started = std::time::Instant::now();
        let bound = purse_server::recent::TTL + Duration::from_secs(2);
        let reply = loop {
            let reply = call(
                pbase,
                "POST",
                path,
                Some(t),
                &signed(now_ms(), &nonce()),
                Some(body),
            )
            .await
            .reply;
            if reply.status != 200 || started.elapsed() > bound {
                break reply;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        };
        assert_problem(&reply, 401, "device_revoked");
        assert!(
            started.elapsed() <= bound,
            "revocation seen within the cache TTL"
        );

        // The access token from the main server is accepted by the probe server: one shared key.
        let auth = call(pbase, "GET", "/probe/auth", Some(t), &[], None)
            .await
            .reply;
        assert_eq!(auth.json["user_id"], tokens["user_id"]);
    }
}

// --- login back-off ------------------------------------------------------------------------------

#[actix_rt::test]
async fn failed_logins_back_off_with_growing_retry_after_across_processes() {
    for backend in BACKENDS {
        let Some(server) = TestServer::start(
            backend,
            "failed_logins_back_off_with_growing_retry_after_across_processes",
        ) else {
            continue;
        };
        let base = server.base.as_str();
        // A second process on the same database.
        let twin = ProbeServer::start(&server.database_url);
        signup(base, "brute@example.com").await;
        let bad =
            serde_json::to_vec(&json!({"email": "brute@example.com", "password": "guess guess 1"}))
                .unwrap();
        let good = serde_json::to_vec(&json!({"email": "brute@example.com", "password": PASSWORD}))
            .unwrap();
        let login = |target: &'static str, body: &[u8]| {
            let base = if target == "twin" {
                twin.base.clone()
            } else {
                server.base.clone()
            };
            let body = body.to_vec();
            async move { call(&base, "POST", "/v1/auth/login", None, &[], Some(&body)).await }
        };

        // Five failures, alternating between the two processes: each is a plain 401.
        for i in 0..5 {
            let target = if i % 2 == 0 { "main" } else { "twin" };
            let reply = login(target, &bad).await;
            assert_problem(&reply.reply, 401, "credentials_invalid");
        }
        // Now locked for 1 s, on both processes, even for the right password.
        for target in ["main", "twin"] {
            let locked = login(target, &good).await;
            assert_problem(&locked.reply, 429, "login_backoff");
            assert_eq!(locked.retry_after.as_deref(), Some("1"), "{target}");
        }
        // Other accounts are not affected.
        signup(base, "innocent@example.com").await;

        // After the wait, one more failure doubles the lock to 2 s.
        actix_rt::time::sleep(Duration::from_millis(1_100)).await;
        assert_problem(&login("twin", &bad).await.reply, 401, "credentials_invalid");
        let locked = login("main", &good).await;
        assert_problem(&locked.reply, 429, "login_backoff");
        assert_eq!(locked.retry_after.as_deref(), Some("2"));

        // A burst of parallel guesses during the lock: all refused without checking.
        let burst = futures_util::future::join_all((0..10).map(|_| login("main", &bad))).await;
        assert!(burst.iter().all(|r| r.reply.status == 429));

        // After the lock, the right password logs in and clears the run.
        actix_rt::time::sleep(Duration::from_millis(2_100)).await;
        let ok = login("twin", &good).await;
        assert_eq!(ok.reply.status, 200, "{}", ok.reply.text);
        for _ in 0..4 {
            assert_problem(&login("main", &bad).await.reply, 401, "credentials_invalid");
        }
        assert_eq!(login("main", &good).await.reply.status, 200);

        // Unknown accounts back off too, so the 429 does not reveal which accounts exist.
        let ghost =
            serde_json::to_vec(&json!({"email": "ghost@example.com", "password": "guess guess 1"}))
                .unwrap();
        for _ in 0..5 {
            assert_problem(
                &login("main", &ghost).await.reply,
                401,
                "credentials_invalid",
            );
        }
        assert_problem(&login("main", &ghost).await.reply, 429, "login_backoff");
    }
}

// --- the signing key ----------------------------------------------------------------------------

#[actix_rt::test]
async fn signing_key_survives_restart() {
    let Some(mut server) = TestServer::start(Backend::Sqlite, "signing_key_survives_restart")
    else {
        return;
    };
    let tokens = signup(&server.base, "kim@example.com").await;
    let kid = call(&server.base, "GET", "/v1/auth/keys", None, &[], None)
        .await
        .reply
        .json["kid"]
        .clone();
    server.stop();
    let database_url = server.database_url.clone();
    let again = TestServer::start_with(Backend::Sqlite, "signing_key_survives_restart", |config| {
        config.database_url = Some(database_url);
    })
    .expect("restarted");
    let keys = call(&again.base, "GET", "/v1/auth/keys", None, &[], None)
        .await
        .reply;
    assert_eq!(keys.json["kid"], kid);
    assert_eq!(
        get_auth(&again.base, "/v1/me", token(&tokens)).await.status,
        200
    );
}

// --- logs ----------------------------------------------------------------------------------------

/// `purse serve` logs the public half of its token key and never a secret: not the key seed, not
/// a password, not an access or refresh token (checked on everything it wrote at `debug` level).
#[actix_rt::test]
async fn serve_logs_the_public_key_and_no_secret() {
    use std::io::BufRead;
    use std::process::{Command, Stdio};

    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let mut child = Command::new(env!("CARGO_BIN_EXE_purse"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .current_dir(dir.path())
        .env("PURSE_DATA_DIR", &data_dir)
        .env("RUST_LOG", "debug")
        .env_remove("PURSE_DATABASE_URL")
        .env_remove("PURSE_CONFIG")
        .env_remove("PURSE_LOG_FORMAT")
        .env_remove("PURSE_LISTEN")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("purse serve started");
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            let _ = tx.send(line);
        }
    });
    let mut logs = Vec::new();
    let addr = loop {
        let line = rx
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("no 'listening on' line; logs so far: {logs:#?}"));
        logs.push(line.clone());
        if let Some((_, rest)) = line.split_once("listening on http://") {
            break rest.split_whitespace().next().unwrap().to_owned();
        }
    };
    let base = format!("http://{addr}");

    // Exercise every secret-bearing path once.
    let tokens = signup(&base, "logs@example.com").await;
    let wrong = post(
        &base,
        "/v1/auth/login",
        None,
        &json!({"email": "logs@example.com", "password": "a wrong password"}),
    )
    .await;
    assert_eq!(wrong.status, 401);
    let refreshed = post(
        &base,
        "/v1/auth/refresh",
        None,
        &json!({"refresh_token": refresh_of(&tokens)}),
    )
    .await;
    assert_eq!(refreshed.status, 200);
    let reuse = post(
        &base,
        "/v1/auth/refresh",
        None,
        &json!({"refresh_token": refresh_of(&tokens)}),
    )
    .await;
    assert_eq!(reuse.status, 401);
    let device = register(&base, token(&refreshed.json), &device_key(77), "log phone").await;
    assert_eq!(device.status, 201);
    let keys = call(&base, "GET", "/v1/auth/keys", None, &[], None)
        .await
        .reply;
    let public_key = keys.json["public_key"].as_str().unwrap().to_owned();

    let stopped = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(stopped.success());
    let status = child.wait().unwrap();
    assert!(status.success(), "purse serve exited with {status}");
    reader.join().unwrap();
    logs.extend(rx.try_iter());
    let text = logs.join("\n");

    let url = format!("sqlite://{}", data_dir.join("purse.db").display());
    let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
    let seed: Vec<u8> =
        sqlx::query_scalar("SELECT secret_seed FROM server_keys WHERE purpose = 'access_token'")
            .fetch_one(&mut conn)
            .await
            .unwrap();

    assert!(
        text.contains(&public_key),
        "the public key is logged:\n{text}"
    );
    assert!(text.contains("access-token signing key"));
    let secrets = [
        data_encoding::HEXLOWER.encode(&seed),
        data_encoding::HEXUPPER.encode(&seed),
        B64.encode(&seed),
        data_encoding::BASE64.encode(&seed),
        PASSWORD.to_owned(),
        "a wrong password".to_owned(),
        token(&tokens).to_owned(),
        token(&refreshed.json).to_owned(),
        refresh_of(&tokens).to_owned(),
        refresh_of(&refreshed.json).to_owned(),
    ];
    for secret in &secrets {
        assert!(
            !text.contains(secret.as_str()),
            "a secret leaked into the logs:\n{text}"
        );
    }
    // Personal data stays out too: the email is not logged, the user id is.
    assert!(!text.contains("logs@example.com"), "{text}");
    assert!(text.contains(tokens["user_id"].as_str().unwrap()));
}

#[actix_rt::test]
async fn openapi_documents_every_identity_route() {
    let Some(server) = TestServer::start(Backend::Sqlite, "openapi_documents_every_identity_route")
    else {
        return;
    };
    let doc = call(&server.base, "GET", "/openapi.json", None, &[], None)
        .await
        .reply;
    assert_eq!(doc.status, 200);
    for (path, method) in [
        ("/v1/auth/signup", "post"),
        ("/v1/auth/login", "post"),
        ("/v1/auth/refresh", "post"),
        ("/v1/auth/logout", "post"),
        ("/v1/auth/keys", "get"),
        ("/v1/me", "get"),
        ("/v1/devices", "post"),
        ("/v1/devices", "get"),
        ("/v1/devices/{device_id}", "get"),
        ("/v1/devices/{device_id}/revoke", "post"),
    ] {
        assert!(
            doc.json["paths"][path][method].is_object(),
            "{method} {path} documented"
        );
    }
    let bearer = &doc.json["components"]["securitySchemes"]["bearer"];
    assert_eq!(bearer["scheme"], "bearer", "{bearer}");
    for schema in [
        "SignupRequest",
        "TokenResponse",
        "Device",
        "RegisterDeviceRequest",
    ] {
        assert!(
            doc.json["components"]["schemas"][schema].is_object(),
            "schema {schema}"
        );
    }
}

/// Nonces out of the window are pruned (so the table stays small) and only those: a nonce inside
/// the window is still a replay after a prune. Likewise for forgotten login-failure runs.
#[actix_rt::test]
async fn old_nonces_are_pruned_and_recent_ones_kept() {
    use purse_server::identity::store;
    for backend in BACKENDS {
        let Some(server) = TestServer::start(backend, "old_nonces_are_pruned_and_recent_ones_kept")
        else {
            continue;
        };
        let config = Config {
            database_url: Some(server.database_url.clone()),
            db_pool_max: 2,
            ..Config::default()
        };
        let db = purse_server::db::Db::open(&config).await.unwrap();
        let now = now_ms();
        let old = store::DeviceNonce {
            device_id: "dev_a".to_owned(),
            nonce: "old-nonce-0000000".to_owned(),
            timestamp_ms: now - 700_000,
        };
        let recent = store::DeviceNonce {
            device_id: "dev_a".to_owned(),
            nonce: "new-nonce-0000000".to_owned(),
            timestamp_ms: now - 1_000,
        };
        let fresh = store::record_nonces(&db, &[old.clone(), recent.clone(), recent.clone()])
            .await
            .unwrap();
        assert_eq!(
            fresh,
            [true, true, false],
            "a duplicate in one batch is a replay"
        );
        let pruned = store::prune_nonces(&db, now - 360_000).await.unwrap();
        assert_eq!(pruned, 1);
        let again = store::record_nonces(&db, &[old, recent]).await.unwrap();
        assert_eq!(again, [true, false]);

        // Forgotten login-failure runs go too, but never one whose lock still holds.
        for (key, last, until) in [
            ("k:old", now - 90_000_000, 0),
            ("k:locked", now - 90_000_000, now + 60_000),
            ("k:new", now - 1_000, 0),
        ] {
            let charge = store::charge_login_attempt(&db, key, last, 1, |_| 0)
                .await
                .unwrap();
            assert_eq!(charge, store::Charge::Granted { failures: 1 });
            if until > 0 {
                let lock = store::charge_login_attempt(&db, key, last, i64::MAX, |_| until - last)
                    .await
                    .unwrap();
                assert_eq!(lock, store::Charge::Granted { failures: 2 });
            }
        }
        let pruned = store::prune_login_failures(&db, now - 86_400_000, now)
            .await
            .unwrap();
        assert_eq!(pruned, 1, "only the forgotten, unlocked run");
        let locked = store::charge_login_attempt(&db, "k:locked", now, i64::MAX, |_| 0)
            .await
            .unwrap();
        assert!(matches!(locked, store::Charge::Locked { .. }), "{locked:?}");
        db.close().await;
    }
}
