//! Dates and times as people write them: "tomorrow at 5pm", "next friday", "in 3 days",
//! "on the 5th", "Dec 24 at 17:00", "2026-12-24". A pure function of the text and the person's
//! local "now": the time zone is someone else's job (the chat asks PostgreSQL, which carries the
//! tz database the scratch image lacks), so every rule here can be tested with a fixed clock.
//!
//! The readings, where English is ambiguous:
//! - a bare weekday ("friday") is the next one after today, never today;
//! - "this friday" is the coming one, today included;
//! - "next friday" is the Friday of next week, weeks starting on Monday. On Monday to Thursday
//!   that skips the coming Friday (what most people mean by "next"); on Friday to Sunday the
//!   coming Friday already lies in next week, so "this" and "next" name the same day;
//! - "tonight" is today with no time, so like any date alone it means the end of that day;
//! - a time alone ("at 17:00") is today, or tomorrow once that time has passed;
//! - a day and month without a year ("Dec 24") is the next one, today included: asked on
//!   Dec 26 it is next year's; "Feb 29" is the next leap day;
//! - "on the 5th" is the next 5th of a month, today included; a month without that day
//!   ("the 31st" in November) is skipped;
//! - "in 1 month" on Jan 31 is the last day of February (months keep the day, or clamp it).
//!
//! Dates that cannot be (Feb 30, 25:00, past year 9999) are `Unreadable`, never a guess.

use chrono::{Datelike, Days, Months, NaiveDate, NaiveDateTime, NaiveTime, Weekday};
use regex_lite::{Captures, Regex};
use std::{ops::Range, sync::LazyLock};

/// A date (and maybe a time) found in a text, in the person's local calendar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct When {
    /// Where the words that named it are, prefix ("due", "on"...) included: a title drops them.
    pub span: Range<usize>,
    pub date: NaiveDate,
    pub time: Option<NaiveTime>,
}

/// Words that look like a date but name none ("Feb 30", "in 99999999 days").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreadable {
    pub span: Range<usize>,
    pub reason: String,
}

/// Why a text meant as a date is not one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotADate {
    #[error(
        "{0:?} is not a date I can read: use RFC 3339, YYYY-MM-DD, or words like \"tomorrow at 5pm\", \
         \"next friday\", \"in 3 days\", \"Dec 24 at 17:00\""
    )]
    Unknown(String),
    /// Words that name an impossible date: why.
    #[error("{0}")]
    Impossible(String),
}

/// The time a date alone stands for: the end of the day, as a deadline.
pub const END_OF_DAY: NaiveTime = match NaiveTime::from_hms_opt(23, 59, 0) {
    Some(time) => time,
    None => panic!("23:59 is a time"),
};

impl When {
    /// The local wall time it names: its time, or the end of its day.
    pub fn wall_time(&self) -> NaiveDateTime {
        self.date.and_time(self.time.unwrap_or(END_OF_DAY))
    }

    /// `YYYY-MM-DD` or `YYYY-MM-DD HH:MM`: what the offline assistant passes to the tools,
    /// which read it back with `parse`.
    pub fn to_text(&self) -> String {
        match self.time {
            Some(time) => format!("{} {}", self.date.format("%Y-%m-%d"), time.format("%H:%M")),
            None => self.date.format("%Y-%m-%d").to_string(),
        }
    }
}

/// The longest stretch of text one phrase can take. Matching looks at most this far from each
/// word, so a 4000-character message costs a linear scan, not a quadratic one.
const WINDOW: usize = 64;

fn regex(pattern: &str) -> Regex {
    Regex::new(pattern).unwrap_or_else(|error| panic!("date pattern {pattern:?}: {error}"))
}

macro_rules! pattern {
    ($name:ident, $pattern:expr) => {
        static $name: LazyLock<Regex> = LazyLock::new(|| regex(concat!("^(?i)", $pattern)));
    };
}

const MONTH: &str = r"(jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\b\.?";

