//! What every fuzz target shares: one bundle directory per fuzzing process, in memory when
//! `/dev/shm` exists (included by each target with `#[path]`).

use std::path::PathBuf;
use std::sync::OnceLock;

/// The bundle directory of this process (named `tracing-rollout-fuzz-<tag>-<pid>`).
pub fn bundle_dir(tag: &str) -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let base = if std::path::Path::new("/dev/shm").is_dir() {
            PathBuf::from("/dev/shm")
        } else {
            std::env::temp_dir()
        };
        let dir = base.join(format!("tracing-rollout-fuzz-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("create the fuzz bundle directory");
        dir
    })
}
