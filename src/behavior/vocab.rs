//! The behavior vocabulary: a WordLevel tokenizer built from the log itself.
//!
//! Each event becomes up to three tokens: a time-gap bucket when at least a
//! minute passed since the user's previous event, the event type, and the
//! item. Items seen often enough get a token of their own. Rarer items are
//! written as their category's token, or as `<unk-item>` without a category.
//! An item equal to the previous event's item is written as `<same-item>`.
//! A user's sequence opens with `<user>`, and training sequences close with
//! `</s>`.

use std::collections::HashMap;

use serde_json::json;

use crate::events::{EventKind, EventLog, TimeBasis, NONE};
use crate::model::TextTokenizer;
use crate::timeline::Timelines;

pub const PAD: &str = "<pad>";
pub const USER: &str = "<user>";
pub const END: &str = "</s>";
pub const UNKNOWN: &str = "<unk>";
pub const UNKNOWN_ITEM: &str = "<unk-item>";
/// The same item as the user's previous event with an item. Repeat views
/// are common, and one token for them lets a small model learn repeats
/// without learning to copy every item token.
pub const SAME_ITEM: &str = "<same-item>";

const SPECIALS: [&str; 6] = [PAD, USER, END, UNKNOWN, UNKNOWN_ITEM, SAME_ITEM];
const KIND_PREFIX: &str = "ev:";
const CATEGORY_PREFIX: &str = "cat:";
const ITEM_PREFIX: &str = "item:";

/// Gap buckets: a gap of at least `GAP_BOUNDS_MS[i]` and less than the next
/// bound gets token `GAP_NAMES[i]`. Gaps under a minute get no token.
const GAP_BOUNDS_MS: [i64; 4] = [60_000, 3_600_000, 86_400_000, 7 * 86_400_000];
const GAP_NAMES: [&str; 4] = ["gap:1m", "gap:1h", "gap:1d", "gap:1w"];

/// Marks a log id without a token.
pub const NO_TOKEN: u32 = u32::MAX;

/// Options for building a vocabulary.
#[derive(Clone, Debug)]
pub struct VocabOptions {
    /// Items need at least this many training events for a token of their own.
    pub min_item_count: usize,
    /// At most this many item tokens, most frequent first.
    pub max_items: usize,
    /// At most this many category tokens, most frequent first.
    pub max_categories: usize,
}

impl Default for VocabOptions {
    fn default() -> Self {
        VocabOptions {
            min_item_count: 2,
            max_items: 4000,
            max_categories: 1000,
        }
    }
}

/// Role of a token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TokenRole {
    Special,
    Kind(EventKind),
    Gap(usize),
    Category(String),
    Item(String),
}

/// Token list with the role of every token, and the tokenizer that stores it.
#[derive(Clone, Debug)]
pub struct Vocabulary {
    tokens: Vec<String>,
    roles: Vec<TokenRole>,
    index: HashMap<String, u32>,
    kinds: [u32; EventKind::ALL.len()],
    gaps: [u32; GAP_NAMES.len()],
}

/// Escapes whitespace and `%` so that a log id stays one whitespace-free token.
fn escape(name: &str) -> String {
    let mut escaped = String::with_capacity(name.len());
    for character in name.chars() {
        if character == '%' || character.is_whitespace() {
            let mut buffer = [0u8; 4];
            for byte in character.encode_utf8(&mut buffer).bytes() {
                escaped.push_str(&format!("%{byte:02X}"));
            }
        } else {
            escaped.push(character);
        }
    }
    escaped
}

