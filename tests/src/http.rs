//! The HTTP plumbing the kit's local servers share (the Lambda Runtime API, the proxies in front of
//! the Secrets Manager emulator): serving HTTP/1 on a listener, reading a whole body, an empty
//! answer with a status.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::{Body, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::future::Future;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

pub type HttpResponse = Response<Full<Bytes>>;

/// Serves HTTP/1 on `listener`, each request through `handle`, until the returned task is
/// aborted. Every connection sends small writes at once (TCP_NODELAY): otherwise Nagle's algorithm
/// holds them for the peer's delayed ACK, tens of milliseconds per round trip.
pub fn serve<H, F>(listener: TcpListener, handle: H) -> JoinHandle<()>
where
    H: Fn(Request<Incoming>) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = HttpResponse> + Send + 'static,
{
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let _ = stream.set_nodelay(true);
            let handle = handle.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req| {
                    let response = handle(req);
                    async move { Ok::<_, Infallible>(response.await) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    })
}

/// The whole body; empty when it cannot be read.
pub async fn read_body<B: Body>(body: B) -> Bytes {
    body.collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default()
}

/// An empty answer with `code`.
pub fn status(code: StatusCode) -> HttpResponse {
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = code;
    response
}
