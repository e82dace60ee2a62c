//! Fuzz target `api_json`: any bytes as the JSON body of every request type in `purse_core::api`
//! (as the server's extractors read them) and of every response type (as the SDK client reads
//! them). It must never panic; an accepted request body serialises and reads back to the same
//! value, so what the server stores is what the client meant.
//! Run it as fuzz/README.md says.
#![no_main]

use libfuzzer_sys::fuzz_target;
use purse_core::api::{self, events, identity, ledger, merchants, payments, topups, webhooks};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// A request body: parses or not, and what parses round-trips.
fn request<T: DeserializeOwned + Serialize + PartialEq + std::fmt::Debug>(data: &[u8]) {
    if let Ok(value) = serde_json::from_slice::<T>(data) {
        let text = serde_json::to_vec(&value).expect("a parsed body serialises");
        let again: T = serde_json::from_slice(&text).expect("a serialised body parses");
        assert_eq!(again, value);
    }
}

/// A response body: parsing must not panic.
fn response<T: DeserializeOwned>(data: &[u8]) {
    let _ = serde_json::from_slice::<T>(data);
}

fuzz_target!(|data: &[u8]| {
    request::<identity::SignupRequest>(data);
    request::<identity::LoginRequest>(data);
    request::<identity::RefreshRequest>(data);
    request::<identity::LogoutRequest>(data);
    request::<identity::RegisterDeviceRequest>(data);
    request::<ledger::AdminFundRequest>(data);
    request::<ledger::CreateWalletRequest>(data);
    request::<ledger::CreateTransferRequest>(data);
    request::<merchants::CreateMerchantRequest>(data);
    request::<merchants::CreateMerchantKeyRequest>(data);
    request::<merchants::CreateApiKeyRequest>(data);
    request::<merchants::CreateQrRequest>(data);
    request::<payments::CreatePaymentRequest>(data);
    request::<payments::CreateChargeRequest>(data);
    request::<payments::CreateRefundRequest>(data);
    request::<topups::CreateTopUpRequest>(data);
    request::<webhooks::SetWebhookRequest>(data);
    request::<api::PageQuery>(data);
    request::<events::EventsQuery>(data);

    response::<api::Problem>(data);
    response::<api::Health>(data);
    response::<api::Page<ledger::WalletTransaction>>(data);
    response::<events::Event>(data);
    response::<identity::User>(data);
    response::<identity::TokenResponse>(data);
    response::<identity::Device>(data);
    response::<identity::TokenKey>(data);
    response::<ledger::AdminFundResponse>(data);
    response::<ledger::Wallet>(data);
    response::<ledger::Transfer>(data);
    response::<merchants::Merchant>(data);
    response::<merchants::MerchantKey>(data);
    response::<merchants::MerchantKeyDirectory>(data);
    response::<merchants::ApiKey>(data);
    response::<merchants::MerchantQr>(data);
    response::<payments::Payment>(data);
    response::<payments::Charge>(data);
    response::<payments::Refund>(data);
    response::<payments::RiskRejection>(data);
    response::<topups::TopUp>(data);
    response::<webhooks::WebhookEndpoint>(data);
    response::<webhooks::WebhookAttempt>(data);
});
