//! Behavior sentences: a timeline rendered as text, for display and as
//! language-model input, in Chinese or English. The output reads back with
//! the sentence reader of the ingestion layer.

use super::Timelines;
use crate::events::{display_name, EventKind, EventLog, NONE};

/// Output language.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    #[default]
    Zh,
    En,
}

impl Lang {
    pub fn parse(name: &str) -> Option<Lang> {
        match name.trim().to_ascii_lowercase().as_str() {
            "zh" | "zh-cn" | "cn" | "chinese" => Some(Lang::Zh),
            "en" | "english" => Some(Lang::En),
            _ => None,
        }
    }
}

/// Rendering options for behavior sentences.
#[derive(Clone, Debug)]
pub struct SentenceOptions {
    pub lang: Lang,
    /// Write `[+2h]` before a step that follows a gap of a minute or more.
    pub gap_markers: bool,
    /// Write `(category X, brand Y)` after a step's item.
    pub attributes: bool,
    /// Keep only the most recent events of a longer timeline.
    pub max_events: usize,
}

impl Default for SentenceOptions {
    fn default() -> Self {
        SentenceOptions {
            lang: Lang::Zh,
            gap_markers: false,
            attributes: false,
            max_events: 64,
        }
    }
}

/// Renders one user's whole timeline.
pub fn render_user(
    log: &EventLog,
    timelines: &Timelines,
    user: usize,
    options: &SentenceOptions,
) -> String {
    render(
        log,
        log.users.name(user as u32),
        timelines.of_user(user),
        options,
    )
}

/// Renders each session of one user as its own sentence.
pub fn render_user_sessions(
    log: &EventLog,
    timelines: &Timelines,
    user: usize,
    options: &SentenceOptions,
) -> Vec<String> {
    let start = timelines.starts[user];
    let events = timelines.of_user(user);
    let mut sessions: Vec<(u32, Vec<u32>)> = Vec::new();
    for (offset, &event) in events.iter().enumerate() {
        let session = timelines.session_of[start + offset];
        match sessions.iter_mut().find(|(id, _)| *id == session) {
            Some((_, list)) => list.push(event),
            None => sessions.push((session, vec![event])),
        }
    }
    let name = log.users.name(user as u32);
    sessions
        .iter()
        .map(|(_, list)| render(log, name, list, options))
        .collect()
}

/// Renders events (indices into `log.events`, in time order) as
/// `用户NAME: step -> step`.
pub fn render(log: &EventLog, user: &str, events: &[u32], options: &SentenceOptions) -> String {
    let omitted = events.len().saturating_sub(options.max_events);
    let recent = &events[omitted..];
    let mut text = String::with_capacity(16 + recent.len() * 24);
    match options.lang {
        Lang::Zh => text.push_str("用户"),
        Lang::En => text.push_str("user"),
    }
    text.push_str(&clean(user).replace([':', '：'], " "));
    text.push_str(": ");
    if omitted > 0 {
        match options.lang {
            Lang::Zh => text.push_str(&format!("…(省略较早的{omitted}个事件) -> ")),
            Lang::En => text.push_str(&format!("…({omitted} earlier events omitted) -> ")),
        }
    }
    let mut last_item = NONE;
    let mut last_time: Option<i64> = None;
    for (position, &index) in recent.iter().enumerate() {
        let event = &log.events[index as usize];
        if position > 0 {
            text.push_str(" -> ");
        }
        if options.gap_markers {
            if let Some(last) = last_time {
                if let Some(marker) = gap_marker(event.time - last, options.lang) {
                    text.push_str(&marker);
                    text.push(' ');
                }
            }
        }
        last_time = Some(event.time);
        let elide_item = event.kind == EventKind::Cart && event.item == last_item;
        push_step(&mut text, log, event.kind, event.label, options.lang);
        if event.item != NONE && !elide_item && event.kind != EventKind::Checkout {
            match options.lang {
                Lang::Zh => text.push_str("商品"),
                Lang::En => text.push_str(" item "),
            }
            text.push_str(&clean(log.items.name(event.item)));
        }
        if event.item != NONE {
            last_item = event.item;
        }
        if options.attributes {
            push_attributes(&mut text, log, event.category, event.brand, options.lang);
        }
    }
    text
}

