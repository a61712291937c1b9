//! `logs`: the output of a project's containers, as lines tagged with their container, in
//! arrival order or (`merge_by_time`) in timestamp order.

use std::collections::HashSet;
use std::time::Duration;

use futures::StreamExt;

use super::Error;
use crate::engine::{ContainerInfo, Engine, EventKind, LogOptions};
use crate::logs::{Line, short_name};
use crate::model::Project;
use crate::model::labels::NUMBER;

/// `logs`, resolved.
#[derive(Debug, Clone, Default)]
pub struct LogsRequest {
    /// These services' containers; all when empty.
    pub services: Vec<String>,
    /// Only replica `index`.
    pub index: Option<u32>,
    pub options: LogOptions,
    /// What exists now in timestamp order (with `follow`, later lines as they come).
    pub merge_by_time: bool,
}

/// Reads the logs `req` asks for: `start` is told the containers' short names (`web-1`, …)
/// before any line, `show` gets each line. With `options.follow`, containers of the selection
/// that start later are followed too (new replicas, restarts), as compose does, until none of
/// the followed ones runs.
pub async fn logs<E: Engine>(
    engine: &E,
    project: &Project,
    req: &LogsRequest,
    start: impl FnOnce(&[String]),
    mut show: impl FnMut(&Line),
) -> Result<(), Error> {
    let follow = req.options.follow;
    // Subscribed before the list, so a container started in between is not missed.
    let mut events = follow.then(|| engine.events(&project.name));
    let chosen = |list: Vec<ContainerInfo>| {
        let mut list = crate::plan::select::targets(project, list, &req.services);
        if let Some(i) = req.index {
            list.retain(|c| c.label(NUMBER) == Some(i.to_string().as_str()));
        }
        list
    };
    let mut list = chosen(engine.list_containers(&project.name).await?);
    list.sort_by_key(short_name);
    let names: Vec<String> = list.iter().map(short_name).collect();
    start(&names);
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    // The followed containers whose stream is open.
    let mut open: HashSet<String> = HashSet::new();
    let mut ended = futures::stream::FuturesUnordered::new();
    for c in &list {
        let done = crate::logs::attach(engine, c, &req.options, tx.clone());
        open.insert(c.id.clone());
        ended.push(end_of(done, c.id.clone()));
    }
    // Kept only to follow containers that start later; else the channel closes with the streams.
    let keep = follow.then(|| tx.clone());
    drop(tx);
    if req.merge_by_time {
        let mut backlog = Vec::new();
        if follow {
            // The backlog is what arrives before the streams go quiet for a moment.
            while let Ok(Some(l)) = tokio::time::timeout(Duration::from_millis(300), rx.recv()).await {
                backlog.push(l);
            }
        } else {
            while let Some(l) = rx.recv().await {
                backlog.push(l);
            }
        }
        backlog.sort_by_key(Line::sort_key);
        backlog.iter().for_each(&mut show);
    }
    let Some(events) = events.as_mut() else {
        while let Some(l) = rx.recv().await {
            show(&l);
        }
        return Ok(());
    };
    loop {
        tokio::select! {
            Some(l) = rx.recv() => show(&l),
            Some(ev) = events.next() => {
                let Ok(ev) = ev else { continue };
                if ev.kind != EventKind::Start || open.contains(&ev.id) {
                    continue;
                }
                // One that started after us: followed from the second before its start.
                let fresh = chosen(engine.list_containers(&project.name).await?);
                if let (Some(c), Some(tx)) = (fresh.into_iter().find(|c| c.id == ev.id), &keep) {
                    let from = ev.time_nano.div_euclid(1_000_000_000) - 1;
                    let opts = LogOptions { since: Some(from), tail: None, ..req.options.clone() };
                    let done = crate::logs::attach(engine, &c, &opts, tx.clone());
                    open.insert(c.id.clone());
                    ended.push(end_of(done, c.id));
                }
            }
            Some(id) = ended.next() => {
                open.remove(&id);
                if open.is_empty() {
                    break;
                }
            }
            else => break,
        }
    }
    // What the last streams sent before they ended.
    while let Ok(l) = rx.try_recv() {
        show(&l);
    }
    Ok(())
}

/// Container `id`, once its log stream (`done`) ended.
async fn end_of(done: tokio::sync::oneshot::Receiver<()>, id: String) -> String {
    let _ = done.await;
    id
}
