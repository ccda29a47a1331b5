//! Faults on demand: the failures a real org and the network between produce, injected by
//! configuration or the admin endpoint, at a rate or as a scripted sequence, and
//! deterministic for a given seed so a failing test can be replayed.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

/// One injected failure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Fault {
    /// Answer after a delay (and then normally).
    Latency { millis: u64 },
    /// 503 Service Unavailable, as during maintenance or overload.
    ServiceUnavailable,
    /// 500 with Salesforce's UNKNOWN_EXCEPTION body.
    InternalError,
    /// A write fails with UNABLE_TO_LOCK_ROW (reads pass).
    UnableToLockRow,
    /// 403 REQUEST_LIMIT_EXCEEDED although the daily allowance is not used up.
    RequestLimitExceeded,
    /// The caller's session expires now: 401 INVALID_SESSION_ID.
    ExpireSession,
    /// The request is carried out (the write commits) and then the connection is dropped
    /// without an answer, so the client cannot know it succeeded.
    DropAfterCommit,
}

/// Which requests a fault rule applies to.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultFilter {
    /// `GET`, `POST`, `PATCH`, `DELETE`; empty means any.
    #[serde(default)]
    pub methods: Vec<String>,
    /// A substring of the path (`/sobjects/Task`); `None` means any.
    #[serde(default)]
    pub path_contains: Option<String>,
}

impl FaultFilter {
    fn matches(&self, method: &str, path: &str) -> bool {
        (self.methods.is_empty()
            || self
                .methods
                .iter()
                .any(|allowed| allowed.eq_ignore_ascii_case(method)))
            && self
                .path_contains
                .as_ref()
                .is_none_or(|needle| path.contains(needle.as_str()))
    }
}

/// A fault that strikes matching requests with a probability.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaultRule {
    pub fault: Fault,
    /// Between 0 and 1.
    pub rate: f64,
    #[serde(default)]
    pub filter: FaultFilter,
}

/// The fault configuration: rules drawn at their rates, and a script played in order.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FaultPlan {
    #[serde(default)]
    pub rules: Vec<FaultRule>,
    /// Consumed one entry per matching API request; `None` entries let a request through.
    /// The script runs before the rules.
    #[serde(default)]
    pub script: Vec<Option<Fault>>,
    /// Which requests the script applies to.
    #[serde(default)]
    pub script_filter: FaultFilter,
    /// Latency added to every API request.
    #[serde(default)]
    pub base_latency_millis: u64,
}

/// The fault injector shared by the server.
#[derive(Debug)]
pub struct Faults {
    inner: Mutex<FaultState>,
}

#[derive(Debug)]
struct FaultState {
    rules: Vec<FaultRule>,
    script: VecDeque<Option<Fault>>,
    script_filter: FaultFilter,
    base_latency: Duration,
    rng: rand::rngs::StdRng,
    injected: u64,
}

impl Faults {
    /// An injector seeded for determinism.
    pub fn new(plan: FaultPlan, seed: u64) -> Faults {
        Faults {
            inner: Mutex::new(FaultState {
                rules: plan.rules,
                script: plan.script.into(),
                script_filter: plan.script_filter,
                base_latency: Duration::from_millis(plan.base_latency_millis),
                rng: rand::rngs::StdRng::seed_from_u64(seed),
                injected: 0,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, FaultState> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Replaces the plan (the RNG keeps its sequence).
    pub fn set_plan(&self, plan: FaultPlan) {
        let mut state = self.lock();
        state.rules = plan.rules;
        state.script = plan.script.into();
        state.script_filter = plan.script_filter;
        state.base_latency = Duration::from_millis(plan.base_latency_millis);
    }

    /// Removes every fault.
    pub fn clear(&self) {
        self.set_plan(FaultPlan::default());
    }

    /// Appends to the script.
    pub fn push_script(&self, faults: impl IntoIterator<Item = Option<Fault>>) {
        self.lock().script.extend(faults);
    }

    /// How many faults were injected so far.
    pub fn injected(&self) -> u64 {
        self.lock().injected
    }

    /// Decides the fault for one API request, and the base latency.
    pub(crate) fn draw(&self, method: &str, path: &str) -> (Duration, Option<Fault>) {
        let mut state = self.lock();
        let latency = state.base_latency;
        if !state.script.is_empty() && state.script_filter.matches(method, path) {
            let fault = state.script.pop_front().flatten();
            if fault.is_some() {
                state.injected += 1;
            }
            return (latency, fault);
        }
        let FaultState { rules, rng, .. } = &mut *state;
        let mut chosen = None;
        for rule in rules.iter() {
            if rule.filter.matches(method, path) && rng.random::<f64>() < rule.rate {
                chosen = Some(rule.fault.clone());
                break;
            }
        }
        if chosen.is_some() {
            state.injected += 1;
        }
        (latency, chosen)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_script_is_played_in_order_before_the_rules() {
        let faults = Faults::new(
            FaultPlan {
                script: vec![Some(Fault::ServiceUnavailable), None],
                ..FaultPlan::default()
            },
            1,
        );
        assert_eq!(faults.draw("GET", "/x").1, Some(Fault::ServiceUnavailable));
        assert_eq!(faults.draw("GET", "/x").1, None);
        assert_eq!(faults.draw("GET", "/x").1, None);
    }

    #[test]
    fn rates_are_deterministic_for_a_seed() {
        let plan = FaultPlan {
            rules: vec![FaultRule {
                fault: Fault::InternalError,
                rate: 0.5,
                filter: FaultFilter::default(),
            }],
            ..FaultPlan::default()
        };
        let draws = |seed| {
            let faults = Faults::new(plan.clone(), seed);
            (0..50)
                .map(|_| faults.draw("POST", "/y").1.is_some())
                .collect::<Vec<_>>()
        };
        assert_eq!(draws(9), draws(9));
        assert!(draws(9).iter().any(|hit| *hit) && draws(9).iter().any(|hit| !*hit));
    }
}
