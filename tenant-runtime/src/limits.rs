//! Rate limits in memory, per runtime instance: a token bucket per key (a tenant, or a
//! client address at the control plane's sign-in). Taking a token is a map read and an
//! uncontended mutex; nothing here touches the network.
//!
//! Each tenant's meter also counts the requests it let through and those it refused,
//! for the usage report (`usage::flush_worker` adds them to the catalog periodically).

use std::{
    collections::HashMap,
    hash::Hash,
    sync::{
        Arc, Mutex, RwLock,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use uuid::Uuid;

/// A classic token bucket: `rate` tokens a second, holding at most `burst`.
#[derive(Debug, Clone, Copy)]
pub struct TokenBucket {
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    pub fn full(burst: f64, now: Instant) -> Self {
        Self {
            tokens: burst,
            last: now,
        }
    }

    /// Takes one token, or says how long until one is there.
    pub fn take(&mut self, rate: f64, burst: f64, now: Instant) -> Result<(), Duration> {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * rate).min(burst);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64(
                (1.0 - self.tokens) / rate.max(f64::MIN_POSITIVE),
            ))
        }
    }

    fn idle_and_full(&self, burst: f64, rate: f64, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens + elapsed * rate >= burst && elapsed > 60.0
    }
}

/// Whole seconds to put in `Retry-After` (at least 1).
pub fn retry_after_secs(wait: Duration) -> u64 {
    wait.as_secs() + u64::from(wait.subsec_nanos() > 0).max(u64::from(wait.is_zero()))
}

/// A token bucket per key, all with the same rate.
#[derive(Debug)]
pub struct KeyedLimiter<K> {
    rate: f64,
    burst: f64,
    buckets: Mutex<HashMap<K, TokenBucket>>,
}

/// Past this many keys, buckets that are full again are dropped.
const PRUNE_ABOVE: usize = 10_000;

impl<K: Hash + Eq + Clone> KeyedLimiter<K> {
    pub fn new(per_second: u32, burst: u32) -> Self {
        Self {
            rate: f64::from(per_second.max(1)),
            burst: f64::from(burst.max(1)),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    pub fn check(&self, key: &K) -> Result<(), Duration> {
        let now = Instant::now();
        let Ok(mut buckets) = self.buckets.lock() else {
            return Ok(());
        };
        if buckets.len() > PRUNE_ABOVE {
            let (burst, rate) = (self.burst, self.rate);
            buckets.retain(|_, b| !b.idle_and_full(burst, rate, now));
        }
        buckets
            .entry(key.clone())
            .or_insert_with(|| TokenBucket::full(self.burst, now))
            .take(self.rate, self.burst, now)
    }
}

/// One tenant's bucket and counters.
#[derive(Debug)]
struct Meter {
    bucket: Mutex<TokenBucket>,
    served: AtomicU64,
    throttled: AtomicU64,
}

/// Per-tenant request rate limits (the plan's requests a second, burst of one second)
/// and request counts.
#[derive(Debug, Default)]
pub struct TenantMeters {
    meters: RwLock<HashMap<Uuid, Arc<Meter>>>,
}

/// Requests a tenant made since the last drain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub tenant: Uuid,
    pub served: u64,
    pub throttled: u64,
}

impl TenantMeters {
    fn meter(&self, tenant: Uuid, burst: f64, now: Instant) -> Option<Arc<Meter>> {
        if let Ok(meters) = self.meters.read()
            && let Some(m) = meters.get(&tenant)
        {
            return Some(m.clone());
        }
        let mut meters = self.meters.write().ok()?;
        Some(
            meters
                .entry(tenant)
                .or_insert_with(|| {
                    Arc::new(Meter {
                        bucket: Mutex::new(TokenBucket::full(burst, now)),
                        served: AtomicU64::new(0),
                        throttled: AtomicU64::new(0),
                    })
                })
                .clone(),
        )
    }

    /// Counts a request of `tenant` and lets it through, or refuses it with the wait
    /// until its next token when it goes over `per_second`. With `enforce` off, only
    /// counts.
    pub fn admit(&self, tenant: Uuid, per_second: u32, enforce: bool) -> Result<(), Duration> {
        let now = Instant::now();
        let rate = f64::from(per_second.max(1));
        let Some(meter) = self.meter(tenant, rate, now) else {
            return Ok(());
        };
        let verdict = if enforce {
            match meter.bucket.lock() {
                Ok(mut bucket) => bucket.take(rate, rate, now),
                Err(_) => Ok(()),
            }
        } else {
            Ok(())
        };
        match verdict {
            Ok(()) => meter.served.fetch_add(1, Ordering::Relaxed),
            Err(_) => meter.throttled.fetch_add(1, Ordering::Relaxed),
        };
        verdict
    }

