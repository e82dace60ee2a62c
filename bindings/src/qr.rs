//! QR images for any text (a pay code, a merchant code): SVG and PNG at error-correction level
//! M, rendered by `purse_core::qr`. It never reads images back; apps scan with the camera API.

use crate::error::{PurseError, guard};

/// An SVG document of `text` as a QR code (4-module quiet zone). `Invalid(qr_too_long)` if the
/// text fits no QR code.
#[uniffi::export]
pub fn render_qr_svg(text: String) -> Result<String, PurseError> {
    guard(|| Ok(purse_core::qr::render_svg(&text)?))
}

/// A grey-scale PNG image of `text` as a QR code, 8 pixels per module.
#[uniffi::export]
pub fn render_qr_png(text: String) -> Result<Vec<u8>, PurseError> {
    guard(|| Ok(purse_core::qr::render_png(&text)?))
}
