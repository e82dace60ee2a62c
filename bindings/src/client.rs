//! `PurseClient` across the FFI: a thin object over `purse_core::client::PurseClient` (the
//! blocking, thread-safe API client), the app's `SessionStore` callback for the refresh token,
//! and records mirroring the wire types it answers. Every rule (token refresh, device signatures,
//! idempotency keys, timeouts) is the core client's; this module only converts. Calls block:
//! apps make them off the main thread (a background dispatcher, a `Task`, a thread).

use std::sync::Arc;

use purse_core::api;
use purse_core::api::ledger::{CreateTransferRequest, TransferTo};
use purse_core::client::{self as core_client, ClientConfig as CoreConfig, Login, Signed};

use crate::error::{Failure, PurseError, guard};
use crate::keys::{Signer, SignerAdapter};

/// Where the server is and how long to wait for it.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ClientConfig {
    /// `https://api.example.com`, or `http://10.0.2.2:8080` for a server on the host of an
    /// Android emulator. No path.
    pub base_url: String,
    #[uniffi(default = 10000)]
    pub connect_timeout_ms: u64,
    /// For one whole call; a long poll gets its wait on top.
    #[uniffi(default = 30000)]
    pub request_timeout_ms: u64,
}

// The foreign defaults above must be the core's.
const _: () = assert!(CoreConfig::CONNECT_TIMEOUT_MS_DEFAULT == 10_000);
const _: () = assert!(CoreConfig::REQUEST_TIMEOUT_MS_DEFAULT == 30_000);

/// What keeps a user logged in across app restarts. `refresh_token` is a secret: keep it in the
/// Android Keystore / iOS Keychain, never in logs or backups.
#[derive(Clone, PartialEq, Eq, uniffi::Record)]
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

/// Where the app keeps the session. The client calls `save` after every login and every token
/// rotation (the previous refresh token is then spent), and `save(null)` when the session ends.
/// Return only once the value is durable; throw a `PurseError` when it cannot be stored.
#[uniffi::export(foreign)]
pub trait SessionStore: Send + Sync {
    fn save(&self, session: Option<SavedSession>) -> Result<(), PurseError>;
}

struct StoreAdapter(Arc<dyn SessionStore>);

impl core_client::SessionStore for StoreAdapter {
    fn save(&self, session: Option<&core_client::SavedSession>) -> Result<(), String> {
        let session = session.map(|session| SavedSession {
            user_id: session.user_id.clone(),
            refresh_token: session.refresh_token.clone(),
        });
        self.0.save(session).map_err(|err| err.to_string())
    }
}

/// A user as its owner sees it.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct User {
    pub id: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub created_at_ms: i64,
}

/// A registered device (`dev_…`).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Device {
    pub id: String,
    pub public_key: String,
    pub key_id: String,
    pub name: Option<String>,
    pub created_at_ms: i64,
    pub revoked_at_ms: Option<i64>,
}

/// A wallet with its committed balance (a decimal string, `"12.50"`).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Wallet {
    pub id: String,
    pub currency: String,
    pub balance: String,
    pub created_at_ms: i64,
}

/// Who receives a transfer.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum Payee {
    Wallet {
        wallet_id: String,
    },
    Email {
        email: String,
    },
    /// E.164, `+14155550100`.
    Phone {
        phone: String,
    },
}

/// A P2P transfer to send.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct TransferRequest {
    pub from_wallet: String,
    pub to: Payee,
    /// A decimal string with at most the currency's decimals (`"12.50"`).
    pub amount: String,
    pub currency: String,
    #[uniffi(default = None)]
    pub memo: Option<String>,
}

/// A committed transfer (`txn_…`).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Transfer {
    pub id: String,
    /// `p2p`, `issuance`, `payment`, ...
    pub kind: String,
    pub from: String,
    pub to: String,
    pub amount: String,
    pub currency: String,
    pub memo: Option<String>,
    pub created_at_ms: i64,
}

/// A transfer that was sent, and the `Idempotency-Key` it was sent with (pass it again to retry
/// the same transfer without paying twice).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct TransferResult {
    pub transfer: Transfer,
    pub idempotency_key: String,
}

/// One line of a wallet's history: the transfer and the wallet's side of it.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct HistoryItem {
    pub transfer: Transfer,
    /// `debit` (money left the wallet) or `credit`.
    pub direction: String,
}

/// One page of history, newest first; pass the last item's `transfer.id` as `starting_after`
/// for the next page while `has_more`.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct HistoryPage {
    pub items: Vec<HistoryItem>,
    pub has_more: bool,
}

