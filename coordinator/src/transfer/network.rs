//! How requests weather a bad network: retries with backoff and jitter that
//! honour `Retry-After`, and an inactivity timeout per request, so a stalled
//! peer is given up on while a big body on a slow link is not.

use std::time::{Duration, SystemTime};

use rand::Rng as _;
use reqwest::StatusCode;

/// Attempts per request by default (the first and 4 retries).
pub const DEFAULT_ATTEMPTS: u32 = 5;
/// How long a request may make no progress by default.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// A process's network settings, shared by its registry clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Network {
    /// Tries per request (at least 1), and per blob copy.
    pub attempts: u32,
    /// First backoff; each retry doubles it, up to `max_backoff`.
    pub base_backoff: Duration,
    pub max_backoff: Duration,
    /// The longest `Retry-After` waited for. A registry asking for longer
    /// gets its error passed on, for the stage or task retry to meet later.
    pub max_retry_after: Duration,
    /// A request that sends or receives nothing for this long fails (and
    /// may be retried): a stall, not a big body, ends it.
    pub idle_timeout: Duration,
}

impl Default for Network {
    fn default() -> Self {
        Self {
            attempts: DEFAULT_ATTEMPTS,
            base_backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(8),
            max_retry_after: Duration::from_secs(60),
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
        }
    }
}

impl Network {
    /// How long to wait before retry number `retry` (1 for the first), or
    /// `None` when the attempts are spent or the registry's `Retry-After`
    /// is over the cap. The backoff is "equal jitter": half fixed, half
    /// random, so that many clients cut at once do not come back at once.
    pub fn backoff(&self, retry: u32, retry_after: Option<Duration>) -> Option<Duration> {
        if retry >= self.attempts.max(1) {
            return None;
        }
        if let Some(asked) = retry_after {
            return (asked <= self.max_retry_after).then_some(asked);
        }
        let exp = self
            .base_backoff
            .saturating_mul(1 << (retry - 1).min(16))
            .min(self.max_backoff);
        let half = exp / 2;
        Some(half + rand::rng().random_range(Duration::ZERO..=half))
    }
}

/// Statuses that say "not now" rather than "no": worth another try.
pub fn retryable_status(status: StatusCode) -> bool {
    matches!(status.as_u16(), 408 | 429 | 500 | 502 | 503 | 504)
}

/// A `Retry-After` value: delay-seconds or an HTTP date.
pub fn retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let when = SystemTime::from(when);
    Some(
        when.duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_with_jitter_and_stops_after_the_attempts() {
        let n = Network::default();
        for retry in 1..n.attempts {
            let full = (n.base_backoff * (1 << (retry - 1))).min(n.max_backoff);
            let d = n.backoff(retry, None).unwrap();
            assert!(
                d >= full / 2 && d <= full,
                "retry {retry}: {d:?} of {full:?}"
            );
        }
        assert_eq!(n.backoff(n.attempts, None), None);
    }

    #[test]
    fn retry_after_is_honoured_up_to_the_cap() {
        let n = Network::default();
        assert_eq!(
            n.backoff(1, Some(Duration::from_secs(3))),
            Some(Duration::from_secs(3))
        );
        assert_eq!(n.backoff(1, Some(Duration::from_secs(61))), None);
        assert_eq!(retry_after("7"), Some(Duration::from_secs(7)));
        assert_eq!(
            retry_after("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(Duration::ZERO)
        );
        assert_eq!(retry_after("soon"), None);
    }

    #[test]
    fn only_passing_statuses_are_retried() {
        for s in [408, 429, 500, 502, 503, 504] {
            assert!(retryable_status(StatusCode::from_u16(s).unwrap()));
        }
        for s in [400, 401, 403, 404, 409, 501] {
            assert!(!retryable_status(StatusCode::from_u16(s).unwrap()));
        }
    }
}
