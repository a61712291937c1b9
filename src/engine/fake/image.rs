//! The fake engine's images: a build hashes its context (so an unchanged context gives the same
//! image ID, as the builder's cache does); pulls and pushes use an in-memory registry.

use futures::StreamExt;
use sha2::Digest;

use super::FakeEngine;
use crate::engine::{BuildMessage, BuildRequest, ContextStream, EngineError, EngineStream, Result, TransferProgress};

impl FakeEngine {
    /// Makes `reference` available locally.
    pub fn with_image(self, reference: &str) -> FakeEngine {
        let id =
            format!("sha256:{:064x}", reference.len() as u64 * 7919 + reference.bytes().map(u64::from).sum::<u64>());
        self.state().images.insert(reference.to_string(), id);
        self
    }

    /// Makes `reference` pullable from the fake registry.
    pub fn with_registry_image(self, reference: &str) -> FakeEngine {
        self.state().registry.insert(reference.to_string(), format!("sha256:{:064x}", reference.len()));
        self
    }

    pub(super) fn build(&self, req: &BuildRequest, context: ContextStream) -> EngineStream<BuildMessage> {
        if let Err(e) = self.call("build_image", &req.tag) {
            return futures::stream::iter([Err(e)]).boxed();
        }
        // The image ID follows the context's bytes and the request, as the builder's cache does.
        let (me, req) = (self.clone(), req.clone());
        futures::stream::once(async move {
            let mut hash = sha2::Sha256::new();
            hash.update(format!("{:?}{:?}", req.dockerfile, req.args));
            let mut context = context;
            while let Some(chunk) = context.next().await {
                let chunk = chunk.map_err(|e| EngineError::Api {
                    operation: format!("building image `{}`", req.tag),
                    status: 0,
                    message: e.to_string(),
                })?;
                hash.update(&chunk);
            }
            let id: String = hash.finalize().iter().map(|b| format!("{b:02x}")).collect();
            let id = format!("sha256:{id}");
            me.state().images.insert(req.tag.clone(), id.clone());
            Ok::<_, EngineError>(id)
        })
        .flat_map(|r| {
            let items = match r {
                Ok(id) => vec![Ok(BuildMessage::Output("Step 1/1 : fake\n".into())), Ok(BuildMessage::ImageId(id))],
                Err(e) => vec![Err(e)],
            };
            futures::stream::iter(items)
        })
        .boxed()
    }

    pub(super) fn pull(&self, image: &str) -> EngineStream<TransferProgress> {
        let r = self.call("pull_image", image).and_then(|mut st| match st.registry.get(image).cloned() {
            Some(id) => {
                st.images.insert(image.to_string(), id);
                Ok(TransferProgress { status: "Pull complete".into(), ..Default::default() })
            }
            None => Err(EngineError::Api {
                operation: format!("pulling image `{image}`"),
                status: 404,
                message: "manifest unknown".into(),
            }),
        });
        futures::stream::iter([r]).boxed()
    }

    pub(super) fn push(&self, image: &str) -> EngineStream<TransferProgress> {
        let r = self.call("push_image", image).and_then(|mut st| match st.images.get(image).cloned() {
            Some(id) => {
                st.registry.insert(image.to_string(), id);
                Ok(TransferProgress { status: "Pushed".into(), ..Default::default() })
            }
            None => Err(EngineError::NotFound { what: format!("image `{image}`") }),
        });
        futures::stream::iter([r]).boxed()
    }

    pub(super) fn tag(&self, image: &str, target: &str) -> Result<()> {
        let mut st = self.call("tag_image", &format!("{image} {target}"))?;
        let id = st.images.get(image).cloned().ok_or(EngineError::NotFound { what: format!("image `{image}`") })?;
        st.images.insert(target.to_string(), id);
        Ok(())
    }
}

impl FakeEngine {
    /// `commit`: a new image ID, tagged `commit.reference` when given.
    pub(super) async fn commit(&self, id: &str, commit: &crate::engine::Commit) -> Result<String> {
        self.pause().await;
        let name = self.name_of(id);
        let mut st = self.call("commit_container", &name)?;
        st.get(id)?;
        let image = format!("sha256:{:064x}", st.images.len() as u64 + 1);
        if let Some(r) = &commit.reference {
            st.images.insert(r.clone(), image.clone());
        }
        Ok(image)
    }

    /// `export`: an empty archive (its two end blocks) for a container that exists.
    pub(super) fn export(&self, id: &str) -> EngineStream<Vec<u8>> {
        let name = self.name_of(id);
        let found = self.call("export_container", &name).and_then(|mut st| st.get(id).map(|_| ()));
        futures::stream::iter([found.map(|()| vec![0u8; 1024])]).boxed()
    }
}
