//! Process figures from Linux `/proc`: resident memory (`VmRSS`) and CPU time, of the server under
//! load and of the load generator itself, so a report says who used the shared cores. Reading only;
//! never signals or otherwise touches the process.

use std::time::Duration;

/// Clock ticks per second of `/proc/<pid>/stat` times. Linux fixes `USER_HZ` at 100 on every
/// architecture it exports to user space.
const USER_HZ: u64 = 100;

/// Why a figure could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ProcError {
    #[error("cannot read /proc/{pid}/{file}: {source} (is the process running on this machine?)")]
    Read {
        pid: String,
        file: &'static str,
        source: std::io::Error,
    },
    #[error("/proc/{pid}/{file} has no readable {field}")]
    Field {
        pid: String,
        file: &'static str,
        field: &'static str,
    },
}

impl ProcError {
    pub fn code(&self) -> &'static str {
        match self {
            ProcError::Read { .. } => "proc_unreadable",
            ProcError::Field { .. } => "proc_malformed",
        }
    }
}

/// Which process: a pid, or this one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Proc {
    Pid(u32),
    Me,
}

impl Proc {
    fn name(self) -> String {
        match self {
            Proc::Pid(pid) => pid.to_string(),
            Proc::Me => "self".to_owned(),
        }
    }

    fn read(self, file: &'static str) -> Result<String, ProcError> {
        let pid = self.name();
        std::fs::read_to_string(format!("/proc/{pid}/{file}")).map_err(|source| ProcError::Read {
            pid,
            file,
            source,
        })
    }

    /// Resident set size in bytes (`VmRSS` of `/proc/<pid>/status`).
    pub fn rss_bytes(self) -> Result<u64, ProcError> {
        let status = self.read("status")?;
        parse_vm_rss_kib(&status)
            .map(|kib| kib.saturating_mul(1024))
            .ok_or(ProcError::Field {
                pid: self.name(),
                file: "status",
                field: "VmRSS",
            })
    }

    /// User + system CPU time used so far (`utime + stime` of `/proc/<pid>/stat`).
    pub fn cpu_time(self) -> Result<Duration, ProcError> {
        let stat = self.read("stat")?;
        parse_cpu_ticks(&stat)
            .map(|ticks| Duration::from_millis(ticks.saturating_mul(1000 / USER_HZ)))
            .ok_or(ProcError::Field {
                pid: self.name(),
                file: "stat",
                field: "utime/stime",
            })
    }
}

/// `VmRSS:   123456 kB` -> 123456.
fn parse_vm_rss_kib(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let mut words = line["VmRSS:".len()..].split_whitespace();
    let value = words.next()?.parse().ok()?;
    (words.next()? == "kB").then_some(value)
}

/// Fields 14 and 15 (utime, stime) of `/proc/<pid>/stat`. The command name (field 2) is in
/// parentheses and may itself hold spaces and parentheses, so counting starts after the last `)`.
fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    let mut fields = after_name.split_whitespace();
    // After the name come field 3 (state) onwards: utime is field 14, the 12th from here.
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    utime.checked_add(stime)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_status_and_stat() {
        let status = "Name:\tpurse\nVmPeak:\t  900 kB\nVmRSS:\t   51234 kB\nThreads:\t9\n";
        assert_eq!(parse_vm_rss_kib(status), Some(51_234));
        assert_eq!(parse_vm_rss_kib("Name: x\n"), None);
        assert_eq!(parse_vm_rss_kib("VmRSS: 12 MB\n"), None);

        let stat = "4242 (my (odd) name) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 9";
        assert_eq!(parse_cpu_ticks(stat), Some(325));
        assert_eq!(parse_cpu_ticks("4242 (x) S 1"), None);
    }

    #[test]
    fn reads_this_process() {
        assert!(Proc::Me.rss_bytes().unwrap() > 1024 * 1024);
        let spent = Proc::Me.cpu_time().unwrap();
        assert!(spent < Duration::from_secs(24 * 3600));
        let err = Proc::Pid(u32::MAX).rss_bytes().unwrap_err();
        assert_eq!(err.code(), "proc_unreadable");
    }
}
