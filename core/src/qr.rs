//! QR image rendering: a text to an SVG document or a PNG image, at error-correction level M.
//!
//! It owns only the picture. It never decides what the text says (see `emv`, `merchant_code`,
//! `paycode`) and never reads QR images back (tests do that with a real QR reader).
//!
//! ```
//! let qr = purse_core::qr::Qr::new("PC1:EXAMPLE").unwrap();
//! assert!(qr.version() <= 2);
//! assert!(qr.to_svg().starts_with("<?xml"));
//! assert!(qr.to_png().unwrap().starts_with(b"\x89PNG"));
//! ```

use qrcode::{EcLevel, QrCode, Version};

/// The longest text accepted, in bytes: the byte-mode capacity of the largest QR code (version 40)
/// at level M. Anything longer could never be scanned from a phone screen anyway.
pub const TEXT_BYTES_MAX: usize = 2331;

/// Pixels per QR module in PNG output. Eight pixels keeps a version-6 code (41 modules plus the
/// quiet zone) under 400 px wide, sharp on any screen and easy for a camera.
pub const PNG_MODULE_PX: u32 = 8;

/// SVG user units per module; the SVG scales freely, this only sets its default size.
pub const SVG_MODULE_UNITS: u32 = 8;

/// Why a text could not be turned into a QR image.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum QrError {
    /// The text does not fit any QR code at level M (or exceeds [`TEXT_BYTES_MAX`]).
    #[error("text of {len_bytes} bytes does not fit a QR code at error-correction level M")]
    TooLong { len_bytes: usize },
    /// The PNG encoder failed (it writes to memory, so this means a bug or memory exhaustion).
    #[error("PNG encoding failed: {0}")]
    Png(String),
}

impl QrError {
    /// Stable machine code of this error.
    pub fn code(&self) -> &'static str {
        match self {
            QrError::TooLong { .. } => "qr_too_long",
            QrError::Png(_) => "qr_png_failed",
        }
    }
}

/// A text laid out as a QR code at level M, in the smallest version that holds it. The encoder
/// picks the densest modes for the text (an upper-case base45 pay code is encoded in alphanumeric
/// mode, which is what keeps it small).
pub struct Qr {
    code: QrCode,
}

impl std::fmt::Debug for Qr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Qr")
            .field("version", &self.version())
            .field("width_modules", &self.width_modules())
            .finish()
    }
}

impl Qr {
    /// Lays out `text` (its UTF-8 bytes) at error-correction level M.
    pub fn new(text: &str) -> Result<Qr, QrError> {
        let too_long = QrError::TooLong {
            len_bytes: text.len(),
        };
        if text.len() > TEXT_BYTES_MAX {
            return Err(too_long);
        }
        let code = QrCode::with_error_correction_level(text.as_bytes(), EcLevel::M)
            .map_err(|_| too_long)?;
        Ok(Qr { code })
    }

    /// The QR version (1..=40) chosen: the side is `17 + 4 * version` modules.
    pub fn version(&self) -> u8 {
        match self.code.version() {
            // `with_error_correction_level` only ever picks a normal version in 1..=40.
            Version::Normal(v) | Version::Micro(v) => u8::try_from(v).unwrap_or(u8::MAX),
        }
    }

    /// Modules per side, without the quiet zone.
    pub fn width_modules(&self) -> usize {
        self.code.width()
    }

    /// An SVG document: black modules on white with the standard 4-module quiet zone.
    pub fn to_svg(&self) -> String {
        self.code
            .render::<qrcode::render::svg::Color<'_>>()
            .quiet_zone(true)
            .module_dimensions(SVG_MODULE_UNITS, SVG_MODULE_UNITS)
            .build()
    }

    /// A grey-scale PNG image: black modules on white with the standard 4-module quiet zone.
    pub fn to_png(&self) -> Result<Vec<u8>, QrError> {
        let image = self
            .code
            .render::<image::Luma<u8>>()
            .quiet_zone(true)
            .module_dimensions(PNG_MODULE_PX, PNG_MODULE_PX)
            .build();
        let mut png = Vec::new();
        image
            .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
            .map_err(|err| QrError::Png(err.to_string()))?;
        Ok(png)
    }
}

/// Renders `text` as an SVG document at level M.
pub fn render_svg(text: &str) -> Result<String, QrError> {
    Ok(Qr::new(text)?.to_svg())
}

/// Renders `text` as a PNG image at level M.
pub fn render_png(text: &str) -> Result<Vec<u8>, QrError> {
    Qr::new(text)?.to_png()
}
