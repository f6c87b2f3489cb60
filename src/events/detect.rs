//! Format detection: which export a file is, its delimiter, its header and
//! which column feeds which event field.

use super::kind::{classify_word, EventCodes};
use super::mapping::{compact_header, Field, Mapping};
use serde::Serialize;

/// A log format with a dedicated reader.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    /// Taobao/Tmall UserBehavior: no header, `user,item,category,pv|cart|fav|buy,unix`.
    TaobaoUserbehavior,
    /// REES46 multi-category store events.
    Rees46,
    /// Alibaba Tianchi mobile: behavior codes 1 to 4, hour-resolution times.
    TianchiMobile,
    /// RetailRocket `events.csv`.
    Retailrocket,
    /// UCI Online Retail invoice lines.
    OnlineRetail,
    /// Instacart order-product rows without absolute times.
    Instacart,
    /// CDNOW purchase ledger, whitespace separated.
    Cdnow,
    /// Google Analytics session export with enhanced-ecommerce action codes.
    GoogleAnalytics,
    /// Any other delimited table, mapped from its header names.
    Table,
    /// One JSON object per line.
    Jsonl,
    /// Behavior sentences, one user per line.
    Sentences,
}

impl Format {
    pub const ALL: [Format; 11] = [
        Format::TaobaoUserbehavior,
        Format::Rees46,
        Format::TianchiMobile,
        Format::Retailrocket,
        Format::OnlineRetail,
        Format::Instacart,
        Format::Cdnow,
        Format::GoogleAnalytics,
        Format::Table,
        Format::Jsonl,
        Format::Sentences,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Format::TaobaoUserbehavior => "taobao-userbehavior",
            Format::Rees46 => "rees46",
            Format::TianchiMobile => "tianchi-mobile",
            Format::Retailrocket => "retailrocket",
            Format::OnlineRetail => "online-retail",
            Format::Instacart => "instacart",
            Format::Cdnow => "cdnow",
            Format::GoogleAnalytics => "google-analytics",
            Format::Table => "table",
            Format::Jsonl => "jsonl",
            Format::Sentences => "sentences",
        }
    }

    pub fn from_name(name: &str) -> Option<Format> {
        let name = name.trim().to_ascii_lowercase();
        let alias = match name.as_str() {
            "taobao" | "userbehavior" => "taobao-userbehavior",
            "tianchi" => "tianchi-mobile",
            "csv" | "tsv" => "table",
            "json" | "jsonlines" | "ndjson" => "jsonl",
            other => other,
        };
        Format::ALL
            .into_iter()
            .find(|format| format.as_str() == alias)
    }
}

/// Field separator of a table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delimiter {
    Byte(u8),
    /// Runs of spaces or tabs, with leading spaces ignored (CDNOW).
    Whitespace,
}

impl Delimiter {
    pub fn name(self) -> &'static str {
        match self {
            Delimiter::Byte(b',') => "comma",
            Delimiter::Byte(b'\t') => "tab",
            Delimiter::Byte(b';') => "semicolon",
            Delimiter::Byte(b'|') => "pipe",
            Delimiter::Byte(_) => "other",
            Delimiter::Whitespace => "whitespace",
        }
    }
}

/// Rule that gives each row its event type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventRule {
    /// Read the event column with these codes.
    Column(EventCodes),
    /// Every row is a purchase (ledgers and order tables).
    AllPurchases,
    /// Invoice lines: a purchase, or a refund when the invoice number
    /// starts with `C` or the quantity is negative.
    Invoice,
}

/// The outcome of detection.
#[derive(Clone, Debug)]
pub struct Detection {
    pub format: Format,
    pub delimiter: Delimiter,
    pub has_header: bool,
    /// Header names, or `column 1`, `column 2`, ... without a header.
    pub columns: Vec<String>,
    pub mapping: Mapping,
    pub events: EventRule,
    /// True when the mapping was guessed from loose evidence and a person
    /// should confirm it.
    pub unsure: bool,
    /// Reason for picking this format, in one sentence.
    pub reason: String,
}

