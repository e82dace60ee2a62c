//! The load generator's HTTP client: the calls a phone makes (sign up, log in, register a device,
//! open a wallet, read it, send a device-signed transfer) plus `/metrics` and the operator's
//! `/v1/admin/fund`, over one pooled keep-alive `awc` client per thread. Wire bodies are
//! `purse_core::api` types, and the device signature is
//! `purse_core::api::identity::device_signature_message` signed through `purse_core::keys`, the
//! definitions the server verifies against. It never retries: every failure is counted by the
//! caller under its code.

use std::time::Duration;

use actix_web::http::Method;
use actix_web::web::Bytes;
use purse_core::api::Problem;
use purse_core::api::identity::{
    Device, HEADER_DEVICE_ID, HEADER_NONCE, HEADER_SIGNATURE, HEADER_TIMESTAMP, LoginRequest,
    RefreshRequest, RegisterDeviceRequest, SignupRequest, TokenResponse, device_signature_message,
};
use purse_core::api::ledger::{AdminFundRequest, AdminFundResponse, CreateWalletRequest, Wallet};
use purse_core::api::merchants::{ApiKey, CreateApiKeyRequest, CreateMerchantRequest, Merchant};
use purse_core::api::payments::Charge;
use purse_core::keys::{SecretKey, Signer};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::target::Target;

/// Largest response body read; API answers are a few hundred bytes, `/metrics` a few dozen KiB.
const RESPONSE_BYTES_MAX: usize = 4 * 1024 * 1024;

