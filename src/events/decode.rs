//! Text decoding: UTF-8 (with or without BOM), UTF-16 with BOM, and
//! GB18030/GBK, detected per file and, for mixed files, per line.

use encoding_rs::{Encoding, GB18030, UTF_16BE, UTF_16LE};
use std::borrow::Cow;

/// Decoded text and what was found on the way.
pub struct Decoded<'a> {
    pub text: Cow<'a, str>,
    /// `utf-8`, `utf-8-bom`, `utf-16le`, `utf-16be`, `gb18030`, or
    /// `mixed (utf-8, gb18030)`.
    pub encoding: String,
    /// Lines with bytes that no supported encoding could read; the bytes
    /// became U+FFFD.
    pub damaged_lines: Vec<usize>,
}

/// Encoding choice; `Auto` detects it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum EncodingChoice {
    #[default]
    Auto,
    Utf8,
    Gb18030,
}

impl EncodingChoice {
    pub fn parse(name: &str) -> Option<EncodingChoice> {
        match name.to_ascii_lowercase().as_str() {
            "auto" => Some(EncodingChoice::Auto),
            "utf-8" | "utf8" => Some(EncodingChoice::Utf8),
            "gb18030" | "gbk" | "gb2312" => Some(EncodingChoice::Gb18030),
            _ => None,
        }
    }
}

/// Recognizes UTF-16 text without a byte-order mark: in its first bytes,
/// ASCII characters leave a zero in every other byte.
pub fn sniff_utf16(bytes: &[u8]) -> Option<&'static Encoding> {
    let head = &bytes[..bytes.len().min(512) & !1];
    if head.len() < 4 {
        return None;
    }
    let pairs = head.len() / 2;
    let zero_at = |offset: usize| {
        head.iter()
            .skip(offset)
            .step_by(2)
            .filter(|&&b| b == 0)
            .count()
    };
    let (even, odd) = (zero_at(0), zero_at(1));
    if odd * 10 >= pairs * 9 && even * 10 <= pairs {
        Some(UTF_16LE)
    } else if even * 10 >= pairs * 9 && odd * 10 <= pairs {
        Some(UTF_16BE)
    } else {
        None
    }
}

/// Decodes `bytes`. Valid UTF-8 is borrowed without a copy.
pub fn decode(bytes: &[u8], choice: EncodingChoice) -> Decoded<'_> {
    if let Some((encoding, bom_len)) = Encoding::for_bom(bytes) {
        if encoding == UTF_16LE || encoding == UTF_16BE {
            return decode_utf16(encoding, &bytes[bom_len..]);
        }
        let mut decoded = decode_without_bom(&bytes[bom_len..], choice);
        if decoded.encoding == "utf-8" {
            decoded.encoding = "utf-8-bom".to_string();
        }
        return decoded;
    }
    if let Some(encoding) = sniff_utf16(bytes) {
        return decode_utf16(encoding, bytes);
    }
    decode_without_bom(bytes, choice)
}

/// Decodes UTF-16 text that has no byte-order mark left in `body`.
fn decode_utf16(encoding: &'static Encoding, body: &[u8]) -> Decoded<'static> {
    let (text, had_errors) = encoding.decode_without_bom_handling(body);
    let name = if encoding == UTF_16LE {
        "utf-16le"
    } else {
        "utf-16be"
    };
    let damaged_lines = if had_errors {
        damaged_line_numbers(&text)
    } else {
        Vec::new()
    };
    Decoded {
        text: Cow::Owned(text.into_owned()),
        encoding: name.to_string(),
        damaged_lines,
    }
}

fn decode_without_bom(bytes: &[u8], choice: EncodingChoice) -> Decoded<'_> {
    if choice != EncodingChoice::Gb18030 {
        if let Ok(text) = std::str::from_utf8(bytes) {
            return Decoded {
                text: Cow::Borrowed(text),
                encoding: "utf-8".to_string(),
                damaged_lines: Vec::new(),
            };
        }
    }
    if choice == EncodingChoice::Utf8 {
        let text = String::from_utf8_lossy(bytes);
        let damaged = damaged_line_numbers(&text);
        return Decoded {
            text: Cow::Owned(text.into_owned()),
            encoding: "utf-8".to_string(),
            damaged_lines: damaged,
        };
    }
    decode_line_by_line(bytes, choice == EncodingChoice::Gb18030)
}

