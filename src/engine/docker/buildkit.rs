//! BuildKit builds without a session. The engine's `/build` with `version=2` takes the context as
//! the request body (as the classic builder does) and runs it through its embedded BuildKit; the
//! progress comes back as base64'd `moby.buildkit.v1.StatusResponse` protobuf records. bollard
//! reaches that endpoint only with its gRPC-session feature (it panics on `version=2` without it),
//! so this one request is sent with hyper directly over the engine's socket, and the records are
//! read with prost from the few message fields wharf uses.
//!
//! A build that mounts a secret or an SSH agent also opens a BuildKit session first (see
//! [`super::session`]) and names it in the request; every other build goes without one.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};

use super::super::{BuildMessage, BuildRequest, BuildStep, ContextStream, EngineError, EngineStream, Result};

/// Where the engine listens, as far as a plain request can reach it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Socket {
    Unix(String),
    Tcp(String),
}

impl Socket {
    /// `DOCKER_HOST` as the docker CLI reads it; `None` for what needs TLS or SSH (those builds
    /// use the classic builder through bollard).
    pub(super) fn parse(endpoint: &str) -> Option<Socket> {
        if let Some(path) = endpoint.strip_prefix("unix://") {
            return Some(Socket::Unix(path.to_string()));
        }
        let tls = std::env::var("DOCKER_TLS_VERIFY").is_ok_and(|v| !v.is_empty());
        match endpoint.strip_prefix("tcp://") {
            Some(addr) if !tls => Some(Socket::Tcp(addr.trim_end_matches('/').to_string())),
            _ => None,
        }
    }
}

/// The query string of a BuildKit build, as the docker CLI sends it.
fn query(req: &BuildRequest, session: Option<&str>) -> String {
    let mut q = form_urlencoded::Serializer::new(String::new());
    q.append_pair("version", "2");
    q.append_pair("t", &req.tag);
    q.append_pair("dockerfile", &req.dockerfile);
    q.append_pair("rm", "1");
    q.append_pair("forcerm", "1");
    if req.no_cache {
        q.append_pair("nocache", "1");
    }
    if req.pull {
        q.append_pair("pull", "1");
    }
    if let Some(t) = &req.target {
        q.append_pair("target", t);
    }
    if let Some(n) = &req.network {
        q.append_pair("networkmode", n);
    }
    if let Some(p) = &req.platform {
        q.append_pair("platform", p);
    }
    if let Some(s) = req.shm_size {
        q.append_pair("shmsize", &s.to_string());
    }
    for h in &req.extra_hosts {
        q.append_pair("extrahosts", h);
    }
    q.append_pair("buildargs", &json(&req.args));
    q.append_pair("labels", &json(&req.labels));
    if !req.cache_from.is_empty() {
        q.append_pair("cachefrom", &json(&req.cache_from));
    }
    if let Some(id) = session {
        q.append_pair("session", id);
    }
    q.finish()
}

/// JSON for the query's map and list values (they cannot fail to serialize).
fn json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

/// Starts a BuildKit build of `context` on the engine at `socket` (API `version`).
pub(super) fn build(
    socket: Socket,
    version: String,
    req: &BuildRequest,
    context: ContextStream,
) -> EngineStream<BuildMessage> {
    let session = req.session.clone().map(|s| (super::session::new_id(), s));
    let path = format!("/v{version}/build?{}", query(req, session.as_ref().map(|(id, _)| id.as_str())));
    let subject = format!("image `{}`", req.tag);
    let name = req.tag.clone();
    let (tx, rx) = futures::channel::mpsc::unbounded::<Result<BuildMessage>>();
    tokio::spawn(async move {
        // The session is open before the build names it, and closed when the build is over.
        let _session = match session {
            Some((id, s)) => match open_session(&socket, &version, &id, &name, s).await {
                Ok(task) => Some(AbortOnDrop(task)),
                Err(e) => {
                    let _ = tx.unbounded_send(Err(e));
                    return;
                }
            },
            None => None,
        };
        let sent = match &socket {
            Socket::Unix(p) => match tokio::net::UnixStream::connect(p).await {
                Ok(s) => send(s, &path, context, &tx, &subject, &endpoint(&socket)).await,
                Err(e) => Err(unreachable(&socket, e.to_string())),
            },
            Socket::Tcp(a) => match tokio::net::TcpStream::connect(a).await {
                Ok(s) => send(s, &path, context, &tx, &subject, &endpoint(&socket)).await,
                Err(e) => Err(unreachable(&socket, e.to_string())),
            },
        };
        if let Err(e) = sent {
            let _ = tx.unbounded_send(Err(e));
        }
    });
    rx.boxed()
}

