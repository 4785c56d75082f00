//! `tracing-rollout serve`: a local HTTP server with an index of every bundle under a root and
//! each bundle's viewer, live while the bundle is being written.
//!
//! Invariant: the server reads only bundles its index found under the root (a walk that does
//! not follow symlinks; `bundles`), named by their path relative to the root, and opens their
//! files only through the format's checked open with the root (a regular file whose opened
//! path lies inside it; `live`, `pages`). A request names an indexed bundle or gets 403 (a
//! `.`/`..`/empty component, a backslash or NUL, a name resolving outside the root) or 404.
//! Who may ask is `access`'s (the `Host` check is always on; off loopback a token is
//! required, and binding there must be asked for); how much anyone may ask is `http`'s (the
//! engine's limits); what each path answers is `routes`' table of handlers.
//!
//! Layout: `mod.rs` the public API; `http` the engine (hyper on tokio: limits, timeouts,
//! headers); `access` the Host and token rules; `routes` the path → handler table; `message`
//! the request and response handlers see; `pages` the server's own handlers; `bundles` the
//! index; `names` bundle names in URLs; `workers` the threads that own the reducers; `live`
//! one bundle's reducer, graph and page; `rollouts` the index's rows (`/api/index`, from
//! `view::index`). A new page is a handler in a file of its own and one
//! line in `routes`.

