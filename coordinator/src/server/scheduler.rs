//! Fires scheduled policies. Every coordinator runs this loop; the store
//! decides which one fires a tick (`Store::fire_tick` moves the policy's
//! next tick forward only where it is still the tick that was seen), so a
//! tick starts one execution however many coordinators share the database.
//!
//! The next tick is computed from the time a tick fires, not from the tick
//! itself: ticks missed while every coordinator was down fire once, not as
//! a burst.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

use super::App;
use crate::engine::Schedule;
use crate::store::{ExecStatus, Millis, Policy, TriggerKind, now_ms};

/// Longest nap between looks at the store: another coordinator may have
/// changed a schedule meanwhile, and seconds-level crons should not wait.
const MAX_NAP: Duration = Duration::from_secs(1);

#[derive(Default)]
pub struct Scheduler {
    wake: Notify,
}

impl Scheduler {
    /// Looks at the schedules now (a policy was created or changed).
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// The firing loop, until the returned task is aborted.
    pub fn start(self: Arc<Self>, app: Arc<App>) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            if let Err(e) = arm_unscheduled(&app).await {
                tracing::error!("scheduler: arming scheduled policies: {e}");
            }
            loop {
                if let Err(e) = fire_due(&app).await {
                    tracing::error!("scheduler: {e}");
                }
                let nap = match app.store.next_tick().await {
                    Ok(Some(t)) => Duration::from_millis(t.saturating_sub(now_ms()).max(0) as u64),
                    Ok(None) => MAX_NAP,
                    Err(e) => {
                        tracing::error!("scheduler: reading the next tick: {e}");
                        MAX_NAP
                    }
                };
                tokio::select! {
                    _ = self.wake.notified() => {}
                    _ = tokio::time::sleep(nap.min(MAX_NAP)) => {}
                }
            }
        })
    }
}

/// Fires every tick that is due.
async fn fire_due(app: &App) -> Result<(), crate::store::StoreError> {
    let now = now_ms();
    for (id, due) in app.store.due_ticks(now).await? {
        let policy = app.store.get_policy(id).await?;
        let next = next_tick(&policy, now);
        match app.store.fire_tick(id, due, next).await? {
            Some(exec) if exec.status == ExecStatus::Skipped => tracing::info!(
                "policy {}: tick {} skipped: {}",
                policy.name,
                show(due),
                exec.status_text
            ),
            Some(exec) => {
                tracing::info!(
                    "policy {}: tick {} started execution {}",
                    policy.name,
                    show(due),
                    exec.id
                );
                app.executor.wake();
            }
            // Another coordinator fired it.
            None => {}
        }
    }
    Ok(())
}

/// The first tick after `now` of a policy's schedule; none when it is not
/// scheduled (any more) or its cron never matches again.
fn next_tick(policy: &Policy, now: Millis) -> Option<Millis> {
    let cron = policy.trigger.cron()?;
    match cron.parse::<Schedule>() {
        Ok(s) => s.next_after(now),
        Err(e) => {
            tracing::error!("policy {}: not scheduling: {e}", policy.name);
            None
        }
    }
}

/// Gives scheduled, enabled policies that have no next tick one: those
/// stored before ticks were kept.
async fn arm_unscheduled(app: &App) -> Result<(), crate::store::StoreError> {
    let now = now_ms();
    for p in app.store.list_policies().await? {
        if p.enabled
            && p.trigger.kind == TriggerKind::Scheduled
            && p.next_fire_time.is_none()
            && let Some(next) = next_tick(&p, now)
        {
            app.store.arm_tick(p.id, next).await?;
        }
    }
    Ok(())
}

fn show(t: Millis) -> String {
    chrono::DateTime::<chrono::Utc>::from_timestamp_millis(t)
        .map(|d| d.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_else(|| t.to_string())
}