/// Ends the session's task when the build that opened it is over.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn open_session(
    socket: &Socket,
    version: &str,
    id: &str,
    name: &str,
    s: crate::engine::BuildSession,
) -> Result<tokio::task::JoinHandle<()>> {
    match socket {
        Socket::Unix(p) => match tokio::net::UnixStream::connect(p).await {
            Ok(io) => super::session::open(io, version, id, name, s).await,
            Err(e) => Err(unreachable(socket, e.to_string())),
        },
        Socket::Tcp(a) => match tokio::net::TcpStream::connect(a).await {
            Ok(io) => super::session::open(io, version, id, name, s).await,
            Err(e) => Err(unreachable(socket, e.to_string())),
        },
    }
}

fn endpoint(socket: &Socket) -> String {
    match socket {
        Socket::Unix(p) => format!("unix://{p}"),
        Socket::Tcp(a) => format!("tcp://{a}"),
    }
}

fn unreachable(socket: &Socket, reason: String) -> EngineError {
    EngineError::Unreachable { endpoint: endpoint(socket), reason }
}

/// Sends the request over `io` and forwards the progress records until the engine closes.
async fn send<S: AsyncRead + AsyncWrite + Unpin + Send + 'static>(
    io: S,
    path: &str,
    context: ContextStream,
    tx: &futures::channel::mpsc::UnboundedSender<Result<BuildMessage>>,
    subject: &str,
    endpoint: &str,
) -> Result<()> {
    let api =
        |message: String, status: u16| EngineError::Api { operation: format!("building {subject}"), status, message };
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(TokioIo::new(io)).await.map_err(|e| api(e.to_string(), 0))?;
    tokio::spawn(conn);
    // The engine answers once it has the context; until then, the upload itself is progress.
    // An engine that takes neither another chunk nor answers within the deadline is wedged.
    let progress = std::sync::Arc::new(std::sync::Mutex::new(tokio::time::Instant::now()));
    let seen = progress.clone();
    let body = StreamBody::new(context.map(move |chunk| {
        if let Ok(mut t) = seen.lock() {
            *t = tokio::time::Instant::now();
        }
        chunk.map(Frame::data)
    }));
    let request = hyper::Request::post(path)
        .header(hyper::header::HOST, "docker")
        .header(hyper::header::CONTENT_TYPE, "application/x-tar")
        .body(body)
        .map_err(|e| api(e.to_string(), 0))?;
    let deadline = Duration::from_secs(super::errors::TIMEOUT_S.load(std::sync::atomic::Ordering::Relaxed));
    let response = sender.send_request(request);
    tokio::pin!(response);
    let response = loop {
        let last = progress.lock().map(|t| *t).unwrap_or_else(|_| tokio::time::Instant::now());
        tokio::select! {
            r = &mut response => break r.map_err(|e| api(e.to_string(), 0))?,
            () = tokio::time::sleep_until(last + deadline) => {
                if progress.lock().map(|t| *t).unwrap_or(last) == last {
                    return Err(EngineError::Timeout {
                        endpoint: endpoint.to_string(),
                        operation: format!("building {subject}"),
                        waited_s: deadline.as_secs(),
                    });
                }
            }
        }
    };
    let status = response.status().as_u16();
    let mut body = response.into_body();
    if status != 200 {
        let bytes = tokio::time::timeout(Duration::from_secs(30), body.collect())
            .await
            .ok()
            .and_then(|r| r.ok())
            .map(|c| c.to_bytes())
            .unwrap_or_default();
        let message = serde_json::from_slice::<serde_json::Value>(&bytes)
            .ok()
            .and_then(|v| v.get("message").and_then(|m| m.as_str()).map(str::to_string))
            .unwrap_or_else(|| String::from_utf8_lossy(&bytes).trim().to_string());
        return Err(api(message, status));
    }
    let mut lines = Lines::default();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| api(e.to_string(), 0))?;
        let Ok(data) = frame.into_data() else { continue };
        for line in lines.push(&data) {
            for message in decode_line(&line, subject) {
                if tx.unbounded_send(message).is_err() {
                    return Ok(());
                }
            }
        }
    }
    Ok(())
}

