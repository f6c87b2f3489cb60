//! Retention: cohorts by first-activity period, lifecycle (new, returning,
//! resurrecting, dormant users per period) and churn by recency.

use crate::events::time::{civil_from_days, format_date, format_iso};
use crate::events::{display_name, EventLog, TimeBasis};
use crate::timeline::Timelines;
use serde::Serialize;

const DAY_MS: i64 = 86_400_000;
/// Cohorts kept per table, most recent last.
const MAX_COHORTS: usize = 24;
/// Most periods a cohort table may span: two years of days, five years of
/// weeks, fifty years of months. Beyond that a table would be mostly empty
/// columns, and a log spanning centuries has broken timestamps.
const MAX_PERIODS: i64 = 731;
/// Users listed as churn risks.
const AT_RISK_LISTED: usize = 50;

/// Calendar granularity of cohorts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Period {
    Day,
    Week,
    Month,
}

impl Period {
    const ALL: [Period; 3] = [Period::Day, Period::Week, Period::Month];

    /// Index of the period holding `ms`: days since 1970-01-01, weeks
    /// starting on Monday, or months since year 0.
    fn index(self, ms: i64) -> i64 {
        let days = ms.div_euclid(DAY_MS);
        match self {
            Period::Day => days,
            // 1970-01-01 was a Thursday; shifting by 3 makes weeks start on
            // Monday.
            Period::Week => (days + 3).div_euclid(7),
            Period::Month => {
                let (year, month, _) = civil_from_days(days);
                year * 12 + i64::from(month) - 1
            }
        }
    }

    /// First day of a period, as `YYYY-MM-DD`.
    fn label(self, index: i64) -> String {
        match self {
            Period::Day => format_date(index * DAY_MS),
            Period::Week => format_date((index * 7 - 3) * DAY_MS),
            Period::Month => format!(
                "{:04}-{:02}",
                index.div_euclid(12),
                index.rem_euclid(12) + 1
            ),
        }
    }
}

/// Settings for retention and churn.
#[derive(Clone, Debug, Default)]
pub struct RetentionOptions {
    /// A user is churned after this long without activity before the log
    /// ends. `None` picks a third of the log's span, at most 30 days.
    pub churn_window_ms: Option<i64>,
}

/// One cohort row.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Cohort {
    /// First day (or month) of the cohort's period.
    pub cohort: String,
    pub users: usize,
    /// Share of the cohort active in its period and each later one.
    pub retention: Vec<f64>,
    /// Users of the cohort active in each period.
    pub active: Vec<usize>,
}

/// Cohort table for one granularity, or the reason it is not shown.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct CohortTable {
    pub period: Period,
    /// Reason no table is shown (log too short, no dates); null when shown.
    pub note: Option<String>,
    pub cohorts: Vec<Cohort>,
}

/// Users per period by lifecycle state (growth accounting).
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct LifecyclePeriod {
    pub period: String,
    /// First active in this period.
    pub new: usize,
    /// Active in this period and the one before.
    pub returning: usize,
    /// Active in this period, not in the one before, but earlier.
    pub resurrecting: usize,
    /// Active in the period before but not in this one.
    pub dormant: usize,
}

/// One user at risk of churning.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ChurnRisk {
    pub user: String,
    pub last_event: String,
    pub recency_days: f64,
    pub events: usize,
    /// Recency baseline risk: days since the last event over the churn
    /// window, capped at 1.
    pub recency_risk: f64,
}

/// Churn by recency.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Churn {
    pub window_days: f64,
    /// Users whose last event is more than the window before the log's end.
    pub churned_users: usize,
    pub churn_rate: f64,
    /// Users not yet churned, with the highest recency risk first; users
    /// with a single event are left out, since they never showed a habit.
    pub at_risk: Vec<ChurnRisk>,
}

/// Retention report.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Retention {
    pub span_days: f64,
    pub cohorts: Vec<CohortTable>,
    /// Granularity used for the lifecycle split.
    pub lifecycle_period: Option<Period>,
    pub lifecycle: Vec<LifecyclePeriod>,
    pub churn: Option<Churn>,
    /// Reason churn or lifecycle are missing, if they are.
    pub note: Option<String>,
}

