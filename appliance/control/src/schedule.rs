//! Setpoint schedules: entries "from HH:MM on these weekdays, hold X °C" that
//! repeat every week (UTC, like every other time of day in Hearth). The zone
//! follows the latest entry at or before now; the controller also sees the
//! next one so it can pre-heat.

use hearth_core::{Celsius, Timestamp};
use serde::{Deserialize, Serialize};

const DAY_S: u64 = 86_400;
/// Every weekday, Monday (bit 0) to Sunday (bit 6).
pub const ALL_DAYS: u8 = 0x7f;

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ScheduleEntry {
    /// Weekdays the entry applies on, bit 0 = Monday .. bit 6 = Sunday.
    pub days: u8,
    /// Seconds into the day.
    pub at_s: u32,
    pub setpoint_c: Celsius,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Schedule {
    entries: Vec<ScheduleEntry>,
}

/// Weekday of a timestamp, 0 = Monday. 1970-01-01 was a Thursday.
fn weekday(day_index: u64) -> u32 {
    ((day_index + 3) % 7) as u32
}

impl Schedule {
    /// A schedule from entries; refuses an empty one, entries on no day,
    /// times outside the day and non-finite setpoints.
    pub fn new(mut entries: Vec<ScheduleEntry>) -> Result<Schedule, String> {
        if entries.is_empty() {
            return Err("a schedule needs at least one entry".into());
        }
        for (i, e) in entries.iter().enumerate() {
            if e.days & ALL_DAYS == 0 || e.days & !ALL_DAYS != 0 {
                return Err(format!("entry {i}: applies on no valid day"));
            }
            if u64::from(e.at_s) >= DAY_S {
                return Err(format!("entry {i}: time of day out of range"));
            }
            if !e.setpoint_c.is_finite() {
                return Err(format!("entry {i}: setpoint must be finite"));
            }
        }
        entries.sort_by_key(|e| e.at_s);
        Ok(Schedule { entries })
    }

    pub fn entries(&self) -> &[ScheduleEntry] {
        &self.entries
    }

    /// Every (time, setpoint) the schedule switches to, from `from` day
    /// offsets around `now` (a week back to a week ahead), in time order.
    fn events_around(&self, now: Timestamp) -> impl Iterator<Item = (Timestamp, Celsius)> + '_ {
        let today = now.as_millis() / 1000 / DAY_S;
        (0..=14u64).flat_map(move |k| {
            let day = (today + k).checked_sub(7);
            self.entries.iter().filter_map(move |e| {
                let day = day?;
                (e.days & (1 << weekday(day)) != 0).then(|| {
                    (
                        Timestamp::from_secs(day * DAY_S + u64::from(e.at_s)),
                        e.setpoint_c,
                    )
                })
            })
        })
    }

    /// The entry in force at `now`: when it started and its setpoint.
    pub fn active_at(&self, now: Timestamp) -> Option<(Timestamp, Celsius)> {
        self.events_around(now).filter(|(t, _)| *t <= now).last()
    }

    /// The first entry strictly after `now`, within a week.
    pub fn next_after(&self, now: Timestamp) -> Option<(Timestamp, Celsius)> {
        self.events_around(now).find(|(t, _)| *t > now)
    }

    /// Every setpoint in force at some moment of `[from, to]`.
    pub fn setpoints_between(&self, from: Timestamp, to: Timestamp) -> Vec<Celsius> {
        let mut out: Vec<Celsius> = self.active_at(from).map(|(_, c)| c).into_iter().collect();
        let mut t = from;
        while let Some((at, c)) = self.next_after(t) {
            if at > to {
                break;
            }
            out.push(c);
            t = at;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn daily(at_h: u32, sp: f64) -> ScheduleEntry {
        ScheduleEntry {
            days: ALL_DAYS,
            at_s: at_h * 3600,
            setpoint_c: Celsius(sp),
        }
    }

    #[test]
    fn daily_schedule_wraps_over_midnight() {
        let s = Schedule::new(vec![daily(22, 17.0), daily(6, 21.0)]).expect("valid");
        let h = |x: u64| Timestamp::from_secs(10 * DAY_S + x * 3600);
        assert_eq!(s.active_at(h(3)), Some((h(0).plus_h(-2), Celsius(17.0))));
        assert_eq!(s.active_at(h(6)).map(|a| a.1), Some(Celsius(21.0)));
        assert_eq!(s.active_at(h(23)).map(|a| a.1), Some(Celsius(17.0)));
        assert_eq!(s.next_after(h(3)), Some((h(6), Celsius(21.0))));
        assert_eq!(s.next_after(h(6)), Some((h(22), Celsius(17.0))));
        assert_eq!(
            s.setpoints_between(h(3), h(7)),
            vec![Celsius(17.0), Celsius(21.0)]
        );
    }

    trait PlusH {
        fn plus_h(self, h: i64) -> Timestamp;
    }
    impl PlusH for Timestamp {
        fn plus_h(self, h: i64) -> Timestamp {
            Timestamp::from_millis((self.as_millis() as i64 + h * 3_600_000) as u64)
        }
    }

    #[test]
    fn weekday_entries_apply_only_on_their_days() {
        // Day 4 after the epoch (1970-01-05) was a Monday.
        let weekend = ScheduleEntry {
            days: 0b110_0000,
            at_s: 8 * 3600,
            setpoint_c: Celsius(22.0),
        };
        let s = Schedule::new(vec![daily(7, 20.0), weekend]).expect("valid");
        let monday_9 = Timestamp::from_secs(4 * DAY_S + 9 * 3600);
        let saturday_9 = Timestamp::from_secs(9 * DAY_S + 9 * 3600);
        assert_eq!(s.active_at(monday_9).map(|a| a.1), Some(Celsius(20.0)));
        assert_eq!(s.active_at(saturday_9).map(|a| a.1), Some(Celsius(22.0)));
    }

    #[test]
    fn bad_schedules_are_refused() {
        assert!(Schedule::new(vec![]).is_err());
        let mut e = daily(6, 21.0);
        e.days = 0;
        assert!(Schedule::new(vec![e]).is_err());
        e = daily(6, 21.0);
        e.at_s = 86_400;
        assert!(Schedule::new(vec![e]).is_err());
        e = daily(6, f64::NAN);
        assert!(Schedule::new(vec![e]).is_err());
    }
}