fn unescape(token: &str) -> String {
    let bytes = token.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] == b'%'
            && index + 2 < bytes.len()
            && bytes[index + 1].is_ascii_hexdigit()
            && bytes[index + 2].is_ascii_hexdigit()
        {
            let hex = |byte: u8| (byte as char).to_digit(16).unwrap_or(0) as u8;
            out.push(hex(bytes[index + 1]) * 16 + hex(bytes[index + 2]));
            index += 3;
            continue;
        }
        out.push(bytes[index]);
        index += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn role_of(token: &str) -> TokenRole {
    if let Some(name) = token.strip_prefix(KIND_PREFIX) {
        if let Some(kind) = EventKind::from_name(name) {
            return TokenRole::Kind(kind);
        }
    }
    if let Some(index) = GAP_NAMES.iter().position(|&gap| gap == token) {
        return TokenRole::Gap(index);
    }
    if let Some(name) = token.strip_prefix(CATEGORY_PREFIX) {
        return TokenRole::Category(unescape(name));
    }
    if let Some(name) = token.strip_prefix(ITEM_PREFIX) {
        return TokenRole::Item(unescape(name));
    }
    TokenRole::Special
}

/// Counts of a log's training events, used to rank item and category tokens.
fn count_training_events(
    log: &EventLog,
    timelines: &Timelines,
    train_len: Option<&[u32]>,
) -> (Vec<u32>, Vec<u32>) {
    let mut item_counts = vec![0u32; log.items.len()];
    let mut category_counts = vec![0u32; log.categories.len()];
    for user in 0..timelines.users() {
        let events = timelines.of_user(user);
        let limit = train_len.map_or(events.len(), |lengths| lengths[user] as usize);
        for &index in &events[..limit] {
            let event = &log.events[index as usize];
            if event.item != NONE {
                item_counts[event.item as usize] += 1;
            }
            if event.category != NONE {
                category_counts[event.category as usize] += 1;
            }
        }
    }
    (item_counts, category_counts)
}

/// Ids with a count of at least `min_count`, most frequent first (ties by
/// id), at most `cap` of them.
fn most_frequent(counts: &[u32], min_count: usize, cap: usize) -> Vec<u32> {
    let mut ids: Vec<u32> = (0..counts.len() as u32)
        .filter(|&id| counts[id as usize] as usize >= min_count.max(1))
        .collect();
    ids.sort_by_key(|&id| (std::cmp::Reverse(counts[id as usize]), id));
    ids.truncate(cap);
    ids
}

impl Vocabulary {
    /// Builds the vocabulary from the training part of a log: for each user,
    /// the first `train_len[user]` events of the timeline (all events when
    /// `train_len` is `None`).
    pub fn build(
        log: &EventLog,
        timelines: &Timelines,
        train_len: Option<&[u32]>,
        options: &VocabOptions,
    ) -> Vocabulary {
        let (item_counts, category_counts) = count_training_events(log, timelines, train_len);
        let mut tokens: Vec<String> = SPECIALS.iter().map(|s| s.to_string()).collect();
        tokens.extend(
            EventKind::ALL
                .iter()
                .map(|kind| format!("{KIND_PREFIX}{}", kind.as_str())),
        );
        tokens.extend(GAP_NAMES.iter().map(|s| s.to_string()));
        for id in most_frequent(&category_counts, 1, options.max_categories) {
            tokens.push(format!(
                "{CATEGORY_PREFIX}{}",
                escape(log.categories.name(id))
            ));
        }
        for id in most_frequent(&item_counts, options.min_item_count, options.max_items) {
            tokens.push(format!("{ITEM_PREFIX}{}", escape(log.items.name(id))));
        }
        Vocabulary::from_tokens(tokens)
    }

    /// Rebuilds a vocabulary from its token list, in id order.
    pub fn from_tokens(tokens: Vec<String>) -> Vocabulary {
        let roles: Vec<TokenRole> = tokens.iter().map(|token| role_of(token)).collect();
        let index: HashMap<String, u32> = tokens
            .iter()
            .enumerate()
            .map(|(id, token)| (token.clone(), id as u32))
            .collect();
        let mut kinds = [NO_TOKEN; EventKind::ALL.len()];
        let mut gaps = [NO_TOKEN; GAP_NAMES.len()];
        for (id, role) in roles.iter().enumerate() {
            match role {
                TokenRole::Kind(kind) => kinds[kind.index()] = id as u32,
                TokenRole::Gap(bucket) => gaps[*bucket] = id as u32,
                _ => {}
            }
        }
        Vocabulary {
            tokens,
            roles,
            index,
            kinds,
            gaps,
        }
    }

