//! Tests for `qr`: rendered images are read back by a real QR reader (rqrr); the SVG is rasterized
//! with resvg first. The readers here are shared with the merchant code and pay code tests.

use purse_core::qr::{self, Qr, QrError};

/// What a QR reader found in an image: the text and the QR version it read.
pub struct Scanned {
    pub text: String,
    pub version: usize,
}

fn scan_grey(width: usize, height: usize, pixel: impl Fn(usize, usize) -> u8) -> Scanned {
    let mut prepared = rqrr::PreparedImage::prepare_from_greyscale(width, height, pixel);
    let grids = prepared.detect_grids();
    assert_eq!(grids.len(), 1, "expected exactly one QR code in the image");
    let (meta, text) = grids[0]
        .decode()
        .expect("QR reader could not decode the image");
    Scanned {
        text,
        version: meta.version.0,
    }
}

/// Decodes a PNG image and reads the one QR code in it.
pub fn scan_png(png: &[u8]) -> Scanned {
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG file");
    let image = image::load_from_memory_with_format(png, image::ImageFormat::Png)
        .expect("PNG decodes")
        .to_luma8();
    let (w, h) = (image.width() as usize, image.height() as usize);
    scan_grey(w, h, |x, y| image.get_pixel(x as u32, y as u32).0[0])
}

/// Rasterizes an SVG document with resvg and reads the one QR code in it.
pub fn scan_svg(svg: &str) -> Scanned {
    let tree =
        resvg::usvg::Tree::from_str(svg, &resvg::usvg::Options::default()).expect("SVG parses");
    let size = tree.size().to_int_size();
    let mut pixmap =
        resvg::tiny_skia::Pixmap::new(size.width(), size.height()).expect("non-empty SVG");
    resvg::render(
        &tree,
        resvg::tiny_skia::Transform::default(),
        &mut pixmap.as_mut(),
    );
    let (w, h) = (size.width() as usize, size.height() as usize);
    let rgba = pixmap.data();
    // The SVG paints an opaque white background, so the red channel is the grey level.
    scan_grey(w, h, |x, y| rgba[(y * w + x) * 4])
}

#[test]
fn png_and_svg_decode_back_to_the_text() {
    let text = "00020101021229300012app.purse.m0110mer_abc123520458125303840\
                5802US5913Corner Coffee6008New York6304ABCD";
    let qr = Qr::new(text).unwrap();
    let png = scan_png(&qr.to_png().unwrap());
    assert_eq!(png.text, text);
    assert_eq!(png.version, usize::from(qr.version()));
    let svg = scan_svg(&qr.to_svg());
    assert_eq!(svg.text, text);
    assert_eq!(svg.version, usize::from(qr.version()));
}

#[test]
fn free_functions_render_the_same_code() {
    let text = "HELLO PURSE";
    assert_eq!(scan_png(&qr::render_png(text).unwrap()).text, text);
    assert_eq!(scan_svg(&qr::render_svg(text).unwrap()).text, text);
}

#[test]
fn unicode_text_survives_a_round_trip() {
    let text = "Café Zürich — 東京";
    assert_eq!(scan_png(&qr::render_png(text).unwrap()).text, text);
}

#[test]
fn version_and_width_follow_the_text_length() {
    let small = Qr::new("A").unwrap();
    assert_eq!(small.version(), 1);
    assert_eq!(small.width_modules(), 21);
    // 154 alphanumeric characters is the exact capacity of version 6 at level M; one more needs 7.
    let v6 = Qr::new(&"A".repeat(154)).unwrap();
    assert_eq!(v6.version(), 6);
    assert_eq!(v6.width_modules(), 41);
    assert_eq!(Qr::new(&"A".repeat(155)).unwrap().version(), 7);
    // 122 alphanumeric characters is the capacity of version 5 at level M.
    assert_eq!(Qr::new(&"A".repeat(122)).unwrap().version(), 5);
    assert_eq!(Qr::new(&"A".repeat(123)).unwrap().version(), 6);
}

#[test]
fn png_size_follows_the_module_size() {
    let qr = Qr::new("A").unwrap();
    let png = qr.to_png().unwrap();
    let image = image::load_from_memory(&png).unwrap();
    // 21 modules + 2 * 4 quiet-zone modules, 8 px each.
    let side = (21 + 8) * qr::PNG_MODULE_PX;
    assert_eq!((image.width(), image.height()), (side, side));
}

#[test]
fn too_long_text_is_a_typed_error() {
    let err = Qr::new(&"x".repeat(qr::TEXT_BYTES_MAX + 1)).unwrap_err();
    assert_eq!(err.code(), "qr_too_long");
    // Just under the byte limit but in byte mode with binary-looking data: still fits v40-M.
    assert!(Qr::new(&"x".repeat(qr::TEXT_BYTES_MAX)).is_ok());
    assert!(matches!(
        qr::render_png(&"é".repeat(qr::TEXT_BYTES_MAX)),
        Err(QrError::TooLong { .. })
    ));
}
