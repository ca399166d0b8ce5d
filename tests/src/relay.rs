//! A TCP relay in front of PostgreSQL or Redis that records each connection (one per login): how
//! long it stayed open and how many requests the client sent on it.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// One relayed connection: how long it stayed open and how many times the client sent data
/// (about one per round trip: tokio-postgres and redis-rs flush once per request).
#[derive(Debug, Clone, Copy)]
pub struct Session {
    pub duration: Duration,
    pub client_sends: u32,
}

#[derive(Default)]
struct Relayed {
    open: AtomicU32,
    ended: Mutex<Vec<Session>>,
}

/// Relays TCP connections to `127.0.0.1:<upstream>` and records each one. Stopped when dropped.
pub struct ConnectionCounter {
    pub port: u16,
    relayed: Arc<Relayed>,
    server: JoinHandle<()>,
}

impl ConnectionCounter {
    pub async fn start(upstream: u16) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let relayed = Arc::new(Relayed::default());
        let state = Arc::clone(&relayed);
        let server = tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                let state = Arc::clone(&state);
                state.open.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    let opened = Instant::now();
                    let sends = AtomicU32::new(0);
                    if let Ok(outbound) = TcpStream::connect(("127.0.0.1", upstream)).await {
                        // Without this, Nagle's algorithm holds small writes for the peer's
                        // delayed ACK: tens of milliseconds per round trip.
                        let _ = inbound.set_nodelay(true);
                        let _ = outbound.set_nodelay(true);
                        let (client_read, client_write) = inbound.into_split();
                        let (server_read, server_write) = outbound.into_split();
                        tokio::join!(
                            pump(client_read, server_write, Some(&sends)),
                            pump(server_read, client_write, None)
                        );
                    }
                    lock(&state.ended).push(Session {
                        duration: opened.elapsed(),
                        client_sends: sends.load(Ordering::SeqCst),
                    });
                    state.open.fetch_sub(1, Ordering::SeqCst);
                });
            }
        });
        Ok(Self {
            port,
            relayed,
            server,
        })
    }

    /// The sessions that ended since the last call, after waiting (up to a second) for the open
    /// ones to close.
    pub async fn take(&self) -> Vec<Session> {
        let deadline = Instant::now() + Duration::from_secs(1);
        while self.relayed.open.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        std::mem::take(&mut *lock(&self.relayed.ended))
    }
}

impl Drop for ConnectionCounter {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn pump(mut from: OwnedReadHalf, mut to: OwnedWriteHalf, sends: Option<&AtomicU32>) {
    let mut buffer = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if let Some(sends) = sends {
            sends.fetch_add(1, Ordering::SeqCst);
        }
        if to.write_all(&buffer[..n]).await.is_err() {
            break;
        }
    }
    let _ = to.shutdown().await;
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}
