//! `PurseClient`: the SDK's blocking HTTP client for the Purse API (cargo feature `client`; only
//! `purse-ffi` enables it, the server never links it). It speaks the wire types of
//! [`crate::api`], keeps the session (access token + rotating refresh token) behind a mutex so
//! any thread may call it, refreshes an expired access token once and retries, and device-signs
//! every request that moves money with [`crate::api::identity::device_signature_message`] (the
//! one builder of those bytes, see docs/formats.md "Device request signature"). It never logs,
//! and never puts a token, a password or a key in an error.
//!
//! Blocking on purpose: phones call it from a background thread or coroutine dispatcher, and a
//! blocking client is small (ureq + rustls) and has no runtime to embed in an app.
//!
//! ```text
//! let client = PurseClient::new(ClientConfig::new("https://api.example"), signer, None)?;
//! client.login(&Login::email("ana@example.com", "correct horse battery"))?;
//! let device = client.register_device(Some("Ana's Pixel"))?;
//! let wallet = client.open_wallet("USD")?;
//! let sent = client.transfer(&CreateTransferRequest { .. }, None)?;
//! // sent.idempotency_key: keep it to retry the same transfer after a network error.
//! ```

mod error;

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use data_encoding::BASE64URL_NOPAD;
use rand_core::{OsRng, RngCore};
use serde::Serialize;
use serde::de::DeserializeOwned;

pub use error::ClientError;

use crate::api::events::Event;
use crate::api::identity::{
    self, Device, LoginRequest, LogoutRequest, RefreshRequest, RegisterDeviceRequest,
    SignupRequest, TokenResponse, User,
};
use crate::api::ledger::{
    AdminFundRequest, AdminFundResponse, CreateTransferRequest, CreateWalletRequest, Transfer,
    Wallet, WalletTransaction,
};
use crate::api::merchants::{
    CreateMerchantKeyRequest, CreateMerchantRequest, CreateQrRequest, Merchant, MerchantKey,
    MerchantKeyDirectory, MerchantQr,
};
use crate::api::payments::{CreatePaymentRequest, Payment};
use crate::api::topups::{CreateTopUpRequest, TopUp};
use crate::api::{Page, Problem};
use crate::keys::{KeyError, Signer};

/// Largest response body the client reads; larger answers are `response_invalid`.
pub const RESPONSE_BYTES_MAX: u64 = 4 * 1024 * 1024;
/// Longest long-poll wait `wait_for_events` asks the server for, in seconds.
pub const EVENTS_WAIT_S_MAX: u32 = 30;
/// Longest `Idempotency-Key` the server accepts.
pub const IDEMPOTENCY_KEY_CHARS_MAX: usize = 128;

/// Where the server is and how long to wait for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientConfig {
    /// `https://api.example.com` (or `http://127.0.0.1:8080` for a local server); no trailing
    /// path.
    pub base_url: String,
    /// Give up connecting after this long.
    pub connect_timeout_ms: u64,
    /// Give up on one call (connect, send, answer) after this long. A long poll gets its wait
    /// on top.
    pub request_timeout_ms: u64,
}

impl ClientConfig {
    pub const CONNECT_TIMEOUT_MS_DEFAULT: u64 = 10_000;
    pub const REQUEST_TIMEOUT_MS_DEFAULT: u64 = 30_000;

    pub fn new(base_url: &str) -> ClientConfig {
        ClientConfig {
            base_url: base_url.to_owned(),
            connect_timeout_ms: ClientConfig::CONNECT_TIMEOUT_MS_DEFAULT,
            request_timeout_ms: ClientConfig::REQUEST_TIMEOUT_MS_DEFAULT,
        }
    }
}

/// What an app keeps to stay logged in across restarts: the user and the current refresh
/// token (a secret: keep it in the platform keystore). It changes on every refresh.
#[derive(Clone, PartialEq, Eq)]
pub struct SavedSession {
    pub user_id: String,
    pub refresh_token: String,
}

impl std::fmt::Debug for SavedSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SavedSession")
            .field("user_id", &self.user_id)
            .field("refresh_token", &"<redacted>")
            .finish()
    }
}