impl Detection {
    /// Returns the format name shown in reports: the preset's name, or the
    /// delimiter's for a generic table (`csv`, `tsv`, `semicolon`, ...).
    pub fn format_name(&self) -> String {
        if self.format != Format::Table {
            return self.format.as_str().to_string();
        }
        match self.delimiter {
            Delimiter::Byte(b',') => "csv".into(),
            Delimiter::Byte(b'\t') => "tsv".into(),
            other => other.name().into(),
        }
    }
}

/// Guesses whether the text is JSON Lines, behavior sentences or a table.
/// Sentences need every sampled line to read `USER: step ...` with no table
/// delimiter before the colon, and some line to show an arrow or to start
/// with a known behavior step.
pub fn sniff_kind(text: &str) -> Format {
    let sample: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .take(20)
        .collect();
    let Some(first) = sample.first() else {
        return Format::Table;
    };
    if first.starts_with('{') {
        return Format::Jsonl;
    }
    let mut evidence = false;
    for line in &sample {
        let Some(colon) = line.find([':', '：']) else {
            return Format::Table;
        };
        let user = &line[..colon];
        if user.is_empty() || user.chars().count() > 64 || user.contains([',', '\t', ';', '|']) {
            return Format::Table;
        }
        let rest = line[colon..].trim_start_matches([':', '：']).trim();
        let has_arrow = rest.contains("->") || rest.contains('→');
        if has_arrow || super::sentences::parse_step(rest).is_some() {
            evidence = true;
        }
    }
    if evidence {
        Format::Sentences
    } else {
        Format::Table
    }
}

/// Picks the delimiter that splits the sample lines into the same number of
/// fields most consistently.
pub fn sniff_delimiter(text: &str) -> Option<Delimiter> {
    let head = head_of(text, 65_536);
    let mut best: Option<(Delimiter, usize, usize)> = None;
    let mut records = 0;
    for candidate in [b',', b'\t', b';', b'|'] {
        let counts = delimiters_per_record(head, candidate, 50, head.len() == text.len());
        records = records.max(counts.len());
        let (mode, agreeing) = mode_of(&counts);
        if mode == 0 {
            continue;
        }
        // The last line of a cut-off file may disagree; ask for 80%.
        if agreeing * 5 < counts.len() * 4 {
            continue;
        }
        let better = match best {
            None => true,
            Some((_, best_mode, best_agreeing)) => {
                agreeing > best_agreeing || (agreeing == best_agreeing && mode > best_mode)
            }
        };
        if better {
            best = Some((Delimiter::Byte(candidate), mode, agreeing));
        }
    }
    if let Some((delimiter, _, _)) = best {
        return Some(delimiter);
    }
    let counts: Vec<usize> = head
        .lines()
        .filter(|line| !line.trim().is_empty())
        .take(50)
        .map(|line| line.split_whitespace().count())
        .collect();
    let (mode, agreeing) = mode_of(&counts);
    (mode >= 2 && agreeing * 5 >= counts.len() * 4).then_some(Delimiter::Whitespace)
}

