use chrono::{DateTime, Datelike, SubsecRound, TimeDelta, Timelike, Utc};

/// A due date, or a bound of a due-date filter: an instant from 0001-01-01T00:00:00Z to
/// 9999-12-31T23:59:59.999999Z, to the microsecond.
///
/// Why this range: it is every instant RFC 3339 can write with its four-digit year, so the API
/// returns exactly what it stored, in the format it accepts; PostgreSQL's `timestamptz` holds
/// it all (4713 BC to 294276 AD), while years outside make it fail. Why microseconds:
/// PostgreSQL keeps no more, so finer digits are dropped here, where the caller sees the
/// value that will be stored, instead of silently in the driver.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct DueAt(DateTime<Utc>);

impl DueAt {
    pub const RANGE: &str = "0001-01-01T00:00:00Z to 9999-12-31T23:59:59.999999Z";

    pub fn parse(at: DateTime<Utc>) -> Result<Self, String> {
        // chrono writes a leap second as second 59 with a second's worth of extra nanoseconds;
        // PostgreSQL reads `23:59:60` as the next minute, and so does this.
        let at = match at.nanosecond().checked_sub(1_000_000_000) {
            Some(extra) => at.with_nanosecond(extra).and_then(|at| at.checked_add_signed(TimeDelta::seconds(1))),
            None => Some(at),
        }
        .map(|at| at.trunc_subsecs(6));
        match at {
            Some(at) if (1..=9999).contains(&at.year()) => Ok(Self(at)),
            _ => Err(format!("must be from {} (UTC)", Self::RANGE)),
        }
    }

    pub fn get(self) -> DateTime<Utc> {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn the_range_is_years_1_to_9999_in_utc() {
        assert!(DueAt::parse(at("0001-01-01T00:00:00Z")).is_ok());
        assert!(DueAt::parse(at("9999-12-31T23:59:59.999999Z")).is_ok());
        assert!(DueAt::parse(at("0001-01-01T00:00:00+00:01")).is_err(), "the year before, in UTC");
        assert!(DueAt::parse(at("9999-12-31T23:59:59-00:01")).is_err(), "the year after, in UTC");
        for year in [-5000, 0, 10_000, 262_142] {
            assert!(DueAt::parse(Utc.with_ymd_and_hms(year, 1, 1, 0, 0, 0).unwrap()).is_err(), "{year}");
        }
    }

    #[test]
    fn digits_finer_than_microseconds_are_dropped() {
        assert_eq!(
            DueAt::parse(at("2030-01-01T00:00:00.123456789Z")).unwrap().get(),
            at("2030-01-01T00:00:00.123456Z")
        );
        assert!(DueAt::parse(at("9999-12-31T23:59:59.9999999Z")).is_ok(), "truncated, not rounded into year 10000");
    }

    #[test]
    fn a_leap_second_is_the_next_minute_as_in_postgresql() {
        let leap = at("2016-12-31T23:59:60.5Z");
        assert_eq!(DueAt::parse(leap).unwrap().get(), at("2017-01-01T00:00:00.5Z"));
    }
}
