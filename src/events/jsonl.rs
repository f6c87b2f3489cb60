//! JSON Lines: one object per line, keys mapped like table headers.

use super::builder::{Builder, Draft};
use super::detect::Format;
use super::diagnostics::RejectKind;
use super::kind::EventCodes;
use super::mapping::{compact_header, Field, Mapping};
use super::time::parse_timestamp;
use super::{EventLog, IngestError, IngestOptions};
use serde_json::{Map, Value};

/// Numbers below this are Unix seconds, at or above it milliseconds
/// (1e11 seconds is the year 5138; 1e11 milliseconds is 1973).
const MILLISECONDS_FROM: f64 = 1e11;

pub(super) fn read(
    file: &str,
    text: &str,
    options: &IngestOptions,
    progress: &mut dyn FnMut(f64),
) -> Result<EventLog, IngestError> {
    let mut builder = Builder::new(file, Format::Jsonl, "jsonl".into(), options.keep_duplicates);
    let mut keys: Option<KeyMap> = None;
    let mut offset = 0usize;
    for (index, line) in text.lines().enumerate() {
        offset += line.len() + 1;
        if index % 65_536 == 65_535 {
            progress(offset as f64 / text.len().max(1) as f64);
        }
        let trimmed = line.trim();
        if trimmed.is_empty() {
            continue;
        }
        let line_number = index + 1;
        builder.diagnostics().rows += 1;
        builder.note_row(trimmed);
        let object = match serde_json::from_str::<Value>(trimmed) {
            Ok(Value::Object(object)) => object,
            Ok(_) => {
                builder.diagnostics().reject(
                    RejectKind::NotAnObject,
                    line_number,
                    1,
                    "",
                    trimmed,
                    "a JSON object such as {\"user\": 1, \"item\": 2, \"event\": \"view\", \"time\": 1511658000}",
                );
                continue;
            }
            Err(error) => {
                // serde_json names line 1 of the one line it was given; the
                // rejection carries the file's line and the column instead.
                let message = error.to_string();
                let detail = message.split(" at line ").next().unwrap_or(&message);
                builder.diagnostics().reject(
                    RejectKind::InvalidJson,
                    line_number,
                    error.column(),
                    "",
                    trimmed,
                    &format!("one JSON object per line ({detail})"),
                );
                continue;
            }
        };
        let keys = keys.get_or_insert_with(KeyMap::default);
        keys.observe(&object, &options.mapping);
        accept(&mut builder, keys, &object, line_number, options);
    }
    progress(1.0);
    if let Some(keys) = &keys {
        builder.log.columns = keys.names.clone();
        builder.log.mapping = keys.mapping.clone();
        builder.log.mapping_unsure = keys.mapping.get(Field::User).is_none()
            || keys.mapping.get(Field::Time).is_none()
            || keys.mapping.get(Field::Event).is_none();
    }
    builder.log.detection_reason = "lines are JSON objects".into();
    Ok(builder.finish())
}

/// Key-to-field mapping. Keys are mapped like table headers, and the
/// mapping is redone whenever an object brings a key not seen before.
#[derive(Default)]
struct KeyMap {
    names: Vec<String>,
    mapping: Mapping,
}

impl KeyMap {
    fn observe(&mut self, object: &Map<String, Value>, explicit: &[(Field, String)]) {
        let mut added = false;
        for key in object.keys() {
            if !self.names.iter().any(|name| name == key) {
                self.names.push(key.clone());
                added = true;
            }
        }
        if !added {
            return;
        }
        let compact: Vec<String> = self.names.iter().map(|name| compact_header(name)).collect();
        self.mapping = Mapping::from_headers(&compact);
        for (field, key) in explicit {
            if let Some(index) = self.names.iter().position(|name| name == key) {
                self.mapping.set(*field, Some(index));
            }
        }
    }

    fn key(&self, field: Field) -> Option<&str> {
        self.mapping
            .get(field)
            .map(|index| self.names[index].as_str())
    }
}

fn value_text(value: Option<&Value>) -> String {
    match value {
        Some(Value::String(text)) => text.trim().to_string(),
        Some(Value::Number(number)) => number.to_string(),
        Some(Value::Bool(flag)) => flag.to_string(),
        _ => String::new(),
    }
}

