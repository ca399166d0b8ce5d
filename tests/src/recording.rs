//! A TCP server on 127.0.0.1 that records every byte any client sends, with the protocol spoken
//! by a session function of the caller's (a fake PostgreSQL or Redis server): a test can then prove
//! what never reached it.

use std::future::Future;
use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// Where a session appends what it reads.
pub type Sink = Arc<Mutex<Vec<u8>>>;

/// Appends `bytes` to what the server received.
pub fn record(sink: &Sink, bytes: &[u8]) {
    sink.lock()
        .unwrap_or_else(|p| p.into_inner())
        .extend_from_slice(bytes);
}

pub struct RecordingServer {
    pub port: u16,
    received: Sink,
    connections: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl RecordingServer {
    /// Listens on a free port in the calling Tokio runtime; each connection runs `session`.
    pub async fn start<F, Fut>(session: F) -> io::Result<Self>
    where
        F: Fn(TcpStream, Sink) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let (received, connections) = (Sink::default(), Arc::new(AtomicUsize::new(0)));
        let (sink, counter) = (Arc::clone(&received), Arc::clone(&connections));
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(session(stream, Arc::clone(&sink)));
            }
        });
        Ok(Self {
            port,
            received,
            connections,
            task,
        })
    }

    /// Every byte any client sent (test code only: never print it).
    pub fn received(&self) -> Vec<u8> {
        self.received
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// How many connections were opened to it.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    /// Whether `needle` occurs in what it received.
    pub fn saw(&self, needle: &str) -> bool {
        let received = self.received();
        !needle.is_empty()
            && received
                .windows(needle.len())
                .any(|w| w == needle.as_bytes())
    }
}

impl Drop for RecordingServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}
