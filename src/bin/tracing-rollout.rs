//! `tracing-rollout`: reduce, validate and summarise rollout bundles from the command line.
//!
//! Thin by design: every command is one call into the library; this file only parses
//! arguments, prints, and maps outcomes to exit codes (0 ok, 1 invalid bundle, 2 usage or I/O
//! error, 3 OTLP endpoint unreachable or refusing). A closed stdout (`| head`) ends the program quietly with 0.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use tracing_rollout::export::{chrome, otlp, ExportError};
use tracing_rollout::reduce::{self, DiagnosticLevel, ReduceError};

/// Reduce, validate and summarise tracing-rollout bundles.
#[derive(Debug, Parser)]
#[command(name = "tracing-rollout", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Rebuild the rollout graph and write it as JSON (default `<bundle>/state.json`).
    Reduce {
        /// The bundle directory (holds `trace.jsonl`).
        bundle: PathBuf,
        /// Where to write the graph; `-` for standard output.
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
    /// Check that a bundle reduces; exit 0 if valid, 1 if invalid, 2 on usage or I/O errors.
    Validate {
        /// The bundle directory.
        bundle: PathBuf,
    },
    /// Print threads, turns, inference and tool calls as a readable tree.
    Summary {
        /// The bundle directory.
        bundle: PathBuf,
    },
    /// Export a bundle to OpenTelemetry (OTLP) or Chrome Trace Event JSON (Perfetto).
    #[command(subcommand)]
    Export(Export),
}

#[derive(Debug, Subcommand)]
enum Export {
    /// OTLP traces with GenAI semantic conventions: an OTLP/JSON file (default
    /// `<bundle>/otlp.jsonl`), or OTLP/HTTP protobuf to `<URL>/v1/traces`; exit 3 when the
    /// endpoint is unreachable or refuses.
    Otlp {
        /// The bundle directory.
        bundle: PathBuf,
        /// Where to write the export: OTLP/JSON, or protobuf when FILE ends in `.pb`.
        #[arg(short, long, conflicts_with = "endpoint")]
        output: Option<PathBuf>,
        /// Send to this OTLP/HTTP receiver instead (e.g. `http://127.0.0.1:6006`).
        #[arg(long)]
        endpoint: Option<String>,
        /// Leave out content: messages, tool arguments and results, code, delivered texts.
        #[arg(long)]
        no_content: bool,
        /// Resource attribute `openinference.project.name` (the Phoenix project).
        #[arg(long)]
        project: Option<String>,
    },
    /// Chrome Trace Event JSON for ui.perfetto.dev (default `<bundle>/trace.chrome.json`).
    Chrome {
        /// The bundle directory.
        bundle: PathBuf,
        /// Where to write the trace.
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    match run(cli) {
        Ok(code) => code,
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| {
        let kind = match (
            cause.downcast_ref::<std::io::Error>(),
            cause.downcast_ref::<serde_json::Error>(),
        ) {
            (Some(io), _) => Some(io.kind()),
            (None, Some(json)) => json.io_error_kind(),
            (None, None) => None,
        };
        kind == Some(std::io::ErrorKind::BrokenPipe)
    })
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let mut stdout = std::io::stdout().lock();
    match cli.command {
        Command::Reduce { bundle, output } => {
            let state = reduce::reduce_bundle(&bundle)
                .with_context(|| format!("reduce {}", bundle.display()))?;
            match output.as_deref() {
                Some(path) if path == std::path::Path::new("-") => {
                    serde_json::to_writer_pretty(&mut stdout, &state)?;
                    writeln!(stdout)?;
                }
                _ => {
                    let path = output.unwrap_or_else(|| bundle.join("state.json"));
                    reduce::write_state_to(&state, &path)?;
                    writeln!(stdout, "{}", path.display())?;
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Validate { bundle } => match reduce::reduce_bundle(&bundle) {
            Ok(state) => {
                let warnings = state
                    .diagnostics
                    .iter()
                    .filter(|d| d.level == DiagnosticLevel::Warning)
                    .count();
                writeln!(
                    stdout,
                    "valid: {} threads, {} inference calls, {} tool calls; complete: {}; {} warnings",
                    state.threads.len(),
                    state.inference_calls.len(),
                    state.tool_calls.len(),
                    state.complete,
                    warnings
                )?;
                for d in &state.diagnostics {
                    let at = d.seq.map(|s| format!(" (seq {s})")).unwrap_or_default();
                    writeln!(stdout, "  {:?}{at}: {}", d.level, d.message)?;
                }
                Ok(ExitCode::SUCCESS)
            }
            Err(e @ (ReduceError::Parse { .. } | ReduceError::Contradiction { .. })) => {
                writeln!(stdout, "invalid: {e}")?;
                Ok(ExitCode::from(1))
            }
            Err(e) => Err(anyhow::Error::new(e).context(format!("validate {}", bundle.display()))),
        },
        Command::Summary { bundle } => {
            let state = reduce::reduce_bundle(&bundle)
                .with_context(|| format!("reduce {}", bundle.display()))?;
            stdout.write_all(reduce::render_summary(&state).as_bytes())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Export(Export::Otlp {
            bundle,
            output,
            endpoint,
            no_content,
            project,
        }) => {
            let mut options = otlp::OtlpOptions::new().content(!no_content);
            if let Some(project) = project {
                options = options.project_name(project);
            }
            match endpoint {
                Some(url) => match otlp::export_otlp_endpoint(&bundle, &url, &options) {
                    Ok(report) => {
                        writeln!(
                            stdout,
                            "sent {} spans to {} (HTTP {}; {} rejected{})",
                            report.spans,
                            report.url,
                            report.status,
                            report.rejected_spans,
                            if report.message.is_empty() {
                                String::new()
                            } else {
                                format!(": {}", report.message)
                            }
                        )?;
                        Ok(ExitCode::SUCCESS)
                    }
                    Err(e @ (ExportError::Unreachable { .. } | ExportError::Refused { .. })) => {
                        eprintln!("error: export {}: {e}", bundle.display());
                        Ok(ExitCode::from(3))
                    }
                    Err(e) => {
                        Err(anyhow::Error::new(e).context(format!("export {}", bundle.display())))
                    }
                },
                None => {
                    let path = output.unwrap_or_else(|| bundle.join("otlp.jsonl"));
                    let spans = otlp::export_otlp_file(&bundle, &path, &options)
                        .with_context(|| format!("export {}", bundle.display()))?;
                    writeln!(stdout, "{} ({spans} spans)", path.display())?;
                    Ok(ExitCode::SUCCESS)
                }
            }
        }
        Command::Export(Export::Chrome { bundle, output }) => {
            let path = output.unwrap_or_else(|| bundle.join("trace.chrome.json"));
            let slices = chrome::export_chrome_file(&bundle, &path)
                .with_context(|| format!("export {}", bundle.display()))?;
            writeln!(stdout, "{} ({slices} slices)", path.display())?;
            Ok(ExitCode::SUCCESS)
        }
    }
}
