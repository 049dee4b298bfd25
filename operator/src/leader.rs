//! Leader election on a `coordination.k8s.io` Lease, so that of several replicas only
//! one reconciles at a time.
//!
//! A replica takes the Lease when it is free, released, or has not been renewed for its
//! duration, and then renews it. Expiry is judged by the local clock from the moment
//! this replica saw the Lease last change (as client-go does), so clock skew between
//! nodes cannot make two replicas lead at once. Writes use the Lease's resourceVersion:
//! of two replicas racing for it, one wins and the other sees a conflict.

use std::time::Duration;

use k8s_openapi::{
    api::coordination::v1::{Lease, LeaseSpec},
    apimachinery::pkg::apis::meta::v1::MicroTime,
    jiff::Timestamp,
};
use kube::{
    Api, Client,
    api::{ObjectMeta, PostParams},
};
use tokio::time::Instant;

use crate::{Error, Result};

#[derive(Debug, Clone)]
pub struct LeaseSettings {
    pub name: String,
    pub namespace: String,
    /// This replica's identity in the Lease (its pod name and a random suffix).
    pub identity: String,
    /// How long a Lease not renewed stays someone else's.
    pub lease_duration: Duration,
    /// How often the leader renews.
    pub renew_every: Duration,
    /// A leader that could not renew for this long stops reconciling.
    pub renew_deadline: Duration,
}

impl LeaseSettings {
    pub fn new(namespace: &str, identity: String) -> Self {
        Self {
            name: "instudio-operator".into(),
            namespace: namespace.into(),
            identity,
            lease_duration: Duration::from_secs(15),
            renew_every: Duration::from_secs(5),
            renew_deadline: Duration::from_secs(10),
        }
    }
}

#[derive(Debug)]
pub struct LeaderElector {
    api: Api<Lease>,
    settings: LeaseSettings,
    /// The Lease's resourceVersion when we last saw it change, and when that was.
    observed: Option<(String, Instant)>,
}

fn conflict(err: &kube::Error) -> bool {
    matches!(err, kube::Error::Api(s) if s.code == 409)
}

impl LeaderElector {
    pub fn new(client: Client, settings: LeaseSettings) -> Self {
        Self {
            api: Api::namespaced(client, &settings.namespace),
            settings,
            observed: None,
        }
    }

    pub fn identity(&self) -> &str {
        &self.settings.identity
    }

    pub fn settings(&self) -> &LeaseSettings {
        &self.settings
    }

    fn spec(&self, acquired: Option<MicroTime>, transitions: i32) -> LeaseSpec {
        let now = MicroTime(Timestamp::now());
        LeaseSpec {
            holder_identity: Some(self.settings.identity.clone()),
            lease_duration_seconds: i32::try_from(self.settings.lease_duration.as_secs()).ok(),
            acquire_time: Some(acquired.unwrap_or_else(|| now.clone())),
            renew_time: Some(now),
            lease_transitions: Some(transitions),
            ..Default::default()
        }
    }

