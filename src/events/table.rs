//! Delimited and whitespace-separated tables: every preset format and any
//! table whose columns can be mapped.

use super::builder::{Builder, Draft};
use super::detect::{self, Delimiter, Detection, EventRule, Format};
use super::diagnostics::RejectKind;
use super::kind::EventKind;
use super::mapping::{compact_header, Field};
use super::time::{parse_timestamp, Zone};
use super::{EventLog, IngestError, IngestOptions, TimeBasis};

/// Rows read for detection.
const SAMPLE_ROWS: usize = 200;
/// Rows between progress calls.
const PROGRESS_EVERY: usize = 65_536;

const TIME_EXPECTED: &str = "a Unix time in seconds or milliseconds, an ISO 8601 date-time, \
                             YYYY-MM-DD HH[:MM[:SS]], YYYYMMDD or M/D/YYYY H:MM";

/// Anchor for order tables without dates (2017-01-01, the year Instacart
/// published its data). Each user's orders are placed after it by days
/// since that user's first order.
const RELATIVE_ANCHOR_MS: i64 = 1_483_228_800_000;

pub(super) fn read(
    file: &str,
    text: &str,
    options: &IngestOptions,
    progress: &mut dyn FnMut(f64),
) -> Result<EventLog, IngestError> {
    let delimiter = match options.format {
        Some(Format::Cdnow) => Delimiter::Whitespace,
        _ => detect::sniff_delimiter(text).ok_or_else(|| IngestError::NoDelimiter {
            file: file.to_string(),
        })?,
    };
    let sample = sample_rows(text, delimiter);
    let mut detection =
        detect::detect_table(&sample, delimiter).map_err(|detail| IngestError::Unusable {
            file: file.to_string(),
            detail,
        })?;
    if let Some(forced) = options.format {
        if forced != detection.format && forced != Format::Table {
            return Err(IngestError::Unusable {
                file: file.to_string(),
                detail: format!(
                    "--format {} was requested, but the file looks like {} ({})",
                    forced.as_str(),
                    detection.format_name(),
                    detection.reason
                ),
            });
        }
    }
    apply_explicit_mapping(file, &mut detection, &options.mapping)?;
    let plan = Plan::new(file, &detection, options.zone.clone())?;

    let mut builder = Builder::new(
        file,
        detection.format,
        detection.format_name(),
        options.keep_duplicates,
    );
    builder.log.columns = detection.columns.clone();
    builder.log.mapping = detection.mapping.clone();
    builder.log.mapping_unsure = detection.unsure;
    builder.log.detection_reason = detection.reason.clone();

    builder.reserve(estimate_rows(text));
    let mut reader = RowReader::new(text, delimiter, detection.has_header);
    let mut relative = Vec::new();
    let mut rows = 0usize;
    loop {
        rows += 1;
        if rows % PROGRESS_EVERY == 0 {
            progress(reader.byte_offset() as f64 / text.len().max(1) as f64);
        }
        let Some(row) = reader.next_row() else { break };
        plan.accept(&mut builder, &row, &mut relative);
    }
    if let Some(error) = reader.error.take() {
        builder.diagnostics().warn(error);
    }
    progress(1.0);
    if detection.format == Format::Instacart {
        place_relative_times(&mut builder, &relative);
    }
    Ok(builder.finish())
}

/// A row as text fields, with the line where it starts and whether it
/// ended the file without a line end.
struct Row<'r> {
    line: usize,
    /// The row's text as in the file, without its line end.
    raw: &'r str,
    fields: Fields<'r>,
    last_without_newline: bool,
}

/// The fields of one row, borrowed from the reader.
enum Fields<'r> {
    Record(&'r csv::StringRecord),
    Split(Vec<&'r str>),
    Slices(&'r [&'r str]),
}

