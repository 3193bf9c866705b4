//! `/proc`: the CPU time, wake-ups and memory of a process tree (a process and its direct
//! children), the whole machine's busy time, what the machine is.

use std::collections::HashMap;
use std::fs;
use std::process::Command;

pub(crate) fn clock_ticks_per_second() -> u64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100)
}

/// Fields of /proc/<pid>/stat after the command name; index 0 is field 3 (state).
pub(crate) fn stat_fields(pid: u32) -> Option<Vec<u64>> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 2..];
    Some(
        after
            .split_whitespace()
            .map(|f| f.parse().unwrap_or(0))
            .collect(),
    )
}

/// The process and its direct children (gunicorn's master and workers).
pub(crate) fn tree(root: u32) -> Vec<u32> {
    let mut pids = vec![root];
    if let Ok(entries) = fs::read_dir("/proc") {
        for entry in entries.flatten() {
            let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
                continue;
            };
            // Field 4 (ppid) is index 1.
            if pid != root && stat_fields(pid).is_some_and(|f| f.get(1) == Some(&(root as u64))) {
                pids.push(pid);
            }
        }
    }
    pids
}

/// One reading of a process tree's CPU time.
#[derive(Debug, Clone)]
pub(crate) struct CpuReading {
    /// utime + stime of every process (+ cutime + cstime of the root: reaped workers), in
    /// clock ticks.
    pub(crate) ticks: u64,
    /// On-CPU nanoseconds of every live thread (`/proc/<pid>/task/<tid>/schedstat`).
    pub(crate) threads: HashMap<u32, u64>,
    /// How many times the threads were put on a CPU (schedstat's third field): wake-ups,
    /// each a context switch.
    pub(crate) runs: u64,
}

pub(crate) fn read_cpu(root: u32) -> CpuReading {
    let mut ticks = 0;
    let mut runs = 0;
    let mut threads = HashMap::new();
    for pid in tree(root) {
        if let Some(f) = stat_fields(pid) {
            // utime (14) and stime (15) are indexes 11 and 12; cutime, cstime 13 and 14.
            ticks += f.get(11).copied().unwrap_or(0) + f.get(12).copied().unwrap_or(0);
            if pid == root {
                ticks += f.get(13).copied().unwrap_or(0) + f.get(14).copied().unwrap_or(0);
            }
        }
        if let Ok(tasks) = fs::read_dir(format!("/proc/{pid}/task")) {
            for task in tasks.flatten() {
                let Ok(tid) = task.file_name().to_string_lossy().parse::<u32>() else {
                    continue;
                };
                let Ok(sched) = fs::read_to_string(task.path().join("schedstat")) else {
                    continue;
                };
                let mut fields = sched.split_whitespace().map(|v| v.parse::<u64>().ok());
                if let Some(Some(ns)) = fields.next() {
                    threads.insert(tid, ns);
                }
                runs += fields.nth(1).flatten().unwrap_or(0);
            }
        }
    }
    CpuReading {
        ticks,
        threads,
        runs,
    }
}

/// CPU used between two readings, in seconds: from the threads' nanosecond counters when no
/// thread of the first reading has gone (new ones count in full, as they started after it),
/// else from the tick counters (10 ms resolution). The flag says which.
pub(crate) fn cpu_between(
    before: &CpuReading,
    after: &CpuReading,
    ticks_per_second: u64,
) -> (f64, bool) {
    let all_alive = before.threads.keys().all(|t| after.threads.contains_key(t));
    if all_alive && !after.threads.is_empty() {
        let ns: u64 = after
            .threads
            .iter()
            .map(|(tid, ns)| ns.saturating_sub(before.threads.get(tid).copied().unwrap_or(0)))
            .sum();
        (ns as f64 / 1e9, true)
    } else {
        let ticks = after.ticks.saturating_sub(before.ticks);
        (ticks as f64 / ticks_per_second as f64, false)
    }
}

/// Resident memory of the tree, in kB, from VmRSS.
pub(crate) fn rss_kb(root: u32) -> u64 {
    tree(root)
        .into_iter()
        .filter_map(|pid| fs::read_to_string(format!("/proc/{pid}/status")).ok())
        .filter_map(|status| {
            status
                .lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u64>().ok())
        })
        .sum()
}

/// Busy clock ticks of the whole machine (user, nice, system, irq, softirq), from /proc/stat.
pub(crate) fn machine_busy_ticks() -> u64 {
    let stat = fs::read_to_string("/proc/stat").unwrap_or_default();
    let Some(cpu) = stat.lines().find(|l| l.starts_with("cpu ")) else {
        return 0;
    };
    let fields: Vec<u64> = cpu
        .split_whitespace()
        .skip(1)
        .map(|f| f.parse().unwrap_or(0))
        .collect();
    // user nice system idle iowait irq softirq ...
    [0, 1, 2, 5, 6].iter().filter_map(|&i| fields.get(i)).sum()
}

/// This process's CPU ticks, with its waited-for children (wrk).
pub(crate) fn own_ticks() -> u64 {
    stat_fields(std::process::id()).map_or(0, |f| f[11..15].iter().sum())
}

pub(crate) fn loadavg() -> String {
    fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "?".into())
}

pub(crate) fn machine() -> String {
    let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map_or("unknown CPU", |(_, v)| v.trim())
        .to_string();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let mem_gib = fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0 / 1024.0);
    let kernel = fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!(
        "{model}, {cores} cores, {mem_gib:.0} GiB, Linux {}",
        kernel.trim()
    )
}
