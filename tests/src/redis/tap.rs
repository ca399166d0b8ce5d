//! What reaches a Redis server: its `MONITOR` feed, and every byte a client sends through a
//! recording TCP proxy. Secrecy tests scan both for plaintext passwords.

use super::{admin_password, ADMIN};
use secrecy::ExposeSecret;
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

type Buffer = Arc<Mutex<Vec<u8>>>;

fn append(buffer: &Buffer, bytes: &[u8]) {
    buffer
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .extend_from_slice(bytes);
}

fn read_all(buffer: &Buffer) -> Vec<u8> {
    buffer.lock().unwrap_or_else(|p| p.into_inner()).clone()
}

/// An admin connection in `MONITOR` mode, recording every command the server reports.
pub struct Monitor {
    buffer: Buffer,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Monitor {
    pub fn start(port: u16) -> io::Result<Self> {
        let mut stream = TcpStream::connect(("127.0.0.1", port))?;
        stream.set_read_timeout(Some(Duration::from_millis(100)))?;
        let password = admin_password().expose_secret();
        let auth = format!(
            "*3\r\n$4\r\nAUTH\r\n${}\r\n{ADMIN}\r\n${}\r\n{password}\r\n*1\r\n$7\r\nMONITOR\r\n",
            ADMIN.len(),
            password.len()
        );
        stream.write_all(auth.as_bytes())?;
        let (buffer, stop) = (Buffer::default(), Arc::new(AtomicBool::new(false)));
        let (sink, stopped) = (Arc::clone(&buffer), Arc::clone(&stop));
        let thread = std::thread::spawn(move || {
            let mut chunk = [0u8; 8192];
            while !stopped.load(Ordering::Relaxed) {
                match stream.read(&mut chunk) {
                    Ok(0) => break,
                    Ok(n) => append(&sink, &chunk[..n]),
                    Err(e)
                        if matches!(
                            e.kind(),
                            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                        ) => {}
                    Err(_) => break,
                }
            }
        });
        // MONITOR answers +OK once it is on.
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while !String::from_utf8_lossy(&read_all(&buffer)).contains("+OK\r\n+OK") {
            if std::time::Instant::now() > deadline {
                return Err(io::Error::other("MONITOR did not start"));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(Self {
            buffer,
            stop,
            thread: Some(thread),
        })
    }

    /// Everything the server reported so far.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&read_all(&self.buffer)).into_owned()
    }
}

impl Drop for Monitor {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A TCP proxy on 127.0.0.1 in front of a server that records what clients send.
pub struct WireTap {
    pub port: u16,
    connections: Arc<Mutex<Vec<Buffer>>>,
    stop: Arc<AtomicBool>,
}

impl WireTap {
    pub fn start(target_port: u16) -> io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let port = listener.local_addr()?.port();
        let connections = Arc::new(Mutex::new(Vec::<Buffer>::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (registry, stopped) = (Arc::clone(&connections), Arc::clone(&stop));
        std::thread::spawn(move || {
            while !stopped.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((client, _)) => {
                        let recorded = Buffer::default();
                        registry
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .push(Arc::clone(&recorded));
                        let _ = relay(client, target_port, recorded);
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Ok(Self {
            port,
            connections,
            stop,
        })
    }

    /// Every command clients sent, as lists of (lossily decoded) arguments.
    pub fn commands(&self) -> Vec<Vec<String>> {
        let connections = self.connections.lock().unwrap_or_else(|p| p.into_inner());
        connections
            .iter()
            .flat_map(|buffer| parse_commands(&read_all(buffer)))
            .collect()
    }

    /// Everything clients sent, as text.
    pub fn raw(&self) -> String {
        let connections = self.connections.lock().unwrap_or_else(|p| p.into_inner());
        connections
            .iter()
            .map(|b| String::from_utf8_lossy(&read_all(b)).into_owned())
            .collect()
    }
}

impl Drop for WireTap {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn relay(client: TcpStream, target_port: u16, recorded: Buffer) -> io::Result<()> {
    client.set_nonblocking(false)?;
    let server = TcpStream::connect(("127.0.0.1", target_port))?;
    let (mut client_in, mut server_out) = (client.try_clone()?, server.try_clone()?);
    std::thread::spawn(move || {
        let mut chunk = [0u8; 8192];
        while let Ok(n) = client_in.read(&mut chunk) {
            if n == 0 || server_out.write_all(&chunk[..n]).is_err() {
                break;
            }
            append(&recorded, &chunk[..n]);
        }
        let _ = server_out.shutdown(Shutdown::Both);
        let _ = client_in.shutdown(Shutdown::Both);
    });
    let (mut server_in, mut client_out) = (server, client);
    std::thread::spawn(move || {
        let _ = io::copy(&mut server_in, &mut client_out);
        let _ = client_out.shutdown(Shutdown::Both);
    });
    Ok(())
}

/// RESP arrays of bulk strings, as clients send commands.
fn parse_commands(bytes: &[u8]) -> Vec<Vec<String>> {
    let mut commands = vec![];
    let mut rest = bytes;
    while let Some(command) = parse_one(&mut rest) {
        commands.push(command);
    }
    commands
}

/// One RESP command from the front of `rest`, which it advances; `None` when incomplete.
pub(super) fn parse_one(rest: &mut &[u8]) -> Option<Vec<String>> {
    let count: usize = line(rest)?.strip_prefix('*')?.parse().ok()?;
    let mut args = Vec::with_capacity(count);
    for _ in 0..count {
        let len: usize = line(rest)?.strip_prefix('$')?.parse().ok()?;
        let data = rest.get(..len)?;
        args.push(String::from_utf8_lossy(data).into_owned());
        *rest = rest.get(len + 2..)?;
    }
    Some(args)
}

fn line(rest: &mut &[u8]) -> Option<String> {
    let end = rest.windows(2).position(|w| w == b"\r\n")?;
    let text = String::from_utf8_lossy(&rest[..end]).into_owned();
    *rest = &rest[end + 2..];
    Some(text)
}

#[cfg(test)]
mod tests {
    #[test]
    fn parses_resp_commands() {
        let bytes = b"*2\r\n$4\r\nAUTH\r\n$2\r\npw\r\n*1\r\n$4\r\nPING\r\n";
        assert_eq!(
            super::parse_commands(bytes),
            vec![
                vec!["AUTH".to_owned(), "pw".to_owned()],
                vec!["PING".to_owned()]
            ]
        );
    }
}
