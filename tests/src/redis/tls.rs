//! A CA and a server certificate made by the `openssl` CLI at test time. The server certificate
//! names `localhost` only (no IP address), so connecting to 127.0.0.1 tests host name checks.

use crate::process::{find_program, fresh_dir};
use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;

pub struct TlsFiles {
    dir: PathBuf,
    /// The CA certificate, PEM: what a secret's `ca_bundle` holds.
    pub ca_pem: String,
}

impl TlsFiles {
    pub fn generate() -> io::Result<Self> {
        let openssl = find_program("OPENSSL", &["openssl"], &[])?;
        let dir = fresh_dir("tls")?;
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ];
        run(Command::new(&openssl)
            .current_dir(&dir)
            .args(["req", "-x509"])
            .args(ec)
            .args(["-keyout", "ca.key", "-out", "ca.crt", "-days", "2"])
            .arg("-subj")
            .arg(format!("/CN=secret-rotation test CA {}", dir_name(&dir))))?;
        run(Command::new(&openssl)
            .current_dir(&dir)
            .arg("req")
            .args(ec)
            .args([
                "-keyout",
                "server.key",
                "-out",
                "server.csr",
                "-subj",
                "/CN=localhost",
            ]))?;
        std::fs::write(
            dir.join("server.ext"),
            "subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\n\
             keyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n",
        )?;
        run(Command::new(&openssl)
            .current_dir(&dir)
            .args([
                "x509",
                "-req",
                "-in",
                "server.csr",
                "-CA",
                "ca.crt",
                "-CAkey",
                "ca.key",
            ])
            .args(["-CAcreateserial", "-out", "server.crt", "-days", "2"])
            .args(["-extfile", "server.ext"]))?;
        let ca_pem = std::fs::read_to_string(dir.join("ca.crt"))?;
        Ok(Self { dir, ca_pem })
    }

    /// A client certificate signed by this CA (for `tls-auth-clients yes`): its PEM and its key's.
    pub fn client_identity(&self) -> io::Result<(String, String)> {
        let openssl = find_program("OPENSSL", &["openssl"], &[])?;
        let dir = &self.dir;
        run(Command::new(&openssl).current_dir(dir).args([
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            "client.key",
            "-out",
            "client.csr",
            "-subj",
            "/CN=secret-rotation client",
        ]))?;
        std::fs::write(
            dir.join("client.ext"),
            "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=clientAuth\n",
        )?;
        run(Command::new(&openssl)
            .current_dir(dir)
            .args(["x509", "-req", "-in", "client.csr", "-CA", "ca.crt"])
            .args(["-CAkey", "ca.key", "-CAcreateserial", "-out", "client.crt"])
            .args(["-days", "2", "-extfile", "client.ext"]))?;
        Ok((
            std::fs::read_to_string(dir.join("client.crt"))?,
            std::fs::read_to_string(dir.join("client.key"))?,
        ))
    }

    pub fn ca_path(&self) -> PathBuf {
        self.dir.join("ca.crt")
    }

    pub fn cert_path(&self) -> PathBuf {
        self.dir.join("server.crt")
    }

    pub fn key_path(&self) -> PathBuf {
        self.dir.join("server.key")
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for TlsFiles {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn dir_name(dir: &Path) -> String {
    dir.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn run(command: &mut Command) -> io::Result<()> {
    let output = command.output()?;
    if output.status.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "openssl failed: {}",
            String::from_utf8_lossy(&output.stderr)
        )))
    }
}
