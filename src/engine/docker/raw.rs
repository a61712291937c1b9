//! A JSON request sent with hyper straight over the engine's socket, for the rare field that
//! bollard's request types no longer carry: a container's `MacAddress` before API 1.44 (bollard
//! follows the newest API, where the address moved to the network endpoint, which Docker 20.10
//! ignores at create). Everything else goes through bollard.

use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};

use super::buildkit::Socket;

/// The engine's answer: status and body (`Err`: the request could not be sent or read).
pub(super) async fn post_json(
    socket: &Socket,
    path: &str,
    body: &serde_json::Value,
    deadline: Duration,
) -> Result<(u16, Vec<u8>), String> {
    let body = serde_json::to_vec(body).map_err(|e| e.to_string())?;
    let sent = async {
        match socket {
            Socket::Unix(p) => {
                send(tokio::net::UnixStream::connect(p).await.map_err(|e| e.to_string())?, path, body).await
            }
            Socket::Tcp(a) => {
                send(tokio::net::TcpStream::connect(a).await.map_err(|e| e.to_string())?, path, body).await
            }
        }
    };
    tokio::time::timeout(deadline, sent).await.map_err(|_| NO_ANSWER.to_string())?
}

/// `GET /_ping` over a local socket: the API version the engine answers with (its
/// `API-Version` header, which is how the docker CLI negotiates), when it answers 200;
/// `Err` when it did not answer within `deadline`.
pub(super) async fn ping_version(path: &str, deadline: Duration) -> Result<Option<String>, ()> {
    let asked = async {
        let io = tokio::net::UnixStream::connect(path).await.ok()?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io)).await.ok()?;
        tokio::spawn(conn);
        let request = hyper::Request::get("/_ping")
            .header(hyper::header::HOST, "docker")
            .body(http_body_util::Empty::<bytes::Bytes>::new())
            .ok()?;
        let response = sender.send_request(request).await.ok()?;
        if response.status() != hyper::StatusCode::OK {
            return None;
        }
        response.headers().get("api-version")?.to_str().ok().map(str::to_string)
    };
    tokio::time::timeout(deadline, asked).await.map_err(|_| ())
}

/// What [`post_json`] says when the engine did not answer within the deadline.
pub(super) const NO_ANSWER: &str = "no answer";

async fn send<S: AsyncRead + AsyncWrite + Unpin + Send + 'static>(
    io: S,
    path: &str,
    body: Vec<u8>,
) -> Result<(u16, Vec<u8>), String> {
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(TokioIo::new(io)).await.map_err(|e| e.to_string())?;
    tokio::spawn(conn);
    let request = hyper::Request::post(path)
        .header(hyper::header::HOST, "docker")
        .header(hyper::header::CONTENT_TYPE, "application/json")
        .body(Full::new(bytes::Bytes::from(body)))
        .map_err(|e| e.to_string())?;
    let response = sender.send_request(request).await.map_err(|e| e.to_string())?;
    let status = response.status().as_u16();
    let bytes = response.into_body().collect().await.map_err(|e| e.to_string())?.to_bytes();
    Ok((status, bytes.to_vec()))
}
