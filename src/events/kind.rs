//! Canonical event types and the labels that shops use for them.

use serde::{Deserialize, Serialize};

/// Canonical event type. Every source label maps to one of these; a label
/// with no canonical meaning becomes [`EventKind::Other`] and the event keeps
/// the original label.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    View,
    Cart,
    RemoveFromCart,
    Favorite,
    Checkout,
    Purchase,
    Refund,
    Other,
}

impl EventKind {
    /// All kinds in funnel order, `Other` last.
    pub const ALL: [EventKind; 8] = [
        EventKind::View,
        EventKind::Cart,
        EventKind::RemoveFromCart,
        EventKind::Favorite,
        EventKind::Checkout,
        EventKind::Purchase,
        EventKind::Refund,
        EventKind::Other,
    ];

    /// Returns the snake_case name used in reports and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::View => "view",
            EventKind::Cart => "cart",
            EventKind::RemoveFromCart => "remove_from_cart",
            EventKind::Favorite => "favorite",
            EventKind::Checkout => "checkout",
            EventKind::Purchase => "purchase",
            EventKind::Refund => "refund",
            EventKind::Other => "other",
        }
    }

    /// Index into [`EventKind::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// Parses a canonical name as written by [`EventKind::as_str`].
    pub fn from_name(name: &str) -> Option<EventKind> {
        EventKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == name)
    }
}

/// Coding of a format's event column.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventCodes {
    /// Words such as `pv`, `view`, `addtocart`, `buy`, `收藏`.
    Words,
    /// Alibaba Tianchi mobile codes: 1 click, 2 collect, 3 cart, 4 purchase.
    Tianchi,
    /// Google Analytics enhanced-ecommerce `action_type` codes 0 to 8.
    GoogleAnalytics,
}

impl EventCodes {
    /// Maps a source label to its canonical kind, or `None` when the label
    /// has no canonical meaning in this coding.
    pub fn classify(self, label: &str) -> Option<EventKind> {
        match self {
            EventCodes::Words => classify_word(label),
            EventCodes::Tianchi => match label.trim() {
                "1" => Some(EventKind::View),
                "2" => Some(EventKind::Favorite),
                "3" => Some(EventKind::Cart),
                "4" => Some(EventKind::Purchase),
                _ => None,
            },
            EventCodes::GoogleAnalytics => match label.trim() {
                // 1 is a click on a product in a list and 2 a product detail
                // view; both are views of an item.
                "1" | "2" => Some(EventKind::View),
                "3" => Some(EventKind::Cart),
                "4" => Some(EventKind::RemoveFromCart),
                "5" | "8" => Some(EventKind::Checkout),
                "6" => Some(EventKind::Purchase),
                "7" => Some(EventKind::Refund),
                _ => classify_word(label),
            },
        }
    }
}

/// Maps an event word in English or Chinese to its canonical kind. Case,
/// spaces, hyphens and underscores are ignored.
pub fn classify_word(label: &str) -> Option<EventKind> {
    let trimmed = label.trim();
    let mut key = String::with_capacity(trimmed.len());
    for ch in trimmed.chars() {
        if !matches!(ch, ' ' | '-' | '_') {
            key.extend(ch.to_lowercase());
        }
    }
    let kind = match key.as_str() {
        "pv" | "view" | "views" | "viewed" | "click" | "clicked" | "detail" | "pageview"
        | "productview" | "viewitem" | "viewproduct" | "browse" | "impression" | "浏览"
        | "点击" | "查看" | "浏览商品" => EventKind::View,
        "cart" | "addtocart" | "addcart" | "addedtocart" | "basket" | "addtobasket" | "加购"
        | "加入购物车" | "加购物车" => EventKind::Cart,
        "removefromcart" | "removecart" | "remove" | "removedfromcart" | "移出购物车"
        | "删除购物车" => EventKind::RemoveFromCart,
        "fav" | "favorite" | "favourite" | "collect" | "like" | "wishlist" | "addtowishlist"
        | "收藏" | "关注" => EventKind::Favorite,
        "checkout" | "begincheckout" | "结算" | "下单" => EventKind::Checkout,
        "buy" | "purchase" | "purchased" | "transaction" | "order" | "paid" | "pay" | "购买"
        | "支付" | "成交" | "付款" => EventKind::Purchase,
        "refund" | "refunded" | "return" | "returned" | "退款" | "退货" => EventKind::Refund,
        _ => return None,
    };
    Some(kind)
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn words_cover_known_exports() {
        let cases = [
            ("pv", EventKind::View),
            ("view", EventKind::View),
            ("addtocart", EventKind::Cart),
            ("Add to Cart", EventKind::Cart),
            ("remove_from_cart", EventKind::RemoveFromCart),
            ("fav", EventKind::Favorite),
            ("buy", EventKind::Purchase),
            ("transaction", EventKind::Purchase),
            ("收藏", EventKind::Favorite),
            ("加入购物车", EventKind::Cart),
            ("退款", EventKind::Refund),
        ];
        for (label, expected) in cases {
            assert_eq!(classify_word(label), Some(expected), "label {label:?}");
        }
        assert_eq!(classify_word("share"), None);
    }

    #[test]
    fn tianchi_and_ga_codes_differ() {
        assert_eq!(EventCodes::Tianchi.classify("2"), Some(EventKind::Favorite));
        assert_eq!(
            EventCodes::GoogleAnalytics.classify("2"),
            Some(EventKind::View)
        );
        assert_eq!(
            EventCodes::GoogleAnalytics.classify("6"),
            Some(EventKind::Purchase)
        );
        assert_eq!(EventCodes::Tianchi.classify("5"), None);
    }

    #[test]
    fn names_round_trip() {
        for kind in EventKind::ALL {
            assert_eq!(EventKind::from_name(kind.as_str()), Some(kind));
        }
    }
}
