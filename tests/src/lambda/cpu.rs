//! Lambda gives a function CPU in proportion to its memory: one vCPU at 1,769 MB, so about 7 % of
//! one core at 128 MB. A `LambdaCpu` runs function processes in a CPU cgroup with that share (a CFS
//! quota), so that start-up and latency can be read at the memory size a user deploys rather than
//! on this machine's full cores.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

/// The memory size at which Lambda gives a function one full vCPU.
pub const ONE_VCPU_MB: u32 = 1769;
const PERIOD_US: u64 = 100_000;
/// The kernel refuses a CFS quota under 1 ms.
const MIN_QUOTA_US: u64 = 1_000;

/// Lambda's CPU share at `memory_mb`: a parent cgroup under which each function process gets a
/// group of its own, as each Lambda sandbox has its own quota.
pub struct LambdaCpu {
    pub memory_mb: u32,
    dir: PathBuf,
    version: u8,
    groups: AtomicUsize,
}

/// One process's cgroup with the quota; removed when dropped (after its process is reaped).
pub struct CpuGroup {
    dir: PathBuf,
    procs: File,
}

impl LambdaCpu {
    /// Creates the parent cgroup under this machine's CPU controller (cgroup v1 `cpu`, or v2 with
    /// the `cpu` controller), or says why it cannot: a caller never runs unconfined in its place.
    pub fn create(memory_mb: u32) -> io::Result<Self> {
        let mounts = std::fs::read_to_string("/proc/self/mounts")?;
        let (root, version) = cpu_controller(&mounts).ok_or_else(|| {
            io::Error::other(
                "Lambda's CPU share needs a CPU cgroup controller (cgroup v1 `cpu` or v2 with `cpu`), and none is mounted",
            )
        })?;
        let dir = root.join(format!("secret-rotation-bench-{}", std::process::id()));
        if version == 2 {
            // A child group gets the cpu controller only when its parent hands it down.
            let _ = std::fs::write(root.join("cgroup.subtree_control"), "+cpu");
        }
        std::fs::create_dir_all(&dir).map_err(|e| cannot(&dir, "create a cgroup", &e))?;
        if version == 2 {
            let _ = std::fs::write(dir.join("cgroup.subtree_control"), "+cpu");
        }
        let cpu = Self {
            memory_mb,
            dir,
            version,
            groups: AtomicUsize::new(0),
        };
        drop(cpu.group()?); // proves now, not at the first spawn, that a quota can be set
        Ok(cpu)
    }

    /// A new group with the quota, for one process.
    pub fn group(&self) -> io::Result<CpuGroup> {
        let n = self.groups.fetch_add(1, Ordering::Relaxed);
        let dir = self.dir.join(format!("function-{n}"));
        std::fs::create_dir_all(&dir).map_err(|e| cannot(&dir, "create a cgroup", &e))?;
        let quota = self.quota_us();
        let written = if self.version == 1 {
            std::fs::write(dir.join("cpu.cfs_period_us"), PERIOD_US.to_string())
                .and_then(|()| std::fs::write(dir.join("cpu.cfs_quota_us"), quota.to_string()))
        } else {
            std::fs::write(dir.join("cpu.max"), format!("{quota} {PERIOD_US}"))
        };
        match written.and_then(|()| {
            OpenOptions::new()
                .write(true)
                .open(dir.join("cgroup.procs"))
        }) {
            Ok(procs) => Ok(CpuGroup { dir, procs }),
            Err(e) => {
                let _ = std::fs::remove_dir(&dir);
                Err(cannot(&dir, "set a CPU quota", &e))
            }
        }
    }

    /// CPU time per period: the share of one core Lambda gives `memory_mb`.
    fn quota_us(&self) -> u64 {
        (PERIOD_US * u64::from(self.memory_mb) / u64::from(ONE_VCPU_MB)).max(MIN_QUOTA_US)
    }

    pub fn describe(&self) -> String {
        format!(
            "function processes limited to {:.1} % of one core, each in a cgroup of its own: Lambda's CPU share at {} MB (one vCPU at {ONE_VCPU_MB} MB), a CFS quota of {:.2} ms per {} ms, under {}",
            self.quota_us() as f64 / PERIOD_US as f64 * 100.0,
            self.memory_mb,
            self.quota_us() as f64 / 1000.0,
            PERIOD_US / 1000,
            self.dir.display()
        )
    }
}

impl Drop for LambdaCpu {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(&self.dir);
    }
}

impl CpuGroup {
    /// An open `cgroup.procs` of the group: writing "0" to it moves the writing process in.
    pub fn procs_fd(&self) -> RawFd {
        self.procs.as_raw_fd()
    }
}

impl Drop for CpuGroup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(&self.dir);
    }
}

fn cannot(dir: &Path, what: &str, e: &io::Error) -> io::Error {
    io::Error::other(format!(
        "cannot {what} in {} ({e}); Lambda's CPU share needs write access to the CPU cgroup",
        dir.display()
    ))
}

/// The mount point of the CPU controller and the cgroup version, from /proc/self/mounts.
fn cpu_controller(mounts: &str) -> Option<(PathBuf, u8)> {
    let mut v2 = None;
    for line in mounts.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [_, mount, fstype, options, ..] = fields.as_slice() else {
            continue;
        };
        match *fstype {
            "cgroup" if options.split(',').any(|o| o == "cpu") => {
                return Some((PathBuf::from(mount), 1))
            }
            "cgroup2" if has_cpu_controller(Path::new(mount)) => {
                v2.get_or_insert((PathBuf::from(mount), 2));
            }
            _ => {}
        }
    }
    v2
}

fn has_cpu_controller(mount: &Path) -> bool {
    std::fs::read_to_string(mount.join("cgroup.controllers"))
        .is_ok_and(|c| c.split_whitespace().any(|c| c == "cpu"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_v1_cpu_controller_not_cpuacct_or_cpuset() {
        let mounts = "cgroup /sys/fs/cgroup/cpuacct cgroup rw,relatime,cpuacct 0 0\n\
                      cgroup /sys/fs/cgroup/cpuset cgroup rw,relatime,cpuset 0 0\n\
                      cgroup /sys/fs/cgroup/cpu cgroup rw,relatime,cpu 0 0\n";
        assert_eq!(
            cpu_controller(mounts),
            Some((PathBuf::from("/sys/fs/cgroup/cpu"), 1))
        );
    }

    #[test]
    fn no_controller_without_a_cpu_mount() {
        let mounts = "proc /proc proc rw 0 0\ncgroup /sys/fs/cgroup/memory cgroup rw,memory 0 0\n";
        assert_eq!(cpu_controller(mounts), None);
    }
}
