//! `vidscribe transcribe` in a real terminal (tmux): progress bars render, and Ctrl-C
//! cancels the batch, exits 130, leaves no partial output and no orphan process.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::support::{ensure_model, fixture, processes_mentioning, wait_for, MODEL};

struct Tmux {
    socket: String,
}

impl Tmux {
    fn cmd(&self) -> Command {
        let mut c = Command::new("tmux");
        c.args(["-L", &self.socket]);
        c
    }

    fn screen(&self) -> String {
        let out = self.cmd().args(["capture-pane", "-p", "-t", "t"]).output().expect("tmux capture-pane");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd().arg("kill-server").output();
    }
}

fn sh_quote(p: &Path) -> String {
    format!("'{}'", p.display().to_string().replace('\'', r"'\''"))
}

#[test]
fn progress_bars_render_in_a_terminal_and_ctrl_c_exits_130_without_orphans() {
    assert!(
        Command::new("tmux").arg("-V").output().is_ok_and(|o| o.status.success()),
        "this test drives a real terminal through tmux: install it (apt-get install tmux)"
    );
    ensure_model();
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    std::fs::create_dir_all(&input).unwrap();
    // Long speech, in Opus (decoded by an ffmpeg child process), so the job is still running when Ctrl-C comes.
    let long = input.join("lecture.webm");
    let made = Command::new("ffmpeg")
        .args(["-nostdin", "-loglevel", "error", "-i"])
        .arg(fixture("long_form.wav"))
        .args(["-c:a", "libopus", "-b:a", "24k"])
        .arg(&long)
        .status()
        .expect("ffmpeg (needed to build the test input)");
    assert!(made.success(), "ffmpeg could not encode the test input");
    std::fs::copy(fixture("video/jfk.mp4"), input.join("short.mp4")).unwrap();
    let out_dir = tmp.path().join("out");
    let exit_file = tmp.path().join("exit-code");

    // The shell traps SIGINT (so it survives Ctrl-C to record the exit code); the program
    // itself gets the default disposition, as in an interactive shell.
    let script = format!(
        "trap 'true' INT; {} transcribe {} {} --out {} --model {MODEL} --jobs 2 --format srt; echo $? > {}",
        sh_quote(Path::new(env!("CARGO_BIN_EXE_vidscribe"))),
        sh_quote(&long),
        sh_quote(&input.join("short.mp4")),
        sh_quote(&out_dir),
        sh_quote(&exit_file),
    );
    let tmux = Tmux { socket: format!("vidscribe-test-{}", std::process::id()) };
    let started = tmux
        .cmd()
        .args(["new-session", "-d", "-s", "t", "-x", "160", "-y", "30", "sh", "-c", &script])
        .env_remove("TMUX")
        .status()
        .expect("tmux new-session");
    assert!(started.success());

    // A per-file bar for the long lecture and the overall bar, drawn on the terminal.
    let screen = wait_for("progress bars on the terminal", Duration::from_secs(180), || {
        let s = tmux.screen();
        let bars = s.lines().any(|l| l.contains("lecture.webm") && l.contains('[') && l.contains('%'))
            && s.lines().any(|l| l.contains("overall") && l.contains('[') && l.contains('%'));
        bars.then_some(s)
    });
    assert!(!exit_file.exists(), "still running when Ctrl-C is pressed:\n{screen}");

    let sent = tmux.cmd().args(["send-keys", "-t", "t", "C-c"]).status().unwrap();
    assert!(sent.success());
    let code = wait_for("the exit code after Ctrl-C", Duration::from_secs(60), || {
        std::fs::read_to_string(&exit_file).ok().filter(|s| s.ends_with('\n')).map(|s| s.trim().to_string())
    });
    assert_eq!(code, "130", "Ctrl-C exits 130; the screen before it:\n{screen}");

    drop(tmux);
    let leftover = wait_for("no process left behind", Duration::from_secs(10), || {
        let p = processes_mentioning(&tmp.path().display().to_string());
        p.is_empty().then_some(p)
    });
    assert!(leftover.is_empty());
    assert!(!out_dir.join("lecture.srt").exists(), "no output for the cancelled file");
}
