//! A fake Redis server: it answers every command `+OK` (`HELLO` with an error, so a client stays
//! on RESP2) and records every byte it receives, so that a test can prove what never reached it,
//! e.g. the admin's password when an application secret points at a server of its own.

use super::tap::parse_one;
use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

pub struct FakeRedis {
    pub port: u16,
    received: Arc<Mutex<Vec<u8>>>,
    connections: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl FakeRedis {
    /// Listens on 127.0.0.1 on a free port, in the calling Tokio runtime.
    pub async fn start() -> io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let (received, connections) = (Arc::default(), Arc::new(AtomicUsize::new(0)));
        let (sink, counter) = (Arc::clone(&received), Arc::clone(&connections));
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(serve(stream, Arc::clone(&sink)));
            }
        });
        Ok(Self {
            port,
            received,
            connections,
            task,
        })
    }

    /// Every byte any client sent.
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

impl Drop for FakeRedis {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(mut stream: TcpStream, sink: Arc<Mutex<Vec<u8>>>) {
    let (mut pending, mut chunk) = (Vec::new(), [0u8; 4096]);
    loop {
        let n = match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        sink.lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(&chunk[..n]);
        pending.extend_from_slice(&chunk[..n]);
        let mut replies = Vec::new();
        loop {
            let mut rest = pending.as_slice();
            let Some(command) = parse_one(&mut rest) else {
                break;
            };
            let consumed = pending.len() - rest.len();
            pending.drain(..consumed);
            let hello = command
                .first()
                .is_some_and(|c| c.eq_ignore_ascii_case("HELLO"));
            replies.extend_from_slice(match hello {
                true => b"-ERR unknown command 'HELLO'\r\n".as_slice(),
                false => b"+OK\r\n".as_slice(),
            });
        }
        if stream.write_all(&replies).await.is_err() {
            return;
        }
    }
}