pattern!(PREFIX, r"(?:due(?:\s+(?:on|by|for))?|by|on|for|until)\s");
pattern!(RELATIVE_DAY, r"(today|tonight|tomorrow|(?:the\s+)?day\s+after\s+tomorrow)");
pattern!(WEEKDAY, r"(?:(this|next|coming)\s+)?(monday|tuesday|wednesday|thursday|friday|saturday|sunday)");
pattern!(NEXT_PERIOD, r"next\s+(week|month)");
pattern!(IN_PERIOD, r"in\s+(\d+|an?|one|two|three|four|five|six|seven|eight|nine|ten)\s+(days?|weeks?|months?|years?)");
pattern!(ISO_DATE, r"(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2}))?");
static MONTH_DAY: LazyLock<Regex> =
    LazyLock::new(|| regex(&format!(r"^(?i){MONTH}\s*(\d{{1,2}})(?:st|nd|rd|th)?\b(?:,?\s+(\d{{4}})\b)?")));
static DAY_MONTH: LazyLock<Regex> = LazyLock::new(|| {
    regex(&format!(r"^(?i)(?:the\s+)?(\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?{MONTH}(?:,?\s+(\d{{4}})\b)?"))
});
pattern!(NTH, r"the\s+(\d{1,2})(?:st|nd|rd|th)");
pattern!(TIME_WORD, r"(?:at\s+)?(noon|midday)");
pattern!(TIME_12H, r"(?:at\s+|@\s*)?(\d{1,2})(?:[:.](\d{2}))?\s*([ap])\.?m\b\.?");
pattern!(TIME_24H, r"(?:at\s+|@\s*)?(\d{1,2}):(\d{2})");

type Found = Result<(NaiveDate, Option<NaiveTime>), String>;

/// The text from byte `from`, at most `WINDOW` bytes of it.
fn window(text: &str, from: usize) -> &str {
    let mut end = (from + WINDOW).min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[from..end]
}

/// Matches `re` at byte `from` of `text`, ending at a word's end; the end and the captures.
fn take<'t>(re: &Regex, text: &'t str, from: usize) -> Option<(usize, Captures<'t>)> {
    let found = re.captures(window(text, from))?;
    let stop = from + found.get(0)?.end();
    let ends_word = text[stop..].chars().next().is_none_or(|c| !c.is_alphanumeric());
    // The captures index the window; callers only read their text.
    ends_word.then_some((stop, found))
}

/// Past "due", "on", "by"... and the white space after it.
fn prefix(text: &str, from: usize) -> Option<usize> {
    let end = from + PREFIX.find(window(text, from))?.end();
    Some(text.len() - text[end..].trim_start().len())
}

/// Past the white space and the one comma that may stand between a date and its time.
fn gap(text: &str, from: usize) -> usize {
    let rest = text[from..].trim_start();
    let rest = rest.strip_prefix(',').unwrap_or(rest).trim_start();
    text.len() - rest.len()
}

fn group<'t>(found: &Captures<'t>, index: usize) -> Option<&'t str> {
    found.get(index).map(|m| m.as_str())
}

fn number(raw: &str) -> Option<u32> {
    match raw.to_ascii_lowercase().as_str() {
        "a" | "an" | "one" => Some(1),
        "two" => Some(2),
        "three" => Some(3),
        "four" => Some(4),
        "five" => Some(5),
        "six" => Some(6),
        "seven" => Some(7),
        "eight" => Some(8),
        "nine" => Some(9),
        "ten" => Some(10),
        digits => digits.parse().ok(),
    }
}

fn month(raw: &str) -> Option<u32> {
    let months = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];
    let prefix = raw.get(..3)?.to_ascii_lowercase();
    months.iter().position(|m| *m == prefix).and_then(|index| u32::try_from(index + 1).ok())
}

fn weekday(raw: &str) -> Option<Weekday> {
    raw.to_ascii_lowercase().parse().ok()
}

fn too_far() -> String {
    "is past year 9999".to_owned()
}

/// A date past 9999 is as unreadable as Feb 30: the API's dates stop there (`DueAt`).
fn in_range(date: Option<NaiveDate>) -> Result<NaiveDate, String> {
    date.filter(|date| date.year() <= 9999).ok_or_else(too_far)
}

/// The first day on or after `from` that is `day` of some month (skipping months too short).
fn next_day_of_month(from: NaiveDate, day: u32) -> Result<NaiveDate, String> {
    if !(1..=31).contains(&day) {
        return Err(format!("no month has a day {day}"));
    }
    let first = from.with_day(1).ok_or_else(too_far)?;
    (0..3)
        .filter_map(|ahead| first.checked_add_months(Months::new(ahead)))
        .filter_map(|month| month.with_day(day))
        .find(|date| *date >= from)
        .ok_or_else(too_far)
        .and_then(|date| in_range(Some(date)))
}

