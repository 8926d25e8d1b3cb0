//! Time on the wire: ISO-8601 in UTC with milliseconds, as JavaScript's `toISOString()`.

use crate::core::ports::Clock;

/// The system clock.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        unix_ms()
    }
}

/// The system's time in milliseconds since the Unix epoch.
pub(crate) fn unix_ms() -> i64 {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    since.as_millis() as i64
}

/// `2024-10-28T09:15:02.123Z` for milliseconds since the epoch.
/// `ms` as PostgreSQL prints a `timestamp` (without zone): `2026-12-07 01:05:46.21`,
/// the fraction without trailing zeros, none when whole (Dokploy sends it so).
pub fn as_postgres_prints(ms: i64) -> String {
    let iso = iso8601(ms);
    let (date_time, _zulu) = iso.split_at(iso.len() - 1);
    let text = date_time.replacen('T', " ", 1);
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

pub fn iso8601(ms: i64) -> String {
    let mut out = String::with_capacity(24);
    push_iso8601(&mut out, ms);
    out
}

/// Appends `iso8601(ms)` to `out`. Digits are placed by hand for years 0 to 9999:
/// every `auth.get` answer and every log line has a timestamp, and `format!` cost
/// about four times as much (instructions counted with callgrind). The text up to
/// the second is kept per thread: most calls fall in the same second as the last.
pub(crate) fn push_iso8601(out: &mut String, ms: i64) {
    thread_local! {
        static LAST: std::cell::Cell<(i64, [u8; 24])> = const { std::cell::Cell::new((i64::MIN, [0; 24])) };
    }
    let second = ms.div_euclid(1000);
    let (last_second, mut text) = LAST.get();
    if last_second != second {
        let mut fresh = String::with_capacity(24);
        push_iso8601_uncached(&mut fresh, ms);
        let Ok(whole) = <[u8; 24]>::try_from(fresh.as_bytes()) else {
            // Outside years 0 to 9999: not kept.
            out.push_str(&fresh);
            return;
        };
        text = whole;
        LAST.set((second, text));
    }
    let mut milli = ms.rem_euclid(1000);
    for digit in text[20..23].iter_mut().rev() {
        *digit = b'0' + (milli % 10) as u8;
        milli /= 10;
    }
    // SAFETY: `text` is `push_iso8601_uncached`'s text (a `String`, all ASCII for
    // these years) with ASCII digits written over three of its digits.
    out.push_str(unsafe { std::str::from_utf8_unchecked(&text) });
}

fn push_iso8601_uncached(out: &mut String, ms: i64) {
    let days = ms.div_euclid(86_400_000);
    let rem = ms.rem_euclid(86_400_000);
    let (year, month, day) = civil_from_days(days);
    let (h, m, s, milli) = (
        rem / 3_600_000,
        rem / 60_000 % 60,
        rem / 1000 % 60,
        rem % 1000,
    );
    if !(0..=9999).contains(&year) {
        use std::fmt::Write;
        let _ = write!(
            out,
            "{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{s:02}.{milli:03}Z"
        );
        return;
    }
    let mut text = *b"0000-00-00T00:00:00.000Z";
    for (range, value) in [
        (0..4, year),
        (5..7, i64::from(month)),
        (8..10, i64::from(day)),
        (11..13, h),
        (14..16, m),
        (17..19, s),
        (20..23, milli),
    ] {
        let mut value = value;
        for digit in text[range].iter_mut().rev() {
            *digit = b'0' + (value % 10) as u8;
            value /= 10;
        }
    }
    out.push_str(std::str::from_utf8(&text).expect("ASCII digits"));
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Parses what `iso8601` writes (used by fixtures and the mock's clock).
pub fn parse_iso8601(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 24
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
        || b[19] != b'.'
        || b[23] != b'Z'
    {
        return None;
    }
    let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, m, sec, milli) = (num(11..13)?, num(14..16)?, num(17..19)?, num(20..23)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || h > 23 || m > 59 || sec > 59 {
        return None;
    }
    // days_from_civil, the inverse of civil_from_days.
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = if month > 2 { month - 3 } else { month + 9 };
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let ms = days * 86_400_000 + h * 3_600_000 + m * 60_000 + sec * 1000 + milli;
    (iso8601(ms) == s).then_some(ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kept_second_never_shows_through() {
        let uncached = |ms| {
            let mut text = String::new();
            push_iso8601_uncached(&mut text, ms);
            text
        };
        // The same second, the next, an earlier one, before 1970, past year 9999.
        for ms in [
            1_733_480_000_123,
            1_733_480_000_999,
            1_733_480_001_000,
            1_733_479_999_999,
            -1,
            -86_400_001,
            253_402_300_800_000,
            1_733_480_000_001,
        ] {
            assert_eq!(iso8601(ms), uncached(ms), "{ms}");
        }
    }

    #[test]
    fn as_postgres_prints_a_timestamp() {
        let at = parse_iso8601("2026-12-07T01:05:46.210Z").unwrap();
        assert_eq!(as_postgres_prints(at), "2026-12-07 01:05:46.21");
        assert_eq!(as_postgres_prints(at - 210), "2026-12-07 01:05:46");
        assert_eq!(as_postgres_prints(at + 90 - 6_000), "2026-12-07 01:05:40.3");
    }

    #[test]
    fn formats_like_javascript() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso8601(1_730_106_902_123), "2024-10-28T09:15:02.123Z");
        assert_eq!(iso8601(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(iso8601(-1), "1969-12-31T23:59:59.999Z");
    }

    #[test]
    fn digits_by_hand_match_format() {
        let reference = |ms: i64| {
            let days = ms.div_euclid(86_400_000);
            let rem = ms.rem_euclid(86_400_000);
            let (year, month, day) = civil_from_days(days);
            format!(
                "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
                rem / 3_600_000,
                rem / 60_000 % 60,
                rem / 1000 % 60,
                rem % 1000
            )
        };
        // Year 0, year 9999's last millisecond, year 10000 (no fast path), and a
        // spread of instants in between.
        let edges = [
            -62_167_219_200_000,
            253_402_300_799_999,
            253_402_300_800_000,
        ];
        let spread = (0..10_000i64).map(|n| n * 25_340_230_079_999 / 1000 - 62_167_219_200_000);
        for ms in edges.into_iter().chain(spread) {
            assert_eq!(iso8601(ms), reference(ms), "{ms}");
        }
        assert_eq!(iso8601(253_402_300_800_000), "10000-01-01T00:00:00.000Z");
        let mut out = String::from("at ");
        push_iso8601(&mut out, 0);
        assert_eq!(out, "at 1970-01-01T00:00:00.000Z");
    }

    #[test]
    fn parses_back() {
        for ms in [0, 1_730_106_902_123, 951_782_400_000, 4_102_444_799_999] {
            assert_eq!(parse_iso8601(&iso8601(ms)), Some(ms));
        }
        assert_eq!(parse_iso8601("2024-02-30T00:00:00.000Z"), None);
        assert_eq!(parse_iso8601("yesterday"), None);
    }
}