/// An event (`payment.succeeded`, `transfer.received`, ...) with its object as JSON text.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Event {
    pub id: String,
    pub event_type: String,
    pub created_at_ms: i64,
    /// The object the event is about, as its own endpoint returns it.
    pub data_json: String,
}

/// Events in order, oldest first; pass the last one's `id` as `after` to wait for more.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct EventPage {
    pub events: Vec<Event>,
    pub has_more: bool,
}

/// A payment of a merchant's QR code (`pay_…`).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Payment {
    pub id: String,
    pub merchant_id: String,
    pub merchant_name: String,
    pub wallet: String,
    pub amount: String,
    pub currency: String,
    pub reference: Option<String>,
    /// `succeeded`.
    pub status: String,
    pub refunded_amount: String,
    pub transfer_id: String,
    pub created_at_ms: i64,
}

/// A payment that was made, and the `Idempotency-Key` it was sent with.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct PaymentResult {
    pub payment: Payment,
    pub idempotency_key: String,
}

/// A top-up: money entering a wallet through a payment provider (`top_…`).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct TopUp {
    pub id: String,
    pub wallet: String,
    pub amount: String,
    pub currency: String,
    /// `card` or `bank_transfer`.
    pub method: String,
    /// `pending`, then `succeeded`, `failed` or `canceled` (later `charged_back`).
    pub status: String,
    /// While `pending`: the provider's confirm page (like 3-D Secure) for the app to open.
    pub next_action_url: Option<String>,
    /// Why it failed (`card_declined`, …), when `failed`.
    pub failure_code: Option<String>,
    /// The ledger transfer that credited the wallet, once `succeeded`.
    pub transfer_id: Option<String>,
    pub created_at_ms: i64,
}

impl From<api::topups::TopUp> for TopUp {
    fn from(t: api::topups::TopUp) -> Self {
        TopUp {
            id: t.id,
            wallet: t.wallet,
            amount: t.amount,
            currency: t.currency,
            method: t.method,
            status: t.status,
            next_action_url: t.next_action.map(|action| action.url),
            failure_code: t.failure_code,
            transfer_id: t.transfer_id,
            created_at_ms: t.created_at_ms,
        }
    }
}

/// A top-up that was started, and the `Idempotency-Key` it was sent with.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct TopUpResult {
    pub topup: TopUp,
    pub idempotency_key: String,
}

/// A merchant as its owner sees it (`mer_…`).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Merchant {
    pub id: String,
    pub name: String,
    pub city: String,
    pub country: String,
    pub mcc: String,
    pub currency: String,
    pub wallet_id: String,
    pub status: String,
    pub created_at_ms: i64,
}

/// A QR code the server made and signed for a merchant; show `payload` with `render_qr_png`.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct MerchantQr {
    pub id: String,
    /// `static` or `dynamic`.
    pub kind: String,
    pub payload: String,
    pub amount: Option<String>,
    pub currency: String,
    pub reference: Option<String>,
    pub expires_at_ms: Option<i64>,
}

/// One of a merchant's public signing keys, from its public directory.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct MerchantKey {
    /// 16 hex digits, as merchant codes name it.
    pub key_id: String,
    /// base64url without padding, for `verify_merchant_code`.
    pub public_key: String,
    /// `active` or `revoked` (a revoked key's codes are refused, whenever they were made).
    pub status: String,
    pub revoked_at_ms: Option<i64>,
}

/// The answer of the operator's funding call.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct FundResult {
    pub transfer_id: String,
    pub wallet_id: String,
    pub currency: String,
    pub amount: String,
    pub balance: String,
}

/// The Purse API client for one user on one device: a session that refreshes itself, and a
/// device key (`signer`) that signs every money-moving request. Thread-safe; every call blocks,
/// so call it off the main thread.
#[derive(uniffi::Object)]
pub struct PurseClient {
    inner: core_client::PurseClient,
}

#[uniffi::export]
impl PurseClient {
    /// A client for `config.base_url`; `signer` is the device key (a platform keystore or a
    /// `KeyPair`), `session_store` receives the refresh token to keep. No request is made yet.
    #[uniffi::constructor]
    pub fn new(
        config: ClientConfig,
        signer: Arc<dyn Signer>,
        session_store: Option<Arc<dyn SessionStore>>,
    ) -> Result<Arc<PurseClient>, PurseError> {
        guard(|| {
            let config = CoreConfig {
                base_url: config.base_url,
                connect_timeout_ms: config.connect_timeout_ms,
                request_timeout_ms: config.request_timeout_ms,
            };
            let store = session_store
                .map(|store| Box::new(StoreAdapter(store)) as Box<dyn core_client::SessionStore>);
            let inner = core_client::PurseClient::new(
                config,
                Box::new(SignerAdapter::new(signer)?),
                store,
            )?;
            Ok(Arc::new(PurseClient { inner }))
        })
    }

