//! Waiting on a managed control plane: polls that start fast and back off, bounded by what the
//! step may spend (the function's own limit and the Lambda's remaining time).

use super::control::{CallError, ControlPlane, Observed};
use crate::backend::BackendError;
use std::future::Future;
use std::time::Duration;
// tokio's clock, so the tests can run it paused.
use tokio::time::Instant;

/// Environment variable: the longest a step waits for a managed user or group to take a change,
/// in seconds (1–900).
pub const WAIT_ENV: &str = "ROTATION_MANAGED_WAIT_SECONDS";
/// Without [`WAIT_ENV`]: as long as AWS's own ElastiCache rotation function waits.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(600);
/// Time kept back from the Lambda's deadline to fail the step cleanly and log it.
pub const DEADLINE_MARGIN: Duration = Duration::from_secs(3);
const FIRST_PAUSE: Duration = Duration::from_millis(200);
const LONGEST_PAUSE: Duration = Duration::from_secs(5);

/// The longest wait `raw` (the value of [`WAIT_ENV`], if set) allows.
pub fn longest_wait(raw: Option<&str>) -> Result<Duration, BackendError> {
    match raw {
        None => Ok(DEFAULT_WAIT),
        Some(raw) => match raw.trim().parse::<u64>() {
            Ok(seconds @ 1..=900) => Ok(Duration::from_secs(seconds)),
            _ => Err(BackendError::InvalidField {
                field: WAIT_ENV.into(),
                problem: "the function's environment must give a whole number of seconds between \
                          1 and 900"
                    .into(),
            }),
        },
    }
}

/// How long a step may still wait, from when it started.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    started: Instant,
    until: Instant,
}

impl Budget {
    /// The budget of a step ending by `deadline` (if any), within `longest`.
    pub fn new(deadline: Option<std::time::Instant>, longest: Duration) -> Self {
        let started = Instant::now();
        let mut until = started + longest;
        if let Some(deadline) = deadline {
            let deadline = Instant::from_std(deadline);
            until = until.min(deadline.checked_sub(DEADLINE_MARGIN).unwrap_or(started));
        }
        Self { started, until }
    }

    fn waited(&self) -> u64 {
        self.started.elapsed().as_secs()
    }

    /// Sleeps `pause` (doubled for the next time), cut short at the end of the budget; false
    /// once the budget is spent.
    async fn pause(&self, pause: &mut Duration) -> bool {
        let left = self.until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return false;
        }
        tokio::time::sleep((*pause).min(left)).await;
        *pause = (*pause * 2).min(LONGEST_PAUSE);
        true
    }
}

/// Polls until the target takes changes, and returns what it shows then. Logs how long it
/// waited (`waited_ms`, from the first poll) and how many polls it took.
pub async fn until_ready(
    plane: &dyn ControlPlane,
    budget: &Budget,
    target: &str,
) -> Result<Observed, BackendError> {
    let mut pause = FIRST_PAUSE;
    let mut polls = 1u32;
    let started = Instant::now();
    loop {
        let last = match plane.observe().await {
            Ok(observed) if observed.ready => {
                let waited_ms = started.elapsed().as_millis() as u64;
                tracing::info!(target, status = %observed.status, polls, waited_ms, "managed target ready");
                return Ok(observed);
            }
            Ok(observed) => observed.status,
            Err(CallError::Busy(code)) => code,
            Err(CallError::Failed(e)) => return Err(e),
        };
        polls += 1;
        if !budget.pause(&mut pause).await {
            return Err(not_ready(target, &last, budget));
        }
    }
}

/// Runs `call` until it is not refused as busy (throttled, or the target not ready), within the
/// budget.
pub async fn retrying<F, Fut>(
    budget: &Budget,
    target: &str,
    mut call: F,
) -> Result<(), BackendError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), CallError>>,
{
    let mut pause = FIRST_PAUSE;
    loop {
        match call().await {
            Ok(()) => return Ok(()),
            Err(CallError::Failed(e)) => return Err(e),
            Err(CallError::Busy(code)) => {
                tracing::info!(target, code, "control plane busy; retrying");
                if !budget.pause(&mut pause).await {
                    return Err(not_ready(target, &code, budget));
                }
            }
        }
    }
}