    /// Reads the vocabulary back from a stored WordLevel tokenizer.
    pub fn from_tokenizer(tokenizer: &TextTokenizer) -> Result<Vocabulary, String> {
        let vocab = tokenizer.inner().get_vocab(true);
        let mut tokens = vec![String::new(); vocab.len()];
        for (token, id) in vocab {
            let slot = tokens
                .get_mut(id as usize)
                .ok_or_else(|| format!("token id {id} is outside the vocabulary"))?;
            *slot = token;
        }
        if tokens.iter().any(String::is_empty) {
            return Err("the stored vocabulary has gaps in its token ids".to_string());
        }
        for special in SPECIALS {
            if !tokens.iter().any(|token| token == special) {
                return Err(format!(
                    "the stored vocabulary lacks {special}; expected a Behavior Lens behavior model"
                ));
            }
        }
        let vocabulary = Vocabulary::from_tokens(tokens);
        if let Some(kind) = EventKind::ALL.iter().find(|kind| vocabulary.kind(**kind).is_none()) {
            return Err(format!(
                "the stored vocabulary lacks the token {KIND_PREFIX}{}; expected every event type",
                kind.as_str()
            ));
        }
        if let Some(missing) = GAP_NAMES.iter().find(|gap| vocabulary.id(gap).is_none()) {
            return Err(format!("the stored vocabulary lacks the time-gap token {missing}"));
        }
        Ok(vocabulary)
    }

    /// Converts the vocabulary to a `tokenizers` WordLevel tokenizer that
    /// splits on whitespace, so a token sequence written with spaces reads back.
    pub fn to_tokenizer(&self) -> Result<TextTokenizer, String> {
        let vocab: serde_json::Map<String, serde_json::Value> = self
            .tokens
            .iter()
            .enumerate()
            .map(|(id, token)| (token.clone(), json!(id)))
            .collect();
        let added: Vec<serde_json::Value> = SPECIALS
            .iter()
            .map(|special| {
                json!({
                    "id": self.index[*special],
                    "content": special,
                    "single_word": false,
                    "lstrip": false,
                    "rstrip": false,
                    "normalized": false,
                    "special": true,
                })
            })
            .collect();
        let document = json!({
            "version": "1.0",
            "truncation": null,
            "padding": null,
            "added_tokens": added,
            "normalizer": null,
            "pre_tokenizer": {"type": "WhitespaceSplit"},
            "post_processor": null,
            "decoder": null,
            "model": {"type": "WordLevel", "vocab": vocab, "unk_token": UNKNOWN},
        });
        TextTokenizer::from_json_bytes(document.to_string().as_bytes()).map_err(|e| e.to_string())
    }

    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    pub fn token(&self, id: u32) -> &str {
        &self.tokens[id as usize]
    }

    pub fn role(&self, id: u32) -> &TokenRole {
        &self.roles[id as usize]
    }

    pub fn id(&self, token: &str) -> Option<u32> {
        self.index.get(token).copied()
    }

    pub fn special(&self, name: &str) -> u32 {
        self.index[name]
    }

    /// Token of an event type, if the vocabulary has one.
    pub fn kind(&self, kind: EventKind) -> Option<u32> {
        let id = self.kinds[kind.index()];
        (id != NO_TOKEN).then_some(id)
    }

    /// Token of the gap before an event, or `None` under a minute.
    pub fn gap(&self, gap_ms: i64) -> Option<u32> {
        let bucket = GAP_BOUNDS_MS.iter().rposition(|&bound| gap_ms >= bound)?;
        let id = self.gaps[bucket];
        (id != NO_TOKEN).then_some(id)
    }

    pub fn item_tokens(&self) -> usize {
        self.roles
            .iter()
            .filter(|role| matches!(role, TokenRole::Item(_)))
            .count()
    }

