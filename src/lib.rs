//! Behavior Lens core: reads e-commerce event logs and turns them into
//! timelines, behavior sentences, models and merchant reports. Every module
//! here builds for the host and for `wasm32-unknown-unknown`; `wasm` is the
//! page's thin boundary.

pub mod analysis;
pub mod behavior;
pub mod events;
pub mod model;
pub mod pipeline;
pub mod report;
pub mod timeline;

#[cfg(target_arch = "wasm32")]
pub mod wasm;
#[cfg(target_arch = "wasm32")]
mod wasm_bench;
