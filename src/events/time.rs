//! Timestamp parsing. Every accepted shape becomes Unix milliseconds (UTC).
//!
//! Accepted shapes: Unix seconds (9 to 11 digits, optional fraction), Unix
//! milliseconds (12 to 14 digits), `YYYYMMDD`, `YYYY-MM-DD` with an optional
//! time `HH`, `HH:MM`, `HH:MM:SS` or `HH:MM:SS.fff` after a space or `T`,
//! `/` in place of `-`, and `M/D/YYYY H:MM[:SS]` (US order unless the
//! zone is set to day first). A date-time may end in `Z`, `UTC`, `GMT` or an
//! offset such as `+08:00`; without one it is read in the configured zone.

use jiff::tz::TimeZone;

const MS_PER_DAY: i64 = 86_400_000;

/// The zone in which times without an offset are read.
#[derive(Clone, Debug)]
pub struct Zone {
    tz: Option<TimeZone>,
    name: String,
    day_first: bool,
}

impl Default for Zone {
    fn default() -> Self {
        Zone {
            tz: None,
            name: "UTC".to_string(),
            day_first: false,
        }
    }
}

impl Zone {
    /// Builds a zone from an IANA name (`Asia/Shanghai`), `UTC`, or a fixed
    /// offset (`+08:00`, `-0530`). The time zone database is compiled in, so
    /// native and wasm builds read the same rules.
    pub fn parse(name: &str) -> Result<Zone, String> {
        let trimmed = name.trim();
        if trimmed.eq_ignore_ascii_case("utc") || trimmed.eq_ignore_ascii_case("z") {
            return Ok(Zone::default());
        }
        let tz = if let Some(seconds) = parse_offset(trimmed) {
            let offset = jiff::tz::Offset::from_seconds(seconds)
                .map_err(|err| format!("invalid offset {trimmed:?}: {err}"))?;
            TimeZone::fixed(offset)
        } else {
            TimeZone::get(trimmed).map_err(|_| {
                format!(
                    "unknown time zone {trimmed:?}; expected an IANA name such as \
                     Asia/Shanghai, UTC, or an offset such as +08:00"
                )
            })?
        };
        Ok(Zone {
            tz: Some(tz),
            name: trimmed.to_string(),
            day_first: false,
        })
    }

