//! The web POS at `/pos`: a static page (HTML, CSS, JavaScript, and the vendored jsQR reader)
//! embedded in the binary with `include_str!`, served with a strict Content-Security-Policy. The
//! page talks to the public API with a POS API key; this module holds no logic and no SQL.
//!
//! `static/pos/vendor/jsQR.js` is jsQR 1.4.0 (npm `jsqr`, `dist/jsQR.js`, unmodified; Apache-2.0,
//! licence in `static/pos/vendor/jsQR.LICENSE`), used when the browser has no `BarcodeDetector`.

use actix_web::{HttpResponse, web};

/// Scripts, styles, images and connections from this origin only (plus `data:`/`blob:` images for
/// the QR code and camera frames); no inline script, no framing.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
    img-src 'self' data: blob:; media-src 'self' blob:; connect-src 'self'; base-uri 'none'; \
    form-action 'none'; frame-ancestors 'none'";

const INDEX: &str = include_str!("../static/pos/index.html");
const SCRIPT: &str = include_str!("../static/pos/pos.js");
const STYLE: &str = include_str!("../static/pos/pos.css");
const JSQR: &str = include_str!("../static/pos/vendor/jsQR.js");

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/pos", web::get().to(index))
        .route("/pos/", web::get().to(index))
        .route("/pos/pos.js", web::get().to(script))
        .route("/pos/pos.css", web::get().to(style))
        .route("/pos/vendor/jsQR.js", web::get().to(jsqr));
}

fn asset(content_type: &str, body: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(content_type)
        .insert_header(("content-security-policy", CSP))
        .insert_header(("x-content-type-options", "nosniff"))
        .insert_header(("referrer-policy", "no-referrer"))
        .insert_header(("cache-control", "no-cache"))
        .body(body)
}

async fn index() -> HttpResponse {
    asset("text/html; charset=utf-8", INDEX)
}

async fn script() -> HttpResponse {
    asset("text/javascript; charset=utf-8", SCRIPT)
}

async fn style() -> HttpResponse {
    asset("text/css; charset=utf-8", STYLE)
}

async fn jsqr() -> HttpResponse {
    asset("text/javascript; charset=utf-8", JSQR)
}