/// Where the app keeps the session (the Android Keystore, the iOS Keychain). The client calls
/// `save` with the new session after every login and token rotation, and with `None` when the
/// session ends (logout, or the server revoked it). `save` should not return before the value is
/// durable: the refresh token it replaces is already spent.
pub trait SessionStore: Send + Sync {
    fn save(&self, session: Option<&SavedSession>) -> Result<(), String>;
}

/// A money-moving answer with the `Idempotency-Key` it was sent with: to retry the same
/// operation (after a timeout, say), send the same request with this key and the server answers
/// the first outcome instead of moving money twice.
#[derive(Clone, Debug, PartialEq)]
pub struct Signed<T> {
    pub value: T,
    pub idempotency_key: String,
}

/// Credentials for sign-up and login: an email or a phone (E.164) and a password.
#[derive(Clone, PartialEq, Eq)]
pub struct Login {
    pub email: Option<String>,
    pub phone: Option<String>,
    pub password: String,
}

impl Login {
    pub fn email(email: &str, password: &str) -> Login {
        Login {
            email: Some(email.to_owned()),
            phone: None,
            password: password.to_owned(),
        }
    }
}

impl std::fmt::Debug for Login {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Login")
            .field("email", &self.email)
            .field("phone", &self.phone)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// The session in memory. `generation` grows with every new token pair, so a thread whose call
/// failed with `token_expired` can tell whether another thread already refreshed.
struct Session {
    user_id: String,
    access_token: String,
    refresh_token: String,
    generation: u64,
}

#[derive(Default)]
struct State {
    session: Option<Session>,
    device_id: Option<String>,
    generations: u64,
}

/// How a request is authorized.
#[derive(Clone, Copy)]
enum Auth<'a> {
    None,
    /// `Authorization: Bearer <access token>`, refreshed once on `token_expired`.
    User,
    /// As `User`, plus the four device signature headers and an `Idempotency-Key`.
    Signed {
        idempotency_key: &'a str,
    },
    /// The operator token of the admin API.
    Operator(&'a str),
}

/// A blocking, thread-safe client of the Purse API for one user on one device. See the module
/// documentation.
pub struct PurseClient {
    base_url: String,
    agent: ureq::Agent,
    /// Same as `agent` with room for the long-poll wait.
    poll_agent: ureq::Agent,
    signer: Box<dyn Signer>,
    store: Option<Box<dyn SessionStore>>,
    state: Mutex<State>,
    /// Held while a refresh token is spent, so two threads never spend the same one (which the
    /// server treats as theft and answers by revoking the session).
    refreshing: Mutex<()>,
}

impl PurseClient {
    /// A client for the server at `config.base_url`, signing with `signer` (the device key). No
    /// request is made yet.
    pub fn new(
        config: ClientConfig,
        signer: Box<dyn Signer>,
        store: Option<Box<dyn SessionStore>>,
    ) -> Result<PurseClient, ClientError> {
        let base_url = config.base_url.trim_end_matches('/').to_owned();
        let scheme_ok = base_url.starts_with("https://") || base_url.starts_with("http://");
        let host_ok = base_url
            .split("://")
            .nth(1)
            .is_some_and(|rest| !rest.is_empty() && !rest.contains(['/', '?', '#', ' ']));
        if !scheme_ok || !host_ok {
            return Err(ClientError::Invalid {
                code: "base_url_invalid",
                reason: format!(
                    "the base URL must be http(s)://host[:port] without a path, not {base_url:?}"
                ),
            });
        }
        let agent = |extra_ms: u64| -> ureq::Agent {
            ureq::Agent::config_builder()
                .http_status_as_error(false)
                .timeout_connect(Some(Duration::from_millis(config.connect_timeout_ms)))
                .timeout_global(Some(Duration::from_millis(
                    config.request_timeout_ms.saturating_add(extra_ms),
                )))
                .user_agent(format!("purse-sdk/{}", env!("CARGO_PKG_VERSION")))
                .max_redirects(0)
                .build()
                .into()
        };
        Ok(PurseClient {
            agent: agent(0),
            poll_agent: agent(u64::from(EVENTS_WAIT_S_MAX) * 1000),
            base_url,
            signer,
            store,
            state: Mutex::new(State::default()),
            refreshing: Mutex::new(()),
        })
    }

