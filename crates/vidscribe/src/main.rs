//! `vidscribe`: serve | worker | transcribe | batch … | models …  (wiring only; see `cli`).

mod cli;

fn main() -> std::process::ExitCode {
    // Before the runtime starts: it sets an environment variable (see the function).
    vidscribe_asr::prefer_mkl_on_every_cpu();
    cli::main()
}