/// Computes cohorts, lifecycle and churn.
pub fn compute(log: &EventLog, timelines: &Timelines, options: &RetentionOptions) -> Retention {
    let Some((first, last)) = span(log) else {
        return Retention {
            span_days: 0.0,
            cohorts: Vec::new(),
            lifecycle_period: None,
            lifecycle: Vec::new(),
            churn: None,
            note: Some("the log has no events".into()),
        };
    };
    let span_days = (last - first) as f64 / DAY_MS as f64;
    if log.time_basis == TimeBasis::SequenceOnly {
        return Retention {
            span_days,
            cohorts: Vec::new(),
            lifecycle_period: None,
            lifecycle: Vec::new(),
            churn: None,
            note: Some("behavior sentences carry no dates, so retention cannot be measured".into()),
        };
    }
    let cohorts = Period::ALL
        .into_iter()
        .map(|period| cohort_table(log, timelines, period, first, last))
        .collect::<Vec<_>>();
    // The finest granularity with at most this many periods keeps the
    // lifecycle table readable (18 months of CDNOW: months, not 546 days).
    const MAX_LIFECYCLE_PERIODS: i64 = 60;
    let measurable: Vec<Period> = cohorts
        .iter()
        .filter(|table| !table.cohorts.is_empty())
        .map(|table| table.period)
        .collect();
    let lifecycle_period = measurable
        .iter()
        .copied()
        .find(|period| period.index(last) - period.index(first) < MAX_LIFECYCLE_PERIODS)
        .or(measurable.last().copied());
    let lifecycle = lifecycle_period
        .map(|period| lifecycle(log, timelines, period))
        .unwrap_or_default();
    let window = options
        .churn_window_ms
        .unwrap_or(((last - first) / 3).min(30 * DAY_MS));
    let (churn, note) = if window < DAY_MS {
        (
            None,
            Some(format!(
                "the log spans {}, too little to tell churned users from quiet ones; churn needs a \
                 window of at least a day",
                describe_span(last - first)
            )),
        )
    } else {
        (Some(churn(log, timelines, window, last)), None)
    };
    Retention {
        span_days,
        cohorts,
        lifecycle_period,
        lifecycle,
        churn,
        note,
    }
}

fn span(log: &EventLog) -> Option<(i64, i64)> {
    let first = log.events.iter().map(|event| event.time).min()?;
    let last = log.events.iter().map(|event| event.time).max()?;
    Some((first, last))
}

fn describe_span(ms: i64) -> String {
    if ms < DAY_MS {
        format!("{:.1} hours", ms as f64 / 3_600_000.0)
    } else {
        format!("{:.1} days", ms as f64 / DAY_MS as f64)
    }
}

/// Distinct period indices in which a user was active, ascending.
fn active_periods(log: &EventLog, events: &[u32], period: Period) -> Vec<i64> {
    let mut periods: Vec<i64> = events
        .iter()
        .map(|&index| period.index(log.events[index as usize].time))
        .collect();
    periods.dedup();
    periods
}

fn cohort_table(
    log: &EventLog,
    timelines: &Timelines,
    period: Period,
    first: i64,
    last: i64,
) -> CohortTable {
    let (start, end) = (period.index(first), period.index(last));
    let name = match period {
        Period::Day => "daily",
        Period::Week => "weekly",
        Period::Month => "monthly",
    };
    if end - start < 1 {
        return CohortTable {
            period,
            note: Some(format!(
                "the log spans {} within one {}, so {name} cohorts would have a single column",
                describe_span(last - first),
                match period {
                    Period::Day => "day",
                    Period::Week => "week",
                    Period::Month => "month",
                }
            )),
            cohorts: Vec::new(),
        };
    }
    let limit = match period {
        Period::Day => MAX_PERIODS,
        Period::Week => 261,
        Period::Month => 600,
    };
    if end - start + 1 > limit {
        return CohortTable {
            period,
            note: Some(format!(
                "the log spans {} {name} periods ({} to {}), more than the {limit} a {name} \
                 table shows; check the log for wrong timestamps if that span is unexpected",
                end - start + 1,
                format_date(first),
                format_date(last)
            )),
            cohorts: Vec::new(),
        };
    }
    let periods = (end - start + 1) as usize;
    // active[c][k]: users of cohort c active k periods after joining.
    let mut users = vec![0usize; periods];
    let mut active = vec![Vec::<usize>::new(); periods];
    for user in 0..timelines.users() {
        let seen = active_periods(log, timelines.of_user(user), period);
        let Some(&joined) = seen.first() else {
            continue;
        };
        let cohort = (joined - start) as usize;
        users[cohort] += 1;
        let row = &mut active[cohort];
        row.resize(periods - cohort, 0);
        for &index in &seen {
            row[(index - joined) as usize] += 1;
        }
    }
    let joined: Vec<usize> = (0..periods).filter(|&cohort| users[cohort] > 0).collect();
    let skip = joined.len().saturating_sub(MAX_COHORTS);
    let cohorts = joined[skip..]
        .iter()
        .map(|&cohort| {
            let row = &active[cohort];
            Cohort {
                cohort: period.label(start + cohort as i64),
                users: users[cohort],
                retention: row
                    .iter()
                    .map(|&count| count as f64 / users[cohort] as f64)
                    .collect(),
                active: row.clone(),
            }
        })
        .collect();
    let note = (skip > 0).then(|| {
        format!(
            "only the latest {MAX_COHORTS} of {} cohorts are shown",
            joined.len()
        )
    });
    CohortTable {
        period,
        note,
        cohorts,
    }
}

