//! Walking the graph at run time, the one dependency-order walker: `up`'s scheduler,
//! `start`/`stop`/`restart` and `down` all go through it. Every service's task takes its
//! [`Turn`], waits for the outcomes of the services before it (its dependencies on the way up,
//! its dependents on the way down) and announces its own outcome once. There are no waves: a
//! fast branch of the graph never waits for a slow one.

use std::collections::HashMap;

use tokio::sync::watch;

use super::{Edge, Graph};

/// Which services go first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// A service after everything it needs (start).
    DependenciesFirst,
    /// A service after everything that needs it (stop, remove).
    DependentsFirst,
}

/// One walk: a [`Turn`] for every service of the graph.
#[derive(Debug)]
pub struct Walk<T> {
    turns: HashMap<String, Turn<T>>,
}

/// A service's part in a walk: what it waits for, and how it tells those after it.
#[derive(Debug)]
pub struct Turn<T> {
    /// The services before this one, each with the edge between them (as seen from the
    /// dependent: on the way down, the dependent's edge to this service).
    pub before: Vec<Before<T>>,
    done: watch::Sender<Option<T>>,
}

/// A service before another in a walk.
#[derive(Debug)]
pub struct Before<T> {
    pub service: String,
    pub edge: Edge,
    rx: watch::Receiver<Option<T>>,
}

impl<T: Clone> Before<T> {
    /// The outcome the service announced, once it has; `None` when its task ended without
    /// announcing one (it was dropped: it gave up or panicked).
    pub async fn outcome(&mut self) -> Option<T> {
        match self.rx.wait_for(Option::is_some).await {
            Ok(v) => v.clone(),
            Err(_) => None,
        }
    }
}

impl<T> Turn<T> {
    /// Tells the services after this one how it went.
    pub fn done(self, outcome: T) {
        let _ = self.done.send(Some(outcome));
    }
}

impl<T> Walk<T> {
    /// The turn of `service`; `None` for a service outside the graph (an orphan), or one taken
    /// already. A turn never taken counts as settled by `settled` or, failing that, as given up
    /// once the walk is dropped.
    pub fn take(&mut self, service: &str) -> Option<Turn<T>> {
        self.turns.remove(service)
    }

    /// [`Walk::take`], split: what `service` waits for (nothing for a service outside the
    /// graph) and the turn that tells the others.
    pub fn turn(&mut self, service: &str) -> (Vec<Before<T>>, Option<Turn<T>>) {
        match self.turns.remove(service) {
            Some(mut t) => (std::mem::take(&mut t.before), Some(t)),
            None => (Vec::new(), None),
        }
    }
}

impl Graph {
    /// A walk in `order`. `settled` gives the outcome of services with nothing to do: those
    /// after them need not wait for a task.
    pub fn walk<T>(&self, order: Order, settled: impl Fn(&str) -> Option<T>) -> Walk<T> {
        let mut senders = Vec::with_capacity(self.names.len());
        let mut receivers = Vec::with_capacity(self.names.len());
        for name in &self.names {
            let (tx, rx) = watch::channel(settled(name));
            senders.push(tx);
            receivers.push(rx);
        }
        let mut turns = HashMap::with_capacity(self.names.len());
        for (i, done) in senders.into_iter().enumerate() {
            let before: Vec<Before<T>> = match order {
                Order::DependenciesFirst => self
                    .g
                    .edges(i)
                    .filter(|(_, to, _)| *to != i)
                    .map(|(_, to, e)| Before { service: self.names[to].clone(), edge: *e, rx: receivers[to].clone() })
                    .collect(),
                Order::DependentsFirst => self
                    .g
                    .neighbors_directed(i, petgraph::Direction::Incoming)
                    .filter(|&from| from != i)
                    .filter_map(|from| {
                        let edge = *self.g.edge_weight(from, i)?;
                        Some(Before { service: self.names[from].clone(), edge, rx: receivers[from].clone() })
                    })
                    .collect(),
            };
            turns.insert(self.names[i].clone(), Turn { before, done });
        }
        Walk { turns }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::super::tests::project;
    use super::*;
    use crate::model::Project;

    /// Runs a walk with one task per service (in reverse project order, so the walk and not
    /// the spawn order decides) and returns the order the services ran in.
    async fn run(p: &Project, order: Order, settled: &[&str]) -> Vec<String> {
        let g = Graph::new(p);
        let mut walk = g.walk(order, |n| settled.contains(&n).then_some(true));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let mut set = tokio::task::JoinSet::new();
        for name in p.services.keys().rev().filter(|n| !settled.contains(&n.as_str())) {
            let turn = walk.take(name).unwrap();
            let (seen, name) = (seen.clone(), name.clone());
            set.spawn(async move {
                let Turn { before, done } = turn;
                for mut b in before {
                    assert_eq!(b.outcome().await, Some(true));
                }
                seen.lock().unwrap().push(name);
                let _ = done.send(Some(true));
            });
        }
        drop(walk);
        while let Some(r) = set.join_next().await {
            r.unwrap();
        }
        Arc::try_unwrap(seen).unwrap().into_inner().unwrap()
    }

    fn position(order: &[String], name: &str) -> usize {
        order.iter().position(|n| n == name).unwrap()
    }

    #[tokio::test]
    async fn dependencies_go_first_on_the_way_up_and_last_on_the_way_down() {
        let p = project(&[("web", &["api"]), ("api", &["db", "cache"]), ("db", &[]), ("cache", &[])]);
        let up = run(&p, Order::DependenciesFirst, &[]).await;
        assert!(position(&up, "db") < position(&up, "api"));
        assert!(position(&up, "cache") < position(&up, "api"));
        assert!(position(&up, "api") < position(&up, "web"));
        let down = run(&p, Order::DependentsFirst, &[]).await;
        assert!(position(&down, "web") < position(&down, "api"));
        assert!(position(&down, "api") < position(&down, "db"));
        assert!(position(&down, "api") < position(&down, "cache"));
    }

    #[tokio::test]
    async fn a_settled_service_is_not_waited_for() {
        let p = project(&[("web", &["db"]), ("db", &[])]);
        assert_eq!(run(&p, Order::DependenciesFirst, &["db"]).await, vec!["web"]);
    }

    #[tokio::test]
    async fn a_turn_dropped_without_an_outcome_reads_as_none() {
        let p = project(&[("web", &["db"]), ("db", &[])]);
        let g = Graph::new(&p);
        let mut walk = g.walk::<bool>(Order::DependenciesFirst, |_| None);
        let mut web = walk.take("web").unwrap();
        assert_eq!(web.before.len(), 1);
        assert_eq!(web.before[0].service, "db");
        drop(walk.take("db"));
        assert_eq!(web.before[0].outcome().await, None);
        assert!(walk.take("orphan").is_none());
    }
}
