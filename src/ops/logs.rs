//! `logs`: the output of a project's containers, as lines tagged with their container, in
//! arrival order or (`merge_by_time`) in timestamp order.

use std::time::Duration;

use super::Error;
use crate::engine::{Engine, LogOptions};
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
/// before any line, `show` gets each line. With `options.follow`, until the containers stop.
pub async fn logs<E: Engine>(
    engine: &E,
    project: &Project,
    req: &LogsRequest,
    start: impl FnOnce(&[String]),
    mut show: impl FnMut(&Line),
) -> Result<(), Error> {
    let all = engine.list_containers(&project.name).await?;
    let mut list = crate::plan::select::targets(project, all, &req.services);
    if let Some(i) = req.index {
        list.retain(|c| c.label(NUMBER) == Some(i.to_string().as_str()));
    }
    list.sort_by_key(short_name);
    let names: Vec<String> = list.iter().map(short_name).collect();
    start(&names);
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    for c in &list {
        crate::logs::attach(engine, c, &req.options, tx.clone());
    }
    drop(tx);
    if req.merge_by_time {
        let mut backlog = Vec::new();
        let live = if req.options.follow {
            // The backlog is what arrives before the streams go quiet for a moment.
            loop {
                match tokio::time::timeout(Duration::from_millis(300), rx.recv()).await {
                    Ok(Some(l)) => backlog.push(l),
                    Ok(None) => break false,
                    Err(_) => break true,
                }
            }
        } else {
            while let Some(l) = rx.recv().await {
                backlog.push(l);
            }
            false
        };
        backlog.sort_by_key(Line::sort_key);
        backlog.iter().for_each(&mut show);
        if !live {
            return Ok(());
        }
    }
    while let Some(l) = rx.recv().await {
        show(&l);
    }
    Ok(())
}
