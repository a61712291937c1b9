//! Builds, pulls and pushes. The engine answers each with a stream of JSON progress messages; a
//! failure arrives inside the stream (bollard turns it into an error item). bollard's build and
//! push streams borrow the client, so each runs in a task that forwards into a channel.

use std::collections::HashMap;

use bollard::Docker;
use bollard::auth::DockerCredentials;
use bollard::errors::Error as BollardError;
use bollard::query_parameters::{BuildImageOptions, CreateImageOptions, PushImageOptions, TagImageOptions};
use futures::{SinkExt, StreamExt};

use super::super::reference;
use super::super::{
    BuildMessage, BuildRequest, ContextStream, Credentials, EngineError, EngineStream, TransferProgress,
};
use super::map_err;

pub(super) fn creds(c: Option<Credentials>) -> Option<DockerCredentials> {
    c.map(|c| DockerCredentials {
        username: Some(c.username).filter(|u| !u.is_empty()),
        password: Some(c.password).filter(|p| !p.is_empty()),
        serveraddress: Some(c.server),
        identitytoken: c.identity_token,
        ..Default::default()
    })
}

/// A failure inside a progress stream, with the registry's or builder's own words.
fn stream_err(e: BollardError, operation: &str, subject: &str) -> EngineError {
    match e {
        BollardError::DockerStreamError { error } => {
            EngineError::Api { operation: format!("{operation} {subject}"), status: 0, message: error }
        }
        other => map_err(other, operation, subject),
    }
}

pub(super) fn build(docker: &Docker, req: &BuildRequest, context: ContextStream) -> EngineStream<BuildMessage> {
    let join = |v: &[String]| (!v.is_empty()).then(|| v.join(","));
    let opts = BuildImageOptions {
        dockerfile: req.dockerfile.clone(),
        t: Some(req.tag.clone()),
        extrahosts: join(&req.extra_hosts),
        nocache: req.no_cache,
        cachefrom: (!req.cache_from.is_empty()).then(|| req.cache_from.clone()),
        pull: req.pull.then(|| "1".to_string()),
        rm: true,
        forcerm: true,
        buildargs: Some(req.args.iter().map(|(k, v)| (k.clone(), v.clone())).collect::<HashMap<_, _>>()),
        shmsize: req.shm_size.map(|s| s.clamp(0, i32::MAX as i64) as i32),
        labels: Some(req.labels.iter().map(|(k, v)| (k.clone(), v.clone())).collect::<HashMap<_, _>>()),
        networkmode: req.network.clone(),
        platform: req.platform.clone().unwrap_or_default(),
        target: req.target.clone().unwrap_or_default(),
        ..Default::default()
    };
    let subject = format!("image `{}`", req.tag);
    let body = bollard::body_try_stream(context);
    owned(docker.clone(), move |d| d.build_image(opts, None, Some(body)).boxed())
        .flat_map(move |r| {
            let items: Vec<super::super::Result<BuildMessage>> = match r {
                Err(e) => vec![Err(stream_err(e, "building", &subject))],
                Ok(info) => {
                    let mut v = Vec::new();
                    if let Some(s) = info.stream.filter(|s| !s.is_empty()) {
                        v.push(Ok(BuildMessage::Output(s)));
                    }
                    if let Some(s) = info.status.filter(|s| !s.is_empty()) {
                        v.push(Ok(BuildMessage::Output(format!("{s}\n"))));
                    }
                    if let Some(id) = info.aux.and_then(|a| a.id) {
                        v.push(Ok(BuildMessage::ImageId(id)));
                    }
                    v
                }
            };
            futures::stream::iter(items)
        })
        .boxed()
}