/// `day` of `month` in `year`, or the next such day on or after `today`.
fn day_of_year(today: NaiveDate, month: u32, day: u32, year: Option<&str>) -> Result<NaiveDate, String> {
    // 2000 was a leap year: a day that does not exist then never does.
    let name = NaiveDate::from_ymd_opt(2000, month, 1).map(|d| d.format("%B").to_string()).unwrap_or_default();
    if NaiveDate::from_ymd_opt(2000, month, day).is_none() {
        return Err(format!("{name} has no day {day}"));
    }
    if let Some(year) = year {
        let year: i32 = year.parse().map_err(|_| too_far())?;
        return NaiveDate::from_ymd_opt(year, month, day)
            .ok_or_else(|| format!("{name} {year} has no day {day}"))
            .and_then(|date| in_range(Some(date)));
    }
    // Feb 29 comes back within 8 years (1896 to 1904 is the longest gap).
    (today.year()..=today.year() + 8)
        .filter_map(|year| NaiveDate::from_ymd_opt(year, month, day))
        .find(|date| *date >= today)
        .ok_or_else(too_far)
        .and_then(|date| in_range(Some(date)))
}

/// A date at byte `at`, relative to `today`; `prefixed` when "on"/"by"/... came before it.
fn date_at(text: &str, at: usize, today: NaiveDate, prefixed: bool) -> Option<(usize, Found)> {
    if let Some((end, found)) = take(&RELATIVE_DAY, text, at) {
        let word = group(&found, 1)?.to_ascii_lowercase();
        let days = match word.as_str() {
            "today" | "tonight" => 0,
            "tomorrow" => 1,
            _ => 2,
        };
        return Some((end, in_range(today.checked_add_days(Days::new(days))).map(|d| (d, None))));
    }
    if let Some((end, found)) = take(&WEEKDAY, text, at) {
        let day = weekday(group(&found, 2)?)?;
        let from_monday = |d: Weekday| u64::from(d.num_days_from_monday());
        let ahead = (7 + from_monday(day) - from_monday(today.weekday())) % 7;
        let ahead = match group(&found, 1).map(str::to_ascii_lowercase).as_deref() {
            Some("this") => ahead,
            Some("next") => 7 - from_monday(today.weekday()) + from_monday(day),
            _ if ahead == 0 => 7,
            _ => ahead,
        };
        return Some((end, in_range(today.checked_add_days(Days::new(ahead))).map(|d| (d, None))));
    }
    if let Some((end, found)) = take(&NEXT_PERIOD, text, at) {
        let date = match group(&found, 1)?.to_ascii_lowercase().as_str() {
            "week" => today.checked_add_days(Days::new(7)),
            _ => today.checked_add_months(Months::new(1)),
        };
        return Some((end, in_range(date).map(|d| (d, None))));
    }
    if let Some((end, found)) = take(&IN_PERIOD, text, at) {
        let unit = group(&found, 2)?.to_ascii_lowercase();
        let date = number(group(&found, 1)?).and_then(|n| match unit.trim_end_matches('s') {
            "day" => today.checked_add_days(Days::new(n.into())),
            "week" => today.checked_add_days(Days::new(u64::from(n) * 7)),
            "month" => today.checked_add_months(Months::new(n)),
            _ => n.checked_mul(12).and_then(|months| today.checked_add_months(Months::new(months))),
        });
        return Some((end, in_range(date).map(|d| (d, None))));
    }
    if let Some((end, found)) = take(&ISO_DATE, text, at) {
        let parts: Vec<u32> = (1..=3).map(|i| group(&found, i)?.parse().ok()).collect::<Option<_>>()?;
        let &[year, month, day] = parts.as_slice() else { return None };
        let date = i32::try_from(year)
            .ok()
            .and_then(|year| NaiveDate::from_ymd_opt(year, month, day))
            .filter(|date| date.year() >= 1)
            .ok_or_else(|| format!("there is no date {}", &text[at..at + 10]));
        let time = match (group(&found, 4), group(&found, 5)) {
            (Some(hour), Some(minute)) => clock(hour, Some(minute), None).map(Some),
            _ => Ok(None),
        };
        return Some((end, date.and_then(|date| time.map(|time| (date, time)))));
    }
    if let Some((end, found)) = take(&MONTH_DAY, text, at) {
        let (month, day) = (month(group(&found, 1)?)?, group(&found, 2)?.parse().ok()?);
        return Some((end, day_of_year(today, month, day, group(&found, 3)).map(|d| (d, None))));
    }
    if let Some((end, found)) = take(&DAY_MONTH, text, at) {
        let (day, month) = (group(&found, 1)?.parse().ok()?, month(group(&found, 2)?)?);
        return Some((end, day_of_year(today, month, day, group(&found, 3)).map(|d| (d, None))));
    }
    // "the 5th" alone is too often part of a title ("watch the 5th element"): only after "on".
    if prefixed && let Some((end, found)) = take(&NTH, text, at) {
        let day = group(&found, 1)?.parse().ok()?;
        return Some((end, next_day_of_month(today, day).map(|d| (d, None))));
    }
    None
}