/// Renders one event as a step of a sentence, such as `浏览商品A` or
/// `view item A`.
pub fn render_step(log: &EventLog, index: u32, lang: Lang) -> String {
    let event = &log.events[index as usize];
    let mut text = String::new();
    push_step(&mut text, log, event.kind, event.label, lang);
    if event.item != NONE && event.kind != EventKind::Checkout {
        match lang {
            Lang::Zh => text.push_str("商品"),
            Lang::En => text.push_str(" item "),
        }
        text.push_str(&clean(log.items.name(event.item)));
    }
    text
}

/// Renders a possible next step of a timeline whose last item is
/// `previous_item`, with the rules [`render`] follows: an "add to cart" of
/// the previous item leaves the item out, and checkout names none.
pub fn render_action(log: &EventLog, kind: EventKind, item: u32, previous_item: u32, lang: Lang) -> String {
    let mut text = String::new();
    push_step(&mut text, log, kind, 0, lang);
    let elide_item = kind == EventKind::Cart && item == previous_item;
    if item != NONE && !elide_item && kind != EventKind::Checkout {
        match lang {
            Lang::Zh => text.push_str("商品"),
            Lang::En => text.push_str(" item "),
        }
        text.push_str(&clean(log.items.name(item)));
    }
    text
}

fn push_step(text: &mut String, log: &EventLog, kind: EventKind, label: u32, lang: Lang) {
    let verb = match (lang, kind) {
        (Lang::Zh, EventKind::View) => "浏览",
        (Lang::Zh, EventKind::Cart) => "加入购物车",
        (Lang::Zh, EventKind::RemoveFromCart) => "移出购物车",
        (Lang::Zh, EventKind::Favorite) => "收藏",
        (Lang::Zh, EventKind::Checkout) => "结算",
        (Lang::Zh, EventKind::Purchase) => "购买",
        (Lang::Zh, EventKind::Refund) => "退款",
        (Lang::En, EventKind::View) => "view",
        (Lang::En, EventKind::Cart) => "add to cart",
        (Lang::En, EventKind::RemoveFromCart) => "remove from cart",
        (Lang::En, EventKind::Favorite) => "favorite",
        (Lang::En, EventKind::Checkout) => "checkout",
        (Lang::En, EventKind::Purchase) => "purchase",
        (Lang::En, EventKind::Refund) => "refund",
        (_, EventKind::Other) => {
            text.push_str(&clean(log.labels.name(label)));
            return;
        }
    };
    text.push_str(verb);
}

fn push_attributes(text: &mut String, log: &EventLog, category: u32, brand: u32, lang: Lang) {
    let mut parts = Vec::new();
    let (category_word, brand_word, open, close, separator) = match lang {
        Lang::Zh => ("类目 ", "品牌 ", "（", "）", "，"),
        Lang::En => ("category ", "brand ", " (", ")", ", "),
    };
    if category != NONE {
        parts.push(format!(
            "{category_word}{}",
            clean(log.categories.name(category))
        ));
    }
    if brand != NONE {
        parts.push(format!("{brand_word}{}", clean(log.brands.name(brand))));
    }
    if !parts.is_empty() {
        text.push_str(open);
        text.push_str(&parts.join(separator));
        text.push_str(close);
    }
}

/// Keeps ids from breaking the sentence grammar: arrows, brackets, commas
/// and line breaks become spaces, and long ids are cut for display.
fn clean(name: &str) -> String {
    display_name(name)
        .replace("->", " ")
        .replace(['→', '\n', '\r', '(', ')', '（', '）', ','], " ")
}

/// Formats a gap marker, `[+2h]` or `[+2小时]`, for gaps of a minute or more, in the largest whole
/// unit.
pub fn gap_marker(gap_ms: i64, lang: Lang) -> Option<String> {
    const UNITS: [(i64, &str, &str); 4] = [
        (604_800_000, "w", "周"),
        (86_400_000, "d", "天"),
        (3_600_000, "h", "小时"),
        (60_000, "m", "分钟"),
    ];
    let (size, en, zh) = UNITS.into_iter().find(|(size, _, _)| gap_ms >= *size)?;
    let unit = match lang {
        Lang::Zh => zh,
        Lang::En => en,
    };
    Some(format!("[+{}{unit}]", gap_ms / size))
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn gap_markers_pick_largest_unit() {
        assert_eq!(gap_marker(30_000, Lang::En), None);
        assert_eq!(gap_marker(90_000, Lang::En).as_deref(), Some("[+1m]"));
        assert_eq!(gap_marker(7_200_000, Lang::Zh).as_deref(), Some("[+2小时]"));
        assert_eq!(
            gap_marker(3 * 86_400_000, Lang::En).as_deref(),
            Some("[+3d]")
        );
    }
}
