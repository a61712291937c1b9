//! Restart supervision while wharf is attached (`up` in the foreground): what the engine's
//! restart policies cannot do. `deploy.restart_policy` with its `delay`, `max_attempts` and
//! `window` honoured (compose ignores `delay` and `window`), exponential backoff so a crash loop
//! never runs hot, and — opted into per service with `x-wharf: {restart_on_unhealthy: true}` —
//! restarting a container that turns unhealthy (docker/compose#4826).
//!
//! The decisions are pure (time is passed in), so they are unit-tested without waiting.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::model::Service;

/// When an exit calls for a restart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition {
    Any,
    OnFailure,
    Never,
}

/// How wharf supervises one service.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    pub condition: Condition,
    /// The first delay; each further attempt doubles it (up to [`MAX_DELAY`]).
    pub delay: Duration,
    pub max_attempts: Option<u32>,
    /// A container that ran longer than this before exiting starts the count afresh.
    pub window: Option<Duration>,
    pub on_unhealthy: bool,
}

/// The shortest delay: a crash loop never runs hot.
pub const MIN_DELAY: Duration = Duration::from_millis(100);
/// The longest delay between two attempts.
pub const MAX_DELAY: Duration = Duration::from_secs(60);

/// Whether wharf handles `svc`'s exits itself: a decision of the plan's (see
/// [`crate::plan::wharf_restarts`]).
pub use crate::plan::wharf_restarts;

/// The supervision wharf applies to `svc`, if any: a `deploy.restart_policy`, or the opt-in
/// `x-wharf: {restart_on_unhealthy: true}`.
pub fn policy(svc: &Service) -> Option<Policy> {
    let rp = svc.deploy.as_ref().and_then(|d| d.restart_policy.as_ref());
    let on_unhealthy = svc
        .extensions
        .get("x-wharf")
        .and_then(|x| x.get("restart_on_unhealthy"))
        .and_then(serde_json::Value::as_bool)
        .unwrap_or(false);
    if rp.is_none() && !on_unhealthy {
        return None;
    }
    let condition = match rp.and_then(|r| r.condition.as_deref()) {
        Some("none") => Condition::Never,
        Some("on-failure") => Condition::OnFailure,
        Some(_) => Condition::Any,
        None if rp.is_some() => Condition::Any,
        None => Condition::Never,
    };
    Some(Policy {
        condition,
        delay: rp.and_then(|r| r.delay).map(|d| d.to_std()).unwrap_or(Duration::ZERO).max(MIN_DELAY),
        max_attempts: rp.and_then(|r| r.max_attempts),
        window: rp.and_then(|r| r.window).map(|d| d.to_std()),
        on_unhealthy,
    })
}

/// What to do about a container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Restart after this delay; the attempt number (1-based).
    Restart { after: Duration, attempt: u32 },
    /// The policy does not ask for a restart.
    Leave,
    /// `max_attempts` reached.
    GiveUp { attempts: u32 },
}

#[derive(Debug, Clone)]
struct Track {
    attempts: u32,
    started: Instant,
}

/// Attempts per container.
#[derive(Debug, Default)]
pub struct Supervisor {
    track: HashMap<String, Track>,
}

impl Supervisor {
    /// The container started (by anyone) at `now`.
    pub fn started(&mut self, id: &str, now: Instant) {
        self.track.entry(id.to_string()).or_insert(Track { attempts: 0, started: now }).started = now;
    }

    /// Container `id` exited with `code` at `now`.
    pub fn exited(&mut self, id: &str, p: &Policy, code: i64, now: Instant) -> Decision {
        let wanted = match p.condition {
            Condition::Any => true,
            Condition::OnFailure => code != 0,
            Condition::Never => false,
        };
        if !wanted {
            return Decision::Leave;
        }
        self.next(id, p, now)
    }

    /// Container `id` turned unhealthy at `now`.
    pub fn unhealthy(&mut self, id: &str, p: &Policy, now: Instant) -> Decision {
        if !p.on_unhealthy {
            return Decision::Leave;
        }
        self.next(id, p, now)
    }

