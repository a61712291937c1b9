//! One module per verb.

pub mod config;
pub mod lifecycle;
pub mod version;