fn accept(
    builder: &mut Builder,
    keys: &KeyMap,
    object: &Map<String, Value>,
    line: usize,
    options: &IngestOptions,
) {
    let get = |field: Field| value_text(keys.key(field).and_then(|key| object.get(key)));
    // An id written as a JSON number beyond 64-bit integers, or with a
    // fraction, has already lost digits when parsed. Two ids could then
    // merge, so the row is rejected.
    for field in [
        Field::User,
        Field::Item,
        Field::Category,
        Field::Session,
        Field::Order,
    ] {
        let Some(key) = keys.key(field) else { continue };
        if let Some(Value::Number(number)) = object.get(key) {
            if !(number.is_u64() || number.is_i64()) {
                builder.diagnostics().reject(
                    RejectKind::InvalidNumber,
                    line,
                    1,
                    key,
                    &number.to_string(),
                    "an id as a string, or as a whole number between -2^63 and 2^64",
                );
                return;
            }
        }
    }
    let user = get(Field::User);
    let session = get(Field::Session);
    if user.is_empty() && session.is_empty() {
        let key = keys.key(Field::User).unwrap_or("user");
        builder.diagnostics().reject(
            RejectKind::MissingUser,
            line,
            1,
            key,
            "",
            "a user id (or a session id to stand in for it)",
        );
        return;
    }
    let time_key = keys.key(Field::Time).unwrap_or("time");
    let time = match object.get(time_key) {
        Some(Value::Number(number)) => number
            .as_f64()
            .map(|value| {
                if value.abs() >= MILLISECONDS_FROM {
                    value
                } else {
                    value * 1000.0
                }
            })
            .filter(|ms| ms.is_finite())
            .map(|ms| ms as i64)
            .filter(|&ms| super::time::in_range(ms)),
        Some(Value::String(text)) => parse_timestamp(text, &options.zone),
        _ => {
            builder.diagnostics().reject(
                RejectKind::MissingTime,
                line,
                1,
                time_key,
                "",
                "a time as Unix seconds, milliseconds or an ISO 8601 string",
            );
            return;
        }
    };
    let Some(time) = time else {
        let value = value_text(object.get(time_key));
        builder.diagnostics().reject(
            RejectKind::InvalidTime,
            line,
            1,
            time_key,
            &value,
            "a time as Unix seconds, milliseconds or an ISO 8601 string",
        );
        return;
    };
    let label = get(Field::Event);
    if label.is_empty() {
        builder.diagnostics().reject(
            RejectKind::MissingEvent,
            line,
            1,
            keys.key(Field::Event).unwrap_or("event"),
            "",
            "an event type such as view, cart, purchase",
        );
        return;
    }
    let mut numbers = [f32::NAN; 2];
    for (slot, field) in [Field::Price, Field::Quantity].into_iter().enumerate() {
        let Some(key) = keys.key(field) else { continue };
        match object.get(key) {
            None | Some(Value::Null) => {}
            Some(Value::Number(number)) => {
                numbers[slot] = number.as_f64().unwrap_or(f64::NAN) as f32;
            }
            Some(Value::String(text)) if text.trim().is_empty() => {}
            Some(Value::String(text)) => match text.trim().parse::<f32>() {
                Ok(number) if number.is_finite() => numbers[slot] = number,
                _ => {
                    builder.diagnostics().reject(
                        RejectKind::InvalidNumber,
                        line,
                        1,
                        key,
                        text,
                        "a number such as 12.50",
                    );
                    return;
                }
            },
            Some(other) => {
                builder.diagnostics().reject(
                    RejectKind::InvalidNumber,
                    line,
                    1,
                    key,
                    &other.to_string(),
                    "a number such as 12.50",
                );
                return;
            }
        }
    }
    let (item, category, brand, order) = (
        get(Field::Item),
        get(Field::Category),
        get(Field::Brand),
        get(Field::Order),
    );
    builder.push(
        line,
        Draft {
            user: &user,
            item: &item,
            category: &category,
            brand: &brand,
            session: &session,
            order: &order,
            label: &label,
            kind: None,
            codes: Some(EventCodes::Words),
            time,
            price: numbers[0],
            quantity: numbers[1],
        },
    );
}
