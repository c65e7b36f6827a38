//! `e2ee vectors`: the implementation level's test vectors, and making this project's own.

use super::{with_record, RecordArgs};
use anyhow::Context as _;
use clap::{Args, Subcommand};
use std::io::Write;
use std::path::PathBuf;

#[derive(Debug, Subcommand)]
pub enum VectorsCommand {
    /// Make this project's own vectors with one client (RFC 9605 §5.2 has none published).
    Generate {
        /// Which vectors: mls-sframe (the MLS exporter → SFrame binding).
        #[arg(long, value_name = "KIND")]
        kind: String,
        /// The MLS client that makes them.
        #[arg(long, value_name = "NAME", default_value = "mls-rs")]
        client: String,
        /// Where to write them.
        #[arg(long, value_name = "FILE", default_value = "vectors/mls-sframe.json")]
        out: PathBuf,
    },
}

#[derive(Debug, Args)]
pub struct VectorsArgs {
    #[command(subcommand)]
    command: Option<VectorsCommand>,
    /// Only these clients (comma-separated: openmls, mls-rs, sframe) [default: all].
    #[arg(long, value_name = "NAMES", value_delimiter = ',')]
    client: Option<Vec<String>>,
    /// The vectors directory (every *.json under it is read) [default: $E2EE_VECTORS].
    #[arg(long, value_name = "DIR")]
    vectors: Option<PathBuf>,
    #[command(flatten)]
    json: RecordArgs,
}

/// `e2ee vectors`: exit 2 if nothing could be read, 1 if a case failed or could not be read.
pub fn run(args: VectorsArgs) -> anyhow::Result<u8> {
    use crate::vectors;
    if let Some(VectorsCommand::Generate { kind, client, out }) = args.command {
        return generate_vectors(&kind, &client, &out);
    }
    let selection = vectors::Selection::named(args.client.as_deref())?;
    let dir = vectors::directory(args.vectors)?;
    if !dir.is_dir() {
        anyhow::bail!("vectors directory {} does not exist", dir.display());
    }
    let mut unread = false;
    let mut nothing = false;
    let code = with_record(args.json, |out| {
        let spinner = crate::progress::Spinner::start();
        let start = std::time::Instant::now();
        let dirs = vectors::with_own(dir.clone());
        let outcome = vectors::run(&dirs, &selection, &mut |file| {
            spinner.update(&format!("{}", file.display()));
        })?;
        spinner.finish(&format!(
            "read {} cases in {:.1} s",
            outcome.cases_read,
            start.elapsed().as_secs_f64()
        ));
        for e in &outcome.input_errors {
            tracing::error!("{e}");
        }
        out.write_all(vectors::render(&outcome, &dirs).as_bytes())?;
        unread = !outcome.input_errors.is_empty();
        nothing = outcome.nothing_read();
        Ok(outcome.into_checks())
    })?;
    Ok(if nothing {
        2
    } else if unread {
        code.max(1)
    } else {
        code
    })
}

/// `e2ee vectors generate`: writes the cases, or says why not (exit 2: the inputs were wrong;
/// exit 1: the client failed to make them).
fn generate_vectors(kind: &str, client: &str, out: &std::path::Path) -> anyhow::Result<u8> {
    use crate::clients;
    use crate::vectors::mls_sframe;
    if kind != "mls-sframe" {
        anyhow::bail!("unknown --kind `{kind}` (known: mls-sframe)");
    }
    let mls = clients::by_names(Some(&[client.to_string()]), clients::mls_clients)
        .map_err(|e| {
            anyhow::anyhow!(
                "unknown --client `{}` (MLS clients: {})",
                e.name,
                e.known.join(", ")
            )
        })?
        .remove(0);
    let sframe = clients::sframe_clients().remove(0);
    let cases = match mls_sframe::generate(mls.as_ref(), sframe.as_ref()) {
        Ok(cases) => cases,
        Err(e) => {
            let _ = writeln!(
                std::io::stderr(),
                "error: {client} could not make them: {e}"
            );
            return Ok(1);
        }
    };
    let text = serde_json::to_string_pretty(&cases)? + "\n";
    std::fs::write(out, text).with_context(|| format!("cannot write {}", out.display()))?;
    println!(
        "wrote {} mls-sframe cases made by {client} to {}",
        cases.len(),
        out.display()
    );
    Ok(0)
}
