//! `vidscribe`: serve | worker | transcribe | batch … | models …  (wiring only; see `cli`).

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
