//! A fake Redis server: it answers every command `+OK` (`HELLO` with an error, so a client stays
//! on RESP2) and records every byte it receives, so that a test can prove what never reached it,
//! e.g. the admin's password when an application secret points at a server of its own.

use super::tap::parse_one;
use crate::recording::{record, RecordingServer, Sink};
use std::io;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub struct FakeRedis;

impl FakeRedis {
    /// Listens on 127.0.0.1 on a free port, in the calling Tokio runtime.
    pub async fn start() -> io::Result<RecordingServer> {
        RecordingServer::start(serve).await
    }
}

async fn serve(mut stream: TcpStream, sink: Sink) {
    let (mut pending, mut chunk) = (Vec::new(), [0u8; 4096]);
    loop {
        let n = match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        record(&sink, &chunk[..n]);
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
