//! Raw pass-through of a container's output (`run`, `attach`, `cp ... -`): bytes as the container
//! wrote them, not lines, since a terminal session sends partial lines, escape sequences and
//! non-UTF-8 data. Each write is flushed at once so an interactive prompt shows up.

use std::io::{self, Write};

/// Which of rcompose's own streams to write to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Stdout,
    Stderr,
}

/// Writes `bytes` and flushes. A closed pipe (`rcompose run ... | head`) is not an error.
pub fn write(target: Target, bytes: &[u8]) -> io::Result<()> {
    let result = match target {
        Target::Stdout => {
            let mut out = io::stdout().lock();
            out.write_all(bytes).and_then(|()| out.flush())
        }
        Target::Stderr => {
            let mut err = io::stderr().lock();
            err.write_all(bytes).and_then(|()| err.flush())
        }
    };
    match result {
        Err(error) if error.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

/// Copies everything from `reader` to standard output until end of file.
pub fn copy_to_stdout(reader: &mut impl io::Read) -> io::Result<u64> {
    let mut out = io::stdout().lock();
    let mut buffer = [0u8; 32 * 1024];
    let mut total = 0;
    loop {
        let n = match reader.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(error),
        };
        match out.write_all(&buffer[..n]).and_then(|()| out.flush()) {
            Err(error) if error.kind() == io::ErrorKind::BrokenPipe => break,
            other => other?,
        }
        total += n as u64;
    }
    Ok(total)
}
