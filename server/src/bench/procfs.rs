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

    /// Context switches of all its threads so far (voluntary + involuntary, from
    /// `/proc/<pid>/task/*/status`). Threads that ended are not counted, so compare samples taken
    /// while the same threads run.
    pub fn context_switches(self) -> Result<u64, ProcError> {
        let pid = self.name();
        let tasks =
            std::fs::read_dir(format!("/proc/{pid}/task")).map_err(|source| ProcError::Read {
                pid: pid.clone(),
                file: "task",
                source,
            })?;
        let mut total = 0u64;
        for task in tasks.flatten() {
            // A thread may end between listing and reading: skip it.
            if let Ok(status) = std::fs::read_to_string(task.path().join("status")) {
                total = total.saturating_add(parse_context_switches(&status).unwrap_or(0));
            }
        }
        Ok(total)
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

/// Machine-wide CPU counters (the `cpu` line of `/proc/stat`), in clock ticks summed over cores.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MachineCpu {
    /// Ticks spent running anything (user, nice, system, irq, softirq, steal).
    pub busy: u64,
    /// All ticks, idle and iowait included.
    pub total: u64,
}

impl MachineCpu {
    pub fn read() -> Result<MachineCpu, ProcError> {
        let stat = std::fs::read_to_string("/proc/stat").map_err(|source| ProcError::Read {
            pid: "..".to_owned(),
            file: "stat",
            source,
        })?;
        parse_machine_cpu(&stat).ok_or(ProcError::Field {
            pid: "..".to_owned(),
            file: "stat",
            field: "cpu",
        })
    }

    /// Cores kept busy on average between `earlier` and `self`, out of `cores`.
    pub fn busy_cores_since(&self, earlier: &MachineCpu, cores: usize) -> f64 {
        let busy = self.busy.saturating_sub(earlier.busy) as f64;
        let total = self.total.saturating_sub(earlier.total) as f64;
        if total == 0.0 {
            0.0
        } else {
            busy / total * cores as f64
        }
    }
}

/// `cpu  user nice system idle iowait irq softirq steal ...` (ticks).
fn parse_machine_cpu(stat: &str) -> Option<MachineCpu> {
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .take(8)
        .map(|w| w.parse().ok())
        .collect::<Option<_>>()?;
    let [user, nice, system, idle, iowait, irq, softirq, steal] = v.try_into().ok()?;
    let busy = user + nice + system + irq + softirq + steal;
    Some(MachineCpu {
        busy,
        total: busy + idle + iowait,
    })
}

/// `VmRSS:   123456 kB` -> 123456.
fn parse_vm_rss_kib(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let mut words = line["VmRSS:".len()..].split_whitespace();
    let value = words.next()?.parse().ok()?;
    (words.next()? == "kB").then_some(value)
}

/// `voluntary_ctxt_switches` + `nonvoluntary_ctxt_switches` of one status file.
fn parse_context_switches(status: &str) -> Option<u64> {
    let field = |name: &str| -> Option<u64> {
        let line = status.lines().find(|l| l.starts_with(name))?;
        line[name.len()..].trim().parse().ok()
    };
    field("voluntary_ctxt_switches:")?.checked_add(field("nonvoluntary_ctxt_switches:")?)
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

        let a = parse_machine_cpu("cpu  100 0 50 800 50 0 0 0 0 0\ncpu0 1 2 3\n").unwrap();
        assert_eq!(
            a,
            MachineCpu {
                busy: 150,
                total: 1000
            }
        );
        let b = MachineCpu {
            busy: 250,
            total: 1200,
        };
        assert!((b.busy_cores_since(&a, 2) - 1.0).abs() < 1e-9);
        assert_eq!(parse_machine_cpu("intr 1 2\n"), None);

        let status = "Name:\tx\nvoluntary_ctxt_switches:\t120\nnonvoluntary_ctxt_switches:\t7\n";
        assert_eq!(parse_context_switches(status), Some(127));
        assert_eq!(parse_context_switches("Name:\tx\n"), None);
    }

    #[test]
    fn reads_this_process() {
        assert!(Proc::Me.rss_bytes().unwrap() > 1024 * 1024);
        let spent = Proc::Me.cpu_time().unwrap();
        assert!(spent < Duration::from_secs(24 * 3600));
        assert!(Proc::Me.context_switches().unwrap() > 0);
        let machine = MachineCpu::read().unwrap();
        assert!(machine.total >= machine.busy);
        let err = Proc::Pid(u32::MAX).rss_bytes().unwrap_err();
        assert_eq!(err.code(), "proc_unreadable");
    }
}