impl Fields<'_> {
    fn len(&self) -> usize {
        match self {
            Fields::Record(record) => record.len(),
            Fields::Split(parts) => parts.len(),
            Fields::Slices(parts) => parts.len(),
        }
    }

    fn get(&self, index: usize) -> &str {
        match self {
            Fields::Record(record) => record.get(index).unwrap_or(""),
            Fields::Split(parts) => parts.get(index).copied().unwrap_or(""),
            Fields::Slices(parts) => parts.get(index).copied().unwrap_or(""),
        }
    }

    fn to_strings(&self) -> Vec<String> {
        (0..self.len())
            .map(|index| self.get(index).to_string())
            .collect()
    }

    fn joined(&self) -> String {
        self.to_strings().join(",")
    }
}

/// Reads rows by splitting lines at the delimiter when the text has no
/// quotes, with the `csv` crate otherwise (quotes, embedded newlines), or
/// by splitting on whitespace.
struct RowReader<'a> {
    text: &'a str,
    delimiter: Delimiter,
    csv: Option<csv::Reader<&'a [u8]>>,
    record: csv::StringRecord,
    /// Fields of the last row read by splitting lines.
    parts: Vec<&'a str>,
    /// 1-based number of the next line, when lines are split directly.
    next_line: usize,
    lines: std::iter::Enumerate<std::str::Lines<'a>>,
    offset: usize,
    /// Byte offset and 1-based line number of the last record start, for
    /// counting lines incrementally.
    line_mark: (usize, usize),
    error: Option<String>,
}

impl<'a> RowReader<'a> {
    fn new(text: &'a str, delimiter: Delimiter, skip_header: bool) -> RowReader<'a> {
        let csv = match delimiter {
            Delimiter::Byte(byte) if byte.is_ascii() && splits_as_lines(text) => None,
            Delimiter::Byte(byte) => Some(
                csv::ReaderBuilder::new()
                    .delimiter(byte)
                    .has_headers(false)
                    .flexible(true)
                    .from_reader(text.as_bytes()),
            ),
            Delimiter::Whitespace => None,
        };
        let mut reader = RowReader {
            text,
            delimiter,
            csv,
            record: csv::StringRecord::new(),
            parts: Vec::new(),
            next_line: 1,
            lines: text.lines().enumerate(),
            offset: 0,
            line_mark: (0, 1),
            error: None,
        };
        if skip_header {
            reader.next_row();
        }
        reader
    }

    fn byte_offset(&self) -> usize {
        self.offset
    }

    fn next_row(&mut self) -> Option<Row<'_>> {
        match self.delimiter {
            Delimiter::Byte(_) if self.csv.is_some() => self.next_csv_row(),
            Delimiter::Byte(byte) => self.next_split_row(byte),
            Delimiter::Whitespace => self.next_whitespace_row(),
        }
    }