/// Splits a byte stream into lines (the engine ends each JSON record with `\r\n`).
#[derive(Default)]
struct Lines {
    buf: BytesMut,
}

impl Lines {
    fn push(&mut self, data: &[u8]) -> Vec<Bytes> {
        self.buf.extend_from_slice(data);
        let mut out = Vec::new();
        while let Some(i) = self.buf.iter().position(|&b| b == b'\n') {
            let line = self.buf.split_to(i + 1).freeze();
            let trimmed = line.slice(..line.len() - 1);
            let trimmed = if trimmed.ends_with(b"\r") { trimmed.slice(..trimmed.len() - 1) } else { trimmed };
            if !trimmed.is_empty() {
                out.push(trimmed);
            }
        }
        out
    }
}

/// One record of the engine's build stream, as messages.
fn decode_line(line: &[u8], subject: &str) -> Vec<Result<BuildMessage>> {
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(line) else {
        return vec![Ok(BuildMessage::Output(format!("{}\n", String::from_utf8_lossy(line))))];
    };
    if let Some(message) = v.get("error").and_then(|e| e.as_str()) {
        return vec![Err(EngineError::Api {
            operation: format!("building {subject}"),
            status: 0,
            message: message.to_string(),
        })];
    }
    let id = v.get("id").and_then(|i| i.as_str()).unwrap_or("");
    let aux = v.get("aux");
    match (id, aux) {
        ("moby.buildkit.trace", Some(serde_json::Value::String(b64))) => trace(b64),
        ("moby.image.id", Some(a)) => {
            a.get("ID").and_then(|i| i.as_str()).map(|i| Ok(BuildMessage::ImageId(i.to_string()))).into_iter().collect()
        }
        _ => v
            .get("stream")
            .and_then(|s| s.as_str())
            .filter(|s| !s.is_empty())
            .map(|s| Ok(BuildMessage::Output(s.to_string())))
            .into_iter()
            .collect(),
    }
}

