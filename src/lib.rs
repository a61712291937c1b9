//! wharf: a Compose-Specification orchestrator for the Docker Engine.
//!
//! Data flows one way: compose files are [`load`]ed into a typed [`model::Project`], the
//! [`graph`] orders its services, and the CLI ([`cli`]) drives it all.

pub mod build;
pub mod cli;
pub mod diag;
pub mod engine;
pub mod graph;
pub mod hash;
pub mod load;
pub mod lock;
pub mod logs;
pub mod model;
pub mod ops;
pub mod plan;
pub mod progress;
pub mod scheduler;
pub mod stack;
pub mod watch;

pub use load::{LoadOptions, Loaded, load};
