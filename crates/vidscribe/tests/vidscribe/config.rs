//! Configuration layering: defaults → TOML file → `VIDSCRIBE_*` environment → flags.

use crate::support::{vidscribe, Server};

#[test]
fn the_config_file_is_read_and_environment_and_flags_override_it_in_order() {
    let tmp = tempfile::tempdir().unwrap();
    let (from_file, from_env, from_flag) = (tmp.path().join("file"), tmp.path().join("env"), tmp.path().join("flag"));
    let config = tmp.path().join("vidscribe.toml");
    std::fs::write(
        &config,
        // 127.0.0.2, not the default's 127.0.0.1:5001: only the file can have chosen it.
        format!("data_dir = {:?}\n[serve]\naddr = \"127.0.0.2:0\"\nworkers = 0\n", from_file.display().to_string()),
    )
    .unwrap();

    // The file alone: its address (127.0.0.2, port 0: a free one) and data directory are used.
    let mut cmd = vidscribe();
    cmd.arg("--config").arg(&config).arg("serve");
    let server = Server::spawn(cmd, tempfile::tempdir().unwrap());
    assert_eq!(server.addr.ip(), std::net::Ipv4Addr::new(127, 0, 0, 2), "the file's address is used: {}", server.addr);
    assert_ne!(server.addr.port(), 0);
    assert_ne!(server.addr.to_string(), vidscribe_server::ServerConfig::DEFAULT_ADDR);
    assert!(std::net::TcpStream::connect(server.addr).is_ok(), "it listens where it says: {}", server.addr);
    assert!(from_file.join("vidscribe.db").is_file(), "the file's data_dir is used");
    assert!(server.stop().success());

    // The environment beats the file.
    let mut cmd = vidscribe();
    cmd.arg("--config")
        .arg(&config)
        .arg("serve")
        .env("VIDSCRIBE_DATA_DIR", &from_env)
        .env("VIDSCRIBE_ADDR", "127.0.0.3:0");
    let server = Server::spawn(cmd, tempfile::tempdir().unwrap());
    assert!(from_env.join("vidscribe.db").is_file(), "VIDSCRIBE_DATA_DIR beats the file");
    assert_eq!(server.addr.ip(), std::net::Ipv4Addr::new(127, 0, 0, 3), "VIDSCRIBE_ADDR beats the file");
    assert!(server.stop().success());

    // A flag beats the environment.
    let mut cmd = vidscribe();
    cmd.arg("--config")
        .arg(&config)
        .arg("serve")
        .arg("--data-dir")
        .arg(&from_flag)
        .env("VIDSCRIBE_DATA_DIR", &from_env);
    cmd.args(["--addr", "127.0.0.4:0"]).env("VIDSCRIBE_ADDR", "127.0.0.3:0");
    let server = Server::spawn(cmd, tempfile::tempdir().unwrap());
    assert!(from_flag.join("vidscribe.db").is_file(), "--data-dir beats VIDSCRIBE_DATA_DIR");
    assert_eq!(server.addr.ip(), std::net::Ipv4Addr::new(127, 0, 0, 4), "--addr beats VIDSCRIBE_ADDR");
    assert!(server.stop().success());
}

#[test]
fn a_public_address_without_a_token_is_refused_with_the_reason() {
    let out = crate::support::run(
        vidscribe()
            .args(["serve", "--addr", "0.0.0.0:0", "--workers", "0", "--data-dir"])
            .arg(tempfile::tempdir().unwrap().path()),
        std::time::Duration::from_secs(30),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr.starts_with("error: refusing to listen on 0.0.0.0:0 without authentication"), "{stderr}");
}

#[test]
fn a_typo_in_the_config_file_is_an_error_naming_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("bad.toml");
    std::fs::write(&config, "[serve]\nworkerz = 2\n").unwrap();
    let out = crate::support::run(
        vidscribe().arg("--config").arg(&config).args(["models", "list"]),
        std::time::Duration::from_secs(30),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr.contains("bad.toml") && stderr.contains("workerz"), "{stderr}");
}

#[test]
fn a_heartbeat_too_close_to_the_lease_is_refused_by_serve_and_worker_before_the_database() {
    for command in ["serve", "worker"] {
        let tmp = tempfile::tempdir().unwrap();
        let data = tmp.path().join("data");
        // 2 s lease, 1 s heartbeat: one late beat would lose the lease.
        let out = crate::support::run(
            vidscribe()
                .args([command, "--lease-secs", "2", "--heartbeat-ms", "1000", "--data-dir"])
                .arg(&data)
                .args(if command == "serve" { vec!["--workers", "0", "--addr", "127.0.0.1:0"] } else { vec![] }),
            std::time::Duration::from_secs(30),
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{command}: {stderr}");
        assert_eq!(
            stderr.trim(),
            "error: --heartbeat-ms 1000 is too close to --lease-secs 2: the heartbeat must be at most a third of \
             the lease (at most 666 ms here), or a running job can lose its lease to another worker",
            "{command}"
        );
        assert!(!data.exists(), "{command} created its data directory or database before refusing");

        let out = crate::support::run(
            vidscribe().args([command, "--lease-secs", "0", "--data-dir"]).arg(&data),
            std::time::Duration::from_secs(30),
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{command}: {stderr}");
        assert!(stderr.contains("--lease-secs must be at least 1"), "{command}: {stderr}");
    }
}
