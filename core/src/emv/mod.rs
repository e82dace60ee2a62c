//! EMVCo merchant-presented QR payloads (EMV QRCPS-MPM): decoding with every structural check,
//! a typed view and JSON form, and encoding. It owns the TLV text format only: it never renders QR
//! images (`qr`), never signs (`merchant_code`), and never looks up currencies (`money`).
//!
//! Lengths count characters (Unicode scalar values), templates (26–51, 62, 64, 80–99) are parsed
//! one level down, and the CRC is CRC-16/CCITT-FALSE over the UTF-8 bytes of everything up to and
//! including `"6304"`. The decoder is strict on structure and CRC and lenient on the scheme quirks
//! real codes have (see [`decode`]). It never panics, whatever the input.
//!
//! ```
//! use purse_core::emv;
//! let payload = emv::decode(
//!     "00020101021129370016A000000677010111011300668912345675802TH5303764630429C1",
//! )
//! .unwrap();
//! assert_eq!(payload.country(), "TH");
//! let account = payload.merchant_account("A000000677010111").unwrap();
//! assert_eq!(account.get("01").and_then(|o| o.text()), Some("0066891234567"));
//! ```

mod crc;
mod decode;
mod encode;
mod error;
mod object;
mod payload;

pub use crc::crc16;
pub use decode::{PAYLOAD_CHARS_MAX, PAYLOAD_CHARS_MIN, decode, decode_bytes};
pub use encode::{PayloadBuilder, PoiMethod, append_crc, encode_objects};
pub use error::EmvError;
pub use object::{DataObject, VALUE_CHARS_MAX, Value, is_template_id};
pub use payload::{AMOUNT_CHARS_MAX, Payload};