/// Decodes each line as UTF-8 when it is valid UTF-8 and as GB18030
/// otherwise, so a file stitched together from two exports still reads.
fn decode_line_by_line(bytes: &[u8], force_gb: bool) -> Decoded<'static> {
    let mut text = String::with_capacity(bytes.len() + bytes.len() / 2);
    let mut utf8_lines = 0usize;
    let mut gb_lines = 0usize;
    let mut damaged_lines = Vec::new();
    for (index, line) in bytes.split_inclusive(|&b| b == b'\n').enumerate() {
        let ascii = line.is_ascii();
        match std::str::from_utf8(line) {
            Ok(valid) if !force_gb || ascii => {
                if !ascii {
                    utf8_lines += 1;
                }
                text.push_str(valid);
            }
            _ => {
                gb_lines += 1;
                let (decoded, had_errors) = GB18030.decode_without_bom_handling(line);
                if had_errors {
                    damaged_lines.push(index + 1);
                }
                text.push_str(&decoded);
            }
        }
    }
    let encoding = if utf8_lines > 0 && gb_lines > 0 {
        "mixed (utf-8, gb18030)"
    } else {
        "gb18030"
    };
    Decoded {
        text: Cow::Owned(text),
        encoding: encoding.to_string(),
        damaged_lines,
    }
}

fn damaged_line_numbers(text: &str) -> Vec<usize> {
    text.lines()
        .enumerate()
        .filter(|(_, line)| line.contains('\u{FFFD}'))
        .map(|(index, _)| index + 1)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn utf8_is_borrowed() {
        let decoded = decode("用户,商品\n1,2\n".as_bytes(), EncodingChoice::Auto);
        assert!(matches!(decoded.text, Cow::Borrowed(_)));
        assert_eq!(decoded.encoding, "utf-8");
    }

    #[test]
    fn bom_is_stripped_and_named() {
        let decoded = decode(b"\xEF\xBB\xBFa,b\n", EncodingChoice::Auto);
        assert_eq!(decoded.text, "a,b\n");
        assert_eq!(decoded.encoding, "utf-8-bom");
    }

    #[test]
    fn gbk_is_detected() {
        let (bytes, _, _) = GB18030.encode("用户,商品\n张三,手机\n");
        let decoded = decode(&bytes, EncodingChoice::Auto);
        assert_eq!(decoded.text, "用户,商品\n张三,手机\n");
        assert_eq!(decoded.encoding, "gb18030");
        assert!(decoded.damaged_lines.is_empty());
    }

    #[test]
    fn mixed_lines_decode_each_way() {
        let mut bytes = "用户,商品\n".as_bytes().to_vec();
        let (gb, _, _) = GB18030.encode("张三,手机\n");
        bytes.extend_from_slice(&gb);
        let decoded = decode(&bytes, EncodingChoice::Auto);
        assert_eq!(decoded.text, "用户,商品\n张三,手机\n");
        assert_eq!(decoded.encoding, "mixed (utf-8, gb18030)");
    }

    #[test]
    fn utf16_without_bom_is_sniffed() {
        let mut little = Vec::new();
        let mut big = Vec::new();
        for unit in "user,item\nu1,A\n".encode_utf16() {
            little.extend_from_slice(&unit.to_le_bytes());
            big.extend_from_slice(&unit.to_be_bytes());
        }
        let decoded = decode(&little, EncodingChoice::Auto);
        assert_eq!(decoded.text, "user,item\nu1,A\n");
        assert_eq!(decoded.encoding, "utf-16le");
        assert_eq!(decode(&big, EncodingChoice::Auto).encoding, "utf-16be");
        assert!(sniff_utf16(b"plain,ascii\n").is_none());
    }

    #[test]
    fn utf16_with_bom_decodes() {
        let mut bytes = vec![0xFF, 0xFE];
        for unit in "a,b\n".encode_utf16() {
            bytes.extend_from_slice(&unit.to_le_bytes());
        }
        let decoded = decode(&bytes, EncodingChoice::Auto);
        assert_eq!(decoded.text, "a,b\n");
        assert_eq!(decoded.encoding, "utf-16le");
    }
}
