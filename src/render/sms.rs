//! How big an SMS is: GSM-7 when every character is in the GSM 03.38 alphabet (characters of
//! its extension table count twice), UCS-2 otherwise; 160 GSM-7 or 70 UCS-2 units fit one
//! message, and a longer text travels in segments of 153 or 67.

/// The GSM 03.38 basic alphabet.
const GSM7_BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?\
     ¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
/// The extension table, reached by an escape: two units each.
const GSM7_EXTENSION: &str = "^{}\\[~]|€\u{c}";

#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::AsRefStr)]
pub enum Encoding {
    #[strum(serialize = "GSM-7")]
    Gsm7,
    #[strum(serialize = "UCS-2")]
    Ucs2,
}

/// A text's encoding, length in that encoding's units, and the segments it is sent in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SmsSize {
    pub encoding: Encoding,
    pub units: usize,
    pub segments: usize,
}

pub fn size(text: &str) -> SmsSize {
    let gsm7: Option<usize> = text
        .chars()
        .map(|c| {
            if GSM7_BASIC.contains(c) {
                Some(1)
            } else if GSM7_EXTENSION.contains(c) {
                Some(2)
            } else {
                None
            }
        })
        .sum();
    let (encoding, units, single, part) = match gsm7 {
        Some(units) => (Encoding::Gsm7, units, 160, 153),
        None => (Encoding::Ucs2, text.encode_utf16().count(), 70, 67),
    };
    let segments = match units {
        0 => 0,
        n if n <= single => 1,
        n => n.div_ceil(part),
    };
    SmsSize {
        encoding,
        units,
        segments,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gsm7_and_ucs2_sizes_and_segments() {
        assert_eq!(
            size(""),
            SmsSize {
                encoding: Encoding::Gsm7,
                units: 0,
                segments: 0
            }
        );
        assert_eq!(size(&"a".repeat(160)).segments, 1);
        assert_eq!(size(&"a".repeat(161)).segments, 2);
        assert_eq!(size(&"a".repeat(306)).segments, 2);
        assert_eq!(size(&"a".repeat(307)).segments, 3);
        // The euro sign is in the extension table: two units.
        assert_eq!(
            size("5€"),
            SmsSize {
                encoding: Encoding::Gsm7,
                units: 3,
                segments: 1
            }
        );
        // One emoji makes it UCS-2, two UTF-16 units for this one.
        let text = format!("{}😀", "a".repeat(68));
        assert_eq!(
            size(&text),
            SmsSize {
                encoding: Encoding::Ucs2,
                units: 70,
                segments: 1
            }
        );
        assert_eq!(size(&format!("{text}b")).segments, 2);
        assert_eq!(size(&"ä".repeat(134)).encoding, Encoding::Gsm7);
        assert_eq!(
            size("ç").encoding,
            Encoding::Ucs2,
            "only the capital Ç is GSM-7"
        );
    }
}
