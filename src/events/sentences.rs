//! Behavior sentences, one user per line, in Chinese or English:
//! `用户1: 浏览商品A -> 加入购物车 -> 购买商品A` or
//! `user1: view item A -> add to cart -> purchase item A`.
//!
//! A step without an item (such as "add to cart") refers to the last item
//! seen on that line. A step may start with a gap marker such as `[+2h]` or
//! `[+2小时]`, and may end with attributes in brackets:
//! `(category phones, brand apple)` or `（类目 手机，品牌 apple）`.

use super::builder::{Builder, Draft};
use super::detect::Format;
use super::diagnostics::RejectKind;
use super::kind::EventKind;
use super::{EventLog, IngestError, TimeBasis};

/// Spacing of steps without a gap marker, so that order survives sorting.
const STEP_MS: i64 = 1000;

/// Verb phrases, longest first so that "加入购物车" wins over "加购".
const VERBS: &[(&str, EventKind)] = &[
    ("加入购物车", EventKind::Cart),
    ("移出购物车", EventKind::RemoveFromCart),
    ("remove from cart", EventKind::RemoveFromCart),
    ("removed from cart", EventKind::RemoveFromCart),
    ("added to cart", EventKind::Cart),
    ("add to cart", EventKind::Cart),
    ("check out", EventKind::Checkout),
    ("checkout", EventKind::Checkout),
    ("favourite", EventKind::Favorite),
    ("favorite", EventKind::Favorite),
    ("purchased", EventKind::Purchase),
    ("purchase", EventKind::Purchase),
    ("viewed", EventKind::View),
    ("bought", EventKind::Purchase),
    ("refund", EventKind::Refund),
    ("return", EventKind::Refund),
    ("click", EventKind::View),
    ("view", EventKind::View),
    ("like", EventKind::Favorite),
    ("buy", EventKind::Purchase),
    ("浏览", EventKind::View),
    ("查看", EventKind::View),
    ("点击", EventKind::View),
    ("加购", EventKind::Cart),
    ("收藏", EventKind::Favorite),
    ("结算", EventKind::Checkout),
    ("下单", EventKind::Checkout),
    ("购买", EventKind::Purchase),
    ("支付", EventKind::Purchase),
    ("退款", EventKind::Refund),
    ("退货", EventKind::Refund),
];

/// A parsed step.
#[derive(Debug, PartialEq)]
pub(crate) struct Step {
    pub kind: EventKind,
    pub item: Option<String>,
    pub category: Option<String>,
    pub brand: Option<String>,
    /// Gap before this step in milliseconds, from a gap marker.
    pub gap_ms: Option<i64>,
}

pub(super) fn read(
    file: &str,
    text: &str,
    progress: &mut dyn FnMut(f64),
) -> Result<EventLog, IngestError> {
    let mut builder = Builder::new(file, Format::Sentences, "sentences".into(), true);
    builder.log.time_basis = TimeBasis::SequenceOnly;
    builder.log.detection_reason = "lines read USER: step -> step -> ...".into();
    builder.log.columns = vec!["sentence".into()];
    let mut offset = 0usize;
    for (index, raw) in text.lines().enumerate() {
        offset += raw.len() + 1;
        if index % 65_536 == 65_535 {
            progress(offset as f64 / text.len().max(1) as f64);
        }
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        builder.diagnostics().rows += 1;
        read_line(&mut builder, index + 1, line);
    }
    progress(1.0);
    builder.log.diagnostics.warn(
        "behavior sentences carry no dates: only the order of steps (and any gap markers) is \
         known, so time-based analyses are limited",
    );
    Ok(builder.finish())
}

fn read_line(builder: &mut Builder, line_number: usize, line: &str) {
    let Some((user_part, rest)) = split_user(line) else {
        builder.diagnostics().reject(
            RejectKind::MissingUser,
            line_number,
            1,
            "",
            line,
            "USER: step -> step, such as 用户1: 浏览商品A -> 购买商品A",
        );
        return;
    };
    let user = strip_user_prefix(user_part);
    if user.is_empty() {
        builder.diagnostics().reject(
            RejectKind::MissingUser,
            line_number,
            1,
            "",
            user_part,
            "a user id before the colon",
        );
        return;
    }
    let prefix_chars = line.chars().count() - rest.chars().count();
    let mut steps = Vec::new();
    let mut column = prefix_chars + 1;
    for raw_step in rest.split("->").flat_map(|part| part.split('→')) {
        if raw_step.trim_start().starts_with('…') {
            // The marker that a rendered sentence left out earlier events.
            column += raw_step.chars().count() + 2;
            continue;
        }
        match parse_step(raw_step) {
            Some(step) => steps.push(step),
            None => {
                let leading = raw_step.chars().take_while(|ch| ch.is_whitespace()).count();
                builder.diagnostics().reject(
                    RejectKind::InvalidStep,
                    line_number,
                    column + leading,
                    "",
                    raw_step.trim(),
                    "a step such as 浏览商品A, 加入购物车, view item A, add to cart, purchase item A",
                );
                return;
            }
        }
        column += raw_step.chars().count() + 2;
    }
    let mut time = 0i64;
    let mut last_item: Option<String> = None;
    for (position, step) in steps.into_iter().enumerate() {
        if position > 0 {
            // Gap markers are bounded by parse_gap, so the sum stays far
            // from overflow even over many steps.
            time = time.saturating_add(step.gap_ms.unwrap_or(STEP_MS));
        }
        let item = match (&step.item, step.kind) {
            (Some(item), _) => Some(item.clone()),
            (None, EventKind::Checkout) => None,
            (None, _) => last_item.clone(),
        };
        if step.item.is_some() {
            last_item = step.item.clone();
        }
        let item_text = item.unwrap_or_default();
        builder.push(
            line_number,
            Draft {
                user,
                item: &item_text,
                category: step.category.as_deref().unwrap_or(""),
                brand: step.brand.as_deref().unwrap_or(""),
                label: step.kind.as_str(),
                kind: Some(step.kind),
                time,
                price: f32::NAN,
                quantity: f32::NAN,
                ..Draft::default()
            },
        );
    }
}

