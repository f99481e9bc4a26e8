//! The broker under the real supervisord, with the program section from `deploy/`.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use zibrato_testkit::{Daemon, free_ports, require_tool};

const BROKER: &str = env!("CARGO_BIN_EXE_zibrato-broker");

fn ctl(config: &Path, args: &[&str]) -> String {
    let out = Command::new("supervisorctl")
        .arg("-c")
        .arg(config)
        .args(args)
        .output()
        .expect("supervisorctl runs");
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

fn wait_for_state(config: &Path, state: &str) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let status = ctl(config, &["status", "zibrato-broker"]);
        if status.contains(state) {
            return;
        }
        assert!(Instant::now() < deadline, "never {state}: {status}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn supervisord_starts_stops_with_quit_and_restarts_the_broker() {
    if !require_tool("supervisord", "apt-get install supervisor") {
        return;
    }
    let dir = std::env::temp_dir().join(format!("zibrato-supervisord-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let port = free_ports();
    let log = dir.join("broker.log");

    // The deployed program section, pointed at this build, a free port and a temp log.
    let deployed = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../deploy/supervisord/zibrato.conf"
    ))
    .expect("deploy/supervisord/zibrato.conf");
    // Only the broker's section: the other programs need their own setup.
    let broker_section = deployed
        .split("\n[")
        .find(|s| s.starts_with("program:zibrato-broker]"))
        .map(|s| format!("[{s}"))
        .expect("a [program:zibrato-broker] section");
    let section = broker_section
        .replace("/usr/local/bin/zibrato-broker", BROKER)
        .replace("--port 5550", &format!("--port {port}"))
        .replace("/var/log/zibrato/broker.log", log.to_str().unwrap());
    assert!(section.contains("stopsignal=QUIT"));
    let sock = dir.join("supervisor.sock");
    let config = dir.join("supervisord.conf");
    std::fs::write(
        &config,
        format!(
            "[unix_http_server]\nfile={sock}\n\n[supervisord]\nlogfile={dir}/supervisord.log\npidfile={dir}/supervisord.pid\nchildlogdir={dir}\n\n[rpcinterface:supervisor]\nsupervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface\n\n[supervisorctl]\nserverurl=unix://{sock}\n\n{section}",
            sock = sock.display(),
            dir = dir.display(),
        ),
    )
    .unwrap();

    let supervisord = Daemon::start("supervisord", &["-n", "-c", config.to_str().unwrap()]);
    wait_for_state(&config, "RUNNING");
    supervisord.wait_for_port(port + 1, Duration::from_secs(10));

    let stopped = ctl(&config, &["stop", "zibrato-broker"]);
    assert!(stopped.contains("stopped"), "{stopped}");
    wait_for_state(&config, "STOPPED");
    let broker_log = std::fs::read_to_string(&log).unwrap();
    assert!(broker_log.contains("broker totals"), "{broker_log}");
    assert!(broker_log.contains("signal=SIGQUIT"), "{broker_log}");
    let supervisor_log = std::fs::read_to_string(dir.join("supervisord.log")).unwrap();
    assert!(
        supervisor_log.contains("stopped: zibrato-broker (exit status 0)"),
        "{supervisor_log}"
    );

    let started = ctl(&config, &["start", "zibrato-broker"]);
    assert!(started.contains("started"), "{started}");
    wait_for_state(&config, "RUNNING");
    supervisord.wait_for_port(port, Duration::from_secs(10));
    ctl(&config, &["stop", "zibrato-broker"]);
    drop(supervisord);
    let _ = std::fs::remove_dir_all(&dir);
}
