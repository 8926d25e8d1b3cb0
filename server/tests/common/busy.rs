//! A busy host: as many CPU-bound processes as cores beside the process under test,
//! as a PaaS host building images or a laptop running a bundler has. Used by the
//! tests and by `make bench`.

use std::process::{Child, Command};
use std::time::Duration;

/// `sh` busy loops, one per core; killed when dropped.
pub struct BusyProcesses(Vec<Child>);

impl BusyProcesses {
    pub fn start() -> BusyProcesses {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let loops = (0..cores)
            .map(|_| {
                Command::new("sh")
                    .args(["-c", "while :; do :; done"])
                    .spawn()
                    .expect("sh starts")
            })
            .collect();
        // Let them take the cores before anything is measured.
        std::thread::sleep(Duration::from_millis(200));
        BusyProcesses(loops)
    }
}

impl Drop for BusyProcesses {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