    // --- session ---------------------------------------------------------------------------

    /// Creates an account and logs it in. Answers the new user's id.
    pub fn signup(&self, login: &Login) -> Result<String, ClientError> {
        let body = SignupRequest {
            email: login.email.clone(),
            phone: login.phone.clone(),
            password: login.password.clone(),
        };
        let tokens: TokenResponse = self.json("POST", "/v1/auth/signup", &body, Auth::None)?;
        self.start_session(tokens)
    }

    /// Logs in. Answers the user's id.
    pub fn login(&self, login: &Login) -> Result<String, ClientError> {
        let body = LoginRequest {
            email: login.email.clone(),
            phone: login.phone.clone(),
            password: login.password.clone(),
        };
        let tokens: TokenResponse = self.json("POST", "/v1/auth/login", &body, Auth::None)?;
        self.start_session(tokens)
    }

    /// Continues a session saved by the [`SessionStore`] (after an app restart): spends its
    /// refresh token for a fresh pair at once, so a revoked or expired session shows now.
    pub fn resume(&self, saved: &SavedSession) -> Result<String, ClientError> {
        let _refreshing = lock(&self.refreshing);
        let body = RefreshRequest {
            refresh_token: saved.refresh_token.clone(),
        };
        let tokens: TokenResponse = self.json("POST", "/v1/auth/refresh", &body, Auth::None)?;
        self.start_session(tokens)
    }

    /// Ends the session on the server (every refresh token of it stops working) and forgets it
    /// here and in the store. Without a session it only clears the store.
    pub fn logout(&self) -> Result<(), ClientError> {
        let refresh_token = lock(&self.state)
            .session
            .as_ref()
            .map(|session| session.refresh_token.clone());
        if let Some(refresh_token) = refresh_token {
            let body = LogoutRequest {
                refresh_token: Some(refresh_token),
            };
            self.request("POST", "/v1/auth/logout", Some(to_json(&body)?), Auth::None)?;
        }
        self.end_session()
    }

    /// The logged-in user's id, if any.
    pub fn user_id(&self) -> Option<String> {
        lock(&self.state)
            .session
            .as_ref()
            .map(|session| session.user_id.clone())
    }

    /// The logged-in user.
    pub fn me(&self) -> Result<User, ClientError> {
        self.get("/v1/me")
    }

    // --- device ----------------------------------------------------------------------------

    /// Registers this device's public key (from the signer) with the logged-in user, and signs
    /// money-moving requests with it from now on. Registering the same key again answers the
    /// device it already is, so an app can simply call this at every start.
    pub fn register_device(&self, name: Option<&str>) -> Result<Device, ClientError> {
        let body = RegisterDeviceRequest {
            public_key: self.signer.public_key().to_string(),
            name: name.map(str::to_owned),
        };
        let device: Device = self.json("POST", "/v1/devices", &body, Auth::User)?;
        lock(&self.state).device_id = Some(device.id.clone());
        Ok(device)
    }

    /// The id of the registered device that signs, if any.
    pub fn device_id(&self) -> Option<String> {
        lock(&self.state).device_id.clone()
    }

    // --- wallets and history ---------------------------------------------------------------

    /// Opens the user's wallet in `currency`, or answers the one they have.
    pub fn open_wallet(&self, currency: &str) -> Result<Wallet, ClientError> {
        let body = CreateWalletRequest {
            currency: currency.to_owned(),
        };
        self.json("POST", "/v1/wallets", &body, Auth::User)
    }

    /// Every wallet of the user.
    pub fn wallets(&self) -> Result<Vec<Wallet>, ClientError> {
        let page: Page<Wallet> = self.get("/v1/wallets")?;
        Ok(page.data)
    }