/// Runs a stream that borrows the client in a task of its own and hands its items over a
/// channel, so the result outlives the call.
fn owned<T: Send + 'static>(
    docker: Docker,
    make: impl FnOnce(&Docker) -> futures::stream::BoxStream<'_, T> + Send + 'static,
) -> futures::stream::BoxStream<'static, T> {
    let (mut tx, rx) = futures::channel::mpsc::channel(64);
    tokio::spawn(async move {
        let mut s = make(&docker);
        while let Some(item) = s.next().await {
            if tx.send(item).await.is_err() {
                break;
            }
        }
    });
    rx.boxed()
}

fn progress(
    id: Option<String>,
    status: Option<String>,
    detail: Option<bollard::models::ProgressDetail>,
) -> TransferProgress {
    let d = detail.unwrap_or_default();
    TransferProgress { id, status: status.unwrap_or_default(), current: d.current, total: d.total }
}

pub(super) fn pull(docker: &Docker, image: &str, auth: Option<Credentials>) -> EngineStream<TransferProgress> {
    let (repo, tag) = reference::split(image);
    let opts = match tag.strip_prefix('@') {
        Some(_) => CreateImageOptions { from_image: Some(image.to_string()), ..Default::default() },
        None => CreateImageOptions { from_image: Some(repo.to_string()), tag: Some(tag), ..Default::default() },
    };
    let subject = format!("image `{image}`");
    docker
        .create_image(Some(opts), None, creds(auth))
        .map(move |r| match r {
            Ok(i) => Ok(progress(i.id, i.status, i.progress_detail)),
            Err(e) => Err(stream_err(e, "pulling", &subject)),
        })
        .boxed()
}

pub(super) fn push(docker: &Docker, image: &str, auth: Option<Credentials>) -> EngineStream<TransferProgress> {
    let (repo, tag) = reference::split(image);
    let (repo, subject) = (repo.to_string(), format!("image `{image}`"));
    let opts = PushImageOptions { tag: Some(tag), ..Default::default() };
    let auth = creds(auth);
    owned(docker.clone(), move |d| d.push_image(&repo, Some(opts), auth).boxed())
        .map(move |r| match r {
            Ok(i) => match i.error_detail.and_then(|e| e.message) {
                Some(m) => Err(EngineError::Api { operation: format!("pushing {subject}"), status: 0, message: m }),
                None => Ok(progress(None, i.status, i.progress_detail)),
            },
            Err(e) => Err(stream_err(e, "pushing", &subject)),
        })
        .boxed()
}

pub(super) async fn tag(docker: &Docker, image: &str, target: &str) -> super::super::Result<()> {
    let (repo, tag) = reference::split(target);
    let opts = TagImageOptions { repo: Some(repo.to_string()), tag: Some(tag) };
    docker
        .tag_image(image, Some(opts))
        .await
        .map_err(|e| map_err(e, "tagging", &format!("image `{image}` as `{target}`")))
}

/// `docker commit` of container `id`; the new image's ID.
pub(super) async fn commit(docker: &Docker, id: &str, commit: &super::super::Commit) -> super::super::Result<String> {
    let (repo, tag) = match commit.reference.as_deref().map(reference::split) {
        Some((r, t)) => (Some(r.to_string()), Some(t)),
        None => (None, None),
    };
    let opts = bollard::query_parameters::CommitContainerOptions {
        container: Some(id.to_string()),
        repo,
        tag,
        comment: commit.message.clone(),
        author: commit.author.clone(),
        pause: commit.pause,
        changes: (!commit.changes.is_empty()).then(|| commit.changes.join("\n")),
    };
    docker
        .commit_container(opts, bollard::models::ContainerConfig::default())
        .await
        .map(|r| r.id)
        .map_err(|e| map_err(e, "committing", &format!("container `{id}`")))
}

/// `docker export` of container `id`: its filesystem as a tar stream.
pub(super) fn export(docker: &Docker, id: &str) -> EngineStream<Vec<u8>> {
    let subject = format!("container `{id}`");
    docker
        .export_container(id)
        .map(move |r| r.map(|b| b.to_vec()).map_err(|e| map_err(e, "exporting", &subject)))
        .boxed()
}