    pub fn category_tokens(&self) -> usize {
        self.roles
            .iter()
            .filter(|role| matches!(role, TokenRole::Category(_)))
            .count()
    }

    /// Maps a log's items and categories to tokens.
    pub fn map_log(&self, log: &EventLog) -> LogTokens {
        let category: Vec<u32> = (0..log.categories.len() as u32)
            .map(|id| {
                let token = format!("{CATEGORY_PREFIX}{}", escape(log.categories.name(id)));
                self.id(&token).unwrap_or(NO_TOKEN)
            })
            .collect();
        let mut item_category = vec![NONE; log.items.len()];
        for event in &log.events {
            if event.item != NONE && event.category != NONE {
                let slot = &mut item_category[event.item as usize];
                if *slot == NONE {
                    *slot = event.category;
                }
            }
        }
        let unknown_item = self.special(UNKNOWN_ITEM);
        let mut own = vec![false; log.items.len()];
        let item: Vec<u32> = (0..log.items.len())
            .map(|id| {
                let token = format!("{ITEM_PREFIX}{}", escape(log.items.name(id as u32)));
                if let Some(token) = self.id(&token) {
                    own[id] = true;
                    return token;
                }
                match item_category[id] {
                    NONE => unknown_item,
                    category_id => match category[category_id as usize] {
                        NO_TOKEN => unknown_item,
                        token => token,
                    },
                }
            })
            .collect();
        LogTokens {
            item,
            own,
            category,
            item_category,
            time_gaps: log.time_basis != TimeBasis::SequenceOnly,
        }
    }
}

/// A log's ids mapped to vocabulary tokens.
#[derive(Clone, Debug)]
pub struct LogTokens {
    /// Token written for each log item: its own, its category's, or `<unk-item>`.
    pub item: Vec<u32>,
    /// Whether each log item has a token of its own.
    pub own: Vec<bool>,
    /// Token of each log category, or [`NO_TOKEN`].
    pub category: Vec<u32>,
    /// First category seen with each item, or [`NONE`].
    pub item_category: Vec<u32>,
    /// Whether gap tokens are written (not for logs that only keep order).
    pub time_gaps: bool,
}

