//! The OS boundary itself, without Telegram or the model: a shell inside the real sandbox
//! tries every escape the issue lists (and some more), and ordinary work must still succeed.
//! Needs bubblewrap and unprivileged user namespaces; without them these tests fail (they
//! are never skipped).

use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use ccgate::jail::{Cell, Jail, JailSettings, Lifeline};
use ccgate::policy::secret_files::SecretFiles;

struct World {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    jail: Jail,
}

impl World {
    fn new() -> World {
        // Not under /tmp: inside, /tmp is the private temp dir, which hides what lies below it.
        let tmp = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
        let root = tmp.path().canonicalize().unwrap();
        for d in [
            "operator/.ssh",
            "data/claude-home/1",
            "approved/proj/src",
            "approved/other",
            "run",
        ] {
            std::fs::create_dir_all(root.join(d)).unwrap();
        }
        std::fs::write(root.join("operator/.ssh/id_rsa"), "OPERATOR-PRIVATE-KEY").unwrap();
        std::fs::write(root.join("operator/.env"), "TELEGRAM_BOT_TOKEN=123:BOT").unwrap();
        std::fs::write(root.join("data/ccgate.db"), "DATABASE").unwrap();
        std::fs::write(root.join("approved/proj/.env"), "PROJECT_SECRET=1").unwrap();
        std::fs::write(root.join("approved/proj/src/app.py"), "print('hi')\n").unwrap();
        std::fs::hard_link(
            root.join("approved/proj/.env"),
            root.join("approved/proj/src/innocent.txt"),
        )
        .unwrap();
        std::fs::write(root.join("approved/other/notes"), "OTHER-PROJECT").unwrap();
        let git = std::process::Command::new("git")
            .args(["init", "-q"])
            .current_dir(root.join("approved/proj"))
            .status()
            .unwrap();
        assert!(git.success());
        std::fs::write(root.join("approved/proj/.git/deploy.pem"), "KEY").unwrap();
        let settings = JailSettings {
            enabled: true,
            bwrap: "bwrap".into(),
            read_only: vec![],
            hidden: vec![root.join("data"), root.join("operator/.env")],
            scan_limit: 10_000,
            init_exe: Some(env!("CARGO_BIN_EXE_ccgate").into()),
        };
        let jail = Jail::new(&settings, root.join("run/rt")).unwrap();
        World {
            _tmp: tmp,
            root,
            jail,
        }
    }

    /// Run `script` with bash inside the sandbox; returns (stdout, stderr, success).
    fn run(&self, script: &str, sockets: Option<&Path>) -> (String, String, bool) {
        let secrets = SecretFiles::defaults().unwrap();
        let tmpdir = self.root.join("run/tmp");
        std::fs::create_dir_all(&tmpdir).unwrap();
        let project = self.root.join("approved/proj");
        let home = self.root.join("data/claude-home/1");
        let bash = Path::new("/usr/bin/bash");
        let cell = Cell {
            project: &project,
            home: &home,
            tmp: &tmpdir,
            sockets,
            cli: bash,
            secrets: &secrets,
        };
        let mut cmd = self
            .jail
            .command(&cell, &["-c".to_string(), script.to_string()])
            .unwrap_or_else(|e| panic!("the boundary must be available here: {e}"));
        let (lifeline, reader) = Lifeline::new().unwrap();
        ccgate::jail::lifeline::attach(&mut cmd, reader);
        cmd.env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("HOME", &home)
            .stdin(Stdio::null());
        let out = cmd.output().unwrap();
        drop(lifeline);
        (
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
            out.status.success(),
        )
    }
}

#[test]
fn the_boundary_is_available_on_this_machine() {
    let w = World::new();
    assert!(
        w.jail.is_contained(),
        "no OS boundary: {:?}",
        w.jail.unavailable()
    );
}