    /// Reads slash dates as `D/M/YYYY` instead of `M/D/YYYY`.
    pub fn with_day_first(mut self, day_first: bool) -> Zone {
        self.day_first = day_first;
        self
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    fn local_to_utc_ms(&self, civil: Civil) -> Option<i64> {
        let Some(tz) = &self.tz else {
            return Some(civil.utc_ms());
        };
        let datetime = jiff::civil::DateTime::new(
            i16::try_from(civil.year).ok()?,
            civil.month as i8,
            civil.day as i8,
            civil.hour as i8,
            civil.minute as i8,
            civil.second.min(59) as i8,
            0,
        )
        .ok()?;
        let zoned = datetime.to_zoned(tz.clone()).ok()?;
        Some(zoned.timestamp().as_millisecond() + civil.millis)
    }
}

/// Earliest accepted instant, 0001-01-01T00:00:00Z, in Unix milliseconds.
pub const MIN_TIME_MS: i64 = -62_135_596_800_000;
/// Latest accepted instant, 9999-12-31T23:59:59.999Z, in Unix milliseconds.
pub const MAX_TIME_MS: i64 = 253_402_300_799_999;

/// Returns whether `ms` lies in years 1 to 9999. Table and JSON Lines
/// readers reject times outside this range, and the other readers bound
/// their gaps, so differences between times fit in an i64.
pub fn in_range(ms: i64) -> bool {
    (MIN_TIME_MS..=MAX_TIME_MS).contains(&ms)
}

/// Parses one timestamp value. `None` means the value has no accepted shape
/// or names an impossible date or time.
pub fn parse_timestamp(value: &str, zone: &Zone) -> Option<i64> {
    parse_any(value, zone).filter(|&ms| in_range(ms))
}

fn parse_any(value: &str, zone: &Zone) -> Option<i64> {
    let text = value.trim();
    let bytes = text.as_bytes();
    if bytes.is_empty() {
        return None;
    }
    if bytes.iter().all(u8::is_ascii_digit) {
        return parse_digits(bytes, zone);
    }
    if let Some(epoch) = parse_epoch_fraction(text) {
        return Some(epoch);
    }
    if bytes.len() >= 8 && bytes[..4].iter().all(u8::is_ascii_digit) {
        return parse_year_first(bytes, zone);
    }
    parse_slash_us(bytes, zone)
}

/// Digits only: Unix seconds, Unix milliseconds, or `YYYYMMDD`.
fn parse_digits(bytes: &[u8], zone: &Zone) -> Option<i64> {
    let number = parse_u64(bytes)? as i64;
    match bytes.len() {
        8 => {
            let civil = Civil::date(
                number / 10_000,
                (number / 100 % 100) as u32,
                (number % 100) as u32,
            )?;
            zone.local_to_utc_ms(civil)
        }
        9..=11 => number.checked_mul(1000),
        12..=14 => Some(number),
        _ => None,
    }
}

/// Unix seconds with a fraction, such as `1511658000.25`.
fn parse_epoch_fraction(text: &str) -> Option<i64> {
    let (whole, fraction) = text.split_once('.')?;
    if !(9..=11).contains(&whole.len())
        || fraction.is_empty()
        || !whole
            .bytes()
            .chain(fraction.bytes())
            .all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let seconds: f64 = text.parse().ok()?;
    Some((seconds * 1000.0).round() as i64)
}

/// `YYYY-MM-DD[ HH[:MM[:SS[.fff]]]][zone]`, also with `/` and `T`.
fn parse_year_first(bytes: &[u8], zone: &Zone) -> Option<i64> {
    let mut cursor = Cursor { bytes, pos: 0 };
    let year = cursor.number(4, 4)?;
    let separator = cursor.next()?;
    if separator != b'-' && separator != b'/' {
        return None;
    }
    let month = cursor.number(1, 2)?;
    if cursor.next()? != separator {
        return None;
    }
    let day = cursor.number(1, 2)?;
    let mut civil = Civil::date(year, month as u32, day as u32)?;
    if cursor.at_end() {
        return zone.local_to_utc_ms(civil);
    }
    match cursor.peek() {
        Some(b'T') | Some(b't') | Some(b' ') => cursor.pos += 1,
        _ => return finish_with_zone(civil, &mut cursor, zone),
    }
    cursor.skip_spaces();
    parse_clock(&mut cursor, &mut civil)?;
    finish_with_zone(civil, &mut cursor, zone)
}

/// `M/D/YYYY[ H:MM[:SS]]`, or `D/M/YYYY` when the zone is set to day first.
fn parse_slash_us(bytes: &[u8], zone: &Zone) -> Option<i64> {
    let mut cursor = Cursor { bytes, pos: 0 };
    let first = cursor.number(1, 2)?;
    if cursor.next()? != b'/' {
        return None;
    }
    let second = cursor.number(1, 2)?;
    if cursor.next()? != b'/' {
        return None;
    }
    let year = cursor.number(4, 4)?;
    let (month, day) = if zone.day_first {
        (second, first)
    } else {
        (first, second)
    };
    let mut civil = Civil::date(year, month as u32, day as u32)?;
    if !cursor.at_end() {
        if cursor.next()? != b' ' {
            return None;
        }
        cursor.skip_spaces();
        parse_clock(&mut cursor, &mut civil)?;
    }
    finish_with_zone(civil, &mut cursor, zone)
}

/// `HH[:MM[:SS[.fff]]]`.
fn parse_clock(cursor: &mut Cursor, civil: &mut Civil) -> Option<()> {
    civil.hour = cursor.number(1, 2)? as u32;
    if cursor.peek() == Some(b':') {
        cursor.pos += 1;
        civil.minute = cursor.number(2, 2)? as u32;
        if cursor.peek() == Some(b':') {
            cursor.pos += 1;
            civil.second = cursor.number(2, 2)? as u32;
            if matches!(cursor.peek(), Some(b'.') | Some(b',')) {
                cursor.pos += 1;
                let start = cursor.pos;
                while cursor.peek().is_some_and(|b| b.is_ascii_digit()) {
                    cursor.pos += 1;
                }
                let digits = &cursor.bytes[start..cursor.pos];
                if digits.is_empty() {
                    return None;
                }
                let mut millis = 0i64;
                for (index, digit) in digits.iter().take(3).enumerate() {
                    millis += i64::from(digit - b'0') * [100, 10, 1][index];
                }
                civil.millis = millis;
            }
        }
    }
    (civil.hour < 24 && civil.minute < 60 && civil.second <= 60).then_some(())
}

/// Reads an optional zone suffix, then converts to UTC milliseconds.
fn finish_with_zone(civil: Civil, cursor: &mut Cursor, zone: &Zone) -> Option<i64> {
    cursor.skip_spaces();
    if cursor.at_end() {
        return zone.local_to_utc_ms(civil);
    }
    let rest = std::str::from_utf8(&cursor.bytes[cursor.pos..]).ok()?;
    let offset_seconds = match rest {
        "Z" | "z" | "UTC" | "utc" | "GMT" => 0,
        _ => parse_offset(rest)?,
    };
    Some(civil.utc_ms() - i64::from(offset_seconds) * 1000)
}

/// `+08:00`, `+0800`, `+08`, `-05:30`, also after `UTC` or `GMT`.
fn parse_offset(text: &str) -> Option<i32> {
    let text = text
        .strip_prefix("UTC")
        .or_else(|| text.strip_prefix("GMT"))
        .unwrap_or(text);
    let (sign, digits) = match text.as_bytes().first()? {
        b'+' => (1, &text[1..]),
        b'-' => (-1, &text[1..]),
        _ => return None,
    };
    let digits: String = digits.chars().filter(|ch| *ch != ':').collect();
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (hours, minutes) = match digits.len() {
        2 => (digits.parse::<i32>().ok()?, 0),
        4 => (
            digits[..2].parse::<i32>().ok()?,
            digits[2..].parse::<i32>().ok()?,
        ),
        _ => return None,
    };
    (hours <= 18 && minutes < 60).then_some(sign * (hours * 3600 + minutes * 60))
}

/// Formats Unix milliseconds as ISO 8601 UTC, `2019-10-01T00:00:00Z`.
pub fn format_iso(ms: i64) -> String {
    let days = ms.div_euclid(MS_PER_DAY);
    let rest = ms.rem_euclid(MS_PER_DAY) / 1000;
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rest / 3600,
        rest / 60 % 60,
        rest % 60
    )
}