/// A clock time from its parts; `meridiem` is `a` or `p` for 12-hour times.
fn clock(hour: &str, minute: Option<&str>, meridiem: Option<&str>) -> Result<NaiveTime, String> {
    let unreadable = || {
        let minute = minute.map(|m| format!(":{m}")).unwrap_or_default();
        let meridiem = meridiem.map(|m| format!(" {m}m")).unwrap_or_default();
        format!("there is no time {hour}{minute}{meridiem}")
    };
    let hour: u32 = hour.parse().map_err(|_| unreadable())?;
    let minute: u32 = minute.map_or(Ok(0), str::parse).map_err(|_| unreadable())?;
    let hour = match meridiem.map(str::to_ascii_lowercase).as_deref() {
        Some(_) if !(1..=12).contains(&hour) => return Err(unreadable()),
        Some("a") => hour % 12,
        Some(_) => hour % 12 + 12,
        None => hour,
    };
    NaiveTime::from_hms_opt(hour, minute, 0).ok_or_else(unreadable)
}

/// A time at byte `at`: its end and value.
fn time_at(text: &str, at: usize) -> Option<(usize, Result<NaiveTime, String>)> {
    if let Some((end, _)) = take(&TIME_WORD, text, at) {
        return Some((end, Ok(NaiveTime::from_hms_opt(12, 0, 0)?)));
    }
    if let Some((end, found)) = take(&TIME_12H, text, at) {
        return Some((end, clock(group(&found, 1)?, group(&found, 2), group(&found, 3))));
    }
    if let Some((end, found)) = take(&TIME_24H, text, at) {
        return Some((end, clock(group(&found, 1)?, group(&found, 2), None)));
    }
    None
}

/// The phrase starting at byte `start`, if one does; `whole` when the text is meant to be
/// nothing but a date (then "the 5th" needs no "on" before it).
fn phrase_at(text: &str, start: usize, now: NaiveDateTime, whole: bool) -> Option<(usize, Found)> {
    let today = now.date();
    let (at, prefixed) = prefix(text, start).map_or((start, false), |end| (end, true));
    if let Some((end, date)) = date_at(text, at, today, prefixed || whole) {
        // A time may follow: "tomorrow at 5pm", "Dec 24, 17:00". An unreadable date takes its
        // time along, so that the whole phrase is reported.
        let time = match date {
            Ok((_, Some(_))) => None,
            _ => time_at(text, gap(text, end)),
        };
        return Some(match time {
            None => (end, date),
            Some((end, time)) => (end, date.and_then(|(date, _)| time.map(|time| (date, Some(time))))),
        });
    }
    let (end, time) = time_at(text, at)?;
    // A date may follow: "at 5pm tomorrow", "at noon on friday".
    let after = gap(text, end);
    let (after, prefixed) = prefix(text, after).map_or((after, false), |end| (end, true));
    Some(match date_at(text, after, today, prefixed) {
        Some((end, date)) => (end, time.and_then(|time| date.map(|(date, _)| (date, Some(time))))),
        // A time alone: today, or tomorrow once it has passed.
        None => {
            let date = |time: NaiveTime| match time > now.time() {
                true => Ok(today),
                false => in_range(today.checked_add_days(Days::new(1))),
            };
            (end, time.and_then(|time| date(time).map(|date| (date, Some(time)))))
        }
    })
}