#[test]
fn escapes_fail_and_work_inside_the_project_succeeds() {
    let w = World::new();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    listener.set_nonblocking(true).unwrap();
    let r = w.root.display().to_string();
    let ccgate_pid = std::process::id();
    let script = format!(
        r#"
probe() {{ if eval "$2" >/dev/null 2>&1; then echo "ESCAPED $1"; else echo "blocked $1"; fi; }}
probe operator_ssh_key 'cat {r}/operator/.ssh/id_rsa'
probe operator_env 'cat {r}/operator/.env'
probe database 'cat {r}/data/ccgate.db'
probe project_env 'test -n "$(cat .env)"'
probe hardlinked_env 'test -n "$(cat src/innocent.txt)"'
probe other_project 'cat {r}/approved/other/notes'
probe proc_environ 'cat /proc/{ccgate_pid}/environ'
probe signal_ccgate 'kill -0 {ccgate_pid}'
probe write_outside 'echo x > {r}/approved/escaped'
probe write_etc 'echo x >> /etc/hostname'
probe shadow 'test -n "$(cat /etc/shadow)"'
probe tcp_connect 'exec 3<>/dev/tcp/127.0.0.1/{port}'
probe root_home 'ls /root'
probe new_userns 'unshare -U true'
probe git_hook 'echo "touch /tmp/pwned" > .git/hooks/pre-commit'
probe git_config 'git config core.fsmonitor "touch /tmp/pwned"'
probe git_replace 'mv .git .git-old'
probe git_secret_in_repo 'test -n "$(cat .git/deploy.pem)"'
probe list_processes 'test "$(ls /proc | grep -c "^[0-9]")" -gt 8'
probe write_root 'echo x > /escaped'
probe ptrace_init 'cat /proc/1/environ'
echo hello > src/new.txt && echo "worked create"
git add src/new.txt && git -c user.name=t -c user.email=t@t commit -qm inside && echo "worked commit"
sed -i 's/hi/hello/' src/app.py && grep -q hello src/app.py && echo "worked edit"
python3 src/app.py >/dev/null && echo "worked run"
echo scratch > /tmp/t && echo "worked tmp"
echo h > "$HOME/state" && echo "worked home"
"#
    );
    let (out, err, _) = w.run(&script, None);
    assert!(
        !out.contains("ESCAPED"),
        "escapes succeeded:\n{out}\nstderr:\n{err}"
    );
    for name in [
        "operator_ssh_key",
        "operator_env",
        "database",
        "project_env",
        "hardlinked_env",
        "other_project",
        "proc_environ",
        "signal_ccgate",
        "write_outside",
        "write_etc",
        "shadow",
        "tcp_connect",
        "root_home",
        "new_userns",
        "list_processes",
        "write_root",
        "ptrace_init",
        "git_hook",
        "git_config",
        "git_replace",
        "git_secret_in_repo",
    ] {
        assert!(
            out.contains(&format!("blocked {name}")),
            "{name} not tried:\n{out}\n{err}"
        );
    }
    for ok in ["create", "edit", "run", "tmp", "home", "commit"] {
        assert!(
            out.contains(&format!("worked {ok}")),
            "{ok} failed inside:\n{out}\n{err}"
        );
    }
    assert!(!w.root.join("approved/escaped").exists());
    assert!(listener.accept().is_err(), "the listener got a connection");
    assert_eq!(
        std::fs::read_to_string(w.root.join("approved/proj/src/new.txt")).unwrap(),
        "hello\n"
    );
}