    /// Creates an account (an email or an E.164 phone, and a password of 12+ characters) and
    /// logs in. Answers the user id.
    pub fn signup(
        &self,
        email: Option<String>,
        phone: Option<String>,
        password: String,
    ) -> Result<String, PurseError> {
        guard(|| {
            Ok(self.inner.signup(&Login {
                email,
                phone,
                password,
            })?)
        })
    }

    /// Logs in with an email or a phone. Answers the user id.
    pub fn login(
        &self,
        email: Option<String>,
        phone: Option<String>,
        password: String,
    ) -> Result<String, PurseError> {
        guard(|| {
            Ok(self.inner.login(&Login {
                email,
                phone,
                password,
            })?)
        })
    }

    /// Continues a session the `SessionStore` kept (after a restart). A session that ended is
    /// `Api(refresh_token_*)`: log in again.
    pub fn resume(&self, session: SavedSession) -> Result<String, PurseError> {
        guard(|| {
            Ok(self.inner.resume(&core_client::SavedSession {
                user_id: session.user_id,
                refresh_token: session.refresh_token,
            })?)
        })
    }

    /// Ends the session on the server and forgets it here and in the store.
    pub fn logout(&self) -> Result<(), PurseError> {
        guard(|| Ok(self.inner.logout()?))
    }

    /// The logged-in user's id, if any.
    pub fn user_id(&self) -> Option<String> {
        self.inner.user_id()
    }

    /// The logged-in user.
    pub fn me(&self) -> Result<User, PurseError> {
        guard(|| {
            let user = self.inner.me()?;
            Ok(User {
                id: user.id,
                email: user.email,
                phone: user.phone,
                created_at_ms: user.created_at_ms,
            })
        })
    }

    /// Registers the signer's public key as this user's device (again: the same device), and
    /// signs money-moving calls with it from now on. Call it after every login or resume.
    pub fn register_device(&self, name: Option<String>) -> Result<Device, PurseError> {
        guard(|| {
            let device = self.inner.register_device(name.as_deref())?;
            Ok(Device {
                id: device.id,
                public_key: device.public_key,
                key_id: device.key_id,
                name: device.name,
                created_at_ms: device.created_at_ms,
                revoked_at_ms: device.revoked_at_ms,
            })
        })
    }

    /// The registered device's id, if any.
    pub fn device_id(&self) -> Option<String> {
        self.inner.device_id()
    }

    /// Opens the user's wallet in `currency` (ISO 4217), or answers the one they have.
    pub fn open_wallet(&self, currency: String) -> Result<Wallet, PurseError> {
        guard(|| Ok(self.inner.open_wallet(&currency)?.into()))
    }

    /// Every wallet of the user.
    pub fn wallets(&self) -> Result<Vec<Wallet>, PurseError> {
        guard(|| {
            Ok(self
                .inner
                .wallets()?
                .into_iter()
                .map(Wallet::from)
                .collect())
        })
    }

    /// One wallet with its current balance.
    pub fn wallet(&self, wallet_id: String) -> Result<Wallet, PurseError> {
        guard(|| Ok(self.inner.wallet(&wallet_id)?.into()))
    }

    /// One page of a wallet's history, newest first (`limit` 1 to 100, default 20).
    pub fn history(
        &self,
        wallet_id: String,
        limit: Option<u32>,
        starting_after: Option<String>,
    ) -> Result<HistoryPage, PurseError> {
        guard(|| {
            let page = self
                .inner
                .history(&wallet_id, limit, starting_after.as_deref())?;
            Ok(HistoryPage {
                items: page
                    .data
                    .into_iter()
                    .map(|line| HistoryItem {
                        transfer: line.transfer.into(),
                        direction: match line.direction {
                            api::ledger::Direction::Debit => "debit",
                            api::ledger::Direction::Credit => "credit",
                        }
                        .to_owned(),
                    })
                    .collect(),
                has_more: page.has_more,
            })
        })
    }

