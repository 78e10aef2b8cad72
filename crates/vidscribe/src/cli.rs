//! Command-line definitions (clap) and dispatch. Every command returns an exit code;
//! errors reach the edge as `anyhow` and are printed as one `error: …` line on stderr.

mod batch;
mod client;
mod config;
mod models;
mod progress;
mod serve;
mod transcribe;
mod worker;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

/// Exit code after Ctrl-C (128 + SIGINT), as shells report it.
pub const EXIT_INTERRUPTED: u8 = 130;

#[derive(Debug, Parser)]
#[command(
    name = "vidscribe",
    version,
    about = "Transcribe batches of videos with Whisper and watch every job live",
    after_help = "Examples:
  vidscribe transcribe talks/*.mp4 --out subs/ --format srt,vtt
  vidscribe serve --addr 127.0.0.1:5001 --data-dir ./vidscribe-data
  vidscribe worker --database sqlite://./vidscribe-data/vidscribe.db --slots 2
  vidscribe batch watch 0192ab3c-… --server http://127.0.0.1:5001
  vidscribe models pull tiny.en

Configuration is layered: defaults, then a TOML file (--config, or ./vidscribe.toml),
then VIDSCRIBE_* environment variables, then flags."
)]
pub struct Cli {
    /// TOML configuration file (default: ./vidscribe.toml when it exists).
    #[arg(long, global = true, env = "VIDSCRIBE_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Log filter for diagnostics on stderr (e.g. `info`, `vidscribe_worker=debug`).
    #[arg(long, global = true, env = "VIDSCRIBE_LOG", value_name = "FILTER")]
    pub log: Option<String>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP API and dashboard with an embedded worker pool.
    #[command(after_help = "Examples:
  vidscribe serve
  vidscribe serve --addr 127.0.0.1:0 --data-dir /tmp/vs      # prints the port it got
  vidscribe serve --addr 0.0.0.0:5001 --auth-token s3cret --workers 2
  vidscribe serve --database sqlite:///srv/vidscribe/vidscribe.db --model-dir /srv/models

Prints one line `listening on http://ADDR` on stdout once it accepts connections.
Stops gracefully on Ctrl-C or SIGTERM: running jobs hand their lease back and resume
after the next start.")]
    Serve(serve::ServeArgs),

    /// Run worker slots against a shared database (no HTTP).
    #[command(after_help = "Examples:
  vidscribe worker --database sqlite://./vidscribe-data/vidscribe.db
  vidscribe worker --database postgres://vidscribe@db/vidscribe --slots 4 --name gpu-box

Claims queued jobs of started batches, transcribes them and records every transition.
The data directory must be the one the server uses (uploads and results live there).")]
    Worker(worker::WorkerArgs),

    /// Transcribe files or folders right here, with live progress bars (no server needed).
    #[command(after_help = "Examples:
  vidscribe transcribe talk.mp4
  vidscribe transcribe talks/ --out subs/ --format srt,vtt
  vidscribe transcribe a.mkv b.mp4 --model tiny.en --jobs 2 --json

Outputs are written to --out as <stem>.<ext> (txt, srt, vtt, json).
Exit codes: 0 all files transcribed, 1 some file failed (each error is listed),
2 bad usage, 130 interrupted by Ctrl-C (the batch is cancelled, partial outputs removed).")]
    Transcribe(transcribe::TranscribeArgs),

    /// Talk to a running server: create, fill, start, watch and download batches.
    Batch(batch::BatchArgs),

    /// List and fetch Whisper models.
    #[command(
        subcommand,
        after_help = "Examples:
  vidscribe models list
  vidscribe models pull tiny.en
  VIDSCRIBE_MODEL_DIR=/srv/models vidscribe models pull base"
    )]
    Models(models::ModelsCommand),
}

/// Options shared by the client commands.
#[derive(Debug, Clone, Args)]
pub struct ServerArgs {
    /// Base URL of a running `vidscribe serve` [default: http://127.0.0.1:5001].
    #[arg(long, global = true, env = "VIDSCRIBE_SERVER", value_name = "URL")]
    pub server: Option<String>,
    /// Bearer token, when the server was started with --auth-token.
    #[arg(long, global = true, env = "VIDSCRIBE_TOKEN", value_name = "TOKEN", hide_env_values = true)]
    pub token: Option<String>,
}

pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // --help / --version print and exit 0; usage errors exit 2.
            let _ = e.print();
            return ExitCode::from(e.exit_code().clamp(0, 255) as u8);
        }
    };
    // Servers log what they do; interactive commands only what went wrong inside.
    let default_log = match cli.command {
        Command::Serve(_) | Command::Worker(_) => "info",
        _ => "error",
    };
    init_tracing(cli.log.as_deref(), default_log);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(run(cli));
    // Blocking transcriber threads of a cancelled job must not hold the exit.
    runtime.shutdown_timeout(std::time::Duration::from_secs(2));
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {}", one_sentence(&e));
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<u8> {
    let file = config::FileConfig::load(cli.config.as_deref())?;
    match cli.command {
        Command::Serve(args) => serve::run(args, &file).await,
        Command::Worker(args) => worker::run(args, &file).await,
        Command::Transcribe(args) => transcribe::run(args, &file).await,
        Command::Batch(args) => batch::run(args, &file).await,
        Command::Models(cmd) => models::run(cmd, &file).await,
    }
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM. The handlers are installed when this is called,
/// not when the future is first polled, so a signal right after startup is never lost.
pub fn shutdown_signals() -> anyhow::Result<impl std::future::Future<Output = ()> + Send + 'static> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).map_err(|e| anyhow::anyhow!("cannot listen for SIGTERM: {e}"))?;
    let mut int = signal(SignalKind::interrupt()).map_err(|e| anyhow::anyhow!("cannot listen for SIGINT: {e}"))?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
            _ = int.recv() => tracing::info!("interrupt: shutting down"),
        }
    })
}

/// The real speech engine (Whisper on CTranslate2) over a model cache.
pub fn whisper(model_dir: PathBuf) -> vidscribe_asr::WhisperTranscriber {
    vidscribe_asr::WhisperTranscriber::new(model_dir)
}

/// `outer: inner: innermost`, without repeating a cause already contained in its context.
fn one_sentence(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        // One line, even when a cause (a child process's stderr) spans several.
        let s = cause.to_string().split_whitespace().collect::<Vec<_>>().join(" ");
        if out.contains(&s) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&s);
    }
    out
}

fn init_tracing(filter: Option<&str>, default: &str) {
    use tracing_subscriber::EnvFilter;
    let filter = filter
        .map(EnvFilter::new)
        .or_else(|| std::env::var("RUST_LOG").ok().map(EnvFilter::new))
        .unwrap_or_else(|| EnvFilter::new(default));
    let _ =
        tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_target(false).try_init();
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn an_error_chain_reads_as_one_sentence() {
        let e = anyhow::anyhow!("disk full").context("cannot write out/talk.srt");
        assert_eq!(one_sentence(&e), "cannot write out/talk.srt: disk full");
    }
}
