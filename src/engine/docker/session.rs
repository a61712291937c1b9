//! The BuildKit session a build opens when a step mounts a secret or an SSH agent. The client
//! `POST`s `/session` with `Upgrade: h2c`, naming the gRPC methods it serves; the engine takes
//! the connection over and, from then on, is the HTTP/2 *client* on it: the builder calls the
//! methods when a `RUN --mount=type=secret` or `type=ssh` needs them, and the session manager
//! checks the connection's health every second (a session that stops answering is dropped and
//! the build fails). The build itself names the session (`session=ID`) and still sends its
//! context as the request body, so nothing else about the build changes.
//!
//! Served: `moby.buildkit.secrets.v1.Secrets/GetSecret`, `moby.sshforward.v1.SSH/CheckAgent` and
//! `ForwardAgent` (each connection to the socket in the build container becomes one stream,
//! copied both ways to the user's agent), and `grpc.health.v1.Health/Check`. A secret's value
//! goes only into a `GetSecret` answer: never into a log, a trace or an error.

use std::sync::Arc;

use bytes::{Buf, Bytes, BytesMut};
use h2::server::SendResponse;
use h2::{RecvStream, SendStream};
use http_body_util::Empty;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use prost::Message as _;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::super::{BuildSession, EngineError, Result};

const HEALTH: &str = "/grpc.health.v1.Health/Check";
const GET_SECRET: &str = "/moby.buildkit.secrets.v1.Secrets/GetSecret";
const CHECK_AGENT: &str = "/moby.sshforward.v1.SSH/CheckAgent";
const FORWARD_AGENT: &str = "/moby.sshforward.v1.SSH/ForwardAgent";
/// The gRPC metadata key naming the SSH ID a `ForwardAgent` stream is for.
const SSH_ID: &str = "buildkit.ssh.id";

/// gRPC status codes wharf answers with.
const NOT_FOUND: u32 = 5;
const UNIMPLEMENTED: u32 = 12;
const UNAVAILABLE: u32 = 14;

mod proto {
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct IdRequest {
        /// `GetSecretRequest.ID` and `CheckAgentRequest.ID` (both field 1; the secret request's
        /// annotations are not used).
        #[prost(string, tag = "1")]
        pub id: String,
    }

    /// `GetSecretResponse` and `BytesMessage` (both a single `bytes` field 1).
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Bytes {
        #[prost(bytes = "vec", tag = "1")]
        pub data: Vec<u8>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct HealthCheckResponse {
        /// 1: SERVING.
        #[prost(int32, tag = "1")]
        pub status: i32,
    }
}

/// A session's ID as BuildKit makes them: 25 lowercase base-36 characters.
pub(super) fn new_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    let alphabet = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = String::with_capacity(25);
    while out.len() < 25 {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos());
        h.write_u32(std::process::id());
        let mut v = h.finish();
        for _ in 0..12 {
            out.push(alphabet[(v % 36) as usize] as char);
            v /= 36;
        }
    }
    out.truncate(25);
    out
}

/// The methods a session with `s` serves: only the providers it has something for, so a
/// builder asking for anything else is told by the engine that the client does not offer it.
fn methods(s: &BuildSession) -> Vec<&'static str> {
    let mut m = vec![HEALTH, GET_SECRET];
    if !s.ssh.is_empty() {
        m.extend([CHECK_AGENT, FORWARD_AGENT]);
    }
    m
}

/// Opens session `id` on the engine over `io` (a new connection to it) and serves it until
/// the engine closes it or the returned task is aborted.
pub(super) async fn open<S: AsyncRead + AsyncWrite + Unpin + Send + 'static>(
    io: S,
    version: &str,
    id: &str,
    name: &str,
    session: BuildSession,
) -> Result<tokio::task::JoinHandle<()>> {
    let api = |message: String, status: u16| EngineError::Api {
        operation: "opening a BuildKit session".into(),
        status,
        message,
    };
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(TokioIo::new(io)).await.map_err(|e| api(e.to_string(), 0))?;
    tokio::spawn(conn.with_upgrades());
    let mut request = Request::post(format!("/v{version}/session"))
        .header(hyper::header::HOST, "docker")
        .header(hyper::header::CONNECTION, "Upgrade")
        .header(hyper::header::UPGRADE, "h2c")
        .header("X-Docker-Expose-Session-Uuid", id)
        .header("X-Docker-Expose-Session-Name", name)
        .header("X-Docker-Expose-Session-Sharedkey", name);
    for m in methods(&session) {
        request = request.header("X-Docker-Expose-Session-Grpc-Method", m);
    }
    let request = request.body(Empty::<Bytes>::new()).map_err(|e| api(e.to_string(), 0))?;
    let response: Response<_> = sender.send_request(request).await.map_err(|e| api(e.to_string(), 0))?;
    if response.status() != hyper::StatusCode::SWITCHING_PROTOCOLS {
        let status = response.status().as_u16();
        return Err(api(format!("the engine answered {status} instead of switching to HTTP/2"), status));
    }
    let upgraded = hyper::upgrade::on(response).await.map_err(|e| api(e.to_string(), 0))?;
    Ok(tokio::spawn(serve(TokioIo::new(upgraded), Arc::new(session))))
}