    /// One wallet with its balance.
    pub fn wallet(&self, wallet_id: &str) -> Result<Wallet, ClientError> {
        self.get(&format!("/v1/wallets/{}", path_segment(wallet_id)?))
    }

    /// One page of a wallet's history, newest first. For the next page pass the `id` of the
    /// last item as `starting_after` while `has_more` is true.
    pub fn history(
        &self,
        wallet_id: &str,
        limit: Option<u32>,
        starting_after: Option<&str>,
    ) -> Result<Page<WalletTransaction>, ClientError> {
        let mut query = Query::default();
        query.push("limit", limit.map(|limit| limit.to_string()));
        query.push("starting_after", starting_after.map(str::to_owned));
        let path = format!(
            "/v1/wallets/{}/transactions{}",
            path_segment(wallet_id)?,
            query.finish()
        );
        self.get(&path)
    }

    // --- money -----------------------------------------------------------------------------

    /// Sends money to another wallet or person (device-signed). `idempotency_key`: pass the key
    /// of an earlier attempt to retry it; a fresh one is made when absent.
    pub fn transfer(
        &self,
        request: &CreateTransferRequest,
        idempotency_key: Option<String>,
    ) -> Result<Signed<Transfer>, ClientError> {
        self.signed_json("/v1/transfers", request, idempotency_key)
    }

    /// Pays a scanned merchant QR code (`POST /v1/payments`, device-signed). `amount` only for
    /// static codes, which carry none. Refusals keep the server's codes (`qr_expired`,
    /// `qr_already_paid`, `insufficient_funds`, `risk_*`, ...).
    pub fn pay_qr(
        &self,
        request: &CreatePaymentRequest,
        idempotency_key: Option<String>,
    ) -> Result<Signed<Payment>, ClientError> {
        self.signed_json("/v1/payments", request, idempotency_key)
    }

    /// Starts a top-up (`POST /v1/topups`, device-signed): money entering the wallet through a
    /// payment provider. The answer is `pending` with a `next_action` URL (the provider's confirm
    /// page) to open; the wallet is credited when the provider captures (`topup.succeeded`).
    pub fn create_topup(
        &self,
        request: &CreateTopUpRequest,
        idempotency_key: Option<String>,
    ) -> Result<Signed<TopUp>, ClientError> {
        self.signed_json("/v1/topups", request, idempotency_key)
    }

    /// One of the user's top-ups (`GET /v1/topups/{id}`).
    pub fn get_topup(&self, topup_id: &str) -> Result<TopUp, ClientError> {
        let path = format!("/v1/topups/{}", path_segment(topup_id)?);
        self.get(&path)
    }

    // --- merchant side (a merchant app or POS run by the merchant's owner) ------------------

    /// Creates a merchant owned by the logged-in user, with its own wallet.
    pub fn create_merchant(
        &self,
        request: &CreateMerchantRequest,
    ) -> Result<Merchant, ClientError> {
        self.json("POST", "/v1/merchants", request, Auth::User)
    }

    /// Makes the server generate and keep a signing key for the merchant's server-made QR codes.
    pub fn create_merchant_key(&self, merchant_id: &str) -> Result<MerchantKey, ClientError> {
        let path = format!("/v1/merchants/{}/keys", path_segment(merchant_id)?);
        self.json(
            "POST",
            &path,
            &CreateMerchantKeyRequest::default(),
            Auth::User,
        )
    }

    /// A merchant's public signing keys, revoked ones included (`GET /v1/merchants/{id}/keys`, no
    /// login needed): what a consumer app verifies a scanned code with
    /// (`merchant_code::verify`) before it shows "pay Corner Coffee 4.20".
    pub fn merchant_keys(&self, merchant_id: &str) -> Result<MerchantKeyDirectory, ClientError> {
        let path = format!("/v1/merchants/{}/keys", path_segment(merchant_id)?);
        parse(&self.request("GET", &path, None, Auth::None)?)
    }

