//! The machinery of the file-watch dev loop (the loop itself is the operation
//! [`crate::ops::watch`]): the rules of `develop.watch` compiled per service, the host watcher
//! (notify, one watch per directory), the tar of a batch of changes, and the courier that hands
//! a batch to a container (a shell kept running in it, the archive API as the fallback).

pub mod courier;
pub mod host;
pub mod rules;
pub mod sync;
