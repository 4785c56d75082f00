//! Opening a bundle's files for reading: regular files only, and — for the server — only files
//! that really lie inside the root it serves; and creating what readers write beside them
//! (graphs, pages, exports), owner-only like the bundle.
//!
//! Invariant: every check is made on the file as opened (`fstat` of the descriptor, and the
//! path the kernel resolved for it), never on a path before opening it, so a `trace.jsonl`
//! swapped for a symlink, a FIFO or a device between an index and an open is still caught.
//! Opening never blocks (a FIFO is opened non-blocking and then refused), and what is read
//! whole (`manifest.json`) is read up to a limit, never to the end of an endless file. What
//! a reader writes holds every prompt, so it is created `0600`, and a temporary file is
//! created exclusively under a random name (never an existing file, never a planted link).

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

/// `manifest.json` read, at most (bytes); a longer one is reported as too long and ignored.
pub const MAX_MANIFEST_BYTES: u64 = 1 << 20;

/// Opens `path` for reading if it is a regular file and, when `within` is given (a canonical
/// directory), if the opened file lies inside it whatever links led there.
pub(crate) fn open_regular(path: &Path, within: Option<&Path>) -> io::Result<File> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        // A FIFO's open would wait for a writer: open it without waiting, then refuse it.
        options.custom_flags(libc::O_NONBLOCK);
    }
    let file = options.open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("not a regular file ({})", file_kind(&meta)),
        ));
    }
    if let Some(root) = within {
        let real = opened_path(&file, path)?;
        if !real.starts_with(root) {
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                "refused: the file opened lies outside the served root",
            ));
        }
    }
    Ok(file)
}

/// Reads the regular file at `path` whole, if it holds at most `limit` bytes.
pub(crate) fn read_limited(path: &Path, limit: u64, within: Option<&Path>) -> io::Result<Vec<u8>> {
    let file = open_regular(path, within)?;
    let mut bytes = Vec::new();
    file.take(limit + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("longer than the {limit} bytes read at most"),
        ));
    }
    Ok(bytes)
}

/// Opens `path` for writing, created or truncated, owner-only (`0600`; an existing regular
/// file is made so too). What is not a regular file (`/dev/stdout`, a FIFO) keeps its mode.
pub(crate) fn create_private(path: &Path) -> io::Result<File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let file = options.open(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if file.metadata()?.is_file() {
            file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        }
    }
    Ok(file)
}

/// Creates `dir` and its missing parents, owner-only (`0700`; directories that exist keep
/// their mode).
pub(crate) fn create_dir_private(dir: &Path) -> io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt as _;
        builder.mode(0o700);
    }
    builder.create(dir)
}

/// A new owner-only file beside `path` (same directory) named `.<name>.tmp-<random>`,
/// created exclusively: an existing file or link of that name makes it pick another name.
pub(crate) fn create_temp_beside(path: &Path) -> io::Result<(File, PathBuf)> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "out".to_owned());
    let mut last = None;
    for _ in 0..16 {
        let tmp = path.with_file_name(format!(".{name}.tmp-{:016x}", random_u64()));
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        match options.open(&tmp) {
            Ok(file) => return Ok((file, tmp)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::other("no free temporary name")))
}

/// 64 random bits: the system's random source, else the standard library's per-process
/// hash keys mixed with the time.
fn random_u64() -> u64 {
    let mut bytes = [0u8; 8];
    if File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .is_ok()
    {
        return u64::from_le_bytes(bytes);
    }
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    hasher.finish()
}

/// What kind of file `meta` describes, for errors.
fn file_kind(meta: &std::fs::Metadata) -> &'static str {
    let kind = meta.file_type();
    if kind.is_dir() {
        return "a directory";
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if kind.is_fifo() {
            return "a FIFO";
        }
        if kind.is_char_device() {
            return "a character device";
        }
        if kind.is_block_device() {
            return "a block device";
        }
        if kind.is_socket() {
            return "a socket";
        }
    }
    "not a regular file"
}

/// The path of the file `file` as the kernel resolved it when it was opened (Linux:
/// `/proc/self/fd/N`). Elsewhere, the canonical `path`, accepted only if it still names the
/// same file as the descriptor.
fn opened_path(file: &File, path: &Path) -> io::Result<PathBuf> {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        if let Ok(real) = std::fs::read_link(format!("/proc/self/fd/{}", file.as_raw_fd())) {
            return Ok(real);
        }
    }
    let real = std::fs::canonicalize(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let (opened, named) = (file.metadata()?, std::fs::metadata(&real)?);
        if (opened.dev(), opened.ino()) != (named.dev(), named.ino()) {
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                "refused: the file changed while it was opened",
            ));
        }
    }
    #[cfg(not(unix))]
    let _ = file;
    Ok(real)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn only_regular_files_inside_the_root_open() {
        let dir = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(dir.path()).unwrap();
        let inside = root.join("trace.jsonl");
        std::fs::write(&inside, "{}\n").unwrap();
        assert!(open_regular(&inside, Some(&root)).is_ok());
        let e = open_regular(&root, None).unwrap_err();
        assert!(e.to_string().contains("a directory"), "{e}");
        #[cfg(unix)]
        {
            let outside = tempfile::tempdir().unwrap();
            let secret = outside.path().join("secret");
            std::fs::write(&secret, "x").unwrap();
            let link = root.join("link.jsonl");
            std::os::unix::fs::symlink(&secret, &link).unwrap();
            assert!(open_regular(&link, None).is_ok(), "links are followed");
            let e = open_regular(&link, Some(&root)).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::PermissionDenied, "{e}");
            let e = open_regular(Path::new("/dev/zero"), None).unwrap_err();
            assert!(e.to_string().contains("character device"), "{e}");
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let out = root.join("out.html");
            std::fs::write(&out, "old").unwrap();
            std::fs::set_permissions(&out, std::fs::Permissions::from_mode(0o644)).unwrap();
            drop(create_private(&out).unwrap());
            let mode = std::fs::metadata(&out).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
            // A link planted where a predictable name would be is never written through.
            let (_, tmp) = create_temp_beside(&out).unwrap();
            assert!(tmp
                .file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with(".out.html.tmp-"));
            let mode = std::fs::metadata(&tmp).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let big = root.join("big.json");
        std::fs::write(&big, vec![b' '; 100]).unwrap();
        assert_eq!(read_limited(&big, 100, None).unwrap().len(), 100);
        assert!(read_limited(&big, 99, None).is_err());
    }
}
