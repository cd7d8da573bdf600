//! Where the service keeps what targets are known to hold: Redis when
//! configured (shared by every coordinator), else in process. A Redis that
//! cannot be reached at start-up is logged and replaced by the in-process
//! cache: replication never waits on the cache.

use std::sync::Arc;

use super::config::Settings;
use crate::transfer::Known;
use crate::transfer::known::{Memory, Redis};

pub async fn known(settings: &Settings) -> Arc<Known> {
    if settings.cache_ttl.is_zero() {
        return Known::off();
    }
    if let Some(url) = &settings.redis {
        match Redis::connect(url).await {
            Ok(r) => return Known::redis(r, settings.cache_ttl),
            Err(e) => tracing::warn!("{e}; keeping the existence cache in process instead"),
        }
    }
    Known::memory(Memory::default(), settings.cache_ttl)
}