    /// A signed QR code for the merchant: dynamic (payable once) with an amount, else static.
    pub fn create_merchant_qr(
        &self,
        merchant_id: &str,
        request: &CreateQrRequest,
    ) -> Result<MerchantQr, ClientError> {
        let path = format!("/v1/merchants/{}/qr", path_segment(merchant_id)?);
        self.json("POST", &path, request, Auth::User)
    }

    /// Credits a wallet from the issuance account (the operator's admin API, `PURSE_ADMIN_TOKEN`):
    /// for tests, demos and back-office tools, never in a consumer app.
    pub fn admin_fund(
        &self,
        operator_token: &str,
        request: &AdminFundRequest,
    ) -> Result<AdminFundResponse, ClientError> {
        self.json(
            "POST",
            "/v1/admin/fund",
            request,
            Auth::Operator(operator_token),
        )
    }

    // --- events ----------------------------------------------------------------------------

    /// Waits up to `wait_s` seconds (at most [`EVENTS_WAIT_S_MAX`]) for the user's events after
    /// the event `after` (from the start when absent), and answers them in order, oldest first;
    /// an empty page when nothing happened in time. Pass the last event's id as `after` next.
    pub fn wait_for_events(
        &self,
        after: Option<&str>,
        limit: Option<u32>,
        wait_s: u32,
    ) -> Result<Page<Event>, ClientError> {
        self.events(None, after, limit, wait_s)
    }

    /// [`PurseClient::wait_for_events`] for a merchant the logged-in user owns
    /// (`GET /v1/events?merchant=`): `payment.succeeded` for every QR code paid to it, and the
    /// merchant's other events. Another user's merchant is `not_found`.
    pub fn wait_for_merchant_events(
        &self,
        merchant_id: &str,
        after: Option<&str>,
        limit: Option<u32>,
        wait_s: u32,
    ) -> Result<Page<Event>, ClientError> {
        self.events(Some(merchant_id), after, limit, wait_s)
    }

    fn events(
        &self,
        merchant_id: Option<&str>,
        after: Option<&str>,
        limit: Option<u32>,
        wait_s: u32,
    ) -> Result<Page<Event>, ClientError> {
        let mut query = Query::default();
        query.push("merchant", merchant_id.map(str::to_owned));
        query.push("after", after.map(str::to_owned));
        query.push("limit", limit.map(|limit| limit.to_string()));
        query.push("wait", Some(wait_s.min(EVENTS_WAIT_S_MAX).to_string()));
        let path = format!("/v1/events{}", query.finish());
        let bytes = self.authed("GET", &path, None, Auth::User, true)?;
        parse(&bytes)
    }

    // --- plumbing --------------------------------------------------------------------------

    fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        let bytes = self.authed("GET", path, None, Auth::User, false)?;
        parse(&bytes)
    }

    fn json<B: Serialize, T: DeserializeOwned>(
        &self,
        method: &str,
        path: &str,
        body: &B,
        auth: Auth<'_>,
    ) -> Result<T, ClientError> {
        let body = to_json(body)?;
        let bytes = match auth {
            Auth::User | Auth::Signed { .. } => {
                self.authed(method, path, Some(&body), auth, false)?
            }
            Auth::None | Auth::Operator(_) => self.request(method, path, Some(body), auth)?,
        };
        parse(&bytes)
    }

