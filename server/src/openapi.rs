//! The OpenAPI 3.1 document of the whole API, generated from the handlers' `#[utoipa::path]`
//! annotations and the wire types in `purse_core::api`, served at `/openapi.json`. Each area
//! contributes its own `#[derive(OpenApi)]` struct, merged here in one line. It never lists a
//! route by hand: a route without an annotation is missing from the document, which a test checks.

use purse_core::api::{Health, Problem};
use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Purse API",
        description = "Wallets, a double-entry ledger and P2P transfers. Errors are \
                       application/problem+json with a stable `code`.",
    ),
    paths(
        crate::app::healthz,
        crate::app::readyz,
        crate::app::metrics,
        crate::app::openapi_json,
    ),
    components(schemas(Problem, Health)),
    tags((name = "operations", description = "Health, readiness, metrics and this document")),
)]
struct OperationsApi;

/// The complete document.
pub fn document() -> utoipa::openapi::OpenApi {
    #[allow(unused_mut)]
    let mut doc = OperationsApi::openapi();
    // One line per area: doc.merge(crate::<area>::http::Api::openapi());
    doc.merge(crate::identity::http::Api::openapi());
    doc.merge(crate::ledger::http::Api::openapi());
    doc.merge(crate::wallets::http::Api::openapi());
    doc.merge(crate::transfers::http::Api::openapi());
    doc.merge(crate::merchants::http::Api::openapi());
    doc.merge(crate::payments::http::Api::openapi());
    doc.merge(crate::risk::http::Api::openapi());
    doc.merge(crate::events::http::Api::openapi());
    doc.merge(crate::webhooks::http::Api::openapi());
    doc
}