/// The fields of `moby.buildkit.v1.StatusResponse` wharf reads (prost skips the others).
mod proto {
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct StatusResponse {
        #[prost(message, repeated, tag = "1")]
        pub vertexes: Vec<Vertex>,
        #[prost(message, repeated, tag = "3")]
        pub logs: Vec<VertexLog>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Vertex {
        #[prost(string, tag = "1")]
        pub digest: String,
        #[prost(string, tag = "3")]
        pub name: String,
        #[prost(bool, tag = "4")]
        pub cached: bool,
        #[prost(message, optional, tag = "5")]
        pub started: Option<Timestamp>,
        #[prost(message, optional, tag = "6")]
        pub completed: Option<Timestamp>,
        #[prost(string, tag = "7")]
        pub error: String,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Timestamp {
        #[prost(int64, tag = "1")]
        pub seconds: i64,
        #[prost(int32, tag = "2")]
        pub nanos: i32,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct VertexLog {
        #[prost(string, tag = "1")]
        pub vertex: String,
        #[prost(bytes = "vec", tag = "4")]
        pub msg: Vec<u8>,
    }
}

fn seconds(t: &proto::Timestamp) -> f64 {
    t.seconds as f64 + f64::from(t.nanos) / 1e9
}

/// A trace record: steps that changed, then the output they wrote.
fn trace(b64: &str) -> Vec<Result<BuildMessage>> {
    use base64::Engine as _;
    use prost::Message as _;
    let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(b64) else { return Vec::new() };
    let Ok(status) = proto::StatusResponse::decode(bytes.as_slice()) else { return Vec::new() };
    let mut out = Vec::new();
    for v in status.vertexes {
        let took = match (&v.started, &v.completed) {
            (Some(s), Some(c)) => Some(Duration::from_secs_f64((seconds(c) - seconds(s)).max(0.0))),
            (None, Some(_)) => Some(Duration::ZERO),
            _ => None,
        };
        out.push(Ok(BuildMessage::Step(BuildStep {
            id: v.digest,
            name: v.name,
            cached: v.cached,
            started: v.started.is_some(),
            completed: took,
            error: (!v.error.is_empty()).then_some(v.error),
        })));
    }
    for l in status.logs {
        out.push(Ok(BuildMessage::StepOutput { step: l.vertex, text: String::from_utf8_lossy(&l.msg).into_owned() }));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_that_a_plain_request_reaches() {
        assert_eq!(Socket::parse("unix:///var/run/docker.sock"), Some(Socket::Unix("/var/run/docker.sock".into())));
        assert_eq!(Socket::parse("ssh://me@host"), None);
        assert_eq!(Socket::parse("npipe:////./pipe/docker_engine"), None);
    }

    #[test]
    fn the_query_carries_every_option() {
        let req = BuildRequest {
            tag: "p-web".into(),
            dockerfile: "Dockerfile".into(),
            args: [("A".to_string(), "1 2".to_string())].into(),
            target: Some("dev".into()),
            extra_hosts: vec!["a:1.2.3.4".into(), "b:5.6.7.8".into()],
            cache_from: vec!["x:1".into()],
            no_cache: true,
            ..Default::default()
        };
        let q = query(&req, None);
        assert!(!q.contains("session="), "{q}");
        assert!(query(&req, Some("abc")).ends_with("&session=abc"));
        for part in [
            "version=2",
            "t=p-web",
            "nocache=1",
            "target=dev",
            "extrahosts=a%3A1.2.3.4&extrahosts=b%3A5.6.7.8",
            "buildargs=%7B%22A%22%3A%221+2%22%7D",
            "cachefrom=%5B%22x%3A1%22%5D",
        ] {
            assert!(q.contains(part), "{part} not in {q}");
        }
        assert!(!q.contains("pull="), "{q}");
    }

    #[test]
    fn records_split_on_crlf_across_reads() {
        let mut l = Lines::default();
        assert!(l.push(b"{\"stream\":\"a\"}\r").is_empty());
        let got = l.push(b"\n{\"stream\":\"b\"}\r\n\r\n{\"str");
        assert_eq!(got, vec![Bytes::from_static(b"{\"stream\":\"a\"}"), Bytes::from_static(b"{\"stream\":\"b\"}")]);
    }

    #[test]
    fn trace_records_become_steps_and_output() {
        use base64::Engine as _;
        use prost::Message as _;
        let status = proto::StatusResponse {
            vertexes: vec![proto::Vertex {
                digest: "sha256:1".into(),
                name: "[2/2] RUN exit 3".into(),
                started: Some(proto::Timestamp { seconds: 10, nanos: 0 }),
                completed: Some(proto::Timestamp { seconds: 11, nanos: 500_000_000 }),
                error: "exit code: 3".into(),
                ..Default::default()
            }],
            logs: vec![proto::VertexLog { vertex: "sha256:1".into(), msg: b"oops\n".to_vec() }],
        };
        let b64 = base64::engine::general_purpose::STANDARD.encode(status.encode_to_vec());
        let line = format!("{{\"id\":\"moby.buildkit.trace\",\"aux\":\"{b64}\"}}");
        let got: Vec<BuildMessage> =
            decode_line(line.as_bytes(), "image `x`").into_iter().map(|m| m.unwrap()).collect();
        assert_eq!(
            got,
            vec![
                BuildMessage::Step(BuildStep {
                    id: "sha256:1".into(),
                    name: "[2/2] RUN exit 3".into(),
                    cached: false,
                    started: true,
                    completed: Some(Duration::from_millis(1500)),
                    error: Some("exit code: 3".into()),
                }),
                BuildMessage::StepOutput { step: "sha256:1".into(), text: "oops\n".into() },
            ]
        );
        let id = decode_line(br#"{"id":"moby.image.id","aux":{"ID":"sha256:abc"}}"#, "image `x`");
        assert_eq!(
            id.into_iter().map(|m| m.unwrap()).collect::<Vec<_>>(),
            vec![BuildMessage::ImageId("sha256:abc".into())]
        );
        let err = decode_line(br#"{"errorDetail":{"message":"no"},"error":"no"}"#, "image `x`");
        assert!(matches!(&err[0], Err(EngineError::Api { message, .. }) if message == "no"));
    }
}
