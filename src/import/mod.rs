//! Other systems' recordings turned into bundles of ours: [`codex`] reads OpenAI Codex's
//! rollout-trace bundles, and [`resolve_bundle`] is the one entry every command that takes a
//! bundle goes through, so each of them also takes a Codex bundle.
//!
//! Invariant: an importer writes records the reducer already understands — spans of our
//! kinds with our field names, payloads with our roles — through the format's encoders and
//! its v2 payload store, exactly as the layer does; the reducer, the viewer and the exporters
//! never learn another system's dialect.

pub mod codex;
mod resolve;
mod sink;

/// A bundle of ours for any bundle path, importing a Codex bundle on the fly.
pub use resolve::{
    cache_dir, resolve_bundle, resolve_bundle_in, Following, LiveImport, LiveSource, Resolved,
};

use std::path::{Path, PathBuf};

/// The [`ImportError::Io`] of doing `action` on `path`, for `map_err`.
pub(crate) fn io_error(
    action: &'static str,
    path: &Path,
) -> impl FnOnce(std::io::Error) -> ImportError {
    let path = path.to_path_buf();
    move |source| ImportError::Io {
        action,
        path,
        source,
    }
}

/// Why an import failed. What the source *says* never fails an import (it becomes a
/// diagnostic); only a source that is not of the imported kind, or I/O, does.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ImportError {
    /// The source is not (and holds no) bundle of the system imported.
    #[error("{} is not a Codex rollout-trace bundle: {why}", path.display())]
    NotACodexBundle {
        /// The source.
        path: PathBuf,
        /// What is missing.
        why: String,
    },
    /// A file could not be read or written.
    #[error("{action} {}: {source}", path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

impl From<ImportError> for crate::reduce::ReduceError {
    /// An import that failed is an I/O error of the reading that needed it.
    fn from(e: ImportError) -> Self {
        match e {
            ImportError::Io {
                action,
                path,
                source,
            } => crate::reduce::ReduceError::Io {
                action,
                path,
                source,
            },
            ImportError::NotACodexBundle { ref path, .. } => crate::reduce::ReduceError::Io {
                action: "import",
                path: path.clone(),
                source: std::io::Error::other(e.to_string()),
            },
        }
    }
}
