//! What every reconcile gets: the client, settings, databases, event recorder, metrics,
//! the database flavor detected at start, and per-object failure counts for backoff.

use std::{collections::HashMap, sync::Mutex, time::Duration};

use kube::{
    Client, Resource,
    runtime::events::{Event, EventType, Recorder, Reporter},
};
use tokio::sync::mpsc;

use crate::{build::DbFlavor, config::Settings, db::Databases, metrics::Metrics};

pub struct Context<D> {
    pub client: Client,
    pub settings: Settings,
    pub databases: D,
    pub metrics: std::sync::Arc<Metrics>,
    /// How dedicated tenants' PostgreSQL runs, decided once at start.
    pub flavor: DbFlavor,
    recorder: Recorder,
    /// Wakes the SharedPool controller after a slot was claimed, so it refills.
    refill: Option<mpsc::Sender<()>>,
    failures: Mutex<HashMap<String, u32>>,
}

impl<D> std::fmt::Debug for Context<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("settings", &self.settings)
            .field("flavor", &self.flavor)
            .finish_non_exhaustive()
    }
}

/// First retry after 5 s, doubling up to 5 minutes.
const BACKOFF_BASE: Duration = Duration::from_secs(5);
const BACKOFF_MAX: Duration = Duration::from_secs(300);

impl<D: Databases> Context<D> {
    pub fn new(
        client: Client,
        settings: Settings,
        databases: D,
        metrics: std::sync::Arc<Metrics>,
        flavor: DbFlavor,
        refill: Option<mpsc::Sender<()>>,
    ) -> Self {
        let reporter = Reporter {
            controller: crate::meta::MANAGED_BY.into(),
            instance: std::env::var("POD_NAME").ok(),
        };
        Self {
            recorder: Recorder::new(client.clone(), reporter),
            client,
            settings,
            databases,
            metrics,
            flavor,
            refill,
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// Records an Event on `object`. Events inform; failing to write one never fails
    /// the reconcile.
    pub async fn event<K: Resource<DynamicType = ()>>(
        &self,
        object: &K,
        type_: EventType,
        reason: &str,
        action: &str,
        note: String,
    ) {
        // The API refuses notes over 1 kB.
        let mut note = note;
        if note.len() > 1000 {
            let mut cut = 997;
            while !note.is_char_boundary(cut) {
                cut -= 1;
            }
            note.truncate(cut);
            note.push_str("...");
        }
        let event = Event {
            type_,
            reason: reason.into(),
            note: Some(note),
            action: action.into(),
            secondary: None,
        };
        if let Err(err) = self.recorder.publish(&event, &object.object_ref(&())).await {
            tracing::warn!(error = %err, reason, "could not record an event");
        }
    }

    /// Asks the SharedPool controller to top pools up; coalesces bursts.
    pub fn request_refill(&self) {
        if let Some(tx) = &self.refill {
            let _ = tx.try_send(());
        }
    }

    /// The delay before retrying `key` after another failure: exponential, capped.
    pub fn next_backoff(&self, key: &str) -> Duration {
        let attempts = match self.failures.lock() {
            Ok(mut failures) => {
                let n = failures.entry(key.to_owned()).or_insert(0);
                *n = n.saturating_add(1);
                *n
            }
            Err(_) => 1,
        };
        let factor = 2u32.saturating_pow(attempts.saturating_sub(1).min(16));
        BACKOFF_BASE.saturating_mul(factor).min(BACKOFF_MAX)
    }

    /// Forgets `key`'s failures after a success.
    pub fn reset_backoff(&self, key: &str) {
        if let Ok(mut failures) = self.failures.lock() {
            failures.remove(key);
        }
    }
}