/// Formats Unix milliseconds as the UTC date `2019-10-01`.
pub fn format_date(ms: i64) -> String {
    let (year, month, day) = civil_from_days(ms.div_euclid(MS_PER_DAY));
    format!("{year:04}-{month:02}-{day:02}")
}

#[derive(Clone, Copy, Debug)]
struct Civil {
    year: i64,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
    millis: i64,
}

impl Civil {
    fn date(year: i64, month: u32, day: u32) -> Option<Civil> {
        if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
            return None;
        }
        Some(Civil {
            year,
            month,
            day,
            hour: 0,
            minute: 0,
            second: 0,
            millis: 0,
        })
    }

    fn utc_ms(&self) -> i64 {
        let days = days_from_civil(self.year, self.month, self.day);
        let seconds = i64::from(self.hour * 3600 + self.minute * 60 + self.second);
        days * MS_PER_DAY + seconds * 1000 + self.millis
    }
}

fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if is_leap(year) => 29,
        _ => 28,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month = i64::from(month);
    let day_of_year =
        (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// Inverse of [`days_from_civil`].
pub(crate) fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let byte = self.peek()?;
        self.pos += 1;
        Some(byte)
    }

    fn at_end(&self) -> bool {
        self.pos >= self.bytes.len()
    }

    fn skip_spaces(&mut self) {
        while self.peek() == Some(b' ') {
            self.pos += 1;
        }
    }

    /// Reads between `min` and `max` ASCII digits.
    fn number(&mut self, min: usize, max: usize) -> Option<i64> {
        let start = self.pos;
        while self.pos - start < max && self.peek().is_some_and(|b| b.is_ascii_digit()) {
            self.pos += 1;
        }
        if self.pos - start < min {
            return None;
        }
        parse_u64(&self.bytes[start..self.pos]).map(|n| n as i64)
    }
}

