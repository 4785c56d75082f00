//! `tracing-rollout`: reduce, validate, summarise and read rollout bundles from the command
//! line, and import other systems' recordings (Codex rollout traces) as bundles.
//!
//! Thin by design: every command is one call into the library; this file only parses
//! arguments, prints, and maps outcomes to exit codes. Every command that takes a bundle
//! takes a Codex rollout-trace bundle too: `import::resolve_bundle` gives the bundle of ours
//! to read (an import made on the fly, in the import cache), so outputs that default to a
//! file in the bundle land beside the import, never in Codex's directory (0 ok, 1 invalid
//! bundle or, for `diff`, rollouts that diverge, 2 usage or I/O error, 3 OTLP endpoint
//! unreachable or refusing). A closed stdout (`| head`) ends the program quietly with 0.

use std::io::{StdoutLock, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use tracing_rollout::cost::{self, Prices};
use tracing_rollout::diff::DiffOptions;
use tracing_rollout::export::{chrome, otlp, tables, ExportError};
use tracing_rollout::format;
use tracing_rollout::import::{self, LiveImport};
use tracing_rollout::reduce::{self, ReduceError};
use tracing_rollout::view;

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
    /// Check that a bundle reduces; exit 0 if valid, 1 if invalid (or empty: no record), 2 on
    /// usage or I/O errors.
    Validate {
        /// The bundle directory.
        bundle: PathBuf,
    },
    /// Print threads, turns, inference and tool calls as a readable tree.
    Summary {
        /// The bundle directory.
        bundle: PathBuf,
        /// Keep reading as the bundle grows and reprint the tree on new records, until the
        /// bundle ends (or Ctrl-C).
        #[arg(long)]
        follow: bool,
        /// Price the inference calls with this prices file (JSON; see `examples/prices.json`)
        /// and print the cost after the tree.
        #[arg(long, conflicts_with = "follow")]
        prices: Option<PathBuf>,
        /// With `--follow`: how long to wait for `trace.jsonl` to appear before giving up.
        #[arg(long, value_name = "SECONDS", default_value_t = reduce::FOLLOW_WAIT.as_secs_f64())]
        wait: f64,
    },
    /// Write the bundle's viewer: one self-contained HTML file (default `<bundle>/view.html`).
    View {
        /// The bundle directory.
        bundle: PathBuf,
        /// Where to write the page.
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// Payload bodies to embed, at most, in bytes (later ones are left out; 0: none).
        #[arg(long, default_value_t = tracing_rollout::view::DEFAULT_MAX_BODY_BYTES)]
        max_body_bytes: u64,
        /// Compare with this bundle instead: both rollouts' threads as lanes of aligned steps,
        /// the first divergence selected (default output `<bundle>/compare.html`).
        #[arg(long, value_name = "BUNDLE", conflicts_with = "max_body_bytes")]
        compare: Option<PathBuf>,
        /// Show each inference call's cost and the total from this prices file (with
        /// `--compare`: cost both rollouts).
        #[arg(long, value_name = "FILE")]
        prices: Option<PathBuf>,
    },
    /// Serve an index of every bundle under a root and each one's viewer, live while written.
    Serve {
        /// The directory holding bundles (searched recursively, symlinks not followed).
        root: PathBuf,
        /// Address to listen on (loopback by default; port 0 picks a free one).
        #[arg(long, default_value = "127.0.0.1:8040")]
        addr: String,
        /// Allow an address that is not loopback: every request must then carry the token
        /// printed in the URL, and `Host` must still name this server (or an IP address).
        #[arg(long)]
        allow_remote: bool,
        /// Also accept this name as the request's `Host` (repeatable): the name others
        /// reach this machine by.
        #[arg(long = "allow-host", value_name = "NAME")]
        allow_hosts: Vec<String>,
        /// Show cost in the index and the viewers from this prices file.
        #[arg(long)]
        prices: Option<PathBuf>,
    },
    /// Print the whole body of one payload record (JSON text), whatever the bundle format.
    Payload {
        /// The bundle directory.
        bundle: PathBuf,
        /// The payload record's `seq`.
        seq: u64,
    },
    /// Print every record as JSON lines with payload bodies inline (the v1 layout), for jq
    /// and grep.
    Expand {
        /// The bundle directory.
        bundle: PathBuf,
    },
    /// Compare two rollouts: where B stops doing what A did, and what its model saw
    /// differently. Exit 0 when every aligned step agrees, 1 when they diverge, 2 on errors.
    Diff {
        /// The first bundle.
        a: PathBuf,
        /// The second bundle.
        b: PathBuf,
        /// Print the report as JSON (schema: the rustdoc of `tracing_rollout::diff`).
        #[arg(long)]
        json: bool,
        /// A prices file to cost both rollouts with (schema: the rustdoc of
        /// `tracing_rollout::cost`; cost is never guessed).
        #[arg(long, value_name = "FILE")]
        prices: Option<PathBuf>,
    },
    /// Export a bundle to OpenTelemetry (OTLP) or Chrome Trace Event JSON (Perfetto), or many
    /// as tables.
    #[command(subcommand)]
    Export(Export),
    /// Turn another system's recordings into bundles (every command also takes them as they
    /// are, importing on the fly).
    #[command(subcommand)]
    Import(Import),
}