    /// A device-signed POST with an `Idempotency-Key` (the caller's or a fresh one).
    pub(crate) fn signed_json<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
        idempotency_key: Option<String>,
    ) -> Result<Signed<T>, ClientError> {
        let idempotency_key = match idempotency_key {
            Some(key) => check_idempotency_key(key)?,
            None => new_idempotency_key(),
        };
        let value = self.json(
            "POST",
            path,
            body,
            Auth::Signed {
                idempotency_key: &idempotency_key,
            },
        )?;
        Ok(Signed {
            value,
            idempotency_key,
        })
    }

    /// A call with the user's access token: on `401 token_expired` the session is refreshed
    /// once (unless another thread already did) and the call is made again, signed anew.
    fn authed(
        &self,
        method: &str,
        path: &str,
        body: Option<&[u8]>,
        auth: Auth<'_>,
        long_poll: bool,
    ) -> Result<Vec<u8>, ClientError> {
        let (_, generation) = self.access_token()?;
        match self.send(method, path, body, auth, long_poll) {
            Err(ClientError::Api {
                status: 401,
                problem,
            }) if problem.code == "token_expired" => {
                self.refresh_after(generation)?;
                self.send(method, path, body, auth, long_poll)
            }
            other => other,
        }
    }

    fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<&[u8]>,
        auth: Auth<'_>,
        long_poll: bool,
    ) -> Result<Vec<u8>, ClientError> {
        let mut builder = ureq::http::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base_url))
            .header("Accept", "application/json");
        match auth {
            Auth::None => {}
            Auth::Operator(token) => {
                builder = builder.header("Authorization", format!("Bearer {token}"));
            }
            Auth::User | Auth::Signed { .. } => {
                let (token, _) = self.access_token()?;
                builder = builder.header("Authorization", format!("Bearer {token}"));
            }
        }
        if let Auth::Signed { idempotency_key } = auth {
            builder = builder.header("Idempotency-Key", idempotency_key);
            for (name, value) in self.device_signature(method, path, body.unwrap_or_default())? {
                builder = builder.header(name, value);
            }
        }
        let agent = if long_poll {
            &self.poll_agent
        } else {
            &self.agent
        };
        let result = match body {
            Some(body) => {
                let request = builder
                    .header("Content-Type", "application/json")
                    .body(body)
                    .map_err(request_invalid)?;
                agent.run(request)
            }
            None => agent.run(builder.body(()).map_err(request_invalid)?),
        };
        let mut response = result.map_err(ClientError::from_transport)?;
        let status = response.status().as_u16();
        let bytes = response
            .body_mut()
            .with_config()
            .limit(RESPONSE_BYTES_MAX)
            .read_to_vec()
            .map_err(|err| match ClientError::from_transport(err) {
                ClientError::Response { reason, .. } => ClientError::Response { status, reason },
                other => other,
            })?;
        if (200..300).contains(&status) {
            return Ok(bytes);
        }
        match serde_json::from_slice::<Problem>(&bytes) {
            Ok(problem) => Err(ClientError::Api { status, problem }),
            Err(_) => Err(ClientError::Response {
                status,
                reason: format!(
                    "an error without a problem body: {}",
                    String::from_utf8_lossy(&bytes[..bytes.len().min(200)])
                ),
            }),
        }
    }

    /// An unauthenticated or operator call (no refresh on 401).
    fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<Vec<u8>>,
        auth: Auth<'_>,
    ) -> Result<Vec<u8>, ClientError> {
        self.send(method, path, body.as_deref(), auth, false)
    }

    /// The four headers of docs/formats.md "Device request signature" for this exact request.
    fn device_signature(
        &self,
        method: &str,
        path_and_query: &str,
        body: &[u8],
    ) -> Result<[(&'static str, String); 4], ClientError> {
        let device_id = lock(&self.state)
            .device_id
            .clone()
            .ok_or(ClientError::NoDevice)?;
        let timestamp_ms = now_ms();
        let nonce = random_token(16);
        let message = identity::device_signature_message(
            method,
            path_and_query,
            body,
            timestamp_ms,
            &nonce,
            &device_id,
        );
        let signature = self.signer.sign(&message).map_err(ClientError::Signer)?;
        // A keystore that signs with another key would only earn a 401 from the server; say
        // what is wrong here instead.
        self.signer
            .public_key()
            .verify(&message, &signature)
            .map_err(|_| {
                ClientError::Signer(KeyError::SignerFailed {
                    reason: "the signer's signature does not verify under its public key"
                        .to_owned(),
                })
            })?;
        Ok([
            (identity::HEADER_DEVICE_ID, device_id),
            (identity::HEADER_TIMESTAMP, timestamp_ms.to_string()),
            (identity::HEADER_NONCE, nonce),
            (identity::HEADER_SIGNATURE, signature.to_string()),
        ])
    }

    fn access_token(&self) -> Result<(String, u64), ClientError> {
        let state = lock(&self.state);
        let session = state.session.as_ref().ok_or(ClientError::NotLoggedIn)?;
        Ok((session.access_token.clone(), session.generation))
    }

    /// Spends the refresh token for a new pair, unless the session already moved past
    /// `generation` (another thread refreshed while this one waited for the lock).
    fn refresh_after(&self, generation: u64) -> Result<(), ClientError> {
        let _refreshing = lock(&self.refreshing);
        let refresh_token = {
            let state = lock(&self.state);
            let session = state.session.as_ref().ok_or(ClientError::NotLoggedIn)?;
            if session.generation != generation {
                return Ok(());
            }
            session.refresh_token.clone()
        };
        let body = to_json(&RefreshRequest { refresh_token })?;
        match self.request("POST", "/v1/auth/refresh", Some(body), Auth::None) {
            Ok(bytes) => self.start_session(parse(&bytes)?).map(drop),
            // The session is over (expired, revoked, reused): forget it everywhere.
            Err(err @ ClientError::Api { status: 401, .. }) => {
                self.end_session()?;
                Err(err)
            }
            Err(err) => Err(err),
        }
    }

    fn start_session(&self, tokens: TokenResponse) -> Result<String, ClientError> {
        let saved = SavedSession {
            user_id: tokens.user_id.clone(),
            refresh_token: tokens.refresh_token.clone(),
        };
        {
            let mut state = lock(&self.state);
            state.generations += 1;
            let generation = state.generations;
            if state
                .session
                .as_ref()
                .is_some_and(|session| session.user_id != tokens.user_id)
            {
                // Another user's device id is not this user's.
                state.device_id = None;
            }
            state.session = Some(Session {
                user_id: tokens.user_id.clone(),
                access_token: tokens.access_token,
                refresh_token: tokens.refresh_token,
                generation,
            });
        }
        self.save(Some(&saved))?;
        Ok(tokens.user_id)
    }

    fn end_session(&self) -> Result<(), ClientError> {
        {
            let mut state = lock(&self.state);
            state.session = None;
            state.device_id = None;
        }
        self.save(None)
    }

    fn save(&self, session: Option<&SavedSession>) -> Result<(), ClientError> {
        match &self.store {
            Some(store) => store
                .save(session)
                .map_err(|reason| ClientError::SessionStore { reason }),
            None => Ok(()),
        }
    }
}

