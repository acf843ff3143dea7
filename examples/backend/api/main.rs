//! backend-api: a small HTTP JSON API in front of Redis, written with the standard library only so that
//! `rustc -O -C target-feature=+crt-static main.rs` makes a static binary with no build system, no
//! crates and no network (see Dockerfile: Debian 12's rustc 1.63, so nothing newer than Rust 1.63 and
//! edition 2021 here).
//!
//! Routes: `GET /health` (pings Redis, says `VERSION`, which ../../demo.sh edits to show a rebuild),
//! `GET /hits` (INCR a counter), `POST /notes` (RPUSH the body), `GET /notes` (LRANGE). Redis is
//! reached by service name (`REDIS_ADDR`, default `redis:6379`), which the orchestrator resolves through
//! the container's /etc/hosts; the name is resolved again at each reconnect, so a recreated Redis with a
//! new address is found. One thread per HTTP connection; the Redis connection is shared behind a mutex
//! and reopened when it fails.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream, ToSocketAddrs};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(5);
const MAX_BODY: usize = 64 * 1024;
/// Reported by `GET /health`.
const VERSION: &str = "1";

/// One RESP reply.
#[derive(Debug)]
enum Reply {
    Status(String),
    Int(i64),
    Bulk(Option<String>),
    Array(Vec<Reply>),
}

/// A Redis connection that is opened lazily and reopened after a failure.
struct Redis {
    addr: String,
    conn: Option<BufReader<TcpStream>>,
}

impl Redis {
    fn open(&self) -> io::Result<BufReader<TcpStream>> {
        let no_address = || {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!("{}: no address", self.addr),
            )
        };
        let addr = self.addr.to_socket_addrs()?.next().ok_or_else(no_address)?;
        let stream = TcpStream::connect_timeout(&addr, TIMEOUT)?;
        stream.set_read_timeout(Some(TIMEOUT))?;
        stream.set_write_timeout(Some(TIMEOUT))?;
        Ok(BufReader::new(stream))
    }

    /// Sends one command and reads its reply. A reused connection that turns out closed (Redis
    /// restarted) is replaced and the command sent once more: the old server never saw it.
    fn call(&mut self, args: &[&str]) -> io::Result<Reply> {
        let mut request = format!("*{}\r\n", args.len());
        for arg in args {
            request += &format!("${}\r\n{arg}\r\n", arg.len());
        }
        for attempt in 0..2 {
            let reused = self.conn.is_some();
            let mut conn = match self.conn.take() {
                Some(conn) => conn,
                None => self.open()?,
            };
            let result = conn
                .get_mut()
                .write_all(request.as_bytes())
                .and_then(|()| read_reply(&mut conn));
            match result {
                Ok(reply) => {
                    self.conn = Some(conn);
                    return Ok(reply);
                }
                Err(e) if reused && attempt == 0 && closed(&e) => continue,
                Err(e) => return Err(e),
            }
        }
        unreachable!("the second attempt returns")
    }
}

fn closed(e: &io::Error) -> bool {
    use io::ErrorKind::*;
    matches!(
        e.kind(),
        UnexpectedEof | ConnectionReset | BrokenPipe | ConnectionAborted
    )
}

fn read_reply(conn: &mut BufReader<TcpStream>) -> io::Result<Reply> {
    let mut line = String::new();
    if conn.read_line(&mut line)? == 0 {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    let line = line.trim_end_matches("\r\n");
    let invalid = || io::Error::new(io::ErrorKind::InvalidData, format!("bad reply {line:?}"));
    let (kind, rest) = match (line.get(..1), line.get(1..)) {
        (Some(kind), Some(rest)) => (kind, rest),
        _ => return Err(invalid()),
    };
    let number = || rest.parse::<i64>().map_err(|_| invalid());
    match kind {
        "+" => Ok(Reply::Status(rest.to_string())),
        "-" => Err(other_error(format!("redis: {rest}"))),
        ":" => Ok(Reply::Int(number()?)),
        "$" if number()? < 0 => Ok(Reply::Bulk(None)),
        "$" => {
            let mut data = vec![0; number()? as usize + 2];
            conn.read_exact(&mut data)?;
            data.truncate(data.len() - 2);
            Ok(Reply::Bulk(Some(
                String::from_utf8_lossy(&data).into_owned(),
            )))
        }
        "*" => (0..number()?.max(0))
            .map(|_| read_reply(conn))
            .collect::<io::Result<_>>()
            .map(Reply::Array),
        _ => Err(invalid()),
    }
}

/// A JSON string literal.
fn json(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out += "\\\"",
            '\\' => out += "\\\\",
            '\n' => out += "\\n",
            c if (c as u32) < 0x20 => out += &format!("\\u{:04x}", c as u32),
            c => out.push(c),
        }
    }
    out + "\""
}