/// Parses 1 to 19 ASCII digits.
pub(crate) fn parse_u64(bytes: &[u8]) -> Option<u64> {
    if bytes.is_empty() || bytes.len() > 19 {
        return None;
    }
    let mut value = 0u64;
    for &byte in bytes {
        if !byte.is_ascii_digit() {
            return None;
        }
        value = value * 10 + u64::from(byte - b'0');
    }
    Some(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    fn utc(text: &str) -> Option<i64> {
        parse_timestamp(text, &Zone::default())
    }

    #[test]
    fn timestamp_shapes_parse_to_utc() {
        let expected = 1_569_888_000_000; // 2019-10-01T00:00:00Z
        assert_eq!(utc("1569888000"), Some(expected));
        assert_eq!(utc("1569888000000"), Some(expected));
        assert_eq!(utc("1569888000.5"), Some(expected + 500));
        assert_eq!(utc("20191001"), Some(expected));
        assert_eq!(utc("2019-10-01"), Some(expected));
        assert_eq!(utc("2019-10-01 00"), Some(expected));
        assert_eq!(utc("2019-10-01 00:00"), Some(expected));
        assert_eq!(utc("2019-10-01 00:00:00 UTC"), Some(expected));
        assert_eq!(utc("2019-10-01T00:00:00Z"), Some(expected));
        assert_eq!(utc("2019-10-01T08:00:00+08:00"), Some(expected));
        assert_eq!(utc("2019/10/01 00:00:00.250"), Some(expected + 250));
        assert_eq!(utc("10/1/2019 0:00"), Some(expected));
    }

    #[test]
    fn impossible_dates_rejected() {
        for text in [
            "",
            "2019-13-01",
            "2019-02-30",
            "2019-10-01 25:00",
            "abc",
            "12/1/20",
            "2.82E+18",
            "123",
            "2019-10-01 00:00 XYZ",
        ] {
            assert_eq!(utc(text), None, "value {text:?}");
        }
        assert_eq!(utc("2020-02-29"), Some(1_582_934_400_000));
    }

    #[test]
    fn naive_times_use_the_zone() {
        let shanghai = Zone::parse("Asia/Shanghai").expect("zone in the bundled database");
        assert_eq!(
            parse_timestamp("2019-10-01 08:00:00", &shanghai),
            Some(1_569_888_000_000)
        );
        let fixed = Zone::parse("+08:00").expect("fixed offset");
        assert_eq!(
            parse_timestamp("2019-10-01 08:00", &fixed),
            Some(1_569_888_000_000)
        );
        // An explicit offset wins over the zone.
        assert_eq!(
            parse_timestamp("2019-10-01T00:00:00Z", &shanghai),
            Some(1_569_888_000_000)
        );
        assert!(Zone::parse("Mars/Olympus").is_err());
    }

    #[test]
    fn day_first_reads_slash_dates() {
        let zone = Zone::default().with_day_first(true);
        assert_eq!(parse_timestamp("1/10/2019", &zone), Some(1_569_888_000_000));
    }

    #[test]
    fn iso_formatting_round_trips() {
        assert_eq!(format_iso(1_569_888_000_000), "2019-10-01T00:00:00Z");
        assert_eq!(format_iso(-1000), "1969-12-31T23:59:59Z");
        for days in [-800_000i64, -1, 0, 59, 10_957, 2_932_896] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }
}