#[derive(Debug, Subcommand)]
enum Import {
    /// OpenAI Codex rollout-trace bundles (`trace-<trace_id>-<thread_id>/` under
    /// `CODEX_ROLLOUT_TRACE_ROOT`): one bundle of ours per Codex bundle, paths printed.
    Codex {
        /// A Codex bundle, or a directory holding them.
        src: PathBuf,
        /// The directory to write the bundles into (created if missing).
        #[arg(short, long)]
        output: PathBuf,
    },
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
    /// One table per entity (rollouts, threads, turns, inference and tool calls, edges, …) for
    /// DuckDB, Spark or ClickHouse; a re-run reduces only new or changed bundles.
    Tables {
        /// Bundles, or roots searched for bundles (symlinks not followed).
        #[arg(required = true)]
        inputs: Vec<PathBuf>,
        /// The directory to write `<table>.parquet` or `<table>.jsonl` and `_manifest.json` to.
        #[arg(short, long)]
        output: PathBuf,
        /// File format of the tables.
        #[arg(long, value_enum, default_value_t = TablesFormat::Parquet)]
        format: TablesFormat,
        /// Add every payload's whole body (`payloads.body`) and whole edge messages.
        #[arg(long)]
        bodies: bool,
        /// Fill the cost columns from this prices file.
        #[arg(long)]
        prices: Option<PathBuf>,
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

/// `--format` of `export tables`.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum TablesFormat {
    /// Apache Parquet (Snappy).
    Parquet,
    /// JSON Lines.
    Jsonl,
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
            eprintln!("error: {}", reduce::printable(&format!("{e:#}")));
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

/// The bundle of ours a command reads for the path it was given (a Codex bundle: its import).
fn resolve(bundle: &Path) -> anyhow::Result<PathBuf> {
    let resolved =
        import::resolve_bundle(bundle).with_context(|| format!("import {}", bundle.display()))?;
    Ok(resolved.bundle)
}

/// Runs one command: an error is reported by `main` with its chain, exit 2.
fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    match cli.command {
        Command::Reduce { bundle, output } => reduce(&resolve(&bundle)?, output, &mut out),
        Command::Validate { bundle } => validate(&resolve(&bundle)?, &mut out),
        Command::Summary {
            bundle,
            follow,
            prices,
            wait,
        } => {
            let wait = std::time::Duration::try_from_secs_f64(wait)
                .context("--wait takes a number of seconds")?;
            let prices = load_prices(prices)?;
            summary(&bundle, follow.then_some(wait), prices.as_ref(), &mut out)
        }
        Command::View {
            bundle,
            output,
            max_body_bytes,
            compare,
            prices,
        } => {
            let path = match compare {
                Some(other) => {
                    let diff_options = diff_options(prices.as_deref())?;
                    let (a, b) = (resolve(&bundle)?, resolve(&other)?);
                    view::write_compare_html(&a, &b, output.as_deref(), &diff_options)
                        .with_context(|| {
                            format!("compare {} with {}", bundle.display(), other.display())
                        })?
                }
                None => {
                    let mut options = view::ViewOptions::default();
                    options.max_body_bytes = max_body_bytes;
                    options.prices = load_prices(prices)?.map(std::sync::Arc::new);
                    view::write_html(resolve(&bundle)?, output.as_deref(), &options)
                        .with_context(|| format!("view {}", bundle.display()))?
                }
            };
            writeln!(out, "{}", path.display())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Serve {
            root,
            addr,
            allow_remote,
            allow_hosts,
            prices,
        } => {
            let mut options = allow_hosts
                .into_iter()
                .fold(view::ServeOptions::new(addr), |o, name| o.allow_host(name))
                .allow_remote(allow_remote);
            if let Some(prices) = load_prices(prices)? {
                options = options.prices(prices);
            }
            serve(&root, &options, out)
        }
        Command::Payload { bundle, seq } => {
            let body = reduce::payload_body(resolve(&bundle)?, seq)
                .with_context(|| format!("read {}", bundle.display()))?;
            writeln!(out, "{body}")?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Expand { bundle } => expand(&bundle, &mut out),
        Command::Diff { a, b, json, prices } => {
            diff(&a, &b, json, &diff_options(prices.as_deref())?, &mut out)
        }
        Command::Export(export) => run_export(export, &mut out),
        Command::Import(Import::Codex { src, output }) => import_codex(&src, &output, &mut out),
    }
}

/// `export otlp` and `export chrome`.
fn run_export(export: Export, out: &mut StdoutLock) -> anyhow::Result<ExitCode> {
    match export {
        Export::Otlp {
            bundle,
            output,
            endpoint,
            no_content,
            project,
        } => {
            let bundle = resolve(&bundle)?;
            let mut options = otlp::OtlpOptions::new().content(!no_content);
            if let Some(project) = project {
                options = options.project_name(project);
            }
            match endpoint {
                Some(url) => export_otlp_endpoint(&bundle, &url, &options, out),
                None => {
                    let path = output.unwrap_or_else(|| bundle.join("otlp.jsonl"));
                    let spans = otlp::export_otlp_file(&bundle, &path, &options)
                        .with_context(|| format!("export {}", bundle.display()))?;
                    writeln!(out, "{} ({spans} spans)", path.display())?;
                    Ok(ExitCode::SUCCESS)
                }
            }
        }
        Export::Tables {
            inputs,
            output,
            format,
            bodies,
            prices,
        } => {
            let format = match format {
                TablesFormat::Parquet => tables::TableFormat::Parquet,
                TablesFormat::Jsonl => tables::TableFormat::Jsonl,
            };
            let mut options = tables::TablesOptions::new(format).bodies(bodies);
            if let Some(prices) = load_prices(prices)? {
                options = options.prices(prices);
            }
            let report = tables::export_tables(&inputs, &output, &options)
                .with_context(|| format!("export tables to {}", output.display()))?;
            print_tables_report(&report, out)?;
            Ok(ExitCode::SUCCESS)
        }
        Export::Chrome { bundle, output } => {
            let bundle = resolve(&bundle)?;
            let path = output.unwrap_or_else(|| bundle.join("trace.chrome.json"));
            let slices = chrome::export_chrome_file(&bundle, &path)
                .with_context(|| format!("export {}", bundle.display()))?;
            writeln!(out, "{} ({slices} slices)", path.display())?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `import codex`: the path of each bundle written; what could not be mapped on stderr.
fn import_codex(src: &Path, output: &Path, out: &mut StdoutLock) -> anyhow::Result<ExitCode> {
    let imported = import::codex::import(src, output)?;
    for bundle in imported {
        writeln!(out, "{}", bundle.bundle.display())?;
        for diagnostic in &bundle.ledger.diagnostics {
            eprintln!("warning: {}: {diagnostic}", bundle.source.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `reduce`: the graph to a file (default `<bundle>/state.json`, its path printed) or, with
/// `-o -`, pretty to standard output.
fn reduce(
    bundle: &Path,
    output: Option<PathBuf>,
    out: &mut StdoutLock,
) -> anyhow::Result<ExitCode> {
    let state =
        reduce::reduce_bundle(bundle).with_context(|| format!("reduce {}", bundle.display()))?;
    match output.as_deref() {
        Some(path) if path == Path::new("-") => {
            serde_json::to_writer_pretty(&mut *out, &state)?;
            writeln!(out)?;
        }
        _ => {
            let path = output.unwrap_or_else(|| bundle.join("state.json"));
            reduce::write_state_to(&state, &path)?;
            writeln!(out, "{}", path.display())?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `expand`: every record in the v1 layout; what a reader's limits left out is said on
/// standard error, once the records are out.
fn expand(bundle: &Path, out: &mut StdoutLock) -> anyhow::Result<ExitCode> {
    let context = || format!("expand {}", bundle.display());
    let mut reader = format::BundleReader::open(resolve(bundle)?).with_context(context)?;
    let mut out = std::io::BufWriter::new(out);
    while let Some(record) = reader.next_record().with_context(context)? {
        out.write_all(record.text.as_bytes())?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    for left_out in reader.diagnostics() {
        let message = reduce::printable(&left_out.message);
        eprintln!("warning: line {}: {message}", left_out.line);
    }
    Ok(ExitCode::SUCCESS)
}

/// `validate`: exit 0 and the figures and diagnostics of a bundle that reduces, exit 1 and
/// why for one that does not parse or contradicts itself; other errors are errors (exit 2).
fn validate(bundle: &Path, out: &mut StdoutLock) -> anyhow::Result<ExitCode> {
    let state = match reduce::reduce_bundle(bundle) {
        Ok(state) => state,
        Err(e @ (ReduceError::Parse { .. } | ReduceError::Contradiction { .. })) => {
            writeln!(out, "invalid: {}", reduce::printable(&e.to_string()))?;
            return Ok(ExitCode::from(1));
        }
        Err(e) => {
            return Err(anyhow::Error::new(e).context(format!("validate {}", bundle.display())))
        }
    };
    if state.started_at_unix_ms.is_none() && state.threads.is_empty() {
        writeln!(
            out,
            "empty: {} holds no record (the bundle was created but nothing reached its log)",
            reduce::printable(&bundle.join("trace.jsonl").display().to_string())
        )?;
        return Ok(ExitCode::from(1));
    }
    let warnings = state.warning_count();
    writeln!(
        out,
        "valid: {} threads, {} inference calls, {} tool calls; complete: {}; {} warnings",
        state.threads.len(),
        state.inference_calls.len(),
        state.tool_calls.len(),
        state.complete,
        warnings
    )?;
    for d in &state.diagnostics {
        let at = d.seq.map(|s| format!(" (seq {s})")).unwrap_or_default();
        writeln!(
            out,
            "  {:?}{at}: {}",
            d.level,
            reduce::printable(&d.message)
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `summary`: the tree once (and its cost with prices), or with `--follow` (waiting up to
/// `follow` for the trace to appear) again on new records until the bundle ends (a Codex
/// bundle is imported as Codex writes it).
fn summary(
    bundle: &Path,
    follow: Option<std::time::Duration>,
    prices: Option<&Prices>,
    out: &mut StdoutLock,
) -> anyhow::Result<ExitCode> {
    let every = std::time::Duration::from_millis(250);
    let Some(wait) = follow else {
        let state = reduce::reduce_bundle(resolve(bundle)?)
            .with_context(|| format!("reduce {}", bundle.display()))?;
        out.write_all(reduce::render_summary(&state).as_bytes())?;
        if let Some(prices) = prices {
            out.write_all(cost::render_cost(&state, prices).as_bytes())?;
        }
        return Ok(ExitCode::SUCCESS);
    };
    let live = LiveImport::open(bundle).with_context(|| format!("import {}", bundle.display()))?;
    let (ours, importing) = match live {
        Some(live) => {
            let (dir, handle) = live.follow(every);
            (dir, Some(handle))
        }
        None => (bundle.to_path_buf(), None),
    };
    if !ours.join("trace.jsonl").exists() && ours.is_dir() {
        eprintln!(
            "waiting up to {} s for {}",
            wait.as_secs_f64(),
            ours.join("trace.jsonl").display()
        );
    }
    let followed = reduce::follow_summary_waiting(&ours, out, every, wait)
        .with_context(|| format!("follow {}", bundle.display()));
    if let Some(handle) = importing {
        handle.stop();
    }
    followed?;
    Ok(ExitCode::SUCCESS)
}

/// The prices file of `--prices`, if given.
fn load_prices(path: Option<PathBuf>) -> anyhow::Result<Option<Prices>> {
    path.map(|p| Prices::load(&p).map_err(anyhow::Error::new))
        .transpose()
}

/// `export tables`: the tables written, with rows and bytes; bundles that could not be
/// reduced and rollout ids carried by several bundles are warned about on stderr.
fn print_tables_report(report: &tables::TablesReport, out: &mut StdoutLock) -> anyhow::Result<()> {
    writeln!(
        out,
        "{}: {} bundles ({} reduced, {} unchanged)",
        report.dir.display(),
        report.bundles,
        report.reduced,
        report.reused
    )?;
    for (name, rows, bytes) in &report.tables {
        writeln!(out, "  {name:<28} {rows:>9} rows {bytes:>12} bytes")?;
    }
    for (bundle, error) in &report.failed {
        eprintln!("warning: {bundle} could not be reduced (its rollouts row says why): {error}");
    }
    if !report.duplicate_rollout_ids.is_empty() {
        eprintln!(
            "warning: several bundles carry the rollout ids {}: join on rollouts.bundle as well",
            report.duplicate_rollout_ids.join(", ")
        );
    }
    Ok(())
}

/// What `diff` and `view --compare` are given: the prices, if any.
fn diff_options(prices: Option<&Path>) -> anyhow::Result<DiffOptions> {
    let options = DiffOptions::default();
    Ok(match prices {
        Some(path) => options.prices(Prices::load(path)?),
        None => options,
    })
}

/// `diff`: the report as text or JSON; exit 1 when the rollouts diverge.
fn diff(
    a: &Path,
    b: &Path,
    json: bool,
    options: &DiffOptions,
    out: &mut StdoutLock,
) -> anyhow::Result<ExitCode> {
    let state_a =
        reduce::reduce_bundle(resolve(a)?).with_context(|| format!("reduce {}", a.display()))?;
    let state_b =
        reduce::reduce_bundle(resolve(b)?).with_context(|| format!("reduce {}", b.display()))?;
    let report = tracing_rollout::diff::diff(&state_a, &state_b, options);
    if json {
        serde_json::to_writer_pretty(&mut *out, &report)?;
        writeln!(out)?;
    } else {
        out.write_all(tracing_rollout::diff::render_text(&report).as_bytes())?;
    }
    Ok(if report.first_divergence.is_some() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// `serve`: binds, says where (and warns off loopback), then answers until killed; standard
/// output is released first so the line is not held back.
fn serve(
    root: &Path,
    options: &view::ServeOptions,
    mut out: StdoutLock,
) -> anyhow::Result<ExitCode> {
    let server = view::serve_with(root, options)?;
    if !server.addr().ip().is_loopback() {
        eprintln!("warning: serving on {}, which is not loopback: anyone who has the URL with its token can read every bundle under {}", server.addr(), root.display());
    }
    writeln!(
        out,
        "serving {} at {}",
        server.root().display(),
        server.url()
    )?;
    out.flush()?;
    drop(out);
    server.run()?;
    Ok(ExitCode::SUCCESS)
}

/// `export otlp --endpoint`: what the receiver answered, or exit 3 when it cannot be reached
/// or refuses.
fn export_otlp_endpoint(
    bundle: &Path,
    url: &str,
    options: &otlp::OtlpOptions,
    out: &mut StdoutLock,
) -> anyhow::Result<ExitCode> {
    match otlp::export_otlp_endpoint(bundle, url, options) {
        Ok(report) => {
            let message = if report.message.is_empty() {
                String::new()
            } else {
                format!(": {}", reduce::printable(&report.message))
            };
            writeln!(
                out,
                "sent {} spans to {} (HTTP {}; {} rejected{message})",
                report.spans, report.url, report.status, report.rejected_spans,
            )?;
            Ok(ExitCode::SUCCESS)
        }
        Err(e @ (ExportError::Unreachable { .. } | ExportError::Refused { .. })) => {
            let e = reduce::printable(&e.to_string()).into_owned();
            eprintln!("error: export {}: {e}", bundle.display());
            Ok(ExitCode::from(3))
        }
        Err(e) => Err(anyhow::Error::new(e).context(format!("export {}", bundle.display()))),
    }
}