    /// Takes or renews the Lease. `true` when this replica holds it afterwards.
    pub async fn try_acquire_or_renew(&mut self) -> Result<bool> {
        let Some(current) = self.api.get_opt(&self.settings.name).await? else {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(self.settings.name.clone()),
                    namespace: Some(self.settings.namespace.clone()),
                    ..Default::default()
                },
                spec: Some(self.spec(None, 0)),
            };
            return match self.api.create(&PostParams::default(), &lease).await {
                Ok(created) => {
                    self.saw(&created);
                    Ok(true)
                }
                Err(err) if conflict(&err) => Ok(false),
                Err(err) => Err(err.into()),
            };
        };
        self.saw(&current);
        let spec = current.spec.clone().unwrap_or_default();
        let holder = spec.holder_identity.as_deref().filter(|h| !h.is_empty());
        let mine = holder == Some(self.settings.identity.as_str());
        let duration = spec
            .lease_duration_seconds
            .and_then(|s| u64::try_from(s).ok())
            .map_or(self.settings.lease_duration, Duration::from_secs);
        let expired = self
            .observed
            .as_ref()
            .is_none_or(|(_, seen)| seen.elapsed() >= duration);
        if holder.is_some() && !mine && !expired {
            return Ok(false);
        }
        let transitions = spec.lease_transitions.unwrap_or(0);
        let next = Lease {
            metadata: current.metadata.clone(),
            spec: Some(match mine {
                true => self.spec(spec.acquire_time.clone(), transitions),
                false => self.spec(None, transitions.saturating_add(1)),
            }),
        };
        match self
            .api
            .replace(&self.settings.name, &PostParams::default(), &next)
            .await
        {
            Ok(updated) => {
                self.saw(&updated);
                Ok(true)
            }
            Err(err) if conflict(&err) => Ok(false),
            Err(err) => Err(err.into()),
        }
    }

    fn saw(&mut self, lease: &Lease) {
        let version = lease.metadata.resource_version.clone().unwrap_or_default();
        if self.observed.as_ref().map(|(v, _)| v) != Some(&version) {
            self.observed = Some((version, Instant::now()));
        }
    }

    /// Gives the Lease up if this replica holds it, so a standby takes over at once.
    pub async fn release(&mut self) -> Result<()> {
        let Some(current) = self.api.get_opt(&self.settings.name).await? else {
            return Ok(());
        };
        let spec = current.spec.clone().unwrap_or_default();
        if spec.holder_identity.as_deref() != Some(self.settings.identity.as_str()) {
            return Ok(());
        }
        let next = Lease {
            metadata: current.metadata.clone(),
            spec: Some(LeaseSpec {
                holder_identity: None,
                lease_duration_seconds: Some(1),
                renew_time: Some(MicroTime(Timestamp::now())),
                ..spec
            }),
        };
        self.api
            .replace(&self.settings.name, &PostParams::default(), &next)
            .await
            .map_err(Error::from)?;
        Ok(())
    }

    /// Waits until this replica holds the Lease.
    pub async fn acquire(&mut self) -> Result<()> {
        loop {
            match self.try_acquire_or_renew().await {
                Ok(true) => return Ok(()),
                Ok(false) => {}
                Err(err) => tracing::warn!(error = %err, "leader election attempt failed"),
            }
            tokio::time::sleep(self.settings.renew_every).await;
        }
    }

    /// Renews until the Lease is lost (someone else holds it, or renewing failed for
    /// longer than the deadline). Returns then: the caller must stop reconciling.
    pub async fn hold(&mut self) {
        let mut last_renewed = Instant::now();
        loop {
            tokio::time::sleep(self.settings.renew_every).await;
            match self.try_acquire_or_renew().await {
                Ok(true) => last_renewed = Instant::now(),
                Ok(false) => {
                    tracing::error!("leader lease taken by another replica");
                    return;
                }
                Err(err) => {
                    tracing::warn!(error = %err, "renewing the leader lease failed");
                    if last_renewed.elapsed() >= self.settings.renew_deadline {
                        tracing::error!("leader lease not renewed in time");
                        return;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake_api::FakeApi;

    fn settings(identity: &str) -> LeaseSettings {
        LeaseSettings {
            lease_duration: Duration::from_secs(15),
            ..LeaseSettings::new("instudio", identity.into())
        }
    }

    fn holder(api: &FakeApi) -> Option<String> {
        api.get(
            "coordination.k8s.io/v1",
            "leases",
            Some("instudio"),
            "instudio-operator",
        )
        .and_then(|l| l["spec"]["holderIdentity"].as_str().map(str::to_owned))
    }

    #[tokio::test]
    async fn only_one_replica_leads_and_a_release_hands_over_at_once() {
        let (client, api) = FakeApi::start();
        let mut a = LeaderElector::new(client.clone(), settings("a"));
        let mut b = LeaderElector::new(client, settings("b"));
        assert!(a.try_acquire_or_renew().await.unwrap());
        assert!(!b.try_acquire_or_renew().await.unwrap());
        assert!(a.try_acquire_or_renew().await.unwrap(), "renews");
        assert!(!b.try_acquire_or_renew().await.unwrap());
        assert_eq!(holder(&api).as_deref(), Some("a"));
        a.release().await.unwrap();
        assert!(b.try_acquire_or_renew().await.unwrap());
        assert!(
            !a.try_acquire_or_renew().await.unwrap(),
            "a does not take it back"
        );
        let lease = api
            .get(
                "coordination.k8s.io/v1",
                "leases",
                Some("instudio"),
                "instudio-operator",
            )
            .unwrap();
        assert_eq!(lease["spec"]["holderIdentity"], "b");
        assert_eq!(lease["spec"]["leaseTransitions"], 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_lease_not_renewed_for_its_duration_is_taken_over() {
        let (client, api) = FakeApi::start();
        let mut a = LeaderElector::new(client.clone(), settings("a"));
        let mut b = LeaderElector::new(client, settings("b"));
        assert!(a.try_acquire_or_renew().await.unwrap());
        assert!(!b.try_acquire_or_renew().await.unwrap());
        // a stops renewing (crashed); b waits out the duration as its own clock sees it.
        tokio::time::advance(Duration::from_secs(10)).await;
        assert!(!b.try_acquire_or_renew().await.unwrap(), "not expired yet");
        tokio::time::advance(Duration::from_secs(6)).await;
        assert!(b.try_acquire_or_renew().await.unwrap());
        assert_eq!(holder(&api).as_deref(), Some("b"));
        // a comes back and finds it lost the lease.
        assert!(!a.try_acquire_or_renew().await.unwrap());
    }

    #[tokio::test]
    async fn racing_replicas_cannot_both_win() {
        let (client, api) = FakeApi::start();
        let mut a = LeaderElector::new(client.clone(), settings("a"));
        a.try_acquire_or_renew().await.unwrap();
        a.release().await.unwrap();
        // Both saw the released lease; both try to take it with the same resourceVersion.
        let mut b = LeaderElector::new(client.clone(), settings("b"));
        let mut c = LeaderElector::new(client, settings("c"));
        let (rb, rc) = tokio::join!(b.try_acquire_or_renew(), c.try_acquire_or_renew());
        assert_ne!(rb.unwrap(), rc.unwrap(), "exactly one wins");
        assert!(matches!(holder(&api).as_deref(), Some("b" | "c")));
    }
}
