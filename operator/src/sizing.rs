//! What a plan buys a dedicated tenant: runtime replicas and resources, its database's
//! size, and the namespace's quota and limits derived from them.

use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use tenancy::{PlanCode, ValidationError, crd::ResourceOverrides};

/// Sizes in plain units, so quotas can be summed; rendered as quantities at the end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sizing {
    pub replicas: i32,
    /// CPU request of one runtime pod; its limit is twice that.
    pub cpu_millis: u64,
    /// Memory request and limit of one runtime pod.
    pub memory_mib: u64,
    pub db_instances: i32,
    pub db_cpu_millis: u64,
    pub db_memory_mib: u64,
    pub storage_gib: u64,
}

impl Sizing {
    pub fn for_plan(plan: PlanCode) -> Self {
        match plan {
            // Smaller plans are normally shared; an SRE may still place one on its own.
            PlanCode::Free | PlanCode::Starter | PlanCode::Professional => Self {
                replicas: 1,
                cpu_millis: 250,
                memory_mib: 256,
                db_instances: 1,
                db_cpu_millis: 250,
                db_memory_mib: 512,
                storage_gib: 5,
            },
            PlanCode::Premium => Self {
                replicas: 2,
                cpu_millis: 500,
                memory_mib: 512,
                db_instances: 1,
                db_cpu_millis: 500,
                db_memory_mib: 1024,
                storage_gib: 20,
            },
            PlanCode::Enterprise => Self {
                replicas: 3,
                cpu_millis: 1000,
                memory_mib: 1024,
                db_instances: 2,
                db_cpu_millis: 2000,
                db_memory_mib: 4096,
                storage_gib: 100,
            },
        }
    }

    /// The plan's sizes with the tenant's overrides on top.
    pub fn with_overrides(
        plan: PlanCode,
        overrides: Option<&ResourceOverrides>,
    ) -> Result<Self, ValidationError> {
        let mut sizing = Self::for_plan(plan);
        let Some(o) = overrides else {
            return Ok(sizing);
        };
        if let Some(replicas) = o.replicas {
            if !(1..=50).contains(&replicas) {
                return Err(invalid("resources.replicas", "must be 1 to 50"));
            }
            sizing.replicas = replicas;
        }
        if let Some(cpu) = &o.cpu {
            sizing.cpu_millis = cpu_millis(cpu)
                .filter(|m| (10..=64_000).contains(m))
                .ok_or_else(|| invalid("resources.cpu", "must be a CPU quantity from 10m to 64"))?;
        }
        if let Some(memory) = &o.memory {
            sizing.memory_mib = bytes(memory)
                .map(|b| b.div_ceil(MIB))
                .filter(|m| (32..=262_144).contains(m))
                .ok_or_else(|| {
                    invalid(
                        "resources.memory",
                        "must be a memory quantity from 32Mi to 256Gi",
                    )
                })?;
        }
        if let Some(storage) = &o.storage {
            sizing.storage_gib = bytes(storage)
                .map(|b| b.div_ceil(GIB))
                .filter(|g| (1..=16_384).contains(g))
                .ok_or_else(|| {
                    invalid(
                        "resources.storage",
                        "must be a storage quantity from 1Gi to 16Ti",
                    )
                })?;
        }
        Ok(sizing)
    }

    /// Runtime pods that may exist at once: the replicas and one surge pod of a rollout.
    fn runtime_pods(&self) -> u64 {
        u64::try_from(self.replicas).unwrap_or(1) + 1
    }

    fn db_pods(&self) -> u64 {
        u64::try_from(self.db_instances).unwrap_or(1)
    }

    pub fn runtime_cpu_request(&self) -> Quantity {
        millis(self.cpu_millis)
    }
    pub fn runtime_cpu_limit(&self) -> Quantity {
        millis(self.cpu_millis * 2)
    }
    pub fn runtime_memory(&self) -> Quantity {
        mebibytes(self.memory_mib)
    }
    pub fn db_cpu_request(&self) -> Quantity {
        millis(self.db_cpu_millis)
    }
    pub fn db_cpu_limit(&self) -> Quantity {
        millis(self.db_cpu_millis * 2)
    }
    pub fn db_memory(&self) -> Quantity {
        mebibytes(self.db_memory_mib)
    }
    pub fn storage(&self) -> Quantity {
        Quantity(format!("{}Gi", self.storage_gib))
    }

    /// The namespace's quota: every pod the plan allows at its limits, plus room for
    /// one more small container (a debug pod, an operator-run job).
    pub fn quota(&self) -> Quota {
        let headroom_cpu = 250;
        let headroom_mib = 256;
        Quota {
            requests_cpu: millis(
                self.runtime_pods() * self.cpu_millis
                    + self.db_pods() * self.db_cpu_millis
                    + headroom_cpu,
            ),
            limits_cpu: millis(
                self.runtime_pods() * self.cpu_millis * 2
                    + self.db_pods() * self.db_cpu_millis * 2
                    + headroom_cpu * 2,
            ),
            requests_memory: mebibytes(
                self.runtime_pods() * self.memory_mib
                    + self.db_pods() * self.db_memory_mib
                    + headroom_mib,
            ),
            limits_memory: mebibytes(
                self.runtime_pods() * self.memory_mib
                    + self.db_pods() * self.db_memory_mib
                    + headroom_mib,
            ),
            requests_storage: Quantity(format!("{}Gi", self.db_pods() * self.storage_gib)),
            persistent_volume_claims: self.db_pods().to_string(),
            pods: (self.runtime_pods() + self.db_pods() + 2).to_string(),
        }
    }