    /// Reads the next line and splits it at `delimiter`. For text that
    /// [`splits_as_lines`] accepts this gives the same rows as the `csv`
    /// crate, which also skips empty lines, without copying each field.
    fn next_split_row(&mut self, delimiter: u8) -> Option<Row<'_>> {
        let text = self.text;
        let bytes = text.as_bytes();
        while self.offset < bytes.len() {
            let start = self.offset;
            let (end, next) = match memchr::memchr(b'\n', &bytes[start..]) {
                Some(length) => (start + length, start + length + 1),
                None => (bytes.len(), bytes.len()),
            };
            let line = self.next_line;
            self.offset = next;
            self.next_line += 1;
            let raw = text[start..end]
                .strip_suffix('\r')
                .unwrap_or(&text[start..end]);
            if raw.trim().is_empty() && !raw.as_bytes().contains(&delimiter) {
                continue;
            }
            self.parts.clear();
            // The delimiter is ASCII, so every cut falls on a character
            // boundary.
            let mut field_start = 0;
            for position in memchr::memchr_iter(delimiter, raw.as_bytes()) {
                self.parts.push(&raw[field_start..position]);
                field_start = position + 1;
            }
            self.parts.push(&raw[field_start..]);
            return Some(Row {
                line,
                raw,
                fields: Fields::Slices(&self.parts),
                last_without_newline: next >= bytes.len() && !text.ends_with('\n'),
            });
        }
        None
    }

    fn next_csv_row(&mut self) -> Option<Row<'_>> {
        let csv = self.csv.as_mut()?;
        loop {
            match csv.read_record(&mut self.record) {
                Ok(false) => return None,
                Ok(true) => {
                    let start = self.record.position().map_or(0, |p| p.byte() as usize);
                    let (mark_byte, mark_line) = self.line_mark;
                    let mut start = start.max(mark_byte).min(self.text.len());
                    // The csv reader starts a record right after the last
                    // terminator it read: at the LF of a CRLF, or before the
                    // empty lines it skipped. Those bytes belong to earlier
                    // lines, and no record starts with them.
                    while matches!(self.text.as_bytes().get(start), Some(b'\r' | b'\n')) {
                        start += 1;
                    }
                    let line = mark_line + count_line_ends(self.text.as_bytes(), mark_byte, start);
                    self.line_mark = (start, line);
                    self.offset = csv.position().byte() as usize;
                    if self.record.len() == 1 && self.record[0].trim().is_empty() {
                        continue;
                    }
                    let last_without_newline =
                        self.offset >= self.text.len() && !self.text.ends_with('\n');
                    let end = self.offset.clamp(start, self.text.len());
                    let raw = self
                        .text
                        .get(start..end)
                        .unwrap_or("")
                        .trim_end_matches(['\r', '\n']);
                    return Some(Row {
                        line,
                        raw,
                        fields: Fields::Record(&self.record),
                        last_without_newline,
                    });
                }
                Err(error) => {
                    // The input is valid UTF-8, so only an I/O error is
                    // left, and reading from memory does not raise one.
                    // Stop and report it all the same.
                    self.error = Some(format!("reading stopped early: {error}"));
                    return None;
                }
            }
        }
    }

    fn next_whitespace_row(&mut self) -> Option<Row<'a>> {
        for (index, line) in self.lines.by_ref() {
            self.offset += line.len() + 1;
            if line.trim().is_empty() {
                continue;
            }
            return Some(Row {
                line: index + 1,
                raw: line,
                fields: Fields::Split(line.split_whitespace().collect()),
                last_without_newline: self.offset >= self.text.len() && !self.text.ends_with('\n'),
            });
        }
        None
    }
}

/// Counts the line ends in `bytes[start..end]` as the csv crate reads them:
/// LF, CRLF (once) and a lone CR, so files saved with classic Mac line ends
/// get a line number per row.
fn count_line_ends(bytes: &[u8], start: usize, end: usize) -> usize {
    memchr::memchr2_iter(b'\n', b'\r', &bytes[start..end])
        .filter(|&index| {
            let position = start + index;
            bytes[position] == b'\n' || bytes.get(position + 1) != Some(&b'\n')
        })
        .count()
}

/// True when splitting lines at the delimiter reads `text` exactly as the
/// `csv` crate would: no quotes, every carriage return part of a CRLF line
/// end, and no byte-order mark left at the start (csv-core 0.1 drops one
/// there). Scanning the whole text costs far less than reading it.
fn splits_as_lines(text: &str) -> bool {
    let bytes = text.as_bytes();
    memchr::memchr(b'"', bytes).is_none()
        && !text.starts_with('\u{feff}')
        && memchr::memchr_iter(b'\r', bytes).all(|index| bytes.get(index + 1) == Some(&b'\n'))
}

/// Estimates the row count from the length of the first lines, with 10%
/// headroom.
fn estimate_rows(text: &str) -> usize {
    let head = &text.as_bytes()[..text.len().min(65_536)];
    let lines = memchr::memchr_iter(b'\n', head).count().max(1);
    let average = head.len() / lines;
    (text.len() / average.max(1)) * 11 / 10
}