/// An error answer.
fn error(status: u16, message: &str) -> (u16, String) {
    (status, format!("{{\"error\":{}}}", json(message)))
}

/// An error of no particular kind (`io::Error::other` is newer than rustc 1.63).
fn other_error(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::Other, message)
}

/// A reply of an unexpected type, as an error.
fn unexpected(reply: Reply) -> io::Error {
    other_error(format!("unexpected reply {reply:?}"))
}

/// Answers one request: (status, JSON body).
fn route(redis: &Mutex<Redis>, method: &str, path: &str, body: &str) -> (u16, String) {
    let mut redis = redis
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let mut answer = || -> io::Result<(u16, String)> {
        Ok(match (method, path) {
            ("GET", "/health") => match redis.call(&["PING"])? {
                Reply::Status(pong) => (
                    200,
                    format!(
                        "{{\"status\":\"ok\",\"redis\":{},\"version\":{}}}",
                        json(&pong),
                        json(VERSION)
                    ),
                ),
                other => return Err(unexpected(other)),
            },
            ("GET", "/hits") => match redis.call(&["INCR", "hits"])? {
                Reply::Int(n) => (200, format!("{{\"hits\":{n}}}")),
                other => return Err(unexpected(other)),
            },
            ("POST", "/notes") if body.is_empty() => error(400, "empty note"),
            ("POST", "/notes") => match redis.call(&["RPUSH", "notes", body])? {
                Reply::Int(n) => (201, format!("{{\"stored\":{},\"count\":{n}}}", json(body))),
                other => return Err(unexpected(other)),
            },
            ("GET", "/notes") => match redis.call(&["LRANGE", "notes", "0", "-1"])? {
                Reply::Array(items) => {
                    let notes: Vec<String> = items
                        .into_iter()
                        .map(|item| match item {
                            Reply::Bulk(Some(note)) => Ok(json(&note)),
                            other => Err(unexpected(other)),
                        })
                        .collect::<io::Result<_>>()?;
                    (200, format!("{{\"notes\":[{}]}}", notes.join(",")))
                }
                other => return Err(unexpected(other)),
            },
            (_, "/health" | "/hits" | "/notes") => error(405, "method not allowed"),
            _ => error(404, "not found"),
        })
    };
    let result = answer();
    result.unwrap_or_else(|e| error(503, &format!("redis {}: {e}", redis.addr)))
}

fn serve(stream: TcpStream, redis: &Mutex<Redis>) -> io::Result<()> {
    stream.set_read_timeout(Some(TIMEOUT))?;
    stream.set_write_timeout(Some(TIMEOUT))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let mut parts = request_line.split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let mut length = 0;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header)? == 0 || header.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse().unwrap_or(usize::MAX);
            }
        }
    }
    let (status, body) = if length > MAX_BODY {
        error(413, "body too large")
    } else {
        let mut body = vec![0; length];
        reader.read_exact(&mut body)?;
        route(redis, method, path, String::from_utf8_lossy(&body).trim())
    };
    let reason = match status {
        200 => "OK",
        201 => "Created",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        413 => "Payload Too Large",
        500 => "Internal Server Error",
        _ => "Service Unavailable",
    };
    eprintln!("{method} {path} {status}");
    let mut stream = stream;
    write!(
        stream,
        "HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}\n",
        body.len() + 1
    )
}

extern "C" {
    fn signal(signum: i32, handler: extern "C" fn(i32)) -> usize;
    fn _exit(code: i32) -> !;
}

/// As PID 1 a process gets no default SIGTERM action: without a handler `stop` waits for the grace
/// period and kills. There is no state to flush here, so exit at once.
extern "C" fn on_term(_: i32) {
    // SAFETY: _exit is async-signal-safe and takes any status.
    unsafe { _exit(0) }
}

fn main() -> io::Result<()> {
    // SAFETY: installs a handler that only calls the async-signal-safe _exit; 2 is SIGINT, 15 SIGTERM.
    unsafe {
        signal(2, on_term);
        signal(15, on_term);
    }
    let addr = std::env::var("REDIS_ADDR").unwrap_or_else(|_| "redis:6379".to_string());
    let listen = std::env::var("LISTEN").unwrap_or_else(|_| "0.0.0.0:8080".to_string());
    let redis = Arc::new(Mutex::new(Redis { addr, conn: None }));
    let listener = TcpListener::bind(&listen)?;
    eprintln!(
        "backend-api listening on {listen}, redis at {}",
        redis.lock().unwrap().addr
    );
    for stream in listener.incoming() {
        // (`let ... else` is newer than rustc 1.63.)
        let stream = match stream {
            Ok(stream) => stream,
            Err(_) => continue,
        };
        let redis = Arc::clone(&redis);
        std::thread::spawn(move || {
            if let Err(e) = serve(stream, &redis) {
                eprintln!("connection: {e}");
            }
        });
    }
    Ok(())
}