impl LogTokens {
    /// Appends the tokens of `events` (indices into `log.events`, in time
    /// order) to `out`, starting with `<user>`. When `positions` is given,
    /// it receives, for each event, the index in `out` of the event's last
    /// token.
    pub fn encode(
        &self,
        vocab: &Vocabulary,
        log: &EventLog,
        events: &[u32],
        out: &mut Vec<u32>,
        mut positions: Option<&mut Vec<usize>>,
    ) {
        out.push(vocab.special(USER));
        let same_item = vocab.special(SAME_ITEM);
        let mut previous: Option<i64> = None;
        let mut previous_item = NONE;
        for &index in events {
            let event = &log.events[index as usize];
            if self.time_gaps {
                if let Some(gap) = previous.and_then(|last| vocab.gap(event.time - last)) {
                    out.push(gap);
                }
            }
            previous = Some(event.time);
            if let Some(kind) = vocab.kind(event.kind) {
                out.push(kind);
            }
            if event.item != NONE && event.item == previous_item {
                out.push(same_item);
            } else if event.item != NONE {
                out.push(self.item[event.item as usize]);
                previous_item = event.item;
            } else if event.category != NONE && self.category[event.category as usize] != NO_TOKEN
            {
                out.push(self.category[event.category as usize]);
            }
            if let Some(positions) = positions.as_deref_mut() {
                positions.push(out.len() - 1);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    use super::*;
    use crate::events::{ingest, IngestOptions};

    const LOG: &str = "user_id,item_id,category_id,behavior_type,timestamp\n\
        1,A,c1,pv,1511544070\n\
        1,A,c1,cart,1511544080\n\
        1,B,c2,pv,1511547700\n\
        2,A,c1,pv,1511544070\n\
        2,C,c2,buy,1511630470\n";

    fn parsed() -> (EventLog, Timelines) {
        let log = ingest("t.csv", LOG.as_bytes(), &IngestOptions::default()).unwrap();
        let timelines = Timelines::build(&log, 30 * 60 * 1000);
        (log, timelines)
    }

    #[test]
    fn rare_items_fall_back_to_their_category() {
        let (log, timelines) = parsed();
        let vocab = Vocabulary::build(&log, &timelines, None, &VocabOptions::default());
        assert_eq!(vocab.item_tokens(), 1, "only A is seen twice");
        assert_eq!(vocab.category_tokens(), 2);
        let tokens = vocab.map_log(&log);
        let user = log.users.get("1").unwrap() as usize;
        let mut ids = Vec::new();
        tokens.encode(&vocab, &log, timelines.of_user(user), &mut ids, None);
        let text: Vec<&str> = ids.iter().map(|&id| vocab.token(id)).collect();
        assert_eq!(
            text,
            ["<user>", "ev:view", "item:A", "ev:cart", "<same-item>", "gap:1h", "ev:view", "cat:c2"]
        );
    }

    #[test]
    fn gaps_fall_in_their_buckets() {
        let (log, timelines) = parsed();
        let vocab = Vocabulary::build(&log, &timelines, None, &VocabOptions::default());
        assert_eq!(vocab.gap(59_999), None);
        assert_eq!(vocab.token(vocab.gap(60_000).unwrap()), "gap:1m");
        assert_eq!(vocab.token(vocab.gap(86_400_000).unwrap()), "gap:1d");
        assert_eq!(vocab.token(vocab.gap(30 * 86_400_000).unwrap()), "gap:1w");
    }

    #[test]
    fn training_cut_limits_the_vocabulary() {
        let (log, timelines) = parsed();
        let lengths: Vec<u32> = vec![1; timelines.users()];
        let vocab = Vocabulary::build(
            &log,
            &timelines,
            Some(&lengths),
            &VocabOptions {
                min_item_count: 1,
                ..VocabOptions::default()
            },
        );
        // Only each user's first event (A, A) is training data.
        assert_eq!(vocab.item_tokens(), 1);
        assert_eq!(vocab.category_tokens(), 1);
    }

    #[test]
    fn tokenizer_round_trip_keeps_ids_with_spaces() {
        let mut tokens: Vec<String> = SPECIALS.iter().map(|s| s.to_string()).collect();
        tokens.extend(EventKind::ALL.iter().map(|kind| format!("{KIND_PREFIX}{}", kind.as_str())));
        tokens.extend(GAP_NAMES.iter().map(|s| s.to_string()));
        tokens.push("item:red%20shoe%25".to_string());
        let vocab = Vocabulary::from_tokens(tokens);
        let shoe = vocab.id("item:red%20shoe%25").unwrap();
        assert_eq!(vocab.role(shoe), &TokenRole::Item("red shoe%".to_string()));

        let tokenizer = vocab.to_tokenizer().unwrap();
        let view = vocab.kind(EventKind::View).unwrap();
        let encoded = tokenizer.encode("<user> ev:view item:red%20shoe%25 nope").unwrap();
        assert_eq!(encoded, [vocab.special(USER), view, shoe, vocab.special(UNKNOWN)]);

        let back = Vocabulary::from_tokenizer(&tokenizer).unwrap();
        assert_eq!(back.tokens, vocab.tokens);
        assert_eq!(escape("red shoe%"), "red%20shoe%25");
    }

    #[test]
    fn vocabulary_without_event_types_is_rejected() {
        let tokens: Vec<String> = SPECIALS.iter().map(|s| s.to_string()).collect();
        let tokenizer = Vocabulary::from_tokens(tokens).to_tokenizer().unwrap();
        let error = Vocabulary::from_tokenizer(&tokenizer).err().unwrap();
        assert!(error.contains("ev:view"), "{error}");
    }

}
