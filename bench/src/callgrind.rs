//! Instructions per request, counted by callgrind (Debian's valgrind): repeatable
//! where wall time on a shared machine is not. The process runs under callgrind;
//! after a warm-up its counters are zeroed, `REQUESTS` keep-alive requests are made,
//! and the counters are dumped: every instruction of every thread (workers,
//! timers, the hashing pool) over those requests, divided by their number.

use crate::measure::wait_until_answering;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const WARM_UP: usize = 300;
const REQUESTS: usize = 2_000;

/// Instructions per request for `request` (a whole HTTP/1.1 request, keep-alive)
/// sent to `program args…` listening on `address`; `None` without valgrind.
pub fn per_request(
    work: &Path,
    label: &str,
    program: &Path,
    args: &[&str],
    address: &str,
    request: &str,
) -> Option<f64> {
    let out = work.join(format!("callgrind-{label}.out"));
    let child = Command::new("valgrind")
        .arg("--tool=callgrind")
        .arg(format!("--callgrind-out-file={}", out.display()))
        .arg(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let mut child = Killed(child);
    wait_until_answering(address, "/health", Duration::from_secs(180))
        .or_else(|| wait_until_answering(address, "/", Duration::from_secs(1)))?;
    let mut connection = Connection::open(address);
    for _ in 0..WARM_UP {
        connection.exchange(request);
    }
    let pid = child.0.id().to_string();
    control(&["-z", &pid])?;
    for _ in 0..REQUESTS {
        connection.exchange(request);
    }
    control(&["-d", &pid])?;
    let instructions = dumped_instructions(&out)?;
    let _ = child.0.kill();
    Some(instructions as f64 / REQUESTS as f64)
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn control(args: &[&str]) -> Option<()> {
    let status = Command::new("callgrind_control")
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .ok()?;
    status.success().then_some(())
}

/// The `summary:` of the newest dump of `out` (callgrind numbers dumps `.1`, `.2`…).
fn dumped_instructions(out: &Path) -> Option<u64> {
    let dir = out.parent()?;
    let name = out.file_name()?.to_str()?;
    let newest = std::fs::read_dir(dir)
        .ok()?
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_str().is_some_and(|n| n.starts_with(name)))
        .max_by_key(|e| e.metadata().and_then(|m| m.modified()).ok())?;
    let text = std::fs::read_to_string(newest.path()).ok()?;
    text.lines()
        .find_map(|l| {
            l.strip_prefix("summary:")
                .or_else(|| l.strip_prefix("totals:"))
        })
        .and_then(|n| n.split_whitespace().next()?.parse().ok())
}

/// One keep-alive connection, answers read by their `content-length`.
struct Connection {
    reader: BufReader<TcpStream>,
}

impl Connection {
    fn open(address: &str) -> Connection {
        let stream = TcpStream::connect(address).expect("the target accepts");
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .expect("a timeout");
        Connection {
            reader: BufReader::new(stream),
        }
    }

    fn exchange(&mut self, request: &str) {
        self.reader
            .get_mut()
            .write_all(request.as_bytes())
            .expect("a request written");
        let mut length = 0;
        let mut line = String::new();
        loop {
            line.clear();
            self.reader.read_line(&mut line).expect("an answer");
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse().expect("a length");
                }
            }
        }
        let mut body = vec![0; length];
        self.reader.read_exact(&mut body).expect("the body");
    }
}