/// A fresh `Idempotency-Key` (`idem_` + 128 random bits), for an app that wants to keep the key
/// before the first attempt.
pub fn new_idempotency_key() -> String {
    format!("idem_{}", random_token(16))
}

fn check_idempotency_key(key: String) -> Result<String, ClientError> {
    let visible = key.bytes().all(|b| b.is_ascii_graphic());
    if key.is_empty() || key.len() > IDEMPOTENCY_KEY_CHARS_MAX || !visible {
        return Err(ClientError::Invalid {
            code: "idempotency_key_invalid",
            reason: format!(
                "an Idempotency-Key is 1 to {IDEMPOTENCY_KEY_CHARS_MAX} visible ASCII characters"
            ),
        });
    }
    Ok(key)
}

/// `bytes` random bytes as base64url (a device-signature nonce, an idempotency key).
fn random_token(bytes: usize) -> String {
    let mut buffer = vec![0u8; bytes];
    OsRng.fill_bytes(&mut buffer);
    BASE64URL_NOPAD.encode(&buffer)
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| {
            i64::try_from(since.as_millis()).unwrap_or(i64::MAX)
        })
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every update of the guarded state is a few assignments that cannot panic half way.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn to_json<B: Serialize>(body: &B) -> Result<Vec<u8>, ClientError> {
    serde_json::to_vec(body).map_err(|err| ClientError::Invalid {
        code: "body_invalid",
        reason: err.to_string(),
    })
}

fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ClientError> {
    serde_json::from_slice(bytes).map_err(|err| ClientError::Response {
        status: 200,
        reason: format!("the body is not the documented JSON: {err}"),
    })
}

