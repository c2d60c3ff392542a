//! Benchmark: what the OS boundary costs at start-up (`cargo bench --bench containment`).
//!
//! Not a test: it prints medians for the issue notes. Measured, each alternating contained and
//! uncontained runs so drift on a busy machine hits both alike:
//! - spawn → exit of `/usr/bin/true` under init only (`SANDBOX=off`) vs inside bubblewrap:
//!   the pure set-up cost of the namespaces and mounts;
//! - the same for the real CLI (`claude --version`) when it is installed;
//! - the secret-file walk of a 10 000-file project (paid once per process start).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use ccgate::jail::{Cell, Jail, JailSettings, Lifeline};
use ccgate::policy::secret_files::SecretFiles;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn run(jail: &Jail, cell: &Cell<'_>, args: &[String]) -> Duration {
    let t = Instant::now();
    let mut cmd = jail.command(cell, args).expect("jail command");
    let (lifeline, reader) = Lifeline::new().unwrap();
    ccgate::jail::lifeline::attach(&mut cmd, reader);
    let status = cmd
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    drop(lifeline);
    assert!(status.success());
    t.elapsed()
}

fn jail(enabled: bool, runtime: PathBuf) -> Jail {
    Jail::new(
        &JailSettings {
            enabled,
            bwrap: "bwrap".into(),
            read_only: vec![],
            hidden: vec![],
            scan_limit: 1_000_000,
            init_exe: Some(env!("CARGO_BIN_EXE_ccgate").into()),
        },
        runtime,
    )
    .unwrap()
}

fn compare(label: &str, on: &Jail, off: &Jail, cell: &Cell<'_>, args: &[String], n: usize) {
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for _ in 0..n {
        b.push(run(off, cell, args));
        a.push(run(on, cell, args));
    }
    let (a, b) = (median(a), median(b));
    println!(
        "{label:<34} contained {:>8.2} ms   uncontained {:>8.2} ms   extra {:>7.2} ms  (median of {n})",
        a.as_secs_f64() * 1e3,
        b.as_secs_f64() * 1e3,
        (a.as_secs_f64() - b.as_secs_f64()) * 1e3
    );
}

fn main() {
    let tmp = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let root = tmp.path().canonicalize().unwrap();
    for d in ["proj/src", "home", "tmp"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    std::fs::write(root.join("proj/.env"), "X=1").unwrap();
    let on = jail(true, root.join("rt-on"));
    let off = jail(false, root.join("rt-off"));
    assert!(on.is_contained(), "no boundary: {:?}", on.unavailable());
    let secrets = SecretFiles::defaults().unwrap();
    let (proj, home, t) = (root.join("proj"), root.join("home"), root.join("tmp"));
    let cell = |cli: &'static Path| Cell {
        project: &proj,
        home: &home,
        tmp: &t,
        sockets: None,
        cli,
        secrets: &secrets,
    };
    compare(
        "true (set-up cost only)",
        &on,
        &off,
        &cell(Path::new("/usr/bin/true")),
        &[],
        60,
    );

    let cli = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/.claude-cli/node_modules/@anthropic-ai/claude-code-linux-x64/claude");
    if cli.exists() {
        let cli: &'static Path = Box::leak(cli.into_boxed_path());
        compare(
            "claude --version",
            &on,
            &off,
            &cell(cli),
            &["--version".to_string()],
            15,
        );
    } else {
        println!("claude --version: CLI not installed (scripts/install-claude-cli.sh)");
    }

    // The walk for secret files, on a project of 10 000 files in 100 folders.
    for i in 0..100 {
        let d = proj.join(format!("src/m{i}"));
        std::fs::create_dir_all(&d).unwrap();
        for j in 0..100 {
            std::fs::write(d.join(format!("f{j}.rs")), "").unwrap();
        }
    }
    let mut v = Vec::new();
    for _ in 0..20 {
        let t = Instant::now();
        let m = ccgate::jail::masks::scan(&proj, &secrets, &[], 1_000_000).unwrap();
        assert_eq!(m.files.len(), 1);
        v.push(t.elapsed());
    }
    println!(
        "{:<34} {:>8.2} ms  (median of 20)",
        "secret-file walk, 10 100 entries",
        median(v).as_secs_f64() * 1e3
    );
    compare(
        "true, 10 000-file project",
        &on,
        &off,
        &cell(Path::new("/usr/bin/true")),
        &[],
        30,
    );
}