    fn next(&mut self, id: &str, p: &Policy, now: Instant) -> Decision {
        let t = self.track.entry(id.to_string()).or_insert(Track { attempts: 0, started: now });
        // It ran long enough to count as having recovered: count afresh.
        if let Some(w) = p.window
            && now.duration_since(t.started) > w
        {
            t.attempts = 0;
        }
        if p.max_attempts.is_some_and(|m| t.attempts >= m) {
            return Decision::GiveUp { attempts: t.attempts };
        }
        t.attempts += 1;
        let factor = 1u32 << (t.attempts - 1).min(16);
        let after = p.delay.saturating_mul(factor).min(MAX_DELAY);
        Decision::Restart { after, attempt: t.attempts }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pol(condition: Condition, delay_ms: u64, max: Option<u32>, window_s: Option<u64>) -> Policy {
        Policy {
            condition,
            delay: Duration::from_millis(delay_ms),
            max_attempts: max,
            window: window_s.map(Duration::from_secs),
            on_unhealthy: false,
        }
    }

    #[test]
    fn a_crash_loop_backs_off_exponentially_and_gives_up_after_max_attempts() {
        let p = pol(Condition::OnFailure, 200, Some(3), None);
        let mut s = Supervisor::default();
        let t0 = Instant::now();
        s.started("c", t0);
        let delays: Vec<Decision> = (0..4).map(|i| s.exited("c", &p, 1, t0 + Duration::from_millis(i))).collect();
        assert_eq!(
            delays,
            [
                Decision::Restart { after: Duration::from_millis(200), attempt: 1 },
                Decision::Restart { after: Duration::from_millis(400), attempt: 2 },
                Decision::Restart { after: Duration::from_millis(800), attempt: 3 },
                Decision::GiveUp { attempts: 3 },
            ]
        );
    }

    #[test]
    fn conditions_and_the_window() {
        let t0 = Instant::now();
        let mut s = Supervisor::default();
        assert_eq!(s.exited("a", &pol(Condition::OnFailure, 100, None, None), 0, t0), Decision::Leave);
        assert_eq!(s.exited("a", &pol(Condition::Never, 100, None, None), 1, t0), Decision::Leave);
        assert!(matches!(s.exited("b", &pol(Condition::Any, 100, None, None), 0, t0), Decision::Restart { .. }));
        // After running longer than the window, the count starts again.
        let p = pol(Condition::Any, 100, Some(1), Some(10));
        s.started("w", t0);
        assert!(matches!(s.exited("w", &p, 1, t0), Decision::Restart { attempt: 1, .. }));
        s.started("w", t0);
        assert_eq!(s.exited("w", &p, 1, t0 + Duration::from_secs(1)), Decision::GiveUp { attempts: 1 });
        s.started("w", t0 + Duration::from_secs(2));
        assert!(matches!(s.exited("w", &p, 1, t0 + Duration::from_secs(30)), Decision::Restart { attempt: 1, .. }));
    }

    #[test]
    fn delays_never_run_hot_and_are_capped() {
        let p = pol(Condition::Any, 0, None, None);
        let p = Policy { delay: p.delay.max(MIN_DELAY), ..p };
        let mut s = Supervisor::default();
        let t0 = Instant::now();
        let first = s.exited("c", &p, 1, t0);
        assert_eq!(first, Decision::Restart { after: MIN_DELAY, attempt: 1 });
        let last = (0..40).map(|_| s.exited("c", &p, 1, t0)).last().unwrap();
        assert!(matches!(last, Decision::Restart { after, .. } if after == MAX_DELAY));
    }

    #[test]
    fn unhealthy_restarts_only_when_opted_in() {
        let t0 = Instant::now();
        let mut s = Supervisor::default();
        let mut p = pol(Condition::Never, 100, None, None);
        assert_eq!(s.unhealthy("c", &p, t0), Decision::Leave);
        p.on_unhealthy = true;
        assert!(matches!(s.unhealthy("c", &p, t0), Decision::Restart { attempt: 1, .. }));
    }
}