    /// Sends money (device-signed). `idempotency_key`: none for a new transfer (one is made and
    /// answered), or the key of an earlier attempt to retry it safely.
    pub fn transfer(
        &self,
        request: TransferRequest,
        idempotency_key: Option<String>,
    ) -> Result<TransferResult, PurseError> {
        guard(|| {
            let to = match request.to {
                Payee::Wallet { wallet_id } => TransferTo::Wallet(wallet_id),
                Payee::Email { email } => TransferTo::Person(api::ledger::Payee {
                    email: Some(email),
                    phone: None,
                }),
                Payee::Phone { phone } => TransferTo::Person(api::ledger::Payee {
                    email: None,
                    phone: Some(phone),
                }),
            };
            let body = CreateTransferRequest {
                from_wallet: request.from_wallet,
                to,
                amount: request.amount,
                currency: request.currency,
                memo: request.memo,
            };
            let Signed {
                value,
                idempotency_key,
            } = self.inner.transfer(&body, idempotency_key)?;
            Ok(TransferResult {
                transfer: value.into(),
                idempotency_key,
            })
        })
    }

    /// Pays a scanned merchant QR code (device-signed). `amount` only for a static code, which
    /// carries none; `idempotency_key` as for `transfer`.
    pub fn pay_qr(
        &self,
        payload: String,
        wallet_id: String,
        amount: Option<String>,
        idempotency_key: Option<String>,
    ) -> Result<PaymentResult, PurseError> {
        guard(|| {
            let body = api::payments::CreatePaymentRequest {
                payload,
                wallet: wallet_id,
                amount,
            };
            let Signed {
                value: p,
                idempotency_key,
            } = self.inner.pay_qr(&body, idempotency_key)?;
            Ok(PaymentResult {
                payment: Payment {
                    id: p.id,
                    merchant_id: p.merchant_id,
                    merchant_name: p.merchant_name,
                    wallet: p.wallet,
                    amount: p.amount,
                    currency: p.currency,
                    reference: p.reference,
                    status: p.status,
                    refunded_amount: p.refunded_amount,
                    transfer_id: p.transfer_id,
                    created_at_ms: p.created_at_ms,
                },
                idempotency_key,
            })
        })
    }

    /// Starts a top-up (device-signed) of `amount` (decimal string, the wallet's currency) by
    /// `method` (`card` or `bank_transfer`); `idempotency_key` as for `transfer`. The answer is
    /// `pending`: open `next_action_url`; the wallet is credited when the provider captures
    /// (event `topup.succeeded`, or poll `get_topup`).
    pub fn create_topup(
        &self,
        wallet_id: String,
        amount: String,
        method: String,
        idempotency_key: Option<String>,
    ) -> Result<TopUpResult, PurseError> {
        guard(|| {
            let body = api::topups::CreateTopUpRequest {
                wallet: wallet_id,
                amount,
                method,
            };
            let Signed {
                value,
                idempotency_key,
            } = self.inner.create_topup(&body, idempotency_key)?;
            Ok(TopUpResult {
                topup: value.into(),
                idempotency_key,
            })
        })
    }

    /// One of the user's top-ups, by id (`top_…`).
    pub fn get_topup(&self, topup_id: String) -> Result<TopUp, PurseError> {
        guard(|| Ok(self.inner.get_topup(&topup_id)?.into()))
    }

    /// Merchant side: creates a merchant owned by the logged-in user (name 1-25 characters,
    /// city 1-15, ISO country, 4-digit MCC, ISO currency).
    pub fn create_merchant(
        &self,
        name: String,
        city: String,
        country: String,
        mcc: String,
        currency: String,
    ) -> Result<Merchant, PurseError> {
        guard(|| {
            let m = self
                .inner
                .create_merchant(&api::merchants::CreateMerchantRequest {
                    name,
                    city,
                    country,
                    mcc,
                    currency,
                })?;
            Ok(Merchant {
                id: m.id,
                name: m.name,
                city: m.city,
                country: m.country,
                mcc: m.mcc,
                currency: m.currency,
                wallet_id: m.wallet_id,
                status: m.status,
                created_at_ms: m.created_at_ms,
            })
        })
    }

    /// Merchant side: the server generates and keeps a signing key for the merchant's QR codes.
    /// Answers its key id.
    pub fn create_merchant_key(&self, merchant_id: String) -> Result<String, PurseError> {
        guard(|| Ok(self.inner.create_merchant_key(&merchant_id)?.key_id))
    }

    /// A merchant's public signing keys (no login needed, revoked keys included): fetch the key
    /// a scanned code names (`read_merchant_code(payload).key_id`) and check the code with
    /// `verify_merchant_code` before showing what it asks to pay.
    pub fn merchant_keys(&self, merchant_id: String) -> Result<Vec<MerchantKey>, PurseError> {
        guard(|| {
            let directory = self.inner.merchant_keys(&merchant_id)?;
            Ok(directory
                .keys
                .into_iter()
                .map(|key| MerchantKey {
                    key_id: key.key_id,
                    public_key: key.public_key,
                    status: key.status,
                    revoked_at_ms: key.revoked_at_ms,
                })
                .collect())
        })
    }

