//! A circuit breaker per organisation (R16): after repeated transient failures of one
//! organisation's Salesforce, that organisation's queue pauses, then one call probes; its
//! success resumes the queue, its failure pauses it again for longer. Other organisations
//! are never held up.
//!
//! Hand-written rather than a crate's: the state must be keyed by organisation, drive the
//! worker's claims (which organisations to leave out, which to probe) and be shown in
//! `GET /v1/org`, which the general-purpose breakers (tower's, `failsafe`) do not offer.
//! Each instance keeps its own breaker; the state is also written to the store
//! (`org_health`) so that what waits, and why, is visible.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};

use crate::store::WaitReason;

/// The breaker of one organisation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgBreaker {
    pub state: BreakerState,
    /// Transient failures in a row (reset by a success).
    pub failures: u32,
    /// Why it is open: `salesforce_unavailable` or `daily_limit`.
    pub reason: WaitReason,
    pub detail: String,
    /// When it last opened.
    pub since: Timestamp,
    /// When a probe may go (while open).
    pub next_probe: Timestamp,
    /// How long the last pause was, doubled on each failed probe.
    pause: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr)]
#[strum(serialize_all = "snake_case")]
pub enum BreakerState {
    Closed,
    /// Paused: no call of the organisation is claimed until `next_probe`.
    Open,
    /// One call is on its way as the probe.
    Probing,
}

/// What the worker may do with an organisation's calls now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Claim and sync as usual.
    Open,
    /// Claim exactly one call, as the probe.
    Probe,
    /// Claim nothing.
    Paused,
}

/// A transition worth writing to the store and the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transition {
    Opened(OrgBreaker),
    Closed,
}

#[derive(Debug)]
pub struct Breakers {
    threshold: u32,
    first_pause: Duration,
    max_pause: Duration,
    orgs: Mutex<HashMap<String, OrgBreaker>>,
}

