//! `wharf stack`: the compose file on a Docker Swarm cluster. [`convert`] turns the loaded
//! project into Swarm objects, [`plan`] compares them with what the cluster has (pure, as
//! `reconcile` is for `up`), and [`crate::ops::deploy`] carries the plan out in dependency
//! order, waiting for each service to converge.

pub mod convert;
pub mod plan;

pub use convert::{Wanted, WantedData, WantedService, convert};
pub use plan::{Action, Current, Plan, plan};