    /// Merchant side: a signed QR code; with `amount` dynamic (payable once, expiring).
    pub fn create_merchant_qr(
        &self,
        merchant_id: String,
        amount: Option<String>,
        reference: Option<String>,
        expires_in_s: Option<u64>,
    ) -> Result<MerchantQr, PurseError> {
        guard(|| {
            let qr = self.inner.create_merchant_qr(
                &merchant_id,
                &api::merchants::CreateQrRequest {
                    amount,
                    reference,
                    expires_in_s,
                },
            )?;
            Ok(MerchantQr {
                id: qr.id,
                kind: qr.kind,
                payload: qr.payload,
                amount: qr.amount,
                currency: qr.currency,
                reference: qr.reference,
                expires_at_ms: qr.expires_at_ms,
            })
        })
    }

    /// Waits up to `wait_s` seconds (at most 30) for the user's events after `after` (from the
    /// first when none); an empty page when nothing happened in time.
    pub fn wait_for_events(
        &self,
        after: Option<String>,
        limit: Option<u32>,
        wait_s: u32,
    ) -> Result<EventPage, PurseError> {
        guard(|| {
            let page = self
                .inner
                .wait_for_events(after.as_deref(), limit, wait_s)?;
            Ok(EventPage {
                events: page.data.into_iter().map(Event::from).collect(),
                has_more: page.has_more,
            })
        })
    }

    /// Merchant side: [`PurseClient::wait_for_events`] for a merchant this user owns, where a
    /// `payment.succeeded` arrives for each of its QR codes paid.
    pub fn wait_for_merchant_events(
        &self,
        merchant_id: String,
        after: Option<String>,
        limit: Option<u32>,
        wait_s: u32,
    ) -> Result<EventPage, PurseError> {
        guard(|| {
            let page = self.inner.wait_for_merchant_events(
                &merchant_id,
                after.as_deref(),
                limit,
                wait_s,
            )?;
            Ok(EventPage {
                events: page.data.into_iter().map(Event::from).collect(),
                has_more: page.has_more,
            })
        })
    }

    /// The operator's funding call (needs the server's `PURSE_ADMIN_TOKEN`): for tests, demos
    /// and back-office tools, never in a consumer app.
    pub fn admin_fund(
        &self,
        operator_token: String,
        wallet_id: String,
        amount: String,
        reference: Option<String>,
    ) -> Result<FundResult, PurseError> {
        guard(|| {
            let funded = self.inner.admin_fund(
                &operator_token,
                &api::ledger::AdminFundRequest {
                    wallet_id,
                    amount,
                    reference,
                },
            )?;
            Ok(FundResult {
                transfer_id: funded.transfer_id,
                wallet_id: funded.wallet_id,
                currency: funded.currency,
                amount: funded.amount,
                balance: funded.balance,
            })
        })
    }
}

/// A fresh `Idempotency-Key`, for an app that keeps the key before the first attempt (so that a
/// crash between sending and answering can still retry the same operation).
#[uniffi::export]
pub fn new_idempotency_key() -> String {
    core_client::new_idempotency_key()
}

impl From<api::ledger::Wallet> for Wallet {
    fn from(wallet: api::ledger::Wallet) -> Wallet {
        Wallet {
            id: wallet.id,
            currency: wallet.currency,
            balance: wallet.balance,
            created_at_ms: wallet.created_at_ms,
        }
    }
}

impl From<api::ledger::Transfer> for Transfer {
    fn from(transfer: api::ledger::Transfer) -> Transfer {
        Transfer {
            id: transfer.id,
            kind: transfer.kind,
            from: transfer.from,
            to: transfer.to,
            amount: transfer.amount,
            currency: transfer.currency,
            memo: transfer.memo,
            created_at_ms: transfer.created_at_ms,
        }
    }
}

impl From<api::events::Event> for Event {
    fn from(event: api::events::Event) -> Event {
        Event {
            id: event.id,
            event_type: event.type_.as_str().to_owned(),
            created_at_ms: event.created_at_ms,
            data_json: event.data.to_string(),
        }
    }
}

impl From<core_client::ClientError> for Failure {
    fn from(err: core_client::ClientError) -> Failure {
        Failure::Client(err)
    }
}