fn sample_rows(text: &str, delimiter: Delimiter) -> Vec<Vec<String>> {
    let mut reader = RowReader::new(text, delimiter, false);
    let mut rows = Vec::new();
    while rows.len() < SAMPLE_ROWS {
        match reader.next_row() {
            Some(row) => rows.push(row.fields.to_strings()),
            None => break,
        }
    }
    rows
}

/// Applies `--map` pairs. A column is matched by exact header name, then by
/// its compact form, then as a 1-based number.
fn apply_explicit_mapping(
    file: &str,
    detection: &mut Detection,
    pairs: &[(Field, String)],
) -> Result<(), IngestError> {
    if pairs.is_empty() {
        return Ok(());
    }
    for (field, column) in pairs {
        let requested = compact_header(column);
        let index = detection
            .columns
            .iter()
            .position(|name| name == column)
            .or_else(|| {
                detection
                    .columns
                    .iter()
                    .position(|name| compact_header(name) == requested)
            })
            .or_else(|| {
                column
                    .parse::<usize>()
                    .ok()
                    .filter(|&n| n >= 1 && n <= detection.columns.len())
                    .map(|n| n - 1)
            })
            .ok_or_else(|| IngestError::UnknownColumn {
                file: file.to_string(),
                column: column.clone(),
                columns: detection.columns.join(", "),
            })?;
        detection.mapping.set(*field, Some(index));
        detection.mapping.set_fallback(*field, None);
        if *field == Field::Event && !matches!(detection.events, EventRule::Column(_)) {
            detection.events = EventRule::Column(super::kind::EventCodes::Words);
        }
    }
    detection.unsure = false;
    detection.reason = format!("{}; columns mapped explicitly", detection.reason);
    Ok(())
}

/// Column positions of the Instacart fields that place an order in time.
struct RelativeColumns {
    order_number: usize,
    days_since_prior: usize,
    hour: Option<usize>,
    cart_position: Option<usize>,
}

/// One Instacart row's place in time, for the pass after reading.
struct RelativeTime {
    event: usize,
    order_number: u32,
    days_since_prior: f32,
    hour: u32,
    cart_position: u32,
}

/// Everything needed to turn a row into an event.
struct Plan {
    columns: Vec<String>,
    width: usize,
    user: Option<usize>,
    item: Option<usize>,
    event: Option<usize>,
    time: Option<usize>,
    category: Option<usize>,
    category_fallback: Option<usize>,
    brand: Option<usize>,
    price: Option<usize>,
    price_is_line_total: bool,
    quantity: Option<usize>,
    session: Option<usize>,
    order: Option<usize>,
    rule: EventRule,
    zone: Zone,
    decimal_comma: bool,
    relative: Option<RelativeColumns>,
}

impl Plan {
    fn new(file: &str, detection: &Detection, zone: Zone) -> Result<Plan, IngestError> {
        let mapping = &detection.mapping;
        let columns_list = detection.columns.join(", ");
        let missing = |what: &'static str, field: &'static str| IngestError::MissingColumn {
            file: file.to_string(),
            what,
            field,
            columns: columns_list.clone(),
        };
        if mapping.get(Field::User).is_none() && mapping.get(Field::Session).is_none() {
            return Err(missing("a user id", "user"));
        }
        let relative = if detection.format == Format::Instacart {
            let compact: Vec<String> = detection
                .columns
                .iter()
                .map(|c| compact_header(c))
                .collect();
            let find = |name: &str| compact.iter().position(|column| column == name);
            Some(RelativeColumns {
                order_number: find("ordernumber")
                    .ok_or_else(|| missing("an order number", "order"))?,
                days_since_prior: find("dayssincepriororder")
                    .ok_or_else(|| missing("days since the prior order", "time"))?,
                hour: find("orderhourofday"),
                cart_position: find("addtocartorder"),
            })
        } else {
            None
        };
        if relative.is_none() && mapping.get(Field::Time).is_none() {
            return Err(missing("a time", "time"));
        }
        if matches!(detection.events, EventRule::Column(_)) && mapping.get(Field::Event).is_none() {
            return Err(missing("an event type", "event"));
        }
        let price_is_line_total = mapping
            .get(Field::Price)
            .and_then(|index| detection.columns.get(index))
            .map(|name| {
                let name = compact_header(name);
                [
                    "amount",
                    "dollarvalue",
                    "revenue",
                    "sales",
                    "金额",
                    "销售额",
                ]
                .contains(&name.as_str())
            })
            .unwrap_or(false);
        Ok(Plan {
            columns: detection.columns.clone(),
            width: detection.columns.len(),
            user: mapping.get(Field::User),
            item: mapping.get(Field::Item),
            event: mapping.get(Field::Event),
            time: mapping.get(Field::Time),
            category: mapping.get(Field::Category),
            category_fallback: mapping.fallback(Field::Category),
            brand: mapping.get(Field::Brand),
            price: mapping.get(Field::Price),
            price_is_line_total,
            quantity: mapping.get(Field::Quantity),
            session: mapping.get(Field::Session),
            order: mapping.get(Field::Order),
            rule: detection.events,
            zone,
            decimal_comma: detection.delimiter == Delimiter::Byte(b';'),
            relative,
        })
    }

