//! `make demo` runs to the end with every rotation succeeding and leaves no process behind.

use std::process::Command;
use testkit::lambda::workspace_binary;

#[test]
fn the_demo_rotates_every_kind_and_leaves_no_process_behind() {
    // In a session of its own (setsid execs in place: pid = session id), so every process it starts
    // can be found afterwards.
    let child = Command::new("setsid")
        .arg(workspace_binary("demo"))
        .output()
        .expect("the demo runs");
    let output = String::from_utf8_lossy(&child.stdout);
    assert!(
        child.status.success(),
        "the demo failed:\n{output}\n{}",
        String::from_utf8_lossy(&child.stderr)
    );
    for kind in ["PostgreSQL", "Redis", "ElastiCache", "JWT"] {
        assert!(output.contains(kind), "the demo shows {kind}");
    }
    assert_eq!(
        output.matches("finishSecret").count(),
        5,
        "five rotations (JWT twice) reached finishSecret"
    );
    assert!(
        !output.contains(": NO"),
        "every credential check passed:\n{output}"
    );
    assert!(output.contains("Every rotation succeeded"));
}

#[test]
fn processes_started_in_a_session_are_all_gone_after_the_demo() {
    let mut child = Command::new("setsid")
        .arg(workspace_binary("demo"))
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("the demo starts");
    let session = child.id().to_string();
    assert!(child.wait().expect("the demo ends").success());
    // Helpers of a stopped service (a watchdog's reader) exit a moment after it: allow a few seconds.
    let mut left = Vec::new();
    for _ in 0..50 {
        let ps = Command::new("ps")
            .args(["-e", "-o", "sid=,pid=,args="])
            .output()
            .expect("ps");
        left = String::from_utf8_lossy(&ps.stdout)
            .lines()
            .filter(|line| line.split_whitespace().next() == Some(session.as_str()))
            .map(str::to_owned)
            .collect();
        if left.is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(left.is_empty(), "processes left behind: {left:?}");
}
