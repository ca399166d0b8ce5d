//! A throwaway redis-server whose settings live in a config file in a temp dir, so `CONFIG REWRITE`
//! and restarts behave as in production.

use crate::process::{
    find_program, free_port, fresh_dir, wait_for_port, ServiceProcess, ServiceSpec,
};
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::time::Duration;

pub struct RedisServer {
    pub port: u16,
    dir: PathBuf,
    program: PathBuf,
    process: Option<ServiceProcess>,
}

impl RedisServer {
    pub fn start() -> io::Result<Self> {
        Self::start_with(&[])
    }

    /// Starts redis-server with extra config-file lines (e.g. `user app on >pw ~* +@all`).
    pub fn start_with(config_lines: &[&str]) -> io::Result<Self> {
        let program = find_program("REDIS_SERVER", &["redis-server"], &[])?;
        let dir = fresh_dir("redis")?;
        let port = free_port()?;
        let mut config = format!(
            "port {port}\nbind 127.0.0.1\ndir {}\nsave \"\"\nappendonly no\nprotected-mode yes\n",
            dir.display()
        );
        for line in config_lines {
            config.push_str(line);
            config.push('\n');
        }
        std::fs::write(dir.join("redis.conf"), config)?;
        let mut server = Self {
            port,
            dir,
            program,
            process: None,
        };
        server.launch()?;
        Ok(server)
    }

    fn launch(&mut self) -> io::Result<()> {
        let mut process = ServiceProcess::spawn(ServiceSpec {
            name: "redis-server",
            program: &self.program,
            args: vec![self.config_path().display().to_string()],
            stop_signal: "TERM",
            remove_on_exit: None,
            log: &self.dir.join("redis.log"),
            run_as: None,
        })?;
        wait_for_port(self.port, Duration::from_secs(30), &mut process)?;
        self.process = Some(process);
        Ok(())
    }

    /// Stops and starts the server on the same port with the same files.
    pub fn restart(&mut self) -> io::Result<()> {
        self.stop();
        self.launch()
    }

    pub fn stop(&mut self) {
        if let Some(mut process) = self.process.take() {
            process.stop();
        }
    }

    pub fn dir(&self) -> &PathBuf {
        &self.dir
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.join("redis.conf")
    }

    /// Sends one inline command and returns the raw first reply line (e.g. `+PONG`).
    pub fn raw_command(&self, command: &str) -> io::Result<String> {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port))?;
        stream.set_read_timeout(Some(Duration::from_secs(5)))?;
        stream.write_all(format!("{command}\r\n").as_bytes())?;
        let mut buffer = [0u8; 512];
        let n = stream.read(&mut buffer)?;
        Ok(String::from_utf8_lossy(&buffer[..n])
            .lines()
            .next()
            .unwrap_or_default()
            .to_owned())
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