    fn column_name(&self, index: usize) -> &str {
        self.columns.get(index).map_or("", String::as_str)
    }

    /// Turns one row into an event, or rejects it with its reason.
    fn accept(&self, builder: &mut Builder, row: &Row<'_>, relative: &mut Vec<RelativeTime>) {
        builder.diagnostics().rows += 1;
        let fields = &row.fields;
        builder.note_row(row.raw);
        let line = row.line;
        let spanned_lines = row.raw.matches('\n').count();
        if fields.len() != self.width && spanned_lines > 0 {
            // A quote opened but never closed swallows the lines after it
            // into one field. The warning counts them, so no row vanishes
            // unseen.
            let last_line = line + spanned_lines;
            let expected = format!(
                "{} fields; a quote opened in this row is closed only at line {last_line} or \
                 never, so lines {line} to {last_line} were read as one row",
                self.width
            );
            builder.diagnostics().reject(
                RejectKind::UnclosedQuote,
                line,
                0,
                "",
                &fields.joined(),
                &expected,
            );
            builder.diagnostics().warn(format!(
                "lines {line} to {last_line} were read as one row because a quoted field \
                 starting on line {line} has no closing quote where expected; fix the quote and \
                 read the file again"
            ));
            return;
        }
        if fields.len() < self.width {
            let kind = if row.last_without_newline {
                RejectKind::Truncated
            } else {
                RejectKind::TooFewFields
            };
            let expected = format!("{} fields, found {}", self.width, fields.len());
            builder
                .diagnostics()
                .reject(kind, line, 0, "", &fields.joined(), &expected);
            if row.last_without_newline {
                builder.diagnostics().warn(format!(
                    "the last line ({line}) looks cut off: {} of {} fields and no line end; it \
                     was rejected",
                    fields.len(),
                    self.width
                ));
            }
            return;
        }
        if fields.len() > self.width {
            let expected = format!(
                "{} fields, found {}; a value may hold an unquoted delimiter",
                self.width,
                fields.len()
            );
            builder.diagnostics().reject(
                RejectKind::TooManyFields,
                line,
                0,
                "",
                &fields.joined(),
                &expected,
            );
            return;
        }
        let get = |index: Option<usize>| index.map_or("", |index| trim(fields.get(index)));

        let user = get(self.user);
        let session = get(self.session);
        if user.is_empty() && session.is_empty() {
            let column = self.user.or(self.session).unwrap_or(0);
            let expected = "a user id (or a session id to stand in for it)";
            builder.diagnostics().reject(
                RejectKind::MissingUser,
                line,
                column + 1,
                self.column_name(column),
                "",
                expected,
            );
            return;
        }

        let mut time = 0;
        if let Some(index) = self.time {
            let value = trim(fields.get(index));
            if value.is_empty() {
                builder.diagnostics().reject(
                    RejectKind::MissingTime,
                    line,
                    index + 1,
                    self.column_name(index),
                    value,
                    TIME_EXPECTED,
                );
                return;
            }
            match parse_timestamp(value, &self.zone) {
                Some(ms) => time = ms,
                None => {
                    builder.diagnostics().reject(
                        RejectKind::InvalidTime,
                        line,
                        index + 1,
                        self.column_name(index),
                        value,
                        TIME_EXPECTED,
                    );
                    return;
                }
            }
        }

        let mut numbers = [f32::NAN; 2];
        for (slot, index) in [self.price, self.quantity].into_iter().enumerate() {
            let Some(index) = index else { continue };
            match parse_number(trim(fields.get(index)), self.decimal_comma) {
                Ok(value) => numbers[slot] = value,
                Err(()) => {
                    builder.diagnostics().reject(
                        RejectKind::InvalidNumber,
                        line,
                        index + 1,
                        self.column_name(index),
                        fields.get(index).trim(),
                        "a number such as 12.50",
                    );
                    return;
                }
            }
        }
        let [mut price, quantity] = numbers;
        if self.price_is_line_total && quantity > 0.0 {
            price /= quantity;
        }

        let order = get(self.order);
        let (kind, label) = match self.rule {
            EventRule::Column(_) => {
                let index = self.event.unwrap_or(0);
                let label = trim(fields.get(index));
                if label.is_empty() {
                    builder.diagnostics().reject(
                        RejectKind::MissingEvent,
                        line,
                        index + 1,
                        self.column_name(index),
                        label,
                        "an event type such as view, cart, purchase",
                    );
                    return;
                }
                (None, label)
            }
            EventRule::AllPurchases => (Some(EventKind::Purchase), "purchase"),
            EventRule::Invoice => {
                let cancelled = order.starts_with(['C', 'c']) || quantity < 0.0;
                if cancelled {
                    (Some(EventKind::Refund), "cancellation")
                } else {
                    (Some(EventKind::Purchase), "invoice")
                }
            }
        };

        let mut category = get(self.category);
        if category.is_empty() {
            category = get(self.category_fallback);
        }
        if let Some(columns) = &self.relative {
            match read_relative(fields, columns, builder.log.events.len()) {
                Some(place) => relative.push(place),
                None => {
                    let index = columns.order_number;
                    builder.diagnostics().reject(
                        RejectKind::InvalidNumber,
                        line,
                        index + 1,
                        self.column_name(index),
                        fields.get(index).trim(),
                        "order_number, days_since_prior_order, order_hour_of_day and \
                         add_to_cart_order as numbers",
                    );
                    return;
                }
            }
        }
        builder.push(
            line,
            Draft {
                user,
                item: get(self.item),
                category,
                brand: get(self.brand),
                session,
                order,
                label,
                kind,
                codes: match self.rule {
                    EventRule::Column(codes) => Some(codes),
                    _ => None,
                },
                time,
                price,
                quantity,
            },
        );
    }
}

