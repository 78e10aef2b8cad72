use crate::support::vidscribe;

#[test]
fn every_command_has_help_with_examples() {
    for args in [
        vec!["--help"],
        vec!["serve", "--help"],
        vec!["worker", "--help"],
        vec!["transcribe", "--help"],
        vec!["batch", "--help"],
        vec!["batch", "watch", "--help"],
        vec!["batch", "add", "--help"],
        vec!["batch", "download", "--help"],
        vec!["models", "--help"],
        vec!["models", "pull", "--help"],
    ] {
        let out = vidscribe().args(&args).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
        assert!(text.contains("Example"), "{args:?} help has no examples:\n{text}");
    }
}

#[test]
fn serve_and_worker_help_list_the_lease_and_heartbeat_flags() {
    for command in ["serve", "worker"] {
        let out = vidscribe().args([command, "--help"]).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{command}");
        for flag in ["--lease-secs <SECS>", "--heartbeat-ms <MS>", "VIDSCRIBE_LEASE_SECS", "VIDSCRIBE_HEARTBEAT_MS"] {
            assert!(text.contains(flag), "{command} --help lacks {flag}:\n{text}");
        }
    }
}
