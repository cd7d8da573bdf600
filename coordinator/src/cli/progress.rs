//! A progress bar on a terminal (artifacts and bytes); nothing otherwise.

use std::io::IsTerminal as _;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

use crate::engine::Progress;

pub struct Bar {
    task: Option<(
        tokio::task::JoinHandle<()>,
        tokio::sync::oneshot::Sender<()>,
    )>,
}

pub fn start(progress: Arc<Progress>) -> Bar {
    if !std::io::stderr().is_terminal() {
        return Bar { task: None };
    }
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} artifacts  {msg}",
        )
        .expect("valid template"),
    );
    let (stop, mut stopped) = tokio::sync::oneshot::channel();
    let task = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = &mut stopped => break,
            }
            let done =
                progress.done.load(Ordering::Relaxed) + progress.failed.load(Ordering::Relaxed);
            bar.set_length(progress.planned.load(Ordering::Relaxed));
            bar.set_position(done);
            let bytes = progress.bytes.load(Ordering::Relaxed);
            bar.set_message(format!(
                "{}  {} failed",
                indicatif::HumanBytes(bytes),
                progress.failed.load(Ordering::Relaxed)
            ));
        }
        bar.finish_and_clear();
    });
    Bar {
        task: Some((task, stop)),
    }
}

impl Bar {
    pub async fn finish(self) {
        if let Some((task, stop)) = self.task {
            let _ = stop.send(());
            let _ = task.await;
        }
    }
}
