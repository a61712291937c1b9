//! One module per verb.

pub mod config;
pub mod version;
