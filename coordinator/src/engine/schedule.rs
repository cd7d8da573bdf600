//! Cron schedules of scheduled policies: Harbor's six fields (seconds
//! first) or the classic five, in UTC, with Vixie cron's meanings (day of
//! week 0-7, Sunday being 0 and 7; day of month and day of week together
//! mean either).

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};

use crate::store::Millis;

/// A parsed cron expression.
#[derive(Debug, Clone)]
pub struct Schedule {
    text: String,
    cron: Cron,
}

/// Why a text is not a cron expression.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ScheduleError(String);

impl FromStr for Schedule {
    type Err = ScheduleError;

    fn from_str(text: &str) -> Result<Self, ScheduleError> {
        let text = text.trim();
        let fields = text.split_whitespace().count();
        if !(5..=6).contains(&fields) {
            return Err(ScheduleError(format!(
                "{text:?} has {fields} field(s): a cron expression has 6 (second minute hour \
                 day-of-month month day-of-week, e.g. \"0 0 2 * * *\") or the classic 5 \
                 (minute first)"
            )));
        }
        // croner skips empty list items, so a field of commas alone matches
        // nothing, and each search for a tick then walks to the year 5000
        // (seconds of CPU); Vixie cron refuses them too.
        if let Some(field) = text
            .split_whitespace()
            .find(|f| f.split(',').any(str::is_empty))
        {
            return Err(ScheduleError(format!(
                "{text:?} is not a cron expression: {field:?} has an empty list item"
            )));
        }
        // croner takes `L` alone in any field but gives it a meaning only
        // in the day of month (its last day): elsewhere the field matches
        // nothing, with the same cost as above.
        let dom = fields - 3;
        if let Some((_, field)) = text.split_whitespace().enumerate().find(|(i, f)| {
            *i != dom
                && f.split(',')
                    .any(|item| item.trim().eq_ignore_ascii_case("L"))
        }) {
            return Err(ScheduleError(format!(
                "{text:?} is not a cron expression: {field:?}: `L` alone means the last day \
                 of the month, in the day-of-month field only (for the last Friday of a \
                 month, write 5L in the day-of-week field)"
            )));
        }
        let cron = CronParser::builder()
            .seconds(Seconds::Optional)
            .year(Year::Disallowed)
            .build()
            .parse(text)
            .map_err(|e| ScheduleError(format!("{text:?} is not a cron expression: {e}")))?;
        // A field left without values (a day of week of `+` alone) matches
        // nothing: refused for the same reason as empty list items.
        let p = &cron.pattern;
        for (name, field) in [
            ("minute", &p.minutes),
            ("hour", &p.hours),
            ("day-of-month", &p.days),
            ("month", &p.months),
            ("day-of-week", &p.days_of_week),
        ] {
            if field.values().is_empty() && !field.has_modifiers() {
                return Err(ScheduleError(format!(
                    "{text:?} is not a cron expression: its {name} field matches nothing"
                )));
            }
        }
        Ok(Self {
            text: text.to_string(),
            cron,
        })
    }
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Schedule {
    /// The first tick strictly after `after` (epoch milliseconds, UTC);
    /// none when the expression never matches again.
    pub fn next_after(&self, after: Millis) -> Option<Millis> {
        let at = DateTime::<Utc>::from_timestamp_millis(after)?;
        self.cron
            .find_next_occurrence(&at, false)
            .ok()
            .map(|t| t.timestamp_millis())
    }

    /// The next `n` ticks after `after`.
    pub fn upcoming(&self, after: Millis, n: usize) -> Vec<Millis> {
        let mut out = Vec::with_capacity(n);
        let mut t = after;
        while out.len() < n {
            match self.next_after(t) {
                Some(next) => {
                    out.push(next);
                    t = next;
                }
                None => break,
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(s: &str) -> Millis {
        DateTime::parse_from_rfc3339(s).unwrap().timestamp_millis()
    }

    #[test]
    fn six_fields_with_seconds_and_five_without() {
        let every_10s: Schedule = "*/10 * * * * *".parse().unwrap();
        assert_eq!(
            every_10s.next_after(ms("2026-01-01T00:00:00Z")),
            Some(ms("2026-01-01T00:00:10Z"))
        );
        // Strictly after: a tick at the given instant is not "next".
        assert_eq!(
            every_10s.next_after(ms("2026-01-01T00:00:10Z")),
            Some(ms("2026-01-01T00:00:20Z"))
        );
        let hourly: Schedule = "30 * * * *".parse().unwrap();
        assert_eq!(
            hourly.next_after(ms("2026-01-01T10:31:00Z")),
            Some(ms("2026-01-01T11:30:00Z"))
        );
        assert_eq!(
            hourly.upcoming(ms("2026-01-01T10:00:00Z"), 3),
            [
                ms("2026-01-01T10:30:00Z"),
                ms("2026-01-01T11:30:00Z"),
                ms("2026-01-01T12:30:00Z")
            ]
        );
    }

    #[test]
    fn weekdays_are_vixie_cron_and_times_utc() {
        // 2026-01-01 is a Thursday. Day 1 is Monday, 0 and 7 Sunday.
        let monday: Schedule = "0 0 9 * * 1".parse().unwrap();
        assert_eq!(
            monday.next_after(ms("2026-01-01T00:00:00Z")),
            Some(ms("2026-01-05T09:00:00Z"))
        );
        for sunday in ["0 0 * * 0", "0 0 * * 7", "0 0 * * SUN"] {
            let s: Schedule = sunday.parse().unwrap();
            assert_eq!(
                s.next_after(ms("2026-01-01T00:00:00Z")),
                Some(ms("2026-01-04T00:00:00Z")),
                "{sunday}"
            );
        }
    }

    #[test]
    fn last_days_of_month_and_last_weekdays() {
        // 2026-02-28 is a Saturday, 2026-02-27 the last Friday of February.
        let last_day: Schedule = "0 0 L * *".parse().unwrap();
        assert_eq!(
            last_day.next_after(ms("2026-02-01T00:00:00Z")),
            Some(ms("2026-02-28T00:00:00Z"))
        );
        let last_friday: Schedule = "0 0 * * 5L".parse().unwrap();
        assert_eq!(
            last_friday.next_after(ms("2026-02-01T00:00:00Z")),
            Some(ms("2026-02-27T00:00:00Z"))
        );
    }

    #[test]
    fn bad_expressions_say_why() {
        for (bad, fields) in [("", 0), ("* * * *", 4), ("0 0 0 * * * 2027", 7)] {
            let e = bad.parse::<Schedule>().unwrap_err().to_string();
            assert!(
                e.starts_with(&format!(
                    "{bad:?} has {fields} field(s): a cron expression has 6"
                )),
                "{bad}: {e}"
            );
        }
        // The last seven cost up to seconds per tick searched (found by fuzzing).
        for bad in [
            "61 * * * * *",
            "every day of the week",
            "* ,  * * *",
            "0 1,,2 * * *",
            "0 0 1, * *",
            "0 0 13 2 +",
            "3 0,1 2 1 +",
            "1 13 * 2 L",
            "0 L * * * *",
        ] {
            let e = bad.parse::<Schedule>().unwrap_err().to_string();
            assert!(
                e.starts_with(&format!("{bad:?} is not a cron expression: ")),
                "{bad}: {e}"
            );
        }
    }
}