impl Breakers {
    /// Opens after `threshold` transient failures in a row, pausing first for
    /// `first_pause`, doubling up to `max_pause`.
    pub fn new(threshold: u32, first_pause: Duration, max_pause: Duration) -> Breakers {
        Breakers {
            threshold: threshold.max(1),
            first_pause,
            max_pause: max_pause.max(first_pause),
            orgs: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, OrgBreaker>> {
        // A panic while holding the lock leaves the map consistent (every change is one
        // assignment), so a poisoned lock is still usable.
        self.orgs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Organisations whose calls are not to be claimed now, and those whose probe is due
    /// (each then counts as probing until [`Breakers::success`] or [`Breakers::failure`]).
    pub fn admissions(&self, now: Timestamp) -> (Vec<String>, Vec<String>) {
        let mut paused = Vec::new();
        let mut probes = Vec::new();
        for (org, breaker) in self.lock().iter_mut() {
            match breaker.state {
                BreakerState::Closed => {}
                BreakerState::Probing => paused.push(org.clone()),
                BreakerState::Open if now >= breaker.next_probe => {
                    breaker.state = BreakerState::Probing;
                    paused.push(org.clone());
                    probes.push(org.clone());
                }
                BreakerState::Open => paused.push(org.clone()),
            }
        }
        (paused, probes)
    }

    /// Gives the probe back when no call of the organisation was due to carry it.
    pub fn probe_not_sent(&self, org: &str, now: Timestamp) {
        if let Some(breaker) = self.lock().get_mut(org)
            && breaker.state == BreakerState::Probing
        {
            breaker.state = BreakerState::Open;
            breaker.next_probe = now;
        }
    }

    /// Takes over what an earlier run of this instance (or another instance) recorded:
    /// an organisation whose queue was paused starts paused, due for a probe, so a restart
    /// does not send its whole queue into an outage.
    pub fn restore(
        &self,
        org: &str,
        reason: WaitReason,
        detail: &str,
        since: Timestamp,
        now: Timestamp,
    ) {
        self.lock()
            .entry(org.to_owned())
            .or_insert_with(|| OrgBreaker {
                state: BreakerState::Open,
                failures: self.threshold,
                reason,
                detail: detail.to_owned(),
                since,
                next_probe: now,
                pause: self.first_pause,
            });
    }

    /// Whether a call of `org` may start now.
    pub fn admission(&self, org: &str) -> Admission {
        match self.lock().get(org).map(|breaker| breaker.state) {
            None | Some(BreakerState::Closed) => Admission::Open,
            Some(BreakerState::Probing) => Admission::Probe,
            Some(BreakerState::Open) => Admission::Paused,
        }
    }

    /// Salesforce answered a call of `org`.
    pub fn success(&self, org: &str) -> Option<Transition> {
        let mut orgs = self.lock();
        let breaker = orgs.remove(org)?;
        (breaker.state != BreakerState::Closed).then_some(Transition::Closed)
    }

    /// A call of `org` failed transiently for `reason`; `wait` is how long Salesforce
    /// asked to wait, if it said.
    pub fn failure(
        &self,
        org: &str,
        reason: WaitReason,
        detail: &str,
        wait: Option<Duration>,
        now: Timestamp,
    ) -> Option<Transition> {
        let mut orgs = self.lock();
        let breaker = orgs.entry(org.to_owned()).or_insert_with(|| OrgBreaker {
            state: BreakerState::Closed,
            failures: 0,
            reason,
            detail: String::new(),
            since: now,
            next_probe: now,
            pause: Duration::ZERO,
        });
        breaker.failures = breaker.failures.saturating_add(1);
        breaker.reason = reason;
        breaker.detail = detail.to_owned();
        // A reached daily limit will not clear in seconds: pause at once, for as long as
        // asked (R16: it waits until the allowance frees).
        let trips = breaker.state == BreakerState::Probing
            || breaker.failures >= self.threshold
            || reason == WaitReason::DailyLimit;
        if !trips {
            return None;
        }
        let was_open = breaker.state != BreakerState::Closed;
        breaker.pause = match (breaker.state, wait) {
            (_, Some(asked)) => asked,
            (BreakerState::Closed, None) => self.first_pause,
            (_, None) => (breaker.pause * 2).clamp(self.first_pause, self.max_pause),
        };
        if !was_open {
            breaker.since = now;
        }
        breaker.state = BreakerState::Open;
        breaker.next_probe = now
            .checked_add(SignedDuration::try_from(breaker.pause).unwrap_or(SignedDuration::MAX))
            .unwrap_or(now);
        Some(Transition::Opened(breaker.clone()))
    }

    /// The breaker of `org`, if it is not closed.
    pub fn of(&self, org: &str) -> Option<OrgBreaker> {
        self.lock().get(org).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + seconds).unwrap()
    }

    fn breakers() -> Breakers {
        Breakers::new(3, Duration::from_secs(2), Duration::from_secs(8))
    }

    #[test]
    fn r16_repeated_transient_failures_pause_only_that_organisation() {
        let breakers = breakers();
        for _ in 0..2 {
            let none = breakers.failure("a", WaitReason::SalesforceUnavailable, "503", None, at(0));
            assert_eq!(none, None);
        }
        assert!(matches!(
            breakers.failure("a", WaitReason::SalesforceUnavailable, "503", None, at(0)),
            Some(Transition::Opened(_))
        ));
        assert_eq!(breakers.admission("a"), Admission::Paused);
        assert_eq!(breakers.admission("b"), Admission::Open);
        assert_eq!(breakers.admissions(at(1)), (vec!["a".to_owned()], vec![]));
    }

    #[test]
    fn r16_one_probe_after_the_pause_and_its_success_resumes() {
        let breakers = breakers();
        for _ in 0..3 {
            breakers.failure("a", WaitReason::SalesforceUnavailable, "503", None, at(0));
        }
        let (paused, probes) = breakers.admissions(at(2));
        assert_eq!(
            (paused, probes),
            (vec!["a".to_owned()], vec!["a".to_owned()])
        );
        assert_eq!(breakers.admission("a"), Admission::Probe);
        assert_eq!(
            breakers.admissions(at(3)).1,
            Vec::<String>::new(),
            "one probe at a time"
        );
        assert_eq!(breakers.success("a"), Some(Transition::Closed));
        assert_eq!(breakers.admission("a"), Admission::Open);
    }

    #[test]
    fn r16_a_failed_probe_pauses_again_for_longer_up_to_the_cap() {
        let breakers = breakers();
        for _ in 0..3 {
            breakers.failure("a", WaitReason::SalesforceUnavailable, "503", None, at(0));
        }
        let mut now = 2;
        for expected_pause in [4, 8, 8] {
            breakers.admissions(at(now));
            breakers.failure("a", WaitReason::SalesforceUnavailable, "503", None, at(now));
            let breaker = breakers.of("a").unwrap();
            assert_eq!(breaker.next_probe, at(now + expected_pause));
            assert_eq!(breaker.since, at(0), "still the same outage");
            now += expected_pause;
        }
    }

    #[test]
    fn r16_a_reached_daily_limit_pauses_at_once_for_as_long_as_asked() {
        let breakers = breakers();
        let wait = Some(Duration::from_secs(900));
        let opened = breakers.failure("a", WaitReason::DailyLimit, "limit", wait, at(0));
        assert!(matches!(opened, Some(Transition::Opened(ref b)) if b.next_probe == at(900)));
    }

    #[test]
    fn r16_a_restarted_instance_starts_paused_and_probes_first() {
        let breakers = breakers();
        breakers.restore(
            "a",
            WaitReason::SalesforceUnavailable,
            "503",
            at(-60),
            at(0),
        );
        assert_eq!(
            breakers.admissions(at(0)),
            (vec!["a".to_owned()], vec!["a".to_owned()])
        );
        breakers.probe_not_sent("a", at(1));
        assert_eq!(
            breakers.admission("a"),
            Admission::Paused,
            "no probe went: due again"
        );
        assert_eq!(breakers.admissions(at(1)).1, vec!["a".to_owned()]);
        assert_eq!(
            breakers.success("a"),
            Some(Transition::Closed),
            "the stored pause is cleared"
        );
    }
}