/// Why a call failed, with the stable code it is counted under.
#[derive(Clone, Debug, thiserror::Error)]
pub enum CallError {
    /// No HTTP answer: `timeout`, `connect_failed` or `transport_error`.
    #[error("{code}: {detail}")]
    Transport { code: &'static str, detail: String },
    /// An HTTP answer other than the expected one; `code` is the problem's `code`, or
    /// `http_<status>` when the body is not a problem.
    #[error("HTTP {status} {code}: {detail}")]
    Status {
        status: u16,
        code: String,
        detail: String,
    },
    /// A success answer whose body is not what the API documents.
    #[error("unexpected {what} body: {detail}")]
    Decode { what: &'static str, detail: String },
}

impl CallError {
    pub fn code(&self) -> &str {
        match self {
            CallError::Transport { code, .. } => code,
            CallError::Status { code, .. } => code,
            CallError::Decode { .. } => "response_malformed",
        }
    }

    fn from_send(err: awc::error::SendRequestError) -> CallError {
        use awc::error::SendRequestError as E;
        let code = match &err {
            E::Timeout => "timeout",
            E::Connect(_) => "connect_failed",
            _ => "transport_error",
        };
        CallError::Transport {
            code,
            detail: err.to_string(),
        }
    }
}

/// A logged-in bench user with a registered device: what a signed request needs.
#[derive(Debug)]
pub struct Session {
    pub user_id: String,
    pub access_token: String,
    pub refresh_token: String,
    /// `dev_...`
    pub device_id: String,
    /// The device's secret key; only its public half was sent to the server.
    pub key: SecretKey,
}

/// A status code and the raw body.
pub struct Reply {
    pub status: u16,
    pub body: Bytes,
}

/// One HTTP client of one thread (`awc` is single-threaded); cheap to clone.
#[derive(Clone)]
pub struct Api {
    target: Target,
    client: awc::Client,
}

impl Api {
    /// A client keeping up to `connections` keep-alive connections to `target`, each request
    /// bounded by `timeout`.
    pub fn new(target: &Target, connections: usize, timeout: Duration) -> Api {
        let connector = awc::Connector::new()
            .limit(connections.max(1))
            .timeout(timeout)
            // Keep connections for a whole run rather than reconnecting every 75 s (the default).
            .conn_lifetime(Duration::from_secs(3600))
            .conn_keep_alive(Duration::from_secs(120));
        let client = awc::Client::builder()
            .connector(connector)
            .timeout(timeout)
            .finish();
        Api {
            target: target.clone(),
            client,
        }
    }

    pub fn target(&self) -> &Target {
        &self.target
    }

    /// Sends one request and reads the whole answer.
    async fn call(
        &self,
        method: Method,
        path: &str,
        bearer: Option<&str>,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> Result<Reply, CallError> {
        let mut request = self.client.request(method, self.target.url(path));
        if let Some(token) = bearer {
            request = request.insert_header(("Authorization", format!("Bearer {token}")));
        }
        for (name, value) in headers {
            request = request.insert_header((*name, *value));
        }
        let sent = match body {
            Some(bytes) => {
                request
                    .insert_header(("Content-Type", "application/json"))
                    .send_body(bytes)
                    .await
            }
            None => request.send().await,
        };
        let mut response = sent.map_err(CallError::from_send)?;
        let status = response.status().as_u16();
        // Reading the body to its end is also what lets the connection be reused.
        let body = response
            .body()
            .limit(RESPONSE_BYTES_MAX)
            .await
            .map_err(|err| CallError::Transport {
                code: "transport_error",
                detail: format!("reading the response: {err}"),
            })?;
        Ok(Reply { status, body })
    }

    async fn post_json<B: Serialize>(
        &self,
        path: &str,
        bearer: Option<&str>,
        body: &B,
    ) -> Result<Reply, CallError> {
        let bytes = serde_json::to_vec(body).map_err(|err| CallError::Decode {
            what: "request",
            detail: err.to_string(),
        })?;
        self.call(Method::POST, path, bearer, &[], Some(bytes))
            .await
    }

    /// `GET /readyz`: the server answers and its database is reachable.
    pub async fn ready(&self) -> Result<(), CallError> {
        let reply = self.call(Method::GET, "/readyz", None, &[], None).await?;
        expect_status(&reply, &[200]).map(|_| ())
    }

    /// `GET /metrics` as text.
    pub async fn metrics(&self) -> Result<String, CallError> {
        let reply = self.call(Method::GET, "/metrics", None, &[], None).await?;
        expect_status(&reply, &[200])?;
        String::from_utf8(reply.body.to_vec()).map_err(|err| CallError::Decode {
            what: "metrics",
            detail: err.to_string(),
        })
    }

    pub async fn signup(&self, email: &str, password: &str) -> Result<TokenResponse, CallError> {
        let body = SignupRequest {
            email: Some(email.to_owned()),
            phone: None,
            password: password.to_owned(),
        };
        let reply = self.post_json("/v1/auth/signup", None, &body).await?;
        decode(&reply, &[201], "signup")
    }

    pub async fn login(&self, email: &str, password: &str) -> Result<TokenResponse, CallError> {
        let body = LoginRequest {
            email: Some(email.to_owned()),
            phone: None,
            password: password.to_owned(),
        };
        let reply = self.post_json("/v1/auth/login", None, &body).await?;
        decode(&reply, &[200], "login")
    }

    /// Spends `refresh_token` for a new token pair.
    pub async fn refresh(&self, refresh_token: &str) -> Result<TokenResponse, CallError> {
        let body = RefreshRequest {
            refresh_token: refresh_token.to_owned(),
        };
        let reply = self.post_json("/v1/auth/refresh", None, &body).await?;
        decode(&reply, &[200], "refresh")
    }

    /// Registers the public half of `key` as a device of the token's user.
    pub async fn register_device(
        &self,
        access_token: &str,
        key: &SecretKey,
    ) -> Result<Device, CallError> {
        let body = RegisterDeviceRequest {
            public_key: key.public_key().to_string(),
            name: Some("purse bench".to_owned()),
        };
        let reply = self
            .post_json("/v1/devices", Some(access_token), &body)
            .await?;
        decode(&reply, &[201], "device")
    }

    /// Opens (or finds) the caller's wallet in `currency`; answers its id.
    pub async fn open_wallet(
        &self,
        access_token: &str,
        currency: &str,
    ) -> Result<String, CallError> {
        let body = CreateWalletRequest {
            currency: currency.to_owned(),
        };
        let reply = self
            .post_json("/v1/wallets", Some(access_token), &body)
            .await?;
        let wallet: Wallet = decode(&reply, &[200, 201], "wallet")?;
        Ok(wallet.id)
    }

    /// The balance text of one of the caller's wallets (`"12.50"`).
    pub async fn wallet_balance(
        &self,
        access_token: &str,
        wallet_id: &str,
    ) -> Result<String, CallError> {
        let path = format!("/v1/wallets/{wallet_id}");
        let reply = self
            .call(Method::GET, &path, Some(access_token), &[], None)
            .await?;
        let wallet: Wallet = decode(&reply, &[200], "wallet")?;
        Ok(wallet.balance)
    }

    /// `POST /v1/admin/fund` with the operator token.
    pub async fn admin_fund(
        &self,
        admin_token: &str,
        request: &AdminFundRequest,
    ) -> Result<AdminFundResponse, CallError> {
        let reply = self
            .post_json("/v1/admin/fund", Some(admin_token), request)
            .await?;
        decode(&reply, &[200], "admin fund")
    }

    /// `POST /v1/merchants` as the owner: a merchant with its own wallet.
    pub async fn create_merchant(
        &self,
        access_token: &str,
        request: &CreateMerchantRequest,
    ) -> Result<Merchant, CallError> {
        let reply = self
            .post_json("/v1/merchants", Some(access_token), request)
            .await?;
        decode(&reply, &[201], "merchant")
    }

    /// `POST /v1/merchants/{id}/api-keys` as the owner: a POS key, with its secret.
    pub async fn create_pos_key(
        &self,
        access_token: &str,
        merchant_id: &str,
        name: &str,
    ) -> Result<ApiKey, CallError> {
        let body = CreateApiKeyRequest {
            name: name.to_owned(),
        };
        let path = format!("/v1/merchants/{merchant_id}/api-keys");
        let reply = self.post_json(&path, Some(access_token), &body).await?;
        decode(&reply, &[201], "api key")
    }

    /// `POST /v1/charges` of the exact bytes `body` with a POS key and an `Idempotency-Key`.
    pub async fn charge(
        &self,
        pos_secret: &str,
        body: Vec<u8>,
        idempotency_key: &str,
    ) -> Result<Charge, CallError> {
        let headers = [("Idempotency-Key", idempotency_key)];
        let reply = self
            .call(
                Method::POST,
                "/v1/charges",
                Some(pos_secret),
                &headers,
                Some(body),
            )
            .await?;
        decode(&reply, &[201], "charge")
    }

    /// `GET /v1/charges/{id}` with a POS key of the merchant.
    pub async fn get_charge(&self, pos_secret: &str, charge_id: &str) -> Result<Charge, CallError> {
        let path = format!("/v1/charges/{charge_id}");
        let reply = self
            .call(Method::GET, &path, Some(pos_secret), &[], None)
            .await?;
        decode(&reply, &[200], "charge")
    }

    /// The balance text of a merchant's wallet (`GET /v1/merchants/{id}/wallet`, POS key).
    pub async fn merchant_balance(
        &self,
        pos_secret: &str,
        merchant_id: &str,
    ) -> Result<String, CallError> {
        let path = format!("/v1/merchants/{merchant_id}/wallet");
        let reply = self
            .call(Method::GET, &path, Some(pos_secret), &[], None)
            .await?;
        let wallet: Wallet = decode(&reply, &[200], "merchant wallet")?;
        Ok(wallet.balance)
    }

    /// A device-signed POST of the exact bytes `body` with an `Idempotency-Key`, as the SDK sends
    /// money-moving requests; answers the raw reply when the status is `expected`.
    pub async fn signed_post(
        &self,
        session: &Session,
        path: &str,
        body: Vec<u8>,
        idempotency_key: &str,
        expected: u16,
    ) -> Result<Reply, CallError> {
        let timestamp = crate::ledger::now_ms();
        let nonce = purse_core::api::identity::new_nonce();
        let message =
            device_signature_message("POST", path, &body, timestamp, &nonce, &session.device_id);
        let signature = session
            .key
            .sign(&message)
            .map_err(|err| CallError::Transport {
                code: "signing_failed",
                detail: err.to_string(),
            })?;
        let timestamp = timestamp.to_string();
        let signature = signature.to_string();
        let headers = [
            ("Idempotency-Key", idempotency_key),
            (HEADER_DEVICE_ID, session.device_id.as_str()),
            (HEADER_TIMESTAMP, timestamp.as_str()),
            (HEADER_NONCE, nonce.as_str()),
            (HEADER_SIGNATURE, signature.as_str()),
        ];
        let reply = self
            .call(
                Method::POST,
                path,
                Some(&session.access_token),
                &headers,
                Some(body),
            )
            .await?;
        expect_status(&reply, &[expected])?;
        Ok(reply)
    }
}

/// `Ok` when the status is one of `ok`; otherwise the problem's code (or `http_<status>`).
fn expect_status<'r>(reply: &'r Reply, ok: &[u16]) -> Result<&'r Reply, CallError> {
    if ok.contains(&reply.status) {
        return Ok(reply);
    }
    let problem: Option<Problem> = serde_json::from_slice(&reply.body).ok();
    Err(match problem {
        Some(problem) => CallError::Status {
            status: reply.status,
            code: problem.code,
            detail: problem.detail.unwrap_or(problem.title),
        },
        None => CallError::Status {
            status: reply.status,
            code: format!("http_{}", reply.status),
            detail: String::from_utf8_lossy(&reply.body[..reply.body.len().min(200)]).into_owned(),
        },
    })
}

fn decode<T: DeserializeOwned>(
    reply: &Reply,
    ok: &[u16],
    what: &'static str,
) -> Result<T, CallError> {
    expect_status(reply, ok)?;
    serde_json::from_slice(&reply.body).map_err(|err| CallError::Decode {
        what,
        detail: err.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_carry_the_problem_code_or_the_status() {
        let problem = Reply {
            status: 429,
            body: Bytes::from_static(
                br#"{"type":"/problems/wallet_busy","title":"Busy","status":429,"code":"wallet_busy"}"#,
            ),
        };
        let err = expect_status(&problem, &[201]).err().unwrap();
        assert_eq!(err.code(), "wallet_busy");
        let bare = Reply {
            status: 502,
            body: Bytes::from_static(b"<html>bad gateway</html>"),
        };
        assert_eq!(
            expect_status(&bare, &[201]).err().unwrap().code(),
            "http_502"
        );
        let ok = Reply {
            status: 201,
            body: Bytes::new(),
        };
        assert!(expect_status(&ok, &[201]).is_ok());
        let err = decode::<TokenResponse>(&ok, &[201], "signup")
            .err()
            .unwrap();
        assert_eq!(err.code(), "response_malformed");
    }

    #[test]
    fn nonces_are_fresh_and_within_bounds() {
        use purse_core::api::identity::{NONCE_CHARS_MAX, NONCE_CHARS_MIN};
        let a = purse_core::api::identity::new_nonce();
        assert!((NONCE_CHARS_MIN..=NONCE_CHARS_MAX).contains(&a.len()));
        assert!(
            a.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
        assert_ne!(a, purse_core::api::identity::new_nonce());
    }
}
