//! TXT look-ups for domain verification, through a configurable resolver (the system's,
//! or given name servers). Answers are not cached: a re-check must see a record that
//! disappeared.

use std::time::Duration;

use hickory_resolver::{
    TokioResolver,
    config::{NameServerConfigGroup, ResolverConfig, ResolverOpts},
    name_server::TokioConnectionProvider,
};

use crate::{config::DnsResolver, error::Result};

/// What a TXT look-up found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxtAnswer {
    /// The name has these TXT values (each value's strings joined).
    Found(Vec<String>),
    /// The name or its TXT records do not exist.
    Missing,
    /// The question could not be answered (timeout, server failure): says nothing.
    Failed(String),
}

pub struct DnsVerifier {
    resolver: TokioResolver,
}

impl std::fmt::Debug for DnsVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DnsVerifier").finish_non_exhaustive()
    }
}

impl DnsVerifier {
    pub fn new(config: &DnsResolver) -> Result<Self> {
        let mut builder = match config {
            DnsResolver::System => {
                TokioResolver::builder_tokio().map_err(crate::Error::internal)?
            }
            DnsResolver::Servers(servers) => {
                let mut group = NameServerConfigGroup::new();
                for addr in servers {
                    group.merge(NameServerConfigGroup::from_ips_clear(
                        &[addr.ip()],
                        addr.port(),
                        true,
                    ));
                }
                TokioResolver::builder_with_config(
                    ResolverConfig::from_parts(None, Vec::new(), group),
                    TokioConnectionProvider::default(),
                )
            }
        };
        let options: &mut ResolverOpts = builder.options_mut();
        options.cache_size = 0;
        options.timeout = Duration::from_secs(3);
        options.attempts = 2;
        Ok(Self {
            resolver: builder.build(),
        })
    }

    /// The TXT values of `name` (a fully qualified name, without the trailing dot).
    pub async fn txt(&self, name: &str) -> TxtAnswer {
        match self.resolver.txt_lookup(format!("{name}.")).await {
            Ok(lookup) => TxtAnswer::Found(
                lookup
                    .iter()
                    .map(|txt| {
                        txt.txt_data()
                            .iter()
                            .map(|part| String::from_utf8_lossy(part).into_owned())
                            .collect::<String>()
                    })
                    .collect(),
            ),
            Err(err) if err.is_no_records_found() || err.is_nx_domain() => TxtAnswer::Missing,
            Err(err) => TxtAnswer::Failed(err.to_string()),
        }
    }
}