fn not_ready(target: &str, status: &str, budget: &Budget) -> BackendError {
    BackendError::NotReady {
        target: target.to_owned(),
        status: status.to_owned(),
        waited_seconds: budget.waited(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_trait::async_trait;
    use secrecy::SecretString;
    use std::sync::atomic::{AtomicU32, Ordering};

    /// Busy for the first `busy` observations, then ready.
    struct Settling {
        busy: u32,
        seen: AtomicU32,
    }

    #[async_trait]
    impl ControlPlane for Settling {
        async fn observe(&self) -> Result<Observed, CallError> {
            let seen = self.seen.fetch_add(1, Ordering::SeqCst);
            Ok(Observed {
                status: if seen < self.busy {
                    "modifying"
                } else {
                    "active"
                }
                .into(),
                ready: seen >= self.busy,
                login_name: None,
                uses_passwords: true,
            })
        }
        async fn accept_new(&self, _: &SecretString, _: &SecretString) -> Result<(), CallError> {
            Ok(())
        }
        async fn accept_only(&self, _: &SecretString) -> Result<(), CallError> {
            Ok(())
        }
    }

    #[tokio::test(start_paused = true)]
    async fn polls_back_off_from_a_fifth_of_a_second_and_stop_at_the_budget() {
        let plane = Settling {
            busy: 4,
            seen: AtomicU32::new(0),
        };
        let started = Instant::now();
        let budget = Budget::new(None, Duration::from_secs(60));
        until_ready(&plane, &budget, "user").await.unwrap();
        // 0.2 + 0.4 + 0.8 + 1.6 s of pauses before the fifth poll.
        assert_eq!(started.elapsed(), Duration::from_millis(3000));

        let plane = Settling {
            busy: u32::MAX,
            seen: AtomicU32::new(0),
        };
        let budget = Budget::new(None, Duration::from_secs(20));
        let err = until_ready(&plane, &budget, "ElastiCache user u")
            .await
            .unwrap_err();
        assert_eq!(err.kind(), "TargetNotReady");
        assert!(err.to_string().contains("still modifying"), "{err}");
        assert!(plane.seen.load(Ordering::SeqCst) < 12);
    }

    #[test]
    fn the_longest_wait_is_600_s_unless_the_environment_sets_1_to_900() {
        assert_eq!(longest_wait(None).unwrap(), DEFAULT_WAIT);
        assert_eq!(longest_wait(Some(" 30 ")).unwrap(), Duration::from_secs(30));
        for bad in ["0", "901", "-1", "ten", ""] {
            let err = longest_wait(Some(bad)).unwrap_err();
            assert!(err.to_string().contains(WAIT_ENV), "{err}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn the_lambda_deadline_bounds_the_budget() {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let budget = Budget::new(Some(deadline), Duration::from_secs(600));
        let plane = Settling {
            busy: u32::MAX,
            seen: AtomicU32::new(0),
        };
        let started = Instant::now();
        until_ready(&plane, &budget, "u").await.unwrap_err();
        // It waits until the margin before the deadline, not less, not past it.
        let waited = started.elapsed();
        let until = Duration::from_secs(10) - DEADLINE_MARGIN;
        assert!(waited >= until - Duration::from_millis(50), "{waited:?}");
        assert!(waited <= until + Duration::from_millis(50), "{waited:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn busy_calls_are_retried_and_other_failures_are_not() {
        let budget = Budget::new(None, Duration::from_secs(60));
        let calls = AtomicU32::new(0);
        retrying(&budget, "u", || async {
            match calls.fetch_add(1, Ordering::SeqCst) {
                0 | 1 => Err(CallError::Busy("InvalidUserState".into())),
                _ => Ok(()),
            }
        })
        .await
        .unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 3);
        let calls = AtomicU32::new(0);
        let err = retrying(&budget, "u", || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(CallError::Failed(BackendError::NotVerified("no".into())))
        })
        .await
        .unwrap_err();
        assert_eq!(
            (err.kind(), calls.load(Ordering::SeqCst)),
            ("NotVerified", 1)
        );
    }
}