fn word_starts(text: &str) -> impl Iterator<Item = usize> + '_ {
    let mut previous = None;
    text.char_indices().filter_map(move |(index, c)| {
        let starts = (c.is_alphanumeric() || c == '@') && !previous.is_some_and(char::is_alphanumeric);
        previous = Some(c);
        starts.then_some(index)
    })
}

/// The first date phrase in `text`, read in the person's local `now`.
pub fn find(text: &str, now: NaiveDateTime) -> Option<Result<When, Unreadable>> {
    word_starts(text).find_map(|start| {
        let (end, found) = phrase_at(text, start, now, false)?;
        let span = start..end;
        Some(match found {
            Ok((date, time)) => Ok(When { span, date, time }),
            Err(reason) => Err(Unreadable { span, reason }),
        })
    })
}

/// `text` as one date phrase and nothing else (what the tools' `due_at` takes), or why not.
pub fn parse(text: &str, now: NaiveDateTime) -> Result<When, NotADate> {
    let text = text.trim();
    match phrase_at(text, 0, now, true) {
        Some((end, Ok((date, time)))) if end == text.len() => Ok(When { span: 0..end, date, time }),
        Some((end, Err(reason))) if end == text.len() => Err(NotADate::Impossible(reason)),
        _ => Err(NotADate::Unknown(text.to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Thursday 2026-11-26, 14:30 local: the day issue 15 was written.
    fn now() -> NaiveDateTime {
        NaiveDate::from_ymd_opt(2026, 11, 26).unwrap().and_hms_opt(14, 30, 0).unwrap()
    }

    fn day(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
    }

    /// What `find` makes of `text` at `now`: the words it took, and the date as `to_text`.
    fn read_at(text: &str, now: NaiveDateTime) -> Option<(String, String)> {
        match find(text, now)? {
            Ok(when) => Some((text[when.span.clone()].to_owned(), when.to_text())),
            Err(unreadable) => Some((text[unreadable.span].to_owned(), format!("unreadable: {}", unreadable.reason))),
        }
    }

    #[test]
    fn phrases_and_the_dates_they_name() {
        let table = [
            // The four sentences of issue 15.
            ("call bob tomorrow at 5pm", "tomorrow at 5pm", "2026-11-27 17:00"),
            ("dentist next friday", "next friday", "2026-12-04"),
            ("pay rent in 3 days", "in 3 days", "2026-11-29"),
            ("party on Dec 24 at 17:00", "on Dec 24 at 17:00", "2026-12-24 17:00"),
            // Days.
            ("x today", "today", "2026-11-26"),
            ("x tonight", "tonight", "2026-11-26"),
            ("x tonight at 9pm", "tonight at 9pm", "2026-11-26 21:00"),
            ("x Tomorrow", "Tomorrow", "2026-11-27"),
            ("x the day after tomorrow", "the day after tomorrow", "2026-11-28"),
            ("x due tomorrow", "due tomorrow", "2026-11-27"),
            ("x by tomorrow noon", "by tomorrow noon", "2026-11-27 12:00"),
            ("x until tomorrow", "until tomorrow", "2026-11-27"),
            ("x for today", "for today", "2026-11-26"),
            // Weekdays (today is a Thursday).
            ("x friday", "friday", "2026-11-27"),
            ("x thursday", "thursday", "2026-12-03"),
            ("x on Monday", "on Monday", "2026-11-30"),
            ("x this friday", "this friday", "2026-11-27"),
            ("x this thursday", "this thursday", "2026-11-26"),
            ("x coming friday", "coming friday", "2026-11-27"),
            ("x next monday", "next monday", "2026-11-30"),
            ("x next thursday", "next thursday", "2026-12-03"),
            ("x next sunday", "next sunday", "2026-12-06"),
            ("x next friday at 9am", "next friday at 9am", "2026-12-04 09:00"),
            ("x next week", "next week", "2026-12-03"),
            ("x next month", "next month", "2026-12-26"),
            // Periods.
            ("x in 2 weeks", "in 2 weeks", "2026-12-10"),
            ("x in a week", "in a week", "2026-12-03"),
            ("x in one day", "in one day", "2026-11-27"),
            ("x in 1 day", "in 1 day", "2026-11-27"),
            ("x in 3 months", "in 3 months", "2027-02-26"),
            ("x in 2 years", "in 2 years", "2028-11-26"),
            // Days of a month.
            ("x on the 5th", "on the 5th", "2026-12-05"),
            ("x by the 26th", "by the 26th", "2026-11-26"),
            ("x on the 1st", "on the 1st", "2026-12-01"),
            ("x on the 31st", "on the 31st", "2026-12-31"),
            ("x Dec 24", "Dec 24", "2026-12-24"),
            ("x December 24th", "December 24th", "2026-12-24"),
            ("x 24 Dec", "24 Dec", "2026-12-24"),
            ("x 24th of December", "24th of December", "2026-12-24"),
            ("x on the 24th of december", "on the 24th of december", "2026-12-24"),
            ("x dec. 24", "dec. 24", "2026-12-24"),
            ("x Dec 24 at 5pm", "Dec 24 at 5pm", "2026-12-24 17:00"),
            ("x Dec 24, 2027", "Dec 24, 2027", "2027-12-24"),
            ("x jan 3", "jan 3", "2027-01-03"),
            ("x Nov 25", "Nov 25", "2027-11-25"),
            ("x Nov 26", "Nov 26", "2026-11-26"),
            ("x feb 29", "feb 29", "2028-02-29"),
            // Times.
            ("x at 17:00", "at 17:00", "2026-11-26 17:00"),
            ("x at 9am", "at 9am", "2026-11-27 09:00"),
            ("x at 14:30", "at 14:30", "2026-11-27 14:30"),
            ("x 5:30pm", "5:30pm", "2026-11-26 17:30"),
            ("x 5:30 p.m.", "5:30 p.m.", "2026-11-26 17:30"),
            ("x at noon", "at noon", "2026-11-27 12:00"),
            ("x 12am tomorrow", "12am tomorrow", "2026-11-27 00:00"),
            ("x at 12pm", "at 12pm", "2026-11-27 12:00"),
            ("x at 5pm tomorrow", "at 5pm tomorrow", "2026-11-27 17:00"),
            ("x at noon on friday", "at noon on friday", "2026-11-27 12:00"),
            ("x @ 8pm", "@ 8pm", "2026-11-26 20:00"),
            // ISO dates, as the tools and the offline assistant write them.
            ("x 2027-04-15", "2027-04-15", "2027-04-15"),
            ("x by 2025-01-01", "by 2025-01-01", "2025-01-01"),
            ("x 2027-04-15 17:00", "2027-04-15 17:00", "2027-04-15 17:00"),
            ("x 2027-04-15T08:15", "2027-04-15T08:15", "2027-04-15 08:15"),
            ("x 2028-02-29", "2028-02-29", "2028-02-29"),
        ];
        for (text, words, date) in table {
            assert_eq!(read_at(text, now()), Some((words.to_owned(), date.to_owned())), "{text:?}");
        }
    }

    #[test]
    fn dates_that_cannot_be_are_unreadable_never_guessed() {
        let table = [
            ("x Feb 30", "Feb 30", "February has no day 30"),
            ("x april 31st", "april 31st", "April has no day 31"),
            ("x feb 29 2027", "feb 29 2027", "February 2027 has no day 29"),
            ("x in 99999999 days", "in 99999999 days", "is past year 9999"),
            ("x in 99999999999999999999 days", "in 99999999999999999999 days", "is past year 9999"),
            ("x 2026-02-30", "2026-02-30", "there is no date 2026-02-30"),
            ("x 0000-01-01", "0000-01-01", "there is no date 0000-01-01"),
            ("x at 25:00", "at 25:00", "there is no time 25:00"),
            ("x at 13pm", "at 13pm", "there is no time 13 pm"),
            ("x tomorrow at 9:75", "tomorrow at 9:75", "there is no time 9:75"),
            ("x on the 32nd", "on the 32nd", "no month has a day 32"),
        ];
        for (text, words, reason) in table {
            assert_eq!(read_at(text, now()), Some((words.to_owned(), format!("unreadable: {reason}"))), "{text:?}");
        }
        let last_day = NaiveDate::from_ymd_opt(9999, 12, 31).unwrap().and_hms_opt(12, 0, 0).unwrap();
        for text in ["tomorrow", "in 1 day", "jan 1", "friday", "at 9am", "on the 1st"] {
            assert_eq!(parse(text, last_day), Err(NotADate::Impossible("is past year 9999".to_owned())), "{text:?}");
        }
        assert_eq!(parse("today", last_day).map(|w| w.date), Ok(day("9999-12-31")));
    }

    #[test]
    fn words_that_only_look_like_dates_stay_in_the_title() {
        for text in [
            "watch the 5th element",
            "fix mayhem",
            "read chapter 5",
            "in 3 steps",
            "go to 24 hour shop",
            "mondays are hard",
            "pay the 1234-56-789 invoice",
            "x 10000-01-01",
        ] {
            assert_eq!(read_at(text, now()), None, "{text:?}");
        }
    }

    #[test]
    fn month_ends_and_leap_years() {
        let on = |date: &str| day(date).and_hms_opt(9, 0, 0).unwrap();
        let cases = [
            ("in 1 month", "2027-01-31", "2027-02-28"),
            ("in 1 month", "2028-01-31", "2028-02-29"),
            ("in 1 year", "2028-02-29", "2029-02-28"),
            ("tomorrow", "2028-02-28", "2028-02-29"),
            ("tomorrow", "2027-02-28", "2027-03-01"),
            ("tomorrow", "2026-12-31", "2027-01-01"),
            ("on the 31st", "2027-02-01", "2027-03-31"),
            ("on the 30th", "2027-02-01", "2027-03-30"),
            ("on the 29th", "2028-02-01", "2028-02-29"),
            ("dec 24", "2026-12-26", "2027-12-24"),
            ("feb 29", "2096-03-01", "2104-02-29"),
            ("next friday", "2026-11-29", "2026-12-04"),
            ("next friday", "2026-11-27", "2026-12-04"),
            ("this friday", "2026-11-28", "2026-12-04"),
            ("friday", "2026-11-27", "2026-12-04"),
        ];
        for (text, today, expected) in cases {
            assert_eq!(parse(text, on(today)).map(|w| w.date), Ok(day(expected)), "{text:?} on {today}");
        }
    }

    #[test]
    fn a_time_alone_is_the_next_time_it_comes() {
        let at = |h, m| day("2026-11-26").and_hms_opt(h, m, 0).unwrap();
        assert_eq!(parse("at 17:00", at(16, 59)).unwrap().to_text(), "2026-11-26 17:00");
        assert_eq!(parse("at 17:00", at(17, 0)).unwrap().to_text(), "2026-11-27 17:00");
        assert_eq!(parse("today at 9am", at(17, 0)).unwrap().to_text(), "2026-11-26 09:00", "said with a day: kept");
    }

    #[test]
    fn a_date_alone_is_the_end_of_its_day() {
        let when = parse("tomorrow", now()).unwrap();
        assert_eq!(when.wall_time(), day("2026-11-27").and_hms_opt(23, 59, 0).unwrap());
        let when = parse("tomorrow at 5pm", now()).unwrap();
        assert_eq!(when.wall_time(), day("2026-11-27").and_hms_opt(17, 0, 0).unwrap());
    }

    #[test]
    fn parse_takes_one_phrase_and_nothing_else() {
        assert_eq!(parse("  Next Friday at 9am ", now()).unwrap().to_text(), "2026-12-04 09:00");
        assert_eq!(parse("on the 5th", now()).unwrap().to_text(), "2026-12-05");
        assert_eq!(parse("the 5th", now()).unwrap().to_text(), "2026-12-05", "the whole text is a date");
        for text in ["tomorrow please", "call bob tomorrow", "", "friday!", "2026-11-27T17:00:00Z"] {
            assert_eq!(parse(text, now()), Err(NotADate::Unknown(text.trim().to_owned())), "{text:?}");
        }
        assert_eq!(parse("feb 30", now()), Err(NotADate::Impossible("February has no day 30".to_owned())));
    }

    #[test]
    fn spans_are_byte_offsets_into_the_original_text() {
        let text = "café über ÉTÉ tomorrow at 5pm ✓";
        let when = find(text, now()).unwrap().unwrap();
        assert_eq!(&text[when.span], "tomorrow at 5pm");
    }

    #[test]
    fn long_hostile_text_is_scanned_in_linear_time() {
        // 4000 characters of digits and words: every position starts a candidate.
        let text = "1 in 9 ".repeat(600);
        assert_eq!(find(&text, now()), None);
        let text = format!("{} tomorrow", "9".repeat(4000));
        assert_eq!(find(&text, now()).unwrap().unwrap().to_text(), "2026-11-27");
    }
}
