//! Bundle directories: hostile rollout ids stay inside the root, names never collide,
//! permissions are owner-only, and file-system failures never reach the host.

mod support;

use std::collections::HashSet;

use anyhow::{ensure, Result};
use pretty_assertions::assert_eq;
use tracing::{info, info_span};
use tracing_rollout::{InitError, RolloutLayer};

use support::layer::{dispatch, manifest, record_into, trace_lines};

#[test]
fn hostile_rollout_ids_stay_inside_the_root_in_distinct_directories() -> Result<()> {
    let root = tempfile::tempdir()?;
    let long = "x".repeat(10_000);
    let ids = [
        "../../x",
        "/abs",
        "..",
        ".",
        "",
        &long,
        "nul\0byte",
        "ünïcødé/😀",
        "same",
        "same",
        "same-2",
    ];
    let stats = record_into(root.path(), RolloutLayer::builder(), || {
        for id in ids {
            let _rollout = info_span!("rollout", rollout_id = id).entered();
        }
    })?;
    let canonical_root = root.path().canonicalize()?;
    assert_eq!(stats.bundles.len(), ids.len());
    let distinct: HashSet<_> = stats.bundles.iter().collect();
    assert_eq!(distinct.len(), ids.len());
    for (dir, id) in stats.bundles.iter().zip(ids) {
        ensure!(
            dir.parent() == Some(canonical_root.as_path()),
            "{} escaped the root",
            dir.display()
        );
        ensure!(
            dir.file_name().is_some_and(|n| n.len() <= 110),
            "{} is too long",
            dir.display()
        );
        assert_eq!(
            manifest(dir)?.rollout_id,
            id,
            "the manifest keeps the id as given"
        );
        trace_lines(dir)?;
    }
    // Nothing else appeared anywhere near the root.
    let entries = std::fs::read_dir(&canonical_root)?.count();
    assert_eq!(entries, ids.len());
    let parent_entries: Vec<_> =
        std::fs::read_dir(canonical_root.parent().unwrap_or(&canonical_root))?
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name() == "x" || e.file_name() == "abs")
            .collect();
    assert!(parent_entries.is_empty());
    Ok(())
}

#[test]
fn a_root_below_a_regular_file_fails_to_build() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("file");
    std::fs::write(&file, "not a directory")?;
    let err = RolloutLayer::builder()
        .root_dir(file.join("traces"))
        .build()
        .err()
        .ok_or_else(|| anyhow::anyhow!("build succeeded below a regular file"))?;
    assert!(matches!(&err, InitError::CreateRootDir { path, .. } if *path == file.join("traces")));
    Ok(())
}

#[test]
fn replacing_the_root_with_a_file_mid_run_counts_io_errors_and_leaves_the_host_alone() -> Result<()>
{
    let parent = tempfile::tempdir()?;
    let root = parent.path().join("root");
    let (dispatch, guard) = dispatch(RolloutLayer::builder().root_dir(&root))?;
    // The root exists when the layer is built; then it is taken away (a root-owned test
    // cannot rely on chmod to make it unwritable).
    std::fs::remove_dir(&root)?;
    std::fs::write(&root, "the root is now a file")?;
    let host_result = tracing::dispatcher::with_default(&dispatch, || {
        let _rollout = info_span!("rollout", rollout_id = "lost").entered();
        let _thread = info_span!("rollout.thread", thread_id = "main").entered();
        info!(name: "rollout.payload", role = "request", payload = "1");
        "the host carried on"
    });
    let stats = guard.finish()?;
    assert_eq!(host_result, "the host carried on");
    assert_eq!((stats.records, stats.bundles.len()), (0, 0));
    // Creating the bundle failed, then each of its 6 records failed to be written.
    assert_eq!(stats.io_errors, 1 + 6);
    assert_eq!(std::fs::read_to_string(&root)?, "the root is now a file");
    Ok(())
}

#[cfg(unix)]
#[test]
fn bundle_files_and_directories_are_owner_only() -> Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    let parent = tempfile::tempdir()?;
    let root = parent.path().join("new-root");
    let stats = record_into(&root, RolloutLayer::builder(), || {
        let _rollout = info_span!("rollout", rollout_id = "perms").entered();
    })?;
    let mode = |p: &std::path::Path| -> Result<u32> {
        Ok(std::fs::metadata(p)?.permissions().mode() & 0o777)
    };
    let dir = &stats.bundles[0];
    assert_eq!(
        (
            mode(&root)?,
            mode(dir)?,
            mode(&dir.join("trace.jsonl"))?,
            mode(&dir.join("manifest.json"))?
        ),
        (0o700, 0o700, 0o600, 0o600)
    );
    Ok(())
}
