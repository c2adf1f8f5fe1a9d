//! Business calendars: which instants count towards an SLA, in the plan's own time zone.
//!
//! Instants are UTC milliseconds, like everywhere in the store. A calendar is a set of weekdays,
//! daily office hours in local wall time, and holidays (local dates). Each business day gives one
//! interval `[open, close)` of real instants, so a day on which the clocks change is simply one
//! hour shorter or longer — DST never needs special cases beyond turning wall time into instants.
//!
//! 7x24 counts every instant (and ignores holidays: round-the-clock cover is bought to include
//! them); the other coverages count only office hours on their weekdays.

use std::collections::BTreeSet;

use chrono::{Datelike, Duration, LocalResult, NaiveDate, NaiveTime, TimeZone, Utc, Weekday};
use chrono_tz::Tz;

/// Minutes in a day; office hours may end at `24:00`.
pub const DAY_MINUTES: u32 = 24 * 60;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Calendar {
    tz: Tz,
    /// `None`: every instant counts (7x24).
    office: Option<Office>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Office {
    /// Indexed by `Weekday::num_days_from_monday()`.
    days: [bool; 7],
    /// Minutes after local midnight; `start < end <= DAY_MINUTES`.
    start: u32,
    end: u32,
    holidays: BTreeSet<NaiveDate>,
}

impl Calendar {
    /// Every instant is business time.
    pub fn always(tz: Tz) -> Calendar {
        Calendar { tz, office: None }
    }

    /// Office hours `[start, end)` (minutes after local midnight) on the given weekdays.
    /// Refuses calendars with no business time at all, which would make targets unreachable.
    pub fn office_hours(
        tz: Tz,
        weekdays: &[Weekday],
        start: u32,
        end: u32,
        holidays: impl IntoIterator<Item = NaiveDate>,
    ) -> Result<Calendar, String> {
        if start >= end || end > DAY_MINUTES {
            return Err("office hours must start before they end, within one day".into());
        }
        if weekdays.is_empty() {
            return Err("a calendar needs at least one working weekday".into());
        }
        let mut days = [false; 7];
        for day in weekdays {
            days[day.num_days_from_monday() as usize] = true;
        }
        Ok(Calendar {
            tz,
            office: Some(Office {
                days,
                start,
                end,
                holidays: holidays.into_iter().collect(),
            }),
        })
    }

    pub fn time_zone(&self) -> Tz {
        self.tz
    }

    /// The instant `amount` milliseconds of business time after `start`. A zero amount is
    /// `start` itself; otherwise the result always lies within office hours (possibly exactly at
    /// a closing time, when the amount runs out there).
    pub fn add(&self, start: i64, amount: i64) -> i64 {
        if amount <= 0 {
            return start;
        }
        let Some(office) = &self.office else {
            return start.saturating_add(amount);
        };
        let mut left = amount;
        let mut date = self.local_date(start).pred_opt().unwrap_or(NaiveDate::MIN);
        // Terminates: at least one weekday is a working day and holidays are finite.
        loop {
            if let Some((open, close)) = self.interval_on(office, date) {
                if close > start {
                    let from = open.max(start);
                    let available = close - from;
                    if left <= available {
                        return from + left;
                    }
                    left -= available;
                }
            }
            match date.succ_opt() {
                Some(next) => date = next,
                None => return i64::MAX,
            }
        }
    }

    /// Business time between two instants (zero when `to` is not after `from`).
    pub fn between(&self, from: i64, to: i64) -> i64 {
        if to <= from {
            return 0;
        }
        let Some(office) = &self.office else {
            return to - from;
        };
        let last = self.local_date(to);
        let mut date = self.local_date(from).pred_opt().unwrap_or(NaiveDate::MIN);
        let mut total = 0;
        while date <= last {
            if let Some((open, close)) = self.interval_on(office, date) {
                let a = open.max(from);
                let b = close.min(to);
                if b > a {
                    total += b - a;
                }
            }
            match date.succ_opt() {
                Some(next) => date = next,
                None => break,
            }
        }
        total
    }

    /// Whether `at` lies within office hours, closing instant included.
    pub fn is_business_instant(&self, at: i64) -> bool {
        let Some(office) = &self.office else {
            return true;
        };
        let date = self.local_date(at);
        [date.pred_opt(), Some(date)]
            .into_iter()
            .flatten()
            .filter_map(|d| self.interval_on(office, d))
            .any(|(open, close)| open <= at && at <= close)
    }

    /// The business interval of a local date, as instants, if it is a working day.
    pub fn business_interval(&self, date: NaiveDate) -> Option<(i64, i64)> {
        match &self.office {
            None => Some((
                self.local_instant(date, 0),
                self.local_instant(date, DAY_MINUTES),
            )),
            Some(office) => self.interval_on(office, date),
        }
    }

    fn interval_on(&self, office: &Office, date: NaiveDate) -> Option<(i64, i64)> {
        if !office.days[date.weekday().num_days_from_monday() as usize]
            || office.holidays.contains(&date)
        {
            return None;
        }
        let open = self.local_instant(date, office.start);
        let close = self.local_instant(date, office.end);
        (close > open).then_some((open, close))
    }

    fn local_date(&self, at: i64) -> NaiveDate {
        let utc = chrono::DateTime::<Utc>::from_timestamp_millis(at).unwrap_or_default();
        self.tz.from_utc_datetime(&utc.naive_utc()).date_naive()
    }

    /// The instant the local wall clock first shows `minute` on `date`. A wall time skipped by
    /// a DST jump maps to the jump (the first instant the clock shows a later time); a repeated
    /// one maps to its first occurrence.
    fn local_instant(&self, date: NaiveDate, minute: u32) -> i64 {
        let wall = date.and_time(NaiveTime::MIN) + Duration::minutes(i64::from(minute));
        let mut probe = wall;
        // Gaps are at most a few hours; probing by the minute finds the jump exactly, because
        // zones change offset on whole minutes.
        for _ in 0..DAY_MINUTES {
            match self.tz.from_local_datetime(&probe) {
                LocalResult::Single(t) => return t.timestamp_millis(),
                LocalResult::Ambiguous(first, _) => return first.timestamp_millis(),
                LocalResult::None => probe += Duration::minutes(1),
            }
        }
        wall.and_utc().timestamp_millis()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const HOUR: i64 = 3_600_000;
    const MINUTE: i64 = 60_000;
    const WEEKDAYS: [Weekday; 5] = [
        Weekday::Mon,
        Weekday::Tue,
        Weekday::Wed,
        Weekday::Thu,
        Weekday::Fri,
    ];
    const MON_SAT: [Weekday; 6] = [
        Weekday::Mon,
        Weekday::Tue,
        Weekday::Wed,
        Weekday::Thu,
        Weekday::Fri,
        Weekday::Sat,
    ];

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).expect("valid in this test")
    }

    /// A local wall time in `tz`, as stored milliseconds.
    fn at(tz: Tz, y: i32, m: u32, d: u32, h: u32, min: u32) -> i64 {
        tz.with_ymd_and_hms(y, m, d, h, min, 0)
            .earliest()
            .expect("valid in this test")
            .timestamp_millis()
    }

    fn madrid_5x8(holidays: &[NaiveDate]) -> Calendar {
        Calendar::office_hours(
            chrono_tz::Europe::Madrid,
            &WEEKDAYS,
            9 * 60,
            17 * 60,
            holidays.iter().copied(),
        )
        .expect("valid in this test")
    }

    #[test]
    fn weekends_are_skipped() {
        let tz = chrono_tz::Europe::Madrid;
        let cal = madrid_5x8(&[]);
        // Friday 2026-11-20 16:00 + 2h → Monday 10:00.
        let friday = at(tz, 2026, 11, 20, 16, 0);
        assert_eq!(cal.add(friday, 2 * HOUR), at(tz, 2026, 11, 23, 10, 0));
        assert_eq!(cal.between(friday, at(tz, 2026, 11, 23, 10, 0)), 2 * HOUR);
        // Saturday and Sunday count nothing.
        assert_eq!(
            cal.between(at(tz, 2026, 11, 21, 0, 0), at(tz, 2026, 11, 23, 0, 0)),
            0
        );
    }

    #[test]
    fn six_by_eight_works_saturdays() {
        let tz = chrono_tz::Europe::Madrid;
        let cal =
            Calendar::office_hours(tz, &MON_SAT, 9 * 60, 17 * 60, []).expect("valid in this test");
        let friday = at(tz, 2026, 11, 20, 16, 0);
        assert_eq!(cal.add(friday, 2 * HOUR), at(tz, 2026, 11, 21, 10, 0));
    }

    #[test]
    fn holidays_are_skipped() {
        let tz = chrono_tz::Europe::Madrid;
        // Thursday 2026-12-24 16:00; Friday the 25th is a holiday.
        let cal = madrid_5x8(&[date(2026, 12, 25)]);
        let eve = at(tz, 2026, 12, 24, 16, 0);
        assert_eq!(cal.add(eve, 2 * HOUR), at(tz, 2026, 12, 28, 10, 0));
        assert_eq!(
            cal.between(at(tz, 2026, 12, 25, 0, 0), at(tz, 2026, 12, 26, 0, 0)),
            0
        );
        assert!(!cal.is_business_instant(at(tz, 2026, 12, 25, 12, 0)));
    }

    #[test]
    fn starting_outside_hours_waits_for_the_next_opening() {
        let tz = chrono_tz::Europe::Madrid;
        let cal = madrid_5x8(&[]);
        // Tuesday 06:00 + 30 min → 09:30; Tuesday 20:00 + 30 min → Wednesday 09:30.
        assert_eq!(
            cal.add(at(tz, 2026, 11, 24, 6, 0), 30 * MINUTE),
            at(tz, 2026, 11, 24, 9, 30)
        );
        assert_eq!(
            cal.add(at(tz, 2026, 11, 24, 20, 0), 30 * MINUTE),
            at(tz, 2026, 11, 25, 9, 30)
        );
        // Ending exactly at closing time stays on that day.
        assert_eq!(
            cal.add(at(tz, 2026, 11, 24, 9, 0), 8 * HOUR),
            at(tz, 2026, 11, 24, 17, 0)
        );
        // Zero business time is no time at all.
        let evening = at(tz, 2026, 11, 24, 20, 0);
        assert_eq!(cal.add(evening, 0), evening);
    }

    #[test]
    fn dst_moves_opening_in_utc() {
        // Spring forward in Madrid on Sunday 2026-03-29: Friday 16:00 CET (15:00 UTC) + 2h of
        // business time is Monday 10:00 CEST (08:00 UTC), 65 wall hours later, not 66.
        let tz = chrono_tz::Europe::Madrid;
        let cal = madrid_5x8(&[]);
        let friday = at(tz, 2026, 3, 27, 16, 0);
        let monday = cal.add(friday, 2 * HOUR);
        assert_eq!(monday, at(tz, 2026, 3, 30, 10, 0));
        assert_eq!(monday - friday, 65 * HOUR);
        // New York falls back on Sunday 2026-11-01.
        let ny = chrono_tz::America::New_York;
        let cal =
            Calendar::office_hours(ny, &WEEKDAYS, 8 * 60, 18 * 60, []).expect("valid in this test");
        let friday = at(ny, 2026, 10, 30, 17, 0);
        let monday = cal.add(friday, 2 * HOUR);
        assert_eq!(monday, at(ny, 2026, 11, 2, 9, 0));
        assert_eq!(
            monday - friday,
            65 * HOUR,
            "an extra wall hour, no extra business time"
        );
    }

    #[test]
    fn a_dst_day_is_shorter_or_longer() {
        let tz = chrono_tz::Europe::Madrid;
        let every_day = [
            Weekday::Mon,
            Weekday::Tue,
            Weekday::Wed,
            Weekday::Thu,
            Weekday::Fri,
            Weekday::Sat,
            Weekday::Sun,
        ];
        let cal =
            Calendar::office_hours(tz, &every_day, 0, DAY_MINUTES, []).expect("valid in this test");
        let length = |d: NaiveDate| {
            let (open, close) = cal.business_interval(d).expect("valid in this test");
            close - open
        };
        assert_eq!(length(date(2026, 3, 29)), 23 * HOUR);
        assert_eq!(length(date(2026, 10, 25)), 25 * HOUR);
        assert_eq!(length(date(2026, 10, 26)), 24 * HOUR);
        // Office hours inside the skipped hour open at the jump: 02:30 does not exist on
        // 2026-03-29, so a 02:30–04:00 day is 03:00–04:00 CEST, one hour.
        let night =
            Calendar::office_hours(tz, &every_day, 150, 240, []).expect("valid in this test");
        let (open, close) = night
            .business_interval(date(2026, 3, 29))
            .expect("valid in this test");
        assert_eq!(open, at(tz, 2026, 3, 29, 3, 0));
        assert_eq!(close - open, HOUR);
    }

    #[test]
    fn seven_by_twenty_four_is_wall_time() {
        let cal = Calendar::always(chrono_tz::Europe::Madrid);
        let t = at(chrono_tz::Europe::Madrid, 2026, 3, 28, 12, 0);
        assert_eq!(cal.add(t, 24 * HOUR), t + 24 * HOUR);
        assert_eq!(cal.between(t, t + 5 * HOUR), 5 * HOUR);
        assert_eq!(
            cal.business_interval(date(2026, 3, 29))
                .expect("valid in this test")
                .1
                - cal
                    .business_interval(date(2026, 3, 29))
                    .expect("valid in this test")
                    .0,
            23 * HOUR
        );
    }

    #[test]
    fn office_hours_are_validated() {
        let tz = chrono_tz::UTC;
        assert!(Calendar::office_hours(tz, &WEEKDAYS, 600, 600, []).is_err());
        assert!(Calendar::office_hours(tz, &WEEKDAYS, 0, DAY_MINUTES + 1, []).is_err());
        assert!(Calendar::office_hours(tz, &[], 0, 60, []).is_err());
    }

    fn calendars() -> impl Strategy<Value = Calendar> {
        let zones = prop_oneof![
            Just(chrono_tz::Europe::Madrid),
            Just(chrono_tz::America::New_York),
            Just(chrono_tz::Australia::Lord_Howe),
            Just(chrono_tz::UTC),
        ];
        let hours = (0u32..23 * 4).prop_flat_map(|start| {
            (Just(start * 15), (start + 1)..=(DAY_MINUTES / 15)).prop_map(|(s, e)| (s, e * 15))
        });
        let holidays = proptest::collection::vec(0i64..730, 0..20);
        (
            zones,
            prop_oneof![Just(0), Just(5), Just(6)],
            hours,
            holidays,
        )
            .prop_map(|(tz, coverage, (start, end), holidays)| {
                let base = date(2026, 1, 1);
                let holidays = holidays.into_iter().map(|d| base + Duration::days(d));
                match coverage {
                    0 => Calendar::always(tz),
                    5 => Calendar::office_hours(tz, &WEEKDAYS, start, end, holidays)
                        .expect("valid in this test"),
                    _ => Calendar::office_hours(tz, &MON_SAT, start, end, holidays)
                        .expect("valid in this test"),
                }
            })
    }

    /// Instants over 2026–2027, which include four DST changes in each zone with DST.
    fn instants() -> impl Strategy<Value = i64> {
        let from = at(chrono_tz::UTC, 2026, 1, 1, 0, 0);
        let to = at(chrono_tz::UTC, 2027, 12, 31, 0, 0);
        from..to
    }

    fn amounts() -> impl Strategy<Value = i64> {
        // Up to 30 business days of 24 hours, in milliseconds.
        0i64..30 * 24 * HOUR
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(400))]

        #[test]
        fn adding_then_measuring_gives_the_amount_back(cal in calendars(), t in instants(), d in amounts()) {
            let end = cal.add(t, d);
            prop_assert!(end >= t);
            prop_assert_eq!(cal.between(t, end), d);
        }

        #[test]
        fn results_stay_within_office_hours(cal in calendars(), t in instants(), d in 1i64..30 * 24 * HOUR) {
            prop_assert!(cal.is_business_instant(cal.add(t, d)));
        }

        #[test]
        fn adding_in_two_steps_is_adding_once(cal in calendars(), t in instants(), a in amounts(), b in amounts()) {
            prop_assert_eq!(cal.add(cal.add(t, a), b), cal.add(t, a + b));
        }

        #[test]
        fn measuring_then_adding_reaches_no_further(cal in calendars(), t in instants(), u in instants()) {
            let (from, to) = (t.min(u), t.max(u));
            let measured = cal.between(from, to);
            let reached = cal.add(from, measured);
            prop_assert!(reached <= to);
            prop_assert_eq!(cal.between(reached, to), 0);
            prop_assert!(measured <= to - from);
        }
    }
}