    /// The largest container the namespace admits: the biggest of runtime and database.
    pub fn container_max(&self) -> (Quantity, Quantity) {
        (
            millis(self.cpu_millis.max(self.db_cpu_millis) * 2),
            mebibytes(self.memory_mib.max(self.db_memory_mib)),
        )
    }
}

/// Hard limits of a tenant namespace.
#[derive(Debug, Clone, PartialEq)]
pub struct Quota {
    pub requests_cpu: Quantity,
    pub limits_cpu: Quantity,
    pub requests_memory: Quantity,
    pub limits_memory: Quantity,
    pub requests_storage: Quantity,
    pub persistent_volume_claims: String,
    pub pods: String,
}

const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;

fn invalid(field: &'static str, message: &str) -> ValidationError {
    ValidationError::new(field, "invalid_quantity", message)
}

fn millis(m: u64) -> Quantity {
    if m.is_multiple_of(1000) {
        Quantity((m / 1000).to_string())
    } else {
        Quantity(format!("{m}m"))
    }
}

fn mebibytes(m: u64) -> Quantity {
    if m.is_multiple_of(1024) {
        Quantity(format!("{}Gi", m / 1024))
    } else {
        Quantity(format!("{m}Mi"))
    }
}

/// Splits a quantity into its number and suffix; only plain decimal numbers.
fn split(q: &Quantity) -> Option<(f64, &str)> {
    let s = q.0.trim();
    let end = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (number, suffix) = s.split_at(end);
    let value: f64 = number.parse().ok()?;
    (value.is_finite() && value >= 0.0).then_some((value, suffix))
}

/// A CPU quantity in millicores: `500m`, `0.5`, `2`.
pub fn cpu_millis(q: &Quantity) -> Option<u64> {
    let (value, suffix) = split(q)?;
    let millis = match suffix {
        "m" => value,
        "" => value * 1000.0,
        _ => return None,
    };
    to_u64(millis.ceil())
}

/// A memory or storage quantity in bytes: `512Mi`, `1Gi`, `500M`, `1073741824`.
pub fn bytes(q: &Quantity) -> Option<u64> {
    let (value, suffix) = split(q)?;
    let factor: f64 = match suffix {
        "" => 1.0,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "Ki" => 1024.0,
        "Mi" => 1024.0 * 1024.0,
        "Gi" => 1024.0 * 1024.0 * 1024.0,
        "Ti" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        _ => return None,
    };
    to_u64((value * factor).ceil())
}

fn to_u64(v: f64) -> Option<u64> {
    // Quantities here are far below 2^53, where f64 is exact.
    (0.0..9.0e15).contains(&v).then_some(v as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_quantities() {
        assert_eq!(cpu_millis(&Quantity("500m".into())), Some(500));
        assert_eq!(cpu_millis(&Quantity("1.5".into())), Some(1500));
        assert_eq!(cpu_millis(&Quantity("2".into())), Some(2000));
        assert_eq!(cpu_millis(&Quantity("2Gi".into())), None);
        assert_eq!(bytes(&Quantity("1Gi".into())), Some(1 << 30));
        assert_eq!(bytes(&Quantity("500M".into())), Some(500_000_000));
        assert_eq!(bytes(&Quantity("-1Gi".into())), None);
        assert_eq!(bytes(&Quantity("lots".into())), None);
    }

    #[test]
    fn overrides_replace_the_plan_and_are_checked() {
        let o = ResourceOverrides {
            replicas: Some(4),
            cpu: Some(Quantity("750m".into())),
            memory: Some(Quantity("1Gi".into())),
            storage: Some(Quantity("50Gi".into())),
        };
        let s = Sizing::with_overrides(PlanCode::Premium, Some(&o)).unwrap();
        assert_eq!(
            (s.replicas, s.cpu_millis, s.memory_mib, s.storage_gib),
            (4, 750, 1024, 50)
        );
        assert_eq!(s.runtime_cpu_limit(), Quantity("1500m".into()));
        assert_eq!(s.runtime_memory(), Quantity("1Gi".into()));

        let bad = ResourceOverrides {
            cpu: Some(Quantity("1Ti".into())),
            ..Default::default()
        };
        let err = Sizing::with_overrides(PlanCode::Premium, Some(&bad)).unwrap_err();
        assert_eq!(err.field, "resources.cpu");
    }

    #[test]
    fn quota_covers_every_pod_at_its_limits() {
        let s = Sizing::for_plan(PlanCode::Premium);
        let q = s.quota();
        // 3 runtime pods (2 + surge) × 1000m + 1 db × 1000m + 500m headroom.
        assert_eq!(q.limits_cpu, Quantity("4500m".into()));
        // 3 × 512Mi + 1024Mi + 256Mi.
        assert_eq!(q.limits_memory, Quantity("2816Mi".into()));
        assert_eq!(q.requests_storage, Quantity("20Gi".into()));
        assert_eq!(q.pods, "6");
        let e = Sizing::for_plan(PlanCode::Enterprise).quota();
        assert_eq!(e.persistent_volume_claims, "2");
        assert_eq!(e.requests_storage, Quantity("200Gi".into()));
    }
}