/// Returns the first `max` bytes of `text`, cut at a character boundary.
fn head_of(text: &str, max: usize) -> &str {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// Counts delimiters outside quotes in each of the first `limit` non-blank
/// records; a line break inside quotes does not end a record. The last
/// record counts only when `complete` is true (the text was not cut short).
fn delimiters_per_record(text: &str, delimiter: u8, limit: usize, complete: bool) -> Vec<usize> {
    let mut counts = Vec::new();
    let mut quoted = false;
    let mut count = 0;
    let mut blank = true;
    for &byte in text.as_bytes() {
        match byte {
            b'"' => {
                quoted = !quoted;
                blank = false;
            }
            b'\n' if !quoted => {
                if !blank {
                    counts.push(count);
                    if counts.len() == limit {
                        return counts;
                    }
                }
                count = 0;
                blank = true;
            }
            b'\r' => {}
            _ if byte == delimiter && !quoted => {
                count += 1;
                blank = false;
            }
            b' ' | b'\t' => {}
            _ => blank = false,
        }
    }
    if !blank && complete {
        counts.push(count);
    }
    counts
}

fn mode_of(values: &[usize]) -> (usize, usize) {
    let mut sorted = values.to_vec();
    sorted.sort_unstable();
    let mut best = (0, 0);
    let mut start = 0;
    while start < sorted.len() {
        let end = start
            + sorted[start..]
                .iter()
                .take_while(|&&v| v == sorted[start])
                .count();
        if end - start > best.1 {
            best = (sorted[start], end - start);
        }
        start = end;
    }
    best
}

/// Decides whether the first row is a header: some field matches a known
/// header name, or every field is text while the second row has a number
/// where the first has text.
pub fn looks_like_header(first: &[String], second: Option<&[String]>) -> bool {
    let compact: Vec<String> = first.iter().map(|name| compact_header(name)).collect();
    let known = Mapping::from_headers(&compact);
    if Field::ALL.iter().any(|&field| known.get(field).is_some()) {
        return true;
    }
    let is_number = |value: &str| {
        let value = value.trim();
        !value.is_empty() && value.parse::<f64>().is_ok()
    };
    if first.iter().any(|value| is_number(value)) {
        return false;
    }
    match second {
        Some(second) => first
            .iter()
            .zip(second)
            .any(|(head, value)| !is_number(head) && is_number(value)),
        None => true,
    }
}

/// Detects a table's format from its first rows. `rows[0]` is the first
/// record; `rows[1..]` are a sample of the following ones.
pub fn detect_table(rows: &[Vec<String>], delimiter: Delimiter) -> Result<Detection, String> {
    let first = rows.first().ok_or("the file has no rows")?;
    let has_header = looks_like_header(first, rows.get(1).map(Vec::as_slice));
    if !has_header {
        return detect_headerless(rows, delimiter);
    }
    let columns: Vec<String> = first
        .iter()
        .map(|name| name.trim().trim_start_matches('\u{FEFF}').to_string())
        .collect();
    let compact: Vec<String> = columns.iter().map(|name| compact_header(name)).collect();
    let has = |name: &str| compact.iter().any(|column| column == name);
    let index = |name: &str| compact.iter().position(|column| column == name);
    let data = &rows[1..];
    let mut mapping = Mapping::from_headers(&compact);
    let mut detection = Detection {
        format: Format::Table,
        delimiter,
        has_header,
        columns: columns.clone(),
        mapping: Mapping::default(),
        events: EventRule::Column(EventCodes::Words),
        unsure: false,
        reason: String::new(),
    };

    if has("eventtime") && has("eventtype") && has("productid") && has("userid") {
        mapping.set(Field::Item, index("productid"));
        mapping.set(
            Field::Category,
            index("categorycode").or(index("categoryid")),
        );
        if index("categorycode").is_some() {
            mapping.set_fallback(Field::Category, index("categoryid"));
        }
        detection.format = Format::Rees46;
        detection.reason = "header event_time,event_type,product_id,...,user_session".into();
    } else if has("timestamp") && has("visitorid") && has("event") && has("itemid") {
        mapping.set(Field::Order, index("transactionid"));
        detection.format = Format::Retailrocket;
        detection.reason = "header timestamp,visitorid,event,itemid,transactionid".into();
    } else if (has("invoiceno") || has("invoice"))
        && has("stockcode")
        && has("invoicedate")
        && has("customerid")
    {
        mapping = Mapping::default();
        mapping.set(Field::Order, index("invoiceno").or(index("invoice")));
        // The invoice is the visit. It groups lines into sessions and
        // replaces a missing customer id.
        mapping.set(Field::Session, index("invoiceno").or(index("invoice")));
        mapping.set(Field::Item, index("stockcode"));
        mapping.set(Field::Quantity, index("quantity"));
        mapping.set(Field::Time, index("invoicedate"));
        mapping.set(Field::Price, index("unitprice").or(index("price")));
        mapping.set(Field::User, index("customerid"));
        detection.format = Format::OnlineRetail;
        detection.events = EventRule::Invoice;
        detection.reason = "header InvoiceNo,StockCode,...,InvoiceDate,UnitPrice,CustomerID".into();
    } else if has("orderid") && has("userid") && has("ordernumber") && has("productid") {
        mapping = Mapping::default();
        mapping.set(Field::User, index("userid"));
        mapping.set(Field::Item, index("productid"));
        mapping.set(Field::Order, index("orderid"));
        detection.format = Format::Instacart;
        detection.events = EventRule::AllPurchases;
        detection.reason = "header order_id,user_id,order_number,...,product_id".into();
    } else if has("customerid") && has("date") && has("numberofcds") && has("dollarvalue") {
        detection.format = Format::Cdnow;
        detection.events = EventRule::AllPurchases;
        detection.reason = "header customer_id date number_of_cds dollar_value".into();
    } else if (has("fullvisitorid") || has("visitid"))
        && compact.iter().any(|name| name.ends_with("actiontype"))
    {
        let action = compact.iter().position(|name| name.ends_with("actiontype"));
        mapping.set(Field::Event, action);
        mapping.set(Field::User, index("fullvisitorid").or(index("clientid")));
        mapping.set(Field::Session, index("visitid"));
        let time = index("visitstarttime").or(index("date"));
        mapping.set(Field::Time, time);
        let item = [
            "productsku",
            "hitsproductproductsku",
            "v2productname",
            "productname",
        ]
        .iter()
        .find_map(|name| index(name));
        mapping.set(Field::Item, item.or(mapping.get(Field::Item)));
        detection.format = Format::GoogleAnalytics;
        detection.events = EventRule::Column(EventCodes::GoogleAnalytics);
        detection.reason = "header fullVisitorId/visitId with an ecommerce action_type".into();
    } else {
        detection.reason = "columns mapped from their header names".into();
        if mapping.get(Field::Event).is_none() {
            if [Field::Order, Field::Price, Field::Quantity]
                .iter()
                .any(|&field| mapping.get(field).is_some())
            {
                detection.events = EventRule::AllPurchases;
                detection.reason =
                    "no event column, so every row counts as a purchase (a ledger)".into();
            }
            detection.unsure = true;
        }
        if mapping.get(Field::User).is_none() || mapping.get(Field::Time).is_none() {
            detection.unsure = true;
        }
    }

    if let (EventRule::Column(EventCodes::Words), Some(event)) =
        (detection.events, mapping.get(Field::Event))
    {
        detection.events = EventRule::Column(guess_codes(data, event));
        if matches!(detection.events, EventRule::Column(EventCodes::Tianchi))
            && detection.format == Format::Table
            && has("userid")
            && has("itemid")
            && has("behaviortype")
        {
            detection.format = Format::TianchiMobile;
            detection.reason =
                "header user_id,item_id,behavior_type,...,time with codes 1-4".into();
        }
    }
    detection.mapping = mapping;
    Ok(detection)
}

/// Tells word labels from numeric codes by looking at sample values.
fn guess_codes(data: &[Vec<String>], event: usize) -> EventCodes {
    let values: Vec<&str> = data
        .iter()
        .filter_map(|row| row.get(event))
        .map(|value| value.trim())
        .filter(|value| !value.is_empty())
        .collect();
    if values.is_empty() || values.iter().any(|value| classify_word(value).is_some()) {
        return EventCodes::Words;
    }
    if values
        .iter()
        .all(|value| matches!(*value, "1" | "2" | "3" | "4"))
    {
        return EventCodes::Tianchi;
    }
    if values
        .iter()
        .all(|value| value.len() == 1 && value.as_bytes()[0].is_ascii_digit())
    {
        return EventCodes::GoogleAnalytics;
    }
    EventCodes::Words
}

fn detect_headerless(rows: &[Vec<String>], delimiter: Delimiter) -> Result<Detection, String> {
    let width = rows[0].len();
    let columns: Vec<String> = (1..=width).map(|n| format!("column {n}")).collect();
    let taobao = width == 5
        && rows.iter().take(50).all(|row| {
            row.len() < 5
                || (matches!(row[3].trim(), "pv" | "cart" | "fav" | "buy")
                    && row[4].trim().bytes().all(|b| b.is_ascii_digit()))
        });
    if taobao {
        let mut mapping = Mapping::default();
        for (field, column) in [
            (Field::User, 0),
            (Field::Item, 1),
            (Field::Category, 2),
            (Field::Event, 3),
            (Field::Time, 4),
        ] {
            mapping.set(field, Some(column));
        }
        return Ok(Detection {
            format: Format::TaobaoUserbehavior,
            delimiter,
            has_header: false,
            columns: [
                "user_id",
                "item_id",
                "category_id",
                "behavior_type",
                "timestamp",
            ]
            .iter()
            .map(|name| name.to_string())
            .collect(),
            mapping,
            events: EventRule::Column(EventCodes::Words),
            unsure: false,
            reason: "no header, five columns, pv/cart/fav/buy in the fourth and Unix seconds in \
                     the fifth"
                .into(),
        });
    }
    Ok(Detection {
        format: Format::Table,
        delimiter,
        has_header: false,
        columns,
        mapping: Mapping::default(),
        events: EventRule::Column(EventCodes::Words),
        unsure: true,
        reason: "no header row and no known headerless layout".into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    fn rows(lines: &[&str], delimiter: char) -> Vec<Vec<String>> {
        lines
            .iter()
            .map(|line| line.split(delimiter).map(str::to_string).collect())
            .collect()
    }

    #[test]
    fn delimiter_sniffing() {
        assert_eq!(
            sniff_delimiter("a,b,c\n1,2,3\n"),
            Some(Delimiter::Byte(b','))
        );
        assert_eq!(
            sniff_delimiter("a\tb\n1\t2\n"),
            Some(Delimiter::Byte(b'\t'))
        );
        assert_eq!(
            sniff_delimiter("a;b\n\"1;x\";2\n"),
            Some(Delimiter::Byte(b';'))
        );
        assert_eq!(
            sniff_delimiter(" 00001 19970101  1   11.77\r\n 00002 19970112  1   12.00\r\n"),
            Some(Delimiter::Whitespace)
        );
        assert_eq!(sniff_delimiter("justonecolumn\nagain\n"), None);
    }

    #[test]
    fn taobao_is_headerless() {
        let sample = rows(&["1,2,3,pv,1511658000", "4,5,6,buy,1511658001"], ',');
        let detection = detect_table(&sample, Delimiter::Byte(b',')).expect("detects");
        assert_eq!(detection.format, Format::TaobaoUserbehavior);
        assert!(!detection.has_header);
    }

    #[test]
    fn chinese_header_maps_without_preset() {
        let sample = rows(&["用户,商品,行为,时间", "u1,i1,浏览,2024-01-01 10:00"], ',');
        let detection = detect_table(&sample, Delimiter::Byte(b',')).expect("detects");
        assert_eq!(detection.format, Format::Table);
        assert!(!detection.unsure);
        assert_eq!(detection.mapping.get(Field::Time), Some(3));
    }

    #[test]
    fn sentences_and_jsonl_sniffed() {
        assert_eq!(
            sniff_kind("用户1: 浏览商品A -> 加入购物车\n"),
            Format::Sentences
        );
        assert_eq!(sniff_kind("\n{\"user\": 1}\n"), Format::Jsonl);
        assert_eq!(sniff_kind("a,b,c\n"), Format::Table);
    }
}