#[test]
fn nothing_survives_the_lifeline() {
    let w = World::new();
    let secrets = SecretFiles::defaults().unwrap();
    let tmpdir = w.root.join("run/tmp2");
    std::fs::create_dir_all(&tmpdir).unwrap();
    let project = w.root.join("approved/proj");
    let home = w.root.join("data/claude-home/1");
    let cell = Cell {
        project: &project,
        home: &home,
        tmp: &tmpdir,
        sockets: None,
        cli: Path::new("/usr/bin/bash"),
        secrets: &secrets,
    };
    // A daemonised grandchild that would live forever, then the shell waits.
    let marker = project.join("alive");
    let script = format!(
        "setsid bash -c 'while true; do date +%s%N > {m}; sleep 0.05; done' & echo started; sleep 600",
        m = marker.display()
    );
    let mut cmd = w.jail.command(&cell, &["-c".to_string(), script]).unwrap();
    let (lifeline, reader) = Lifeline::new().unwrap();
    ccgate::jail::lifeline::attach(&mut cmd, reader);
    cmd.env_clear()
        .env("PATH", "/usr/bin:/bin")
        .stdin(Stdio::null())
        .stdout(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    drop(cmd);
    let mut stdout = child.stdout.take().unwrap();
    let mut buf = [0u8; 8];
    use std::io::Read;
    let n = stdout.read(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"started\n");
    // Wait for the positive marker: the grandchild is running.
    let t0 = std::time::Instant::now();
    while !marker.exists() {
        assert!(t0.elapsed().as_secs() < 10, "the grandchild never ran");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // And it keeps rewriting the marker, so a survivor would show as a change below.
    let first = std::fs::read_to_string(&marker).unwrap();
    while std::fs::read_to_string(&marker).unwrap() == first {
        assert!(
            t0.elapsed().as_secs() < 10,
            "the grandchild never rewrote the marker"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    drop(lifeline);
    let status = child.wait().unwrap();
    assert!(!status.success());
    // The marker must stop changing: the grandchild is gone with the namespace.
    let a = std::fs::read_to_string(&marker).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    let b = std::fs::read_to_string(&marker).unwrap();
    assert_eq!(a, b, "a process outlived the lifeline");
    let _ = std::io::stderr().flush();
}

/// `Jail::command_with`'s overlays (the `/git` panel's disarmed `.git/config`) are mounted
/// last: they win over a secret mask at the same path, and stay read-only. Without a boundary
/// there is nothing to mount into, and the command is refused.
#[test]
fn overlays_win_over_masks_and_are_read_only() {
    let w = World::new();
    let secrets = SecretFiles::defaults().unwrap();
    let project = w.root.join("approved/proj");
    let tmpdir = w.root.join("run/tmp-overlay");
    std::fs::create_dir_all(&tmpdir).unwrap();
    let overlay = tmpdir.join("replacement");
    std::fs::write(&overlay, "OVERLAY-CONTENT\n").unwrap();
    let home = w.root.join("data/claude-home/1");
    let bash = Path::new("/usr/bin/bash");
    let cell = Cell {
        project: &project,
        home: &home,
        tmp: &tmpdir,
        sockets: None,
        cli: bash,
        secrets: &secrets,
    };
    let script = "cat .env; cat .git/config; echo x >> .git/config && echo WROTE; echo x >> .env && echo WROTE-ENV; true";
    let overlays = vec![
        (overlay.clone(), project.join(".env")),
        (overlay.clone(), project.join(".git/config")),
    ];
    let mut cmd = w
        .jail
        .command_with(&cell, &["-c".to_string(), script.to_string()], &overlays)
        .unwrap();
    let (lifeline, reader) = Lifeline::new().unwrap();
    ccgate::jail::lifeline::attach(&mut cmd, reader);
    cmd.env_clear()
        .env("PATH", "/usr/bin:/bin")
        .stdin(Stdio::null());
    let out = cmd.output().unwrap();
    drop(lifeline);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        stdout.matches("OVERLAY-CONTENT").count(),
        2,
        "both overlays visible (the .env one over its mask): {stdout} / {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!stdout.contains("PROJECT_SECRET"), "{stdout}");
    assert!(
        !stdout.contains("WROTE"),
        "overlays are read-only: {stdout}"
    );
    assert_eq!(
        std::fs::read_to_string(&overlay).unwrap(),
        "OVERLAY-CONTENT\n"
    );

    let off = Jail::new(
        &JailSettings {
            enabled: false,
            bwrap: "bwrap".into(),
            read_only: vec![],
            hidden: vec![],
            scan_limit: 10_000,
            init_exe: Some(env!("CARGO_BIN_EXE_ccgate").into()),
        },
        w.root.join("run/rt-off"),
    )
    .unwrap();
    assert!(off.command_with(&cell, &[], &overlays).is_err());
}
