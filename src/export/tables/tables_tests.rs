//! Tests of the tables beside their code: the rows fit the schema, the documentation is the
//! schema's, and a re-run reuses what did not change.

use std::path::Path;

use super::rows::id;
use super::*;

fn demo() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/demo"))
}

/// Rows kept in memory, checked by [`Files`]'s schema check.
#[derive(Debug, Default)]
struct Collect {
    rows: Vec<(usize, usize)>,
    /// `payloads` rows with a body.
    bodies: usize,
}

impl Sink for Collect {
    fn row(&mut self, table: usize, cells: &[Cell<'_>]) -> Result<(), ExportError> {
        let spec = &TABLES[table];
        assert_eq!(cells.len(), spec.columns.len(), "{}", spec.name);
        for (column, cell) in spec.columns.iter().zip(cells) {
            let fits = matches!(
                (column.ty, cell),
                (_, Cell::Null)
                    | (ColumnType::Text, Cell::Text(_))
                    | (ColumnType::Int, Cell::Int(_))
                    | (ColumnType::Float, Cell::Float(_))
                    | (ColumnType::Bool, Cell::Bool(_))
            );
            assert!(fits, "{}.{}: {cell:?}", spec.name, column.name);
        }
        if table == id::PAYLOADS && matches!(cells.last(), Some(Cell::Text(_))) {
            self.bodies += 1;
        }
        self.rows.push((table, cells.len()));
        Ok(())
    }
}

#[test]
fn table_numbers_name_their_tables() {
    for (n, name) in [
        (id::ROLLOUTS, "rollouts"),
        (id::THREADS, "threads"),
        (id::TURNS, "turns"),
        (id::INFERENCE_CALLS, "inference_calls"),
        (id::TOOL_CALLS, "tool_calls"),
        (id::CODE_CELLS, "code_cells"),
        (id::TERMINAL_OPERATIONS, "terminal_operations"),
        (id::COMPACTIONS, "compactions"),
        (id::EDGES, "edges"),
        (id::CONVERSATION_ITEMS, "conversation_items"),
        (id::DIAGNOSTICS, "diagnostics"),
        (id::PAYLOADS, "payloads"),
    ] {
        assert_eq!(TABLES[n].name, name);
    }
    assert_eq!(TABLES.len(), 12);
}

#[test]
fn every_row_of_the_demo_fits_the_schema_in_every_table() -> Result<(), Box<dyn std::error::Error>>
{
    let state = reduce_bundle(demo())?;
    let prices = Prices::from_json(r#"{"models": {"gpt-4.1": {"input": 2, "output": 8}}}"#)?;
    let rollout = Rollout {
        state: &state,
        bundle: "demo",
        prices: Some(&prices),
        bodies: true,
    };
    let mut sink = Collect::default();
    rollout.write(&mut sink)?;
    write_payloads(&rollout, demo(), true, &mut sink)?;
    failed_rollout("broken", "broken", "parse error", &mut sink)?;
    for (n, table) in TABLES.iter().enumerate() {
        let rows = sink.rows.iter().filter(|(t, _)| *t == n).count();
        let expected = match table.name {
            "rollouts" => 2,
            "threads" => state.threads.len(),
            "turns" => state.turns.len(),
            "inference_calls" => state.inference_calls.len(),
            "tool_calls" => state.tool_calls.len(),
            "code_cells" => state.code_cells.len(),
            "terminal_operations" => state.terminal_operations.len(),
            "compactions" => state.compactions.len(),
            "edges" => state.edges.len(),
            "conversation_items" => state.conversation_items.len(),
            "diagnostics" => state.diagnostics.len(),
            "payloads" => state.payloads.len(),
            other => panic!("a table this test does not know: {other}"),
        };
        assert_eq!(rows, expected, "{}", table.name);
    }
    assert_eq!(sink.bodies, state.payloads.len(), "every body read back");
    Ok(())
}

#[test]
fn the_schema_documentation_is_the_schema() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/tables.md");
    let rendered = schema_markdown();
    if std::env::var_os("UPDATE_TABLES_DOC").is_some() {
        let _ = std::fs::write(path, &rendered);
    }
    let written = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        written == rendered,
        "docs/tables.md is not the schema: run `UPDATE_TABLES_DOC=1 cargo test --lib schema_documentation` and commit it"
    );
}

