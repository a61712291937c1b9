//! wharf: a Compose-Specification orchestrator for the Docker Engine.
//!
//! Data flows one way: compose files are [`load`]ed into a typed [`model::Project`], the
//! [`graph`] orders its services, [`plan`] decides what to change, the [`scheduler`] makes the
//! changes through an [`engine`], and [`ops`] strings these together into user-level operations
//! that both the CLI ([`cli`]) and the library ([`stack`]) call.
//!
//! Each module uses only the modules before it in this order (checked by `tests/layers.rs`):
//! `model`, `diag`, `lock`, `progress` → `hash`, `graph` → `load` → `engine` → `plan` →
//! `swarm` (a project as Swarm objects), `logs`, `build` → `lint`, `scheduler`, `watch` (the dev loop's machinery) → `ops` → `stack` → `cli`.

pub mod build;
pub mod cli;
pub mod diag;
pub mod engine;
pub mod graph;
pub mod hash;
pub mod lint;
pub mod load;
pub mod lock;
pub mod logs;
pub mod model;
pub mod ops;
pub mod plan;
pub mod progress;
pub mod scheduler;
pub mod stack;
pub mod swarm;
pub mod watch;

pub use load::{LoadOptions, Loaded, load};