fn lifecycle(log: &EventLog, timelines: &Timelines, period: Period) -> Vec<LifecyclePeriod> {
    let mut rows: std::collections::BTreeMap<i64, LifecyclePeriod> = Default::default();
    fn entry(
        rows: &mut std::collections::BTreeMap<i64, LifecyclePeriod>,
        period: Period,
        index: i64,
    ) -> &mut LifecyclePeriod {
        rows.entry(index).or_insert_with(|| LifecyclePeriod {
            period: period.label(index),
            new: 0,
            returning: 0,
            resurrecting: 0,
            dormant: 0,
        })
    }
    let last_index = log
        .events
        .iter()
        .map(|event| period.index(event.time))
        .max()
        .unwrap_or(0);
    for user in 0..timelines.users() {
        let seen = active_periods(log, timelines.of_user(user), period);
        for (position, &index) in seen.iter().enumerate() {
            if position == 0 {
                entry(&mut rows, period, index).new += 1;
            } else if seen[position - 1] == index - 1 {
                entry(&mut rows, period, index).returning += 1;
            } else {
                entry(&mut rows, period, index).resurrecting += 1;
            }
            let next_active = seen.get(position + 1) == Some(&(index + 1));
            if !next_active && index < last_index {
                entry(&mut rows, period, index + 1).dormant += 1;
            }
        }
    }
    rows.into_values().collect()
}

fn churn(log: &EventLog, timelines: &Timelines, window: i64, end: i64) -> Churn {
    let mut churned = 0;
    let mut candidates = Vec::new();
    for user in 0..timelines.users() {
        let events = timelines.of_user(user);
        let Some(&last_index) = events.last() else {
            continue;
        };
        let last_time = log.events[last_index as usize].time;
        let recency = end - last_time;
        if recency > window {
            churned += 1;
        } else if events.len() > 1 {
            candidates.push((recency, user, events.len(), last_time));
        }
    }
    candidates.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    let at_risk = candidates
        .into_iter()
        .take(AT_RISK_LISTED)
        .map(|(recency, user, events, last_time)| ChurnRisk {
            user: display_name(log.users.name(user as u32)),
            last_event: format_iso(last_time),
            recency_days: recency as f64 / DAY_MS as f64,
            events,
            recency_risk: (recency as f64 / window as f64).min(1.0),
        })
        .collect();
    let users = timelines.users();
    Churn {
        window_days: window as f64 / DAY_MS as f64,
        churned_users: churned,
        churn_rate: if users == 0 {
            0.0
        } else {
            churned as f64 / users as f64
        },
        at_risk,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn periods_index_and_label() {
        let monday = 1_709_510_400_000; // 2024-03-04, a Monday
        assert_eq!(
            Period::Week.index(monday),
            Period::Week.index(monday + 6 * DAY_MS)
        );
        assert_ne!(Period::Week.index(monday), Period::Week.index(monday - 1));
        assert_eq!(
            Period::Week.label(Period::Week.index(monday + DAY_MS)),
            "2024-03-04"
        );
        assert_eq!(Period::Month.label(Period::Month.index(monday)), "2024-03");
        assert_eq!(Period::Day.label(Period::Day.index(monday)), "2024-03-04");
    }
}
