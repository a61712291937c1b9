//! What `ps`, `top`, `images` and `stats` show of a project's containers: the data, gathered from
//! the engine; the CLI lays it out.

use super::Error;
use crate::engine::{ContainerInfo, Engine, State, Stats};
use crate::model::Project;

/// The project's containers of `services` (all when empty), by name; only running ones unless
/// `all`.
async fn listed<E: Engine>(
    engine: &E,
    project: &Project,
    services: &[String],
    all: bool,
) -> Result<Vec<ContainerInfo>, Error> {
    let mut list = crate::plan::select::targets(project, engine.list_containers(&project.name).await?, services);
    list.retain(|c| all || c.state == State::Running);
    list.sort_by(|x, y| x.name.cmp(&y.name));
    Ok(list)
}

/// One container's processes, as `docker top` has them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Processes {
    pub container: String,
    pub titles: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

/// `top`: the processes of each running container.
pub async fn top<E: Engine>(engine: &E, project: &Project, services: &[String]) -> Result<Vec<Processes>, Error> {
    let mut out = Vec::new();
    for c in listed(engine, project, services, false).await? {
        let (titles, rows) = engine.top(&c.id).await?;
        out.push(Processes { container: c.name, titles, rows });
    }
    Ok(out)
}

/// The image of one container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerImage {
    pub container: String,
    pub repository: String,
    pub tag: String,
    pub id: String,
    pub size: i64,
}

/// `images`: the image of each of the project's containers (those whose image still exists).
pub async fn images<E: Engine>(
    engine: &E,
    project: &Project,
    services: &[String],
) -> Result<Vec<ContainerImage>, Error> {
    let mut rows = Vec::new();
    for c in listed(engine, project, services, true).await? {
        let Some(info) = engine.image_info(&c.image_id).await? else { continue };
        let tag = info.tags.iter().find(|t| **t == c.image).or(info.tags.first()).cloned().unwrap_or_default();
        let (repository, tag) = match tag.rsplit_once(':') {
            Some((r, t)) if !t.contains('/') => (r.to_string(), t.to_string()),
            _ => (tag.clone(), "latest".to_string()),
        };
        rows.push(ContainerImage { container: c.name, repository, tag, id: info.id, size: info.size });
    }
    Ok(rows)
}

/// `stats`: one sample of each container (running ones unless `all`); a container whose
/// sample fails reads as zeros.
pub async fn stats<E: Engine>(
    engine: &E,
    project: &Project,
    services: &[String],
    all: bool,
) -> Result<Vec<(ContainerInfo, Stats)>, Error> {
    let list = listed(engine, project, services, all).await?;
    let samples = futures::future::join_all(list.iter().map(|c| engine.stats(&c.id))).await;
    Ok(list.into_iter().zip(samples.into_iter().map(Result::unwrap_or_default)).collect())
}

/// `ps`, resolved: which containers to list.
#[derive(Debug, Clone, Default)]
pub struct PsFilter {
    /// Stopped ones too.
    pub all: bool,
    /// Only containers in one of these states (`running`, `exited`, …); stopped ones count.
    pub status: Vec<String>,
    /// Only these services' containers.
    pub services: Vec<String>,
}

/// `ps`: the project's containers (one-offs included) that pass `filter`, by service, number
/// and name.
pub async fn ps<E: Engine>(engine: &E, project: &Project, filter: &PsFilter) -> Result<Vec<ContainerInfo>, Error> {
    use crate::model::labels::{NUMBER, SERVICE};
    let mut list = engine.list_containers(&project.name).await?;
    list.retain(|c| filter.all || c.state == State::Running || !filter.status.is_empty());
    list.retain(|c| filter.status.is_empty() || filter.status.iter().any(|s| s == c.state.as_str()));
    list.retain(|c| filter.services.is_empty() || filter.services.iter().any(|s| Some(s.as_str()) == c.label(SERVICE)));
    list.sort_by(|x, y| {
        (x.label(SERVICE), x.label(NUMBER), &x.name).cmp(&(y.label(SERVICE), y.label(NUMBER), &y.name))
    });
    Ok(list)
}