/// Answers the engine's calls on the upgraded connection until it closes.
async fn serve<T: AsyncRead + AsyncWrite + Unpin>(io: T, session: Arc<BuildSession>) {
    let Ok(mut conn) = h2::server::handshake(io).await else { return };
    // The handlers run as tasks of their own; `accept` keeps driving the connection for them.
    while let Some(Ok((request, respond))) = conn.accept().await {
        tokio::spawn(handle(request, respond, session.clone()));
    }
}

async fn handle(request: Request<RecvStream>, respond: SendResponse<Bytes>, session: Arc<BuildSession>) {
    let path = request.uri().path().to_string();
    let ssh_id = request.headers().get(SSH_ID).and_then(|v| v.to_str().ok()).unwrap_or("default").to_string();
    let body = request.into_body();
    match path.as_str() {
        HEALTH => unary(body, respond, |_| Ok(proto::HealthCheckResponse { status: 1 }.encode_to_vec())).await,
        GET_SECRET => {
            unary(body, respond, |req| {
                let id = proto::IdRequest::decode(req).map(|r| r.id).unwrap_or_default();
                match session.secrets.get(&id) {
                    Some(v) => Ok(proto::Bytes { data: v.clone() }.encode_to_vec()),
                    None => Err((NOT_FOUND, format!("secret {id} not found"))),
                }
            })
            .await
        }
        CHECK_AGENT => {
            unary(body, respond, |req| {
                let id = proto::IdRequest::decode(req).map(|r| r.id).unwrap_or_default();
                let id = if id.is_empty() { "default".to_string() } else { id };
                match session.ssh.contains_key(&id) {
                    true => Ok(Vec::new()),
                    false => Err((NOT_FOUND, format!("unset ssh forward key {id}"))),
                }
            })
            .await
        }
        FORWARD_AGENT => match session.ssh.get(&ssh_id) {
            Some(socket) => forward(body, respond, socket).await,
            None => trailers_only(respond, NOT_FOUND, &format!("unset ssh forward key {ssh_id}")),
        },
        _ => trailers_only(respond, UNIMPLEMENTED, &format!("wharf does not serve {path}")),
    }
}

/// Reads gRPC messages (a flag byte, a 4-byte big-endian length, the message) from a stream.
#[derive(Default)]
struct Frames {
    buf: BytesMut,
}

impl Frames {
    fn push(&mut self, data: &[u8]) -> Vec<Bytes> {
        self.buf.extend_from_slice(data);
        let mut out = Vec::new();
        while self.buf.len() >= 5 {
            let len = u32::from_be_bytes([self.buf[1], self.buf[2], self.buf[3], self.buf[4]]) as usize;
            if self.buf.len() < 5 + len {
                break;
            }
            self.buf.advance(5);
            out.push(self.buf.split_to(len).freeze());
        }
        out
    }
}

/// One message, framed for gRPC (uncompressed).
fn frame(message: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(5 + message.len());
    out.extend_from_slice(&[0]);
    out.extend_from_slice(&(message.len() as u32).to_be_bytes());
    out.extend_from_slice(message);
    out.freeze()
}

/// The next data chunk of `body`, its flow-control window given back.
async fn next_chunk(body: &mut RecvStream) -> Option<Bytes> {
    let chunk = body.data().await?.ok()?;
    let _ = body.flow_control().release_capacity(chunk.len());
    Some(chunk)
}

fn ok_headers() -> Response<()> {
    let mut r = Response::new(());
    r.headers_mut().insert("content-type", hyper::header::HeaderValue::from_static("application/grpc"));
    r
}

fn status_trailers(code: u32, message: &str) -> hyper::HeaderMap {
    let mut t = hyper::HeaderMap::new();
    t.insert("grpc-status", code.into());
    if let Ok(v) = hyper::header::HeaderValue::from_str(&percent(message)) {
        t.insert("grpc-message", v);
    }
    t
}

