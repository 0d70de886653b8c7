//! Dates for people: "today", "tomorrow", "Mon 3 Dec", in the browser's time zone.
//! `chrono`'s clock and local zone do not exist on wasm32-unknown-unknown, so both come from
//! JavaScript's `Date`. The few fixed formats are written by hand: chrono's `format` and
//! `parse_from_str` would bring its whole strftime engine into the app for them.

use chrono::{DateTime, Datelike, Duration, FixedOffset, NaiveDate, NaiveTime, TimeZone, Timelike, Utc};

const WEEKDAYS: [&str; 7] = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"];
const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// `%A`: "Monday".
fn weekday(day: impl Datelike) -> &'static str {
    WEEKDAYS[day.weekday().num_days_from_monday() as usize]
}

/// `%B`: "December".
fn month(day: impl Datelike) -> &'static str {
    MONTHS[day.month0() as usize]
}

/// `%a` and `%b`: "Mon", "Dec" (every name above starts with three ASCII letters).
fn short(name: &'static str) -> &'static str {
    &name[..3]
}

/// `%Y`: four digits, signed outside 0..=9999, as chrono writes it.
fn year(day: impl Datelike) -> String {
    match day.year() {
        year @ 0..=9999 => format!("{year:04}"),
        year => format!("{year:+05}"),
    }
}

pub fn now() -> DateTime<Utc> {
    DateTime::from_timestamp_millis(js_sys::Date::now() as i64).unwrap_or_default()
}

/// The browser's IANA time zone ("Europe/Paris"), sent with each chat message so that the
/// assistant reads "tomorrow at 5pm" where the person is. A browser that cannot tell says
/// "Etc/Unknown", which no server knows: then none is sent, and the server reads UTC.
pub fn zone() -> Option<String> {
    let format = js_sys::Intl::DateTimeFormat::new(&js_sys::Array::new(), &js_sys::Object::new());
    let zone = js_sys::Reflect::get(&format.resolved_options(), &"timeZone".into()).ok()?.as_string()?;
    (zone != "Etc/Unknown").then_some(zone)
}

/// The browser's current UTC offset.
fn local_offset() -> FixedOffset {
    // getTimezoneOffset is minutes *behind* UTC.
    let minutes_behind = js_sys::Date::new_0().get_timezone_offset() as i32;
    FixedOffset::west_opt(minutes_behind * 60).unwrap_or_else(|| FixedOffset::east_opt(0).expect("zero offset"))
}

fn local_date(instant: DateTime<Utc>) -> NaiveDate {
    instant.with_timezone(&local_offset()).date_naive()
}

/// How a due date reads in the list.
pub fn due_label(due: DateTime<Utc>) -> String {
    let today = local_date(now());
    let day = local_date(due);
    match (day - today).num_days() {
        0 => "today".into(),
        1 => "tomorrow".into(),
        -1 => "yesterday".into(),
        2..=6 => weekday(day).into(),
        _ if day.year() == today.year() => format!("{} {} {}", short(weekday(day)), day.day(), short(month(day))),
        _ => format!("{} {} {}", day.day(), short(month(day)), year(day)),
    }
}

/// The full date and time, for a tooltip.
pub fn full(instant: DateTime<Utc>) -> String {
    let local = instant.with_timezone(&local_offset());
    format!(
        "{} {} {} {}, {:02}:{:02}",
        weekday(local),
        local.day(),
        month(local),
        year(local),
        local.hour(),
        local.minute()
    )
}

/// `<input type="date">`'s value for a due date.
pub fn date_input_value(due: Option<DateTime<Utc>>) -> String {
    due.map(|due| {
        let day = local_date(due);
        format!("{}-{:02}-{:02}", year(day), day.month(), day.day())
    })
    .unwrap_or_default()
}

/// `<input type="date">`'s value as a due time: the end of that day where the user is, so a
/// task due "today" is not overdue before the day is over. Empty means no due date.
pub fn parse_date_input(value: &str) -> Result<Option<DateTime<Utc>>, String> {
    let value = value.trim();
    if value.is_empty() {
        return Ok(None);
    }
    let day = parse_ymd(value).ok_or_else(|| format!("{value:?} is not a date"))?;
    let end_of_day = day.and_time(NaiveTime::from_hms_opt(23, 59, 0).expect("valid time"));
    local_offset()
        .from_local_datetime(&end_of_day)
        .single()
        .map(|local| Some(local.with_timezone(&Utc)))
        .ok_or_else(|| format!("{value} does not exist in this time zone"))
}

/// `YYYY-MM-DD`, what `<input type="date">` gives. Every value the input can hold reads as
/// chrono's `%Y-%m-%d` read it: a later year than 9999 is not a date here either.
fn parse_ymd(value: &str) -> Option<NaiveDate> {
    fn number(text: &str, digits: std::ops::RangeInclusive<usize>) -> Option<u32> {
        let all_digits = !text.is_empty() && text.bytes().all(|byte| byte.is_ascii_digit());
        (all_digits && digits.contains(&text.len())).then(|| text.parse().ok()).flatten()
    }
    let mut parts = value.splitn(3, '-');
    let year = number(parts.next()?, 4..=4)?;
    let month = number(parts.next()?, 1..=2)?;
    let day = number(parts.next()?, 1..=2)?;
    NaiveDate::from_ymd_opt(i32::try_from(year).ok()?, month, day)
}

/// "just now", "5 min ago", "3 h ago", then the date.
pub fn ago(instant: DateTime<Utc>) -> String {
    let elapsed = now() - instant;
    if elapsed < Duration::minutes(1) {
        "just now".into()
    } else if elapsed < Duration::hours(1) {
        format!("{} min ago", elapsed.num_minutes())
    } else if elapsed < Duration::hours(24) {
        format!("{} h ago", elapsed.num_hours())
    } else {
        due_label(instant)
    }
}