mod access;
mod bundles;
mod compare;
mod http;
mod live;
mod message;
mod names;
mod pages;
mod rollouts;
mod routes;
mod workers;

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use self::access::Access;
use self::bundles::{Bundles, REFRESH};
use self::http::{Engine, LIMITS};
use crate::cost::Prices;

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// The root is not a readable directory.
    #[error("open root {}: {source}", path.display())]
    Root {
        /// The root given.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The address could not be bound.
    #[error("listen on {addr}: {message}")]
    Bind {
        /// The address asked for.
        addr: String,
        /// What went wrong.
        message: String,
    },
    /// The address is not loopback and [`ServeOptions::allow_remote`] was not set.
    #[error("listen on {addr}: not a loopback address; anyone who can reach it could read every bundle (allow it explicitly: `--allow-remote`, which also requires a token in the URL)")]
    NotLoopback {
        /// The address bound.
        addr: SocketAddr,
    },
    /// The server's runtime or its token could not be made.
    #[error("start the server: {0}")]
    Start(#[source] std::io::Error),
}

/// How [`serve_with`] listens, whom it admits, and what it shows.
#[derive(Debug, Clone, PartialEq)]
pub struct ServeOptions {
    addr: String,
    allow_remote: bool,
    allowed_hosts: Vec<String>,
    prices: Option<Arc<Prices>>,
}

impl ServeOptions {
    /// Listen on `addr` (e.g. `127.0.0.1:8040`; port 0 picks a free one).
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use tracing_rollout::view::{serve_with, ServeOptions};
    ///
    /// let server = serve_with("traces", &ServeOptions::new("127.0.0.1:8040"))?;
    /// println!("{}", server.url());
    /// # Ok::<(), tracing_rollout::view::ServeError>(())
    /// ```
    pub fn new(addr: impl Into<String>) -> ServeOptions {
        ServeOptions {
            addr: addr.into(),
            allow_remote: false,
            allowed_hosts: Vec::new(),
            prices: None,
        }
    }

    /// Show cost (the index's cost column and totals, each viewer's per-call cost) from
    /// these prices. Default: none (no cost shown).
    pub fn prices(mut self, prices: Prices) -> ServeOptions {
        self.prices = Some(Arc::new(prices));
        self
    }

    /// Allow listening on an address that is not loopback. Every request must then carry
    /// the token of [`Server::url`] (or its cookie), and the `Host` check stays on: the name
    /// of the address, IP literals, `localhost` and [`allow_host`](Self::allow_host) names
    /// pass. Default: false (a non-loopback address is [`ServeError::NotLoopback`]).
    pub fn allow_remote(mut self, allow: bool) -> ServeOptions {
        self.allow_remote = allow;
        self
    }

    /// Also accept `name` as the request's `Host` (the name others reach this machine by).
    /// Default: only the bound name, `localhost` and IP literals.
    pub fn allow_host(mut self, name: impl Into<String>) -> ServeOptions {
        self.allowed_hosts.push(name.into());
        self
    }
}

/// A bound server; [`run`](Self::run) answers requests until the process ends.
#[derive(Debug)]
pub struct Server {
    listener: TcpListener,
    addr: SocketAddr,
    bundles: Arc<Bundles>,
    access: Access,
}

/// Binds `addr`, which must be loopback (e.g. `127.0.0.1:8040`; port 0 picks a free one), to
/// serve the bundles under `root`. See [`serve_with`] for other addresses.
///
/// # Examples
///
/// ```no_run
/// let server = tracing_rollout::view::serve("traces", "127.0.0.1:0")?;
/// println!("{}", server.url());
/// server.run();
/// # Ok::<(), tracing_rollout::view::ServeError>(())
/// ```
pub fn serve(root: impl AsRef<Path>, addr: &str) -> Result<Server, ServeError> {
    serve_with(root, &ServeOptions::new(addr))
}

/// Binds as `options` say to serve the bundles under `root`, after indexing them.
///
/// # Examples
///
/// ```no_run
/// use tracing_rollout::view::{serve_with, ServeOptions};
///
/// let options = ServeOptions::new("0.0.0.0:8040").allow_remote(true).allow_host("box.lan");
/// let server = serve_with("traces", &options)?;
/// println!("{}", server.url()); // carries the token
/// server.run();
/// # Ok::<(), tracing_rollout::view::ServeError>(())
/// ```
pub fn serve_with(root: impl AsRef<Path>, options: &ServeOptions) -> Result<Server, ServeError> {
    let root = root.as_ref();
    let canonical = std::fs::canonicalize(root).map_err(|source| ServeError::Root {
        path: root.to_path_buf(),
        source,
    })?;
    if !canonical.is_dir() {
        return Err(ServeError::Root {
            path: root.to_path_buf(),
            source: std::io::Error::other("not a directory"),
        });
    }
    let bind_error = |message: String| ServeError::Bind {
        addr: options.addr.clone(),
        message,
    };
    let listener = TcpListener::bind(&options.addr).map_err(|e| bind_error(e.to_string()))?;
    let addr = listener
        .local_addr()
        .map_err(|e| bind_error(e.to_string()))?;
    let loopback = addr.ip().is_loopback();
    if !loopback && !options.allow_remote {
        return Err(ServeError::NotLoopback { addr });
    }
    let token = if loopback {
        None
    } else {
        Some(access::new_token().map_err(ServeError::Start)?)
    };
    let mut names = options.allowed_hosts.clone();
    names.push(options.addr.clone());
    let access = Access::new(loopback, names, token);
    listener
        .set_nonblocking(true)
        .map_err(|e| bind_error(e.to_string()))?;
    Ok(Server {
        listener,
        addr,
        bundles: Arc::new(
            Bundles::new(canonical, options.prices.clone()).map_err(ServeError::Start)?,
        ),
        access,
    })
}

impl Server {
    /// The address bound.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The canonical root served.
    pub fn root(&self) -> &Path {
        self.bundles.root()
    }

    /// The index page's URL (with the token when one is required).
    pub fn url(&self) -> String {
        match self.access.token() {
            Some(token) => format!("http://{}/?token={token}", self.addr),
            None => format!("http://{}/", self.addr),
        }
    }

    /// Answers requests until the process ends (or the runtime cannot start: the error).
    /// Connections are served concurrently within the limits the README lists; the index is
    /// refreshed in the background.
    pub fn run(self) -> Result<(), ServeError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .max_blocking_threads(LIMITS.handlers + 2)
            .thread_name("tracing-rollout-serve")
            .enable_io()
            .enable_time()
            .build()
            .map_err(ServeError::Start)?;
        let Server {
            listener,
            bundles,
            access,
            ..
        } = self;
        runtime.block_on(async move {
            let listener =
                tokio::net::TcpListener::from_std(listener).map_err(ServeError::Start)?;
            let refreshing = Arc::clone(&bundles);
            tokio::spawn(async move {
                let mut pause = REFRESH;
                loop {
                    tokio::time::sleep(pause).await;
                    let bundles = Arc::clone(&refreshing);
                    let started = std::time::Instant::now();
                    let _ = tokio::task::spawn_blocking(move || bundles.refresh()).await;
                    // A huge root costs at most a twentieth of a core to keep indexed.
                    pause = REFRESH.max(started.elapsed() * 20);
                }
            });
            let answer =
                Box::new(move |request: &message::Request| routes::answer(&bundles, request));
            let engine = Arc::new(Engine::new(answer, access, LIMITS));
            http::accept(listener, engine)
                .await
                .map_err(ServeError::Start)
        })
    }
}
