//! Per-invocation store state: WASI (no sockets, no files), the memory cap,
//! captured stderr (a panic's message), and the stage's capabilities.

use std::sync::Arc;

use wasmtime::ResourceLimiter;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use super::capabilities::Capabilities;

/// Guest stderr kept per invocation, enough for a panic message.
const STDERR_BYTES: usize = 16 * 1024;

pub struct StageState {
    wasi: WasiCtx,
    table: ResourceTable,
    pub(super) limiter: MemoryCap,
    pub(super) stderr: MemoryOutputPipe,
    pub(super) caps: Arc<Capabilities>,
}

impl StageState {
    pub fn new(caps: Arc<Capabilities>, memory_cap: usize) -> Self {
        let stderr = MemoryOutputPipe::new(STDERR_BYTES);
        // No preopens, no network, no environment: a stage reaches the world
        // only through Ferry's own interfaces.
        let wasi = WasiCtxBuilder::new().stderr(stderr.clone()).build();
        Self {
            wasi,
            table: ResourceTable::new(),
            limiter: MemoryCap {
                cap: memory_cap,
                hit: false,
            },
            stderr,
            caps,
        }
    }

    /// What the guest last said on stderr, e.g. a panic's location and
    /// message, without Rust's "note: run with RUST_BACKTRACE" hint.
    pub fn stderr_tail(&self) -> Option<String> {
        let bytes = self.stderr.contents();
        let text = String::from_utf8_lossy(&bytes);
        let lines: Vec<&str> = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with("note: run with"))
            .collect();
        let start = lines
            .iter()
            .rposition(|l| l.contains("panicked at"))
            .unwrap_or(lines.len().saturating_sub(1));
        let tail = lines.get(start..)?.join(" ");
        (!tail.is_empty()).then_some(tail)
    }
}

impl WasiView for StageState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// Caps the linear memory of one invocation and remembers that it tripped,
/// so the failure can say "memory cap" rather than a bare trap.
pub struct MemoryCap {
    pub cap: usize,
    pub hit: bool,
}

impl ResourceLimiter for MemoryCap {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _max: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.cap {
            self.hit = true;
            wasmtime::bail!("memory cap of {} MiB exceeded", self.cap >> 20);
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _max: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 1_000_000)
    }
}