    /// Takes every count since the last drain (leaving zeros behind).
    pub fn drain(&self) -> Vec<Counts> {
        let Ok(meters) = self.meters.read() else {
            return Vec::new();
        };
        meters
            .iter()
            .map(|(tenant, m)| Counts {
                tenant: *tenant,
                served: m.served.swap(0, Ordering::Relaxed),
                throttled: m.throttled.swap(0, Ordering::Relaxed),
            })
            .filter(|c| c.served + c.throttled > 0)
            .collect()
    }

    /// Forgets tenants not seen for `idle` whose counts were flushed, so the map holds
    /// the tenants this instance serves, not every tenant it ever saw.
    pub fn prune_idle(&self, idle: Duration) {
        let now = Instant::now();
        if let Ok(mut meters) = self.meters.write() {
            meters.retain(|_, m| {
                let recent = m
                    .bucket
                    .lock()
                    .map(|b| now.saturating_duration_since(b.last) < idle)
                    .unwrap_or(true);
                recent || m.served.load(Ordering::Relaxed) + m.throttled.load(Ordering::Relaxed) > 0
            });
        }
    }

    pub fn tenants(&self) -> usize {
        self.meters.read().map(|m| m.len()).unwrap_or(0)
    }

    /// Puts counts back after a failed flush, so none are lost.
    pub fn restore(&self, counts: &[Counts]) {
        let Ok(meters) = self.meters.read() else {
            return;
        };
        for c in counts {
            if let Some(m) = meters.get(&c.tenant) {
                m.served.fetch_add(c.served, Ordering::Relaxed);
                m.throttled.fetch_add(c.throttled, Ordering::Relaxed);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_refills_at_its_rate() {
        let t0 = Instant::now();
        let mut b = TokenBucket::full(2.0, t0);
        assert!(b.take(2.0, 2.0, t0).is_ok());
        assert!(b.take(2.0, 2.0, t0).is_ok());
        let wait = b.take(2.0, 2.0, t0).unwrap_err();
        assert!((wait.as_secs_f64() - 0.5).abs() < 1e-6);
        assert!(b.take(2.0, 2.0, t0 + Duration::from_millis(500)).is_ok());
        assert_eq!(retry_after_secs(Duration::from_millis(500)), 1);
        assert_eq!(retry_after_secs(Duration::from_secs(2)), 2);
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
    }

    #[test]
    fn tenants_have_their_own_buckets_and_counts() {
        let meters = TenantMeters::default();
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let refused = (0..10)
            .filter(|_| meters.admit(a, 5, true).is_err())
            .count();
        assert_eq!(refused, 5);
        assert!(meters.admit(b, 5, true).is_ok(), "b has its own bucket");
        let mut counts = meters.drain();
        counts.sort_by_key(|c| c.served);
        assert_eq!(counts.len(), 2);
        let a_counts = counts.iter().find(|c| c.tenant == a).unwrap();
        assert_eq!((a_counts.served, a_counts.throttled), (5, 5));
        assert!(meters.drain().is_empty(), "drained");
        meters.restore(&counts);
        assert_eq!(meters.drain().len(), 2, "restored");
    }

    #[test]
    fn idle_tenants_are_forgotten_once_flushed() {
        let meters = TenantMeters::default();
        let t = Uuid::new_v4();
        meters.admit(t, 5, true).unwrap();
        meters.prune_idle(Duration::ZERO);
        assert_eq!(meters.tenants(), 1, "unflushed counts keep it");
        meters.drain();
        meters.prune_idle(Duration::from_secs(60));
        assert_eq!(meters.tenants(), 1, "seen recently");
        meters.prune_idle(Duration::ZERO);
        assert_eq!(meters.tenants(), 0);
    }

    #[test]
    fn keyed_limiter_limits_each_key() {
        let limiter = KeyedLimiter::new(1, 3);
        assert!((0..3).all(|_| limiter.check(&"a").is_ok()));
        assert!(limiter.check(&"a").is_err());
        assert!(limiter.check(&"b").is_ok());
    }
}