fn split_user(line: &str) -> Option<(&str, &str)> {
    let position = line.find([':', '：'])?;
    let separator_len = line[position..].chars().next()?.len_utf8();
    Some((line[..position].trim(), &line[position + separator_len..]))
}

/// `用户1` and `user 1` both name user `1`.
fn strip_user_prefix(text: &str) -> &str {
    for prefix in [
        "用户", "user", "User", "USER", "customer", "Customer", "客户",
    ] {
        if let Some(rest) = text.strip_prefix(prefix) {
            let rest = rest.trim();
            if !rest.is_empty() {
                return rest;
            }
        }
    }
    text.trim()
}

/// Parses one step, or `None` when no verb is recognised.
pub(crate) fn parse_step(raw: &str) -> Option<Step> {
    let mut text = raw.trim();
    let mut gap_ms = None;
    if let Some(inner) = text.strip_prefix('[') {
        let end = inner.find(']')?;
        gap_ms = Some(parse_gap(&inner[..end])?);
        text = inner[end + 1..].trim();
    }
    let (text, category, brand) = split_attributes(text);
    let (kind, mut rest) = match_verb(text)?;
    for filler in ["商品", "item ", "product ", "the "] {
        if let Some(stripped) = rest.strip_prefix(filler) {
            rest = stripped.trim();
        }
    }
    let item = (!rest.is_empty()).then(|| rest.to_string());
    Some(Step {
        kind,
        item,
        category,
        brand,
        gap_ms,
    })
}

/// Finds the verb at the start of `text` and returns the text after it.
/// An English verb must end at a word boundary (a plural `s` is allowed),
/// so "viewer" is not "view".
fn match_verb(text: &str) -> Option<(EventKind, &str)> {
    VERBS.iter().find_map(|&(verb, kind)| {
        let head = text.get(..verb.len())?;
        if !head.eq_ignore_ascii_case(verb) {
            return None;
        }
        let mut rest = &text[verb.len()..];
        if verb.is_ascii() {
            if rest.starts_with('s') {
                rest = &rest[1..];
            }
            if rest.starts_with(|ch: char| ch.is_ascii_alphanumeric()) {
                return None;
            }
        }
        Some((kind, rest.trim()))
    })
}

/// Splits trailing `(category X, brand Y)` or `（类目 X，品牌 Y）`.
fn split_attributes(text: &str) -> (&str, Option<String>, Option<String>) {
    let Some(open) = text.rfind(['(', '（']) else {
        return (text, None, None);
    };
    if !(text.ends_with(')') || text.ends_with('）')) {
        return (text, None, None);
    }
    let close_len = text.chars().last().map_or(1, char::len_utf8);
    let open_len = text[open..].chars().next().map_or(1, char::len_utf8);
    let inner = &text[open + open_len..text.len() - close_len];
    let mut category = None;
    let mut brand = None;
    for part in inner.split([',', '，']) {
        let part = part.trim();
        if let Some(value) = part
            .strip_prefix("category")
            .or_else(|| part.strip_prefix("类目"))
        {
            category = Some(value.trim().to_string());
        } else if let Some(value) = part
            .strip_prefix("brand")
            .or_else(|| part.strip_prefix("品牌"))
        {
            brand = Some(value.trim().to_string());
        }
    }
    if category.is_none() && brand.is_none() {
        return (text, None, None);
    }
    (text[..open].trim(), category, brand)
}

/// `+2h`, `+90s`, `+3d`, `+1w`, `+2小时`, `+3天`.
fn parse_gap(text: &str) -> Option<i64> {
    let text = text.trim().strip_prefix('+')?.trim();
    let split = text
        .find(|ch: char| !(ch.is_ascii_digit() || ch == '.'))
        .unwrap_or(text.len());
    let amount: f64 = text[..split].parse().ok()?;
    let unit_ms = match text[split..].trim() {
        "s" | "秒" => 1_000.0,
        "m" | "min" | "分钟" => 60_000.0,
        "h" | "小时" => 3_600_000.0,
        "d" | "天" => 86_400_000.0,
        "w" | "周" => 604_800_000.0,
        _ => return None,
    };
    let gap = amount * unit_ms;
    // A gap beyond 100 years is a typo, not a pause between two clicks.
    (gap.is_finite() && gap <= 100.0 * 365.25 * 86_400_000.0).then_some(gap as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn chinese_steps_parse() {
        let step = parse_step("浏览商品A").expect("view step");
        assert_eq!(step.kind, EventKind::View);
        assert_eq!(step.item.as_deref(), Some("A"));
        let cart = parse_step("加入购物车").expect("cart step");
        assert_eq!(cart.kind, EventKind::Cart);
        assert_eq!(cart.item, None);
    }

    #[test]
    fn english_steps_parse() {
        let step = parse_step("purchase item A").expect("purchase step");
        assert_eq!(step.kind, EventKind::Purchase);
        assert_eq!(step.item.as_deref(), Some("A"));
        let viewed = parse_step("[+2h] view item B (category phones, brand apple)")
            .expect("view with gap and attributes");
        assert_eq!(viewed.gap_ms, Some(7_200_000));
        assert_eq!(viewed.item.as_deref(), Some("B"));
        assert_eq!(viewed.category.as_deref(), Some("phones"));
        assert_eq!(viewed.brand.as_deref(), Some("apple"));
        assert!(parse_step("teleport item A").is_none());
    }
}
