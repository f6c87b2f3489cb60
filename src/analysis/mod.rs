//! Analyses over timelines. Each module takes a parsed log (and a model
//! where it needs one) and returns plain serializable data.

pub mod baselines;
pub mod evaluation;
pub mod funnel;
pub mod paths;
pub mod recommend;
pub mod retention;
pub mod rfm;
pub mod segments;
pub mod shard;
pub mod text;
pub mod together;
