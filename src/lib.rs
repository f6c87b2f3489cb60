//! Behavior Lens core: reads e-commerce event logs and turns them into
//! timelines, behavior sentences, models and merchant reports. Every module
//! here builds for the host and for `wasm32-unknown-unknown`.
pub mod model;