fn read_relative(fields: &Fields, columns: &RelativeColumns, event: usize) -> Option<RelativeTime> {
    let number = |index: usize| -> Option<f32> {
        let value = fields.get(index).trim();
        if value.is_empty() {
            Some(0.0)
        } else {
            value
                .parse::<f32>()
                .ok()
                .filter(|n| n.is_finite() && *n >= 0.0)
        }
    };
    // Bounds keep summed times far from overflow: a century between two
    // orders, a million orders, a million items in one basket.
    let days_since_prior = number(columns.days_since_prior).filter(|&days| days <= 36_525.0)?;
    let order_number = number(columns.order_number).filter(|&n| n <= 1e6)?;
    let cart_position = columns
        .cart_position
        .map_or(Some(0.0), number)
        .filter(|&n| n <= 1e6)?;
    Some(RelativeTime {
        event,
        order_number: order_number as u32,
        days_since_prior,
        hour: columns.hour.map_or(Some(0.0), number)?.min(23.0) as u32,
        cart_position: cart_position as u32,
    })
}

/// Places order-table events in time: per user, orders sorted by number,
/// days since the prior order summed from the first order.
fn place_relative_times(builder: &mut Builder, places: &[RelativeTime]) {
    builder.resolve_pending();
    let events = &mut builder.log.events;
    let mut by_user: Vec<Vec<(u32, f32)>> = Vec::new();
    for place in places {
        let user = events[place.event].user as usize;
        if by_user.len() <= user {
            by_user.resize_with(user + 1, Vec::new);
        }
        by_user[user].push((place.order_number, place.days_since_prior));
    }
    let mut day_of_order: Vec<Vec<(u32, f64)>> = Vec::with_capacity(by_user.len());
    for mut orders in by_user {
        orders.sort_by_key(|&(number, _)| number);
        orders.dedup_by_key(|&mut (number, _)| number);
        let mut day = 0.0f64;
        let mut placed = Vec::with_capacity(orders.len());
        for (position, (number, days)) in orders.into_iter().enumerate() {
            if position > 0 {
                day += f64::from(days);
            }
            placed.push((number, day));
        }
        day_of_order.push(placed);
    }
    for place in places {
        let event = &mut events[place.event];
        let orders = &day_of_order[event.user as usize];
        let day = orders
            .binary_search_by_key(&place.order_number, |&(number, _)| number)
            .map_or(0.0, |index| orders[index].1);
        event.time = RELATIVE_ANCHOR_MS
            + (day * 86_400_000.0) as i64
            + i64::from(place.hour) * 3_600_000
            + i64::from(place.cart_position) * 1000;
    }
    builder.log.time_basis = TimeBasis::RelativeDays;
    builder.diagnostics().warn(
        "the orders carry no dates: times count days since each user's first order \
         (days_since_prior_order summed), placed from 2017-01-01, so calendar dates, \
         cohorts by date and first/last event times are not real",
    );
}