#[test]
fn a_rerun_reduces_only_new_and_changed_bundles() -> Result<(), Box<dyn std::error::Error>> {
    let root = tempfile::tempdir()?;
    let out = tempfile::tempdir()?;
    for name in ["a", "b", "c"] {
        let dir = root.path().join(name);
        std::fs::create_dir(&dir)?;
        std::fs::copy(demo().join("trace.jsonl"), dir.join("trace.jsonl"))?;
    }
    let options = TablesOptions::new(TableFormat::Jsonl);
    let first = export_tables(&[root.path()], out.path(), &options)?;
    assert_eq!((first.bundles, first.reduced, first.reused), (3, 3, 0));
    let tools = std::fs::read_to_string(out.path().join("tool_calls.jsonl"))?;

    let again = export_tables(&[root.path()], out.path(), &options)?;
    assert_eq!((again.bundles, again.reduced, again.reused), (3, 0, 3));
    assert_eq!(
        std::fs::read_to_string(out.path().join("tool_calls.jsonl"))?,
        tools
    );

    // One new bundle, one grown, one removed.
    let d = root.path().join("d");
    std::fs::create_dir(&d)?;
    std::fs::copy(demo().join("trace.jsonl"), d.join("trace.jsonl"))?;
    std::fs::remove_dir_all(root.path().join("a"))?;
    let mut text = std::fs::read_to_string(root.path().join("b/trace.jsonl"))?;
    text.push('\n');
    std::fs::write(root.path().join("b/trace.jsonl"), text)?;
    let third = export_tables(&[root.path()], out.path(), &options)?;
    assert_eq!((third.bundles, third.reduced, third.reused), (3, 2, 1));
    let rollouts = std::fs::read_to_string(out.path().join("rollouts.jsonl"))?;
    let mut bundles: Vec<String> = rollouts
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v["bundle"].as_str().map(str::to_owned))
        .collect();
    bundles.sort();
    assert_eq!(bundles, ["b", "c", "d"]);
    // Every bundle's tool calls once: the same rows as a fresh export, in some order.
    let fresh = tempfile::tempdir()?;
    export_tables(&[root.path()], fresh.path(), &options)?;
    let sorted = |path: &Path| -> std::io::Result<Vec<String>> {
        let mut lines: Vec<String> = std::fs::read_to_string(path)?
            .lines()
            .map(str::to_owned)
            .collect();
        lines.sort();
        Ok(lines)
    };
    for table in TABLES {
        let name = format!("{}.jsonl", table.name);
        assert_eq!(
            sorted(&out.path().join(&name))?,
            sorted(&fresh.path().join(&name))?,
            "{name}"
        );
    }
    Ok(())
}

#[test]
fn tables_edited_behind_the_exports_back_are_rebuilt_not_trusted(
) -> Result<(), Box<dyn std::error::Error>> {
    let out = tempfile::tempdir()?;
    let options = TablesOptions::new(TableFormat::Jsonl);
    export_tables(&[demo()], out.path(), &options)?;
    std::fs::write(out.path().join("turns.jsonl"), "{}\n")?;
    let again = export_tables(&[demo()], out.path(), &options)?;
    assert_eq!((again.reduced, again.reused), (1, 0));
    // Other options: the rows differ, so nothing is reused either.
    let bodies = export_tables(&[demo()], out.path(), &options.clone().bodies(true))?;
    assert_eq!((bodies.reduced, bodies.reused), (1, 0));
    Ok(())
}
