//! A ticket's QR code drawn as SVG: the one drawing behind the CLI's
//! `tickets show --svg` and the gateway's `/api/tickets/{id}/qr.svg`, so a
//! code printed from the terminal and one shown in the web app scan alike.

use qrcode::QrCode;
use qrcode::render::svg;

pub use qrcode::types::QrError;

/// The drawing's smallest side in pixels; it has a `viewBox`, so it
/// scales to any size without blurring.
pub const QR_MIN_SIDE_PX: u32 = 256;

/// `code` as a QR code in SVG: black modules on white, with the 4-module
/// quiet zone scanners need. Only [`QrError::DataTooLong`] can fail it
/// (a ticket code is far shorter than a QR code's 2,953 bytes).
pub fn qr_svg(code: &str) -> Result<String, QrError> {
    let qr = QrCode::new(code.as_bytes())?;
    Ok(qr
        .render::<svg::Color<'_>>()
        .min_dimensions(QR_MIN_SIDE_PX, QR_MIN_SIDE_PX)
        .quiet_zone(true)
        .build())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_svg_is_a_scalable_black_on_white_image() {
        let svg = qr_svg("BT1.example").unwrap();
        assert!(svg.starts_with("<?xml"), "{svg}");
        assert!(svg.contains("<svg xmlns=\"http://www.w3.org/2000/svg\""));
        assert!(svg.contains("viewBox=\"0 0 "));
        assert!(svg.contains("fill=\"#fff\"") && svg.contains("fill=\"#000\""));
        assert!(svg.ends_with("</svg>"));
    }

    #[test]
    fn a_code_too_long_for_any_qr_code_is_an_error() {
        assert_eq!(qr_svg(&"x".repeat(4000)), Err(QrError::DataTooLong));
    }
}
