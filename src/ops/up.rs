//! Converging a project, written once: the images it needs (built or pulled by policy), what
//! exists (one observe), the plan (pure `reconcile`), and its execution, under the project's
//! lock; then, when asked, the wait for readiness (`--wait`), after the lock is released so
//! other commands may work on the project meanwhile.
//!
//! In two phases, so a caller can look at the plan before anything changes: [`prepare`] (a dry
//! run stops there and prints it) and [`apply`]. [`up`] is both.

use indexmap::IndexMap;

use super::Error;
use crate::build::ensure::ImageFlags;
use crate::engine::Engine;
use crate::lock::ProjectLock;
use crate::model::Project;
use crate::plan::{Plan, UpOptions, reconcile};
use crate::progress::Report;
use crate::scheduler::readiness::{Readiness, wait_all};
use crate::scheduler::{execute, execute_with, observe};

/// What to converge and how: resolved settings.
#[derive(Debug, Clone, Default)]
pub struct UpRequest {
    /// The plan's options (services named, recreate policy, orphans, scale, supervision).
    pub options: UpOptions,
    /// `--build`, `--no-build`, `--pull`.
    pub images: ImageFlags,
    /// Build and pull what is missing first (a dry run's engine builds nothing, so it skips this).
    pub ensure_images: bool,
    /// Variables for build arguments and secrets (the project's environment).
    pub environment: IndexMap<String, String>,
    /// Bound on engine calls in flight (`None`: unbounded).
    pub parallel: Option<usize>,
    /// Take the project's lock for the engine at this endpoint while converging.
    pub lock: Option<String>,
    /// `--wait`: afterwards, wait until the selected services are ready, at most this many
    /// seconds (`Some(None)`: no limit).
    pub wait: Option<Option<u64>>,
    /// Where progress goes (silent by default).
    pub report: Report,
}

impl UpRequest {
    /// `up -d --wait` of `services` (all when empty), images ensured, the lock taken on the
    /// engine `DOCKER_HOST` names.
    pub fn detached_wait(services: &[String], timeout: Option<u64>) -> UpRequest {
        UpRequest {
            options: UpOptions { services: services.to_vec(), ..Default::default() },
            ensure_images: true,
            lock: Some(crate::lock::default_endpoint()),
            wait: Some(timeout),
            ..Default::default()
        }
    }
}

/// A plan ready to execute, with the project's lock held.
#[derive(Debug)]
pub struct Prepared {
    pub plan: Plan,
    lock: Option<ProjectLock>,
}

impl Prepared {
    /// What reconcile warned about (orphans, ignored keys), to show before anything changes.
    pub fn warnings(&self) -> &[String] {
        &self.plan.warnings
    }
}

/// Images, lock, observe, reconcile: everything up to the plan; nothing is changed yet except
/// images built or pulled.
pub async fn prepare<E: Engine>(engine: &E, project: &Project, req: &UpRequest) -> Result<Prepared, Error> {
    let lock = super::lock(project, &req.lock)?;
    if req.ensure_images {
        let bound = req.parallel.unwrap_or(4);
        crate::build::ensure::images(
            engine,
            project,
            &req.environment,
            &req.options.services,
            &req.images,
            bound,
            &req.report,
        )
        .await?;
    }
    let mut observed;
    if lock.as_ref().is_some_and(|l| l.abandoned().is_some()) {
        // The last holder was killed: its requests finish first, and the stops it left
        // pending. Only then: an ordinary `up` makes no extra engine call for this.
        crate::scheduler::settle_after_crash(engine, project, &req.report).await;
        observed = observe(engine, project).await?;
        if crate::scheduler::settle_pending_stops(engine, project, &observed).await? {
            observed = observe(engine, project).await?;
        }
    } else {
        observed = observe(engine, project).await?;
    }
    let plan = reconcile(project, &observed, &req.options)?;
    Ok(Prepared { plan, lock })
}

/// Executes the plan, releases the lock, and waits for readiness when the request asks.
pub async fn apply<E: Engine>(engine: &E, project: &Project, prepared: Prepared, req: &UpRequest) -> Result<(), Error> {
    let Prepared { plan, lock } = prepared;
    let no_start = req.options.no_start;
    // Subscribed before anything starts, so no health or exit event is missed.
    let ready = req.wait.filter(|_| !no_start).map(|t| (Readiness::subscribe(engine, &project.name, &req.report), t));
    let shared = ready.as_ref().map(|(r, _)| r.clone());
    match execute_with(engine, project, plan, req.parallel, no_start, &req.report, shared).await {
        // A container observed a moment ago is gone: an `up` killed while creating it left
        // the engine to roll its create back (issue 24). The world changed under the plan, so
        // converge once more from what is there now.
        Err(crate::scheduler::RunError::InService { error: crate::engine::EngineError::NotFound { .. }, .. }) => {
            let observed = observe(engine, project).await?;
            let again = reconcile(project, &observed, &req.options)?;
            execute(engine, project, again, req.parallel, no_start, &req.report).await?;
        }
        other => other?,
    }
    // Converged: other commands (`stop`, `logs`, another `up`) may work on the project now.
    drop(lock);
    if let Some((ready, timeout)) = ready {
        wait_all(engine, project, &req.options.services, &ready, timeout).await?;
    }
    Ok(())
}

/// [`prepare`] then [`apply`]; returns the plan's warnings.
pub async fn up<E: Engine>(engine: &E, project: &Project, req: &UpRequest) -> Result<Vec<String>, Error> {
    let prepared = prepare(engine, project, req).await?;
    let warnings = prepared.warnings().to_vec();
    apply(engine, project, prepared, req).await?;
    Ok(warnings)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::State;
    use crate::engine::fake::FakeEngine;

    fn project() -> Project {
        let yaml = "services:\n  db:\n    image: img\n  web:\n    image: img\n    depends_on: [db]\n";
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("compose.yaml"), yaml).unwrap();
        let opts = crate::LoadOptions {
            cwd: dir.path().to_path_buf(),
            project_name: Some("ops".into()),
            ..Default::default()
        };
        crate::load(&opts).unwrap().project
    }

    #[tokio::test]
    async fn regression_a_container_gone_between_observe_and_start_is_converged_again() {
        // Issue 24: after an `up` killed while creating containers, the next `up` failed with
        // "container … not found" for one the engine was rolling back.
        let e = FakeEngine::new().with_image("img");
        let p = project();
        let req = UpRequest { options: UpOptions { no_start: true, ..Default::default() }, ..Default::default() };
        up(&e, &p, &req).await.unwrap();
        // Observed as created, gone when it is started.
        let plan = prepare(&e, &p, &UpRequest::default()).await.unwrap();
        e.remove_container("ops-db-1", true, false).await.unwrap();
        apply(&e, &p, plan, &UpRequest::default()).await.unwrap();
        let list = e.list_containers("ops").await.unwrap();
        assert_eq!(list.len(), 2);
        assert!(list.iter().all(|c| c.state == State::Running), "{list:?}");
    }

    #[tokio::test]
    async fn up_converges_and_a_second_up_changes_nothing() {
        let e = FakeEngine::new().with_image("img");
        let p = project();
        let req = UpRequest { wait: Some(Some(5)), ..Default::default() };
        up(&e, &p, &req).await.unwrap();
        let list = e.list_containers("ops").await.unwrap();
        assert_eq!(list.len(), 2);
        assert!(list.iter().all(|c| c.state == State::Running));
        let again = prepare(&e, &p, &req).await.unwrap();
        assert!(again.plan.steps.is_empty(), "{}", again.plan);
    }
}
