//! A one-shot HTTP receiver on 127.0.0.1 for the OTLP exporters: it accepts one connection,
//! reads one request whole (head, then a `Content-Length` body), answers with the status and
//! body it was given, and hands the request back to the test.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpListener;
use std::thread::JoinHandle;

use anyhow::Result;

/// The request the receiver read.
#[derive(Debug)]
pub struct Received {
    /// `POST /v1/traces HTTP/1.1`, with its line ending.
    pub request_line: String,
    /// The `Content-Type` header, lowercase and trimmed (empty when absent).
    pub content_type: String,
    pub body: Vec<u8>,
}

/// A receiver waiting for its one request.
#[derive(Debug)]
pub struct Receiver {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    handle: JoinHandle<Result<Received>>,
}

impl Receiver {
    /// Listens on a free loopback port; answers `HTTP/1.1 {status}` with `answer` as body.
    pub fn start(status: &'static str, answer: &'static str) -> Result<Receiver> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let url = format!("http://{}", listener.local_addr()?);
        let handle = std::thread::spawn(move || -> Result<Received> {
            let (mut stream, _) = listener.accept()?;
            let mut reader = BufReader::new(stream.try_clone()?);
            let mut request_line = String::new();
            reader.read_line(&mut request_line)?;
            let (mut length, mut content_type) = (0, String::new());
            loop {
                let mut line = String::new();
                reader.read_line(&mut line)?;
                let lower = line.to_ascii_lowercase();
                if let Some(v) = lower.strip_prefix("content-length:") {
                    length = v.trim().parse()?;
                }
                if let Some(v) = lower.strip_prefix("content-type:") {
                    content_type = v.trim().to_owned();
                }
                if line.trim().is_empty() {
                    break;
                }
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body)?;
            write!(
                stream,
                "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}",
                answer.len()
            )?;
            Ok(Received {
                request_line,
                content_type,
                body,
            })
        });
        Ok(Receiver { url, handle })
    }

    /// The request, once the receiver has answered it.
    pub fn received(self) -> Result<Received> {
        self.handle
            .join()
            .map_err(|_| anyhow::anyhow!("receiver panicked"))?
    }
}

/// A loopback port nothing listens on (bound, then released).
pub fn unused_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}
