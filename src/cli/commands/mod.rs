//! One module per verb.

pub mod attach;
pub mod capture;
pub mod config;
pub mod copy;
pub mod graph;
pub mod images;
pub mod inspect;
pub mod lifecycle;
pub mod lint;
pub mod pool;
pub mod run;
pub mod stack;
pub mod testenv;
pub mod verbs;
pub mod version;
pub mod watch;
