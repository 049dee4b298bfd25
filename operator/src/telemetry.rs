//! Logging: JSON lines when `LOG_FORMAT=json` (in the cluster), readable text otherwise.

use tracing_subscriber::EnvFilter;

pub fn init() {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,kube=warn,sqlx=warn,sea_orm=warn"));
    let json = std::env::var("LOG_FORMAT").is_ok_and(|f| f == "json");
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    let _ = match json {
        true => builder.json().try_init(),
        false => builder.try_init(),
    };
}