/// Returns `value` without leading and trailing whitespace, as
/// [`str::trim`] does. Values that start and end with a visible ASCII
/// character, as nearly all do, skip the scan for Unicode whitespace.
fn trim(value: &str) -> &str {
    let visible = |byte: Option<&u8>| byte.is_some_and(|byte| (0x21..0x7f).contains(byte));
    let bytes = value.as_bytes();
    if visible(bytes.first()) && visible(bytes.last()) {
        value
    } else {
        value.trim()
    }
}

/// Parses a price or quantity: empty is NaN; currency signs and spaces are
/// ignored; with semicolon-separated files a lone comma is a decimal comma.
fn parse_number(value: &str, decimal_comma: bool) -> Result<f32, ()> {
    if value.is_empty() {
        return Ok(f32::NAN);
    }
    let trimmed = value.trim_start_matches(['$', '¥', '￥', '€', '£']).trim();
    let parsed = if decimal_comma && trimmed.contains(',') && !trimmed.contains('.') {
        trimmed.replacen(',', ".", 1).parse::<f32>()
    } else {
        trimmed.parse::<f32>()
    };
    parsed.ok().filter(|number| number.is_finite()).ok_or(())
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn numbers_parse_with_currency_and_comma() {
        assert_eq!(parse_number("12.5", false), Ok(12.5));
        assert_eq!(parse_number("¥12.5", false), Ok(12.5));
        assert_eq!(parse_number("12,5", true), Ok(12.5));
        assert!(parse_number("", false).is_ok_and(f32::is_nan));
        assert_eq!(parse_number("abc", false), Err(()));
        assert_eq!(parse_number("inf", false), Err(()));
    }

    /// Reads every row as (line, raw text, fields, last without newline).
    fn all_rows(text: &str, delimiter: u8) -> Vec<(usize, String, Vec<String>, bool)> {
        let mut reader = RowReader::new(text, Delimiter::Byte(delimiter), false);
        let mut rows = Vec::new();
        while let Some(row) = reader.next_row() {
            let raw = row.raw.to_string();
            rows.push((
                row.line,
                raw,
                row.fields.to_strings(),
                row.last_without_newline,
            ));
        }
        rows
    }

    #[test]
    fn trim_matches_str_trim() {
        for value in [
            "",
            " ",
            "a",
            " a ",
            "\u{3000}商品\u{3000}",
            "a\u{b}",
            "\u{a0}x",
            "x y",
            "\t1\n",
        ] {
            assert_eq!(trim(value), value.trim(), "{value:?}");
        }
    }

    #[test]
    fn line_splitting_matches_csv_reader() {
        let cases = [
            ("a,b\n1,2\n", b','),
            ("a,b\r\n1,2\r\n\r\n3,4", b','),
            ("\n\na,b\n   \n,\n \t \nx,,y\n\n", b','),
            ("a\tb\n\t\n\n1\t2\n", b'\t'),
            ("user;item\n1;2\n3;4;5\n6\n", b';'),
            ("名字|商品\n张三|手机\n", b'|'),
        ];
        for (text, delimiter) in cases {
            assert!(splits_as_lines(text), "{text:?} should be split as lines");
            // A quoted first line sends the whole text through the csv crate.
            let quoted = format!("\"q\"\n{text}");
            assert!(!splits_as_lines(&quoted));
            let expected: Vec<_> = all_rows(&quoted, delimiter)
                .into_iter()
                .skip(1)
                .map(|(line, raw, fields, last)| (line - 1, raw, fields, last))
                .collect();
            assert_eq!(all_rows(text, delimiter), expected, "{text:?}");
        }
    }

    #[test]
    fn quotes_and_lone_cr_use_csv_reader() {
        assert!(!splits_as_lines("a,\"b,c\"\n"));
        assert!(!splits_as_lines("a,b\r1,2\r"));
        assert!(!splits_as_lines("\u{feff}a,b\n"));
        assert!(splits_as_lines("a,b\r\n1,2\r\n"));
        assert_eq!(
            all_rows("a,b\r1,2\r", b','),
            [
                (
                    1,
                    "a,b".to_string(),
                    vec!["a".to_string(), "b".to_string()],
                    false
                ),
                (
                    2,
                    "1,2".to_string(),
                    vec!["1".to_string(), "2".to_string()],
                    true
                ),
            ]
        );
    }

    #[test]
    fn lone_cr_and_mixed_line_ends_numbered() {
        let lines: Vec<usize> = all_rows("a,b\r1,2\r\r3,4\r\n\"5\",6\n7,8\r", b',')
            .into_iter()
            .map(|(line, ..)| line)
            .collect();
        assert_eq!(lines, [1, 2, 4, 5, 6]);
    }
}

/// The first rows of a table and what detection made of them, for a
/// person to confirm or correct the column mapping.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Preview {
    pub format: String,
    pub delimiter: String,
    pub has_header: bool,
    pub columns: Vec<String>,
    /// Field name to 0-based column index, as detected.
    pub mapping: Vec<(String, usize)>,
    pub unsure: bool,
    /// Up to ten data rows.
    pub rows: Vec<Vec<String>>,
}

/// Detects a table's layout without reading it all. `None` when the text
/// is not a delimited table.
pub(super) fn preview(text: &str) -> Option<Preview> {
    let delimiter = detect::sniff_delimiter(text)?;
    let sample = sample_rows(text, delimiter);
    let detection = detect::detect_table(&sample, delimiter).ok()?;
    let skip = usize::from(detection.has_header);
    let mapping = Field::ALL
        .into_iter()
        .filter_map(|field| Some((field.as_str().to_string(), detection.mapping.get(field)?)))
        .collect();
    Some(Preview {
        format: detection.format_name(),
        delimiter: delimiter.name().to_string(),
        has_header: detection.has_header,
        columns: detection.columns.clone(),
        mapping,
        unsure: detection.unsure,
        rows: sample.into_iter().skip(skip).take(10).collect(),
    })
}