/// gRPC's percent-encoding of `grpc-message` (everything outside printable ASCII, and `%`).
fn percent(s: &str) -> String {
    s.bytes()
        .map(|b| if (0x20..0x7f).contains(&b) && b != b'%' { (b as char).to_string() } else { format!("%{b:02X}") })
        .collect()
}

/// A failure with no message: the status in the response headers, which end the stream.
fn trailers_only(mut respond: SendResponse<Bytes>, code: u32, message: &str) {
    let mut r = ok_headers();
    r.headers_mut().extend(status_trailers(code, message));
    let _ = respond.send_response(r, true);
}

/// A unary call: reads the request message, answers with `answer`'s message or status.
async fn unary(
    mut body: RecvStream,
    mut respond: SendResponse<Bytes>,
    answer: impl FnOnce(Bytes) -> std::result::Result<Vec<u8>, (u32, String)>,
) {
    let mut frames = Frames::default();
    let mut request = None;
    while let Some(chunk) = next_chunk(&mut body).await {
        if request.is_none() {
            request = frames.push(&chunk).into_iter().next();
        }
    }
    match answer(request.unwrap_or_default()) {
        Ok(message) => {
            let Ok(mut send) = respond.send_response(ok_headers(), false) else { return };
            let _ = send.send_data(frame(&message), false);
            let _ = send.send_trailers(status_trailers(0, ""));
        }
        Err((code, message)) => trailers_only(respond, code, &message),
    }
}

/// `ForwardAgent`: one connection to the agent at `socket`, its bytes copied both ways as
/// `BytesMessage`s until either side ends.
async fn forward(mut body: RecvStream, mut respond: SendResponse<Bytes>, socket: &std::path::Path) {
    let agent = match tokio::net::UnixStream::connect(socket).await {
        Ok(a) => a,
        Err(e) => {
            let message = format!("cannot reach the SSH agent at {}: {e}", socket.display());
            return trailers_only(respond, UNAVAILABLE, &message);
        }
    };
    let Ok(mut send) = respond.send_response(ok_headers(), false) else { return };
    let (mut from_agent, mut to_agent) = agent.into_split();
    let to = async move {
        let mut frames = Frames::default();
        while let Some(chunk) = next_chunk(&mut body).await {
            for m in frames.push(&chunk) {
                let Ok(msg) = proto::Bytes::decode(m) else { continue };
                if to_agent.write_all(&msg.data).await.is_err() {
                    return;
                }
            }
        }
        let _ = to_agent.shutdown().await;
    };
    let from = async move {
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            match from_agent.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if !send_message(&mut send, &proto::Bytes { data: buf[..n].to_vec() }.encode_to_vec()).await {
                        return;
                    }
                }
            }
        }
        let _ = send.send_trailers(status_trailers(0, ""));
    };
    futures::join!(to, from);
}

/// Sends one message on `send` within the peer's flow-control window; `false` once the stream is gone.
async fn send_message(send: &mut SendStream<Bytes>, message: &[u8]) -> bool {
    let mut data = frame(message);
    while !data.is_empty() {
        send.reserve_capacity(data.len());
        let granted = match futures::future::poll_fn(|cx| send.poll_capacity(cx)).await {
            Some(Ok(n)) => n,
            _ => return false,
        };
        let part = data.split_to(granted.min(data.len()));
        if send.send_data(part, false).is_err() {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_messages_split_across_reads() {
        let mut f = Frames::default();
        let a = frame(b"hello");
        let b = frame(b"");
        assert!(f.push(&a[..3]).is_empty());
        let mut rest = a[3..].to_vec();
        rest.extend_from_slice(&b);
        assert_eq!(f.push(&rest), vec![Bytes::from_static(b"hello"), Bytes::new()]);
    }

    #[test]
    fn session_ids_look_like_buildkits() {
        let (a, b) = (new_id(), new_id());
        assert_eq!(a.len(), 25);
        assert!(a.bytes().all(|c| c.is_ascii_digit() || c.is_ascii_lowercase()));
        assert_ne!(a, b);
    }

    #[test]
    fn ssh_methods_are_offered_only_with_an_agent() {
        let mut s = BuildSession::default();
        assert!(!methods(&s).contains(&FORWARD_AGENT));
        s.ssh.insert("default".into(), "/tmp/agent".into());
        assert!(methods(&s).contains(&FORWARD_AGENT) && methods(&s).contains(&CHECK_AGENT));
    }

    #[test]
    fn grpc_message_is_percent_encoded() {
        assert_eq!(percent("secret a% not found\n"), "secret a%25 not found%0A");
    }
}
