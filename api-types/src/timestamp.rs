//! Timestamps of responses, serialized the way chrono does (RFC 3339, UTC as `Z`, the fraction
//! trimmed to 0, 3, 6 or 9 digits), but written in one piece. chrono's `Serialize` goes through
//! `fmt::Display` a character at a time, and serde_json escapes each character on its own:
//! on a page of 50 tasks that was more than half the cost of writing the JSON (see
//! docs/benchmarks.md).
//!
//! They are read back with chrono's strict RFC 3339 parser (`DateTime::parse_from_rfc3339`),
//! which reads all that the backend writes (years 0 to 9999). chrono's `Deserialize` takes a
//! relaxed form (spaces between the parts, `UTC` for `Z`, other year widths) through its
//! general format engine, about 5 KB brotli of the web app, which only reads responses.
//! Request fields, which people write, keep chrono's `Deserialize`.
//!
//! Use on response fields: `#[serde(with = "crate::timestamp")]`, or
//! `#[serde(default, with = "crate::timestamp::option")]` for an `Option`.

use chrono::{DateTime, Datelike, Timelike, Utc};
use serde::{Deserializer, Serialize, Serializer, de};

/// Longest output: `YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ`.
const MAX_LEN: usize = 30;

pub fn serialize<S: Serializer>(at: &DateTime<Utc>, serializer: S) -> Result<S::Ok, S::Error> {
    let mut buffer = [0_u8; MAX_LEN];
    match write_rfc3339(at, &mut buffer) {
        // Only ASCII digits and separators were written.
        Some(len) => serializer.serialize_str(std::str::from_utf8(&buffer[..len]).unwrap_or_default()),
        // Years outside 0..=9999 and leap seconds: rare enough to take chrono's path.
        None => at.serialize(serializer),
    }
}

pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<DateTime<Utc>, D::Error> {
    deserializer.deserialize_str(Rfc3339)
}

/// The same for an `Option`: `#[serde(default, with = "crate::timestamp::option")]`.
pub mod option {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(at: &Option<DateTime<Utc>>, serializer: S) -> Result<S::Ok, S::Error> {
        match at {
            Some(at) => super::serialize(at, serializer),
            None => serializer.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<DateTime<Utc>>, D::Error> {
        struct Timestamp(DateTime<Utc>);
        impl<'de> Deserialize<'de> for Timestamp {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                super::deserialize(deserializer).map(Timestamp)
            }
        }
        Ok(Option::<Timestamp>::deserialize(deserializer)?.map(|Timestamp(at)| at))
    }
}

struct Rfc3339;

impl<'de> de::Visitor<'de> for Rfc3339 {
    type Value = DateTime<Utc>;

    fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
        formatter.write_str("an RFC 3339 date and time")
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<Self::Value, E> {
        DateTime::parse_from_rfc3339(value).map(|at| at.to_utc()).map_err(E::custom)
    }
}

/// Writes `at` into `out` and returns the length, or `None` when chrono's format would not be
/// four-digit years and seconds below 60.
fn write_rfc3339(at: &DateTime<Utc>, out: &mut [u8; MAX_LEN]) -> Option<usize> {
    let year = u32::try_from(at.year()).ok().filter(|year| *year <= 9999)?;
    let nanos = at.nanosecond();
    if nanos >= 1_000_000_000 {
        return None;
    }
    fn digits(out: &mut [u8], mut value: u32) {
        for slot in out.iter_mut().rev() {
            *slot = b'0' + (value % 10) as u8;
            value /= 10;
        }
    }
    digits(&mut out[0..4], year);
    out[4] = b'-';
    digits(&mut out[5..7], at.month());
    out[7] = b'-';
    digits(&mut out[8..10], at.day());
    out[10] = b'T';
    digits(&mut out[11..13], at.hour());
    out[13] = b':';
    digits(&mut out[14..16], at.minute());
    out[16] = b':';
    digits(&mut out[17..19], at.second());
    let mut len = 19;
    let (fraction, width) = match nanos {
        0 => (0, 0),
        _ if nanos.is_multiple_of(1_000_000) => (nanos / 1_000_000, 3),
        _ if nanos.is_multiple_of(1_000) => (nanos / 1_000, 6),
        _ => (nanos, 9),
    };
    if width > 0 {
        out[len] = b'.';
        digits(&mut out[len + 1..len + 1 + width], fraction);
        len += 1 + width;
    }
    out[len] = b'Z';
    Some(len + 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{NaiveDate, TimeZone};
    use serde::Deserialize;

    #[derive(Serialize)]
    struct Fast(#[serde(serialize_with = "serialize")] DateTime<Utc>);

    #[derive(Debug, Deserialize)]
    struct Read(#[serde(deserialize_with = "deserialize")] DateTime<Utc>);

    fn assert_same_as_chrono(at: DateTime<Utc>) {
        let ours = serde_json::to_string(&Fast(at)).unwrap();
        let chrono = serde_json::to_string(&at).unwrap();
        assert_eq!(ours, chrono, "for {at:?}");
        if (0..=9999).contains(&at.year()) {
            assert_eq!(serde_json::from_str::<Read>(&ours).unwrap().0, at, "{ours} read back");
        }
    }

    #[test]
    fn writes_what_chrono_writes_for_every_fraction_width() {
        let base = Utc.with_ymd_and_hms(2026, 11, 25, 21, 45, 7).unwrap();
        for nanos in [0, 1, 999, 1_000, 120_000, 123_456_000, 5_000_000, 100_000_000, 999_999_999, 42] {
            assert_same_as_chrono(base + chrono::Duration::nanoseconds(nanos));
        }
    }

    #[test]
    fn writes_what_chrono_writes_across_the_calendar() {
        // A walk over 2,000 years in uneven steps hits every month, leap days and odd times.
        let mut at = Utc.with_ymd_and_hms(1, 1, 1, 0, 0, 0).unwrap();
        let step = chrono::Duration::seconds(86_400 * 97 + 3_661) + chrono::Duration::microseconds(123_457);
        while at.year() < 2100 {
            assert_same_as_chrono(at);
            at += step;
        }
        assert_same_as_chrono(Utc.with_ymd_and_hms(9999, 12, 31, 23, 59, 59).unwrap());
        assert_same_as_chrono(Utc.with_ymd_and_hms(2024, 2, 29, 0, 0, 0).unwrap());
    }

    #[test]
    fn falls_back_to_chrono_outside_four_digit_years_and_for_leap_seconds() {
        assert_same_as_chrono(Utc.with_ymd_and_hms(-44, 3, 15, 12, 0, 0).unwrap());
        assert_same_as_chrono(Utc.with_ymd_and_hms(10_000, 1, 1, 0, 0, 0).unwrap());
        let leap = NaiveDate::from_ymd_opt(2016, 12, 31).unwrap().and_hms_nano_opt(23, 59, 59, 1_500_000_000).unwrap();
        assert_same_as_chrono(Utc.from_utc_datetime(&leap));
    }

    #[test]
    fn reads_rfc3339_and_nothing_looser() {
        let read = |json: &str| serde_json::from_str::<Read>(json).map(|read| read.0);
        let at = Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap();
        assert_eq!(read("\"2026-01-02T04:34:05+01:30\"").unwrap(), at);
        assert_eq!(read("\"2026-01-02t03:04:05.000z\"").unwrap(), at);
        assert_eq!(
            read("\"2026-01-02T03:04:05.1234567891Z\"").unwrap(),
            at + chrono::Duration::nanoseconds(123_456_789)
        );
        // chrono's Deserialize reads these; a response never holds them.
        for loose in ["2026-01-02T03:04:05 UTC", "2026-01-02 03:04:05 +00:00", "2026 -01-02T03:04:05Z"] {
            let json = format!("\"{loose}\"");
            assert_eq!(serde_json::from_str::<DateTime<Utc>>(&json).unwrap(), at, "chrono reads {loose}");
            assert!(read(&json).is_err(), "{loose}");
        }
        assert!(read("3").unwrap_err().to_string().contains("an RFC 3339 date and time"));
    }

    #[test]
    fn options_read_null_missing_or_the_timestamp() {
        #[derive(Debug, Deserialize)]
        struct Maybe {
            #[serde(default, deserialize_with = "option::deserialize")]
            at: Option<DateTime<Utc>>,
        }
        let read = |json: &str| serde_json::from_str::<Maybe>(json).unwrap().at;
        assert_eq!(read(r#"{"at":null}"#), None);
        assert_eq!(read("{}"), None);
        assert_eq!(read(r#"{"at":"2026-01-02T03:04:05Z"}"#), Some(Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap()));
        assert!(serde_json::from_str::<Maybe>(r#"{"at":"tomorrow"}"#).is_err());
    }

    #[test]
    fn options_serialize_as_null_or_the_timestamp() {
        #[derive(Serialize)]
        struct Maybe(#[serde(serialize_with = "option::serialize")] Option<DateTime<Utc>>);
        assert_eq!(serde_json::to_string(&Maybe(None)).unwrap(), "null");
        let at = Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap();
        assert_eq!(serde_json::to_string(&Maybe(Some(at))).unwrap(), "\"2026-01-02T03:04:05Z\"");
    }
}