fn request_invalid(err: ureq::http::Error) -> ClientError {
    ClientError::Invalid {
        code: "request_invalid",
        reason: err.to_string(),
    }
}

/// An id used as one path segment: ids are `[A-Za-z0-9_]`, anything else would change the path
/// (and what the device signed).
fn path_segment(id: &str) -> Result<&str, ClientError> {
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return Err(ClientError::Invalid {
            code: "id_invalid",
            reason: format!("{id:?} is not a Purse id"),
        });
    }
    Ok(id)
}

/// A query string built from optional parameters, values percent-encoded.
#[derive(Default)]
struct Query(String);

impl Query {
    fn push(&mut self, name: &str, value: Option<String>) {
        let Some(value) = value else { return };
        self.0.push(if self.0.is_empty() { '?' } else { '&' });
        self.0.push_str(name);
        self.0.push('=');
        for byte in value.bytes() {
            if byte.is_ascii_alphanumeric() || b"-_.~".contains(&byte) {
                self.0.push(char::from(byte));
            } else {
                self.0.push_str(&format!("%{byte:02X}"));
            }
        }
    }

    fn finish(self) -> String {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::SecretKey;

    fn client(base_url: &str) -> Result<PurseClient, ClientError> {
        PurseClient::new(
            ClientConfig::new(base_url),
            Box::new(SecretKey::generate()),
            None,
        )
    }

    #[test]
    fn base_url_must_be_scheme_and_host() {
        assert!(client("http://127.0.0.1:8080").is_ok());
        assert!(client("https://api.example.com/").is_ok());
        for bad in [
            "127.0.0.1:8080",
            "ftp://x",
            "http://",
            "https://x/v1",
            "http://a b",
        ] {
            let err = client(bad).err().unwrap();
            assert_eq!(err.code(), "base_url_invalid", "{bad}");
        }
    }

    #[test]
    fn calls_without_a_session_or_device_say_so() {
        let client = client("http://127.0.0.1:9").unwrap();
        assert_eq!(client.wallets().unwrap_err().code(), "not_logged_in");
        assert_eq!(client.user_id(), None);
        assert_eq!(client.device_id(), None);
    }

    #[test]
    fn unreachable_server_is_a_network_error() {
        // Port 9 (discard) on loopback: nothing listens in the test environment.
        let client = client("http://127.0.0.1:9").unwrap();
        let err = client
            .login(&Login::email("a@example.com", "correct horse battery"))
            .unwrap_err();
        assert_eq!(err.code(), "network_unreachable", "{err}");
        assert!(!err.to_string().contains("correct horse"), "{err}");
    }

    #[test]
    fn idempotency_keys_are_checked_and_fresh() {
        let a = new_idempotency_key();
        assert!(a.starts_with("idem_") && a.len() == 5 + 22, "{a}");
        assert_ne!(a, new_idempotency_key());
        assert!(check_idempotency_key(a.clone()).is_ok());
        for bad in [String::new(), "a b".to_owned(), "x".repeat(129)] {
            assert_eq!(
                check_idempotency_key(bad).unwrap_err().code(),
                "idempotency_key_invalid"
            );
        }
    }

    #[test]
    fn query_values_are_percent_encoded_and_ids_checked() {
        let mut query = Query::default();
        query.push("after", Some("evt_1".to_owned()));
        query.push("skip", None);
        query.push("q", Some("a b&c".to_owned()));
        assert_eq!(query.finish(), "?after=evt_1&q=a%20b%26c");
        assert!(path_segment("wal_abc123").is_ok());
        assert_eq!(path_segment("../admin").unwrap_err().code(), "id_invalid");
    }

    #[test]
    fn saved_session_debug_hides_the_token() {
        let saved = SavedSession {
            user_id: "usr_1".to_owned(),
            refresh_token: "rt_secret".to_owned(),
        };
        assert!(!format!("{saved:?}").contains("rt_secret"));
        let login = Login::email("a@b.co", "hunter2 hunter2");
        assert!(!format!("{login:?}").contains("hunter2"));
    }
}
