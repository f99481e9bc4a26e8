//! CPU time and peak memory of processes and threads, from `/proc`.

/// Clock ticks per second of `/proc/*/stat` times (USER_HZ, 100 on Linux).
const TICKS_PER_SECOND: f64 = 100.0;

fn stat_cpu_seconds(stat: &str) -> Option<f64> {
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / TICKS_PER_SECOND)
}

/// User + system CPU seconds of process `pid` so far (0 if it is gone).
pub fn process_cpu(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| stat_cpu_seconds(&s))
        .unwrap_or(0.0)
}

/// CPU seconds the calling thread has used so far.
pub fn this_thread_cpu() -> f64 {
    std::fs::read_to_string("/proc/thread-self/stat")
        .ok()
        .and_then(|s| stat_cpu_seconds(&s))
        .unwrap_or(0.0)
}

/// CPU seconds of this process's threads whose name starts with `prefix`.
pub fn own_threads_cpu(prefix: &str) -> f64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0.0;
    };
    tasks
        .flatten()
        .filter(|task| {
            std::fs::read_to_string(task.path().join("comm"))
                .is_ok_and(|name| name.trim_end().starts_with(prefix))
        })
        .filter_map(|task| std::fs::read_to_string(task.path().join("stat")).ok())
        .filter_map(|s| stat_cpu_seconds(&s))
        .sum()
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_utime_and_stime_past_a_name_with_spaces() {
        let stat = "42 (a b) S 1 2 3 4 5 6 7 8 9 10 150 50 0 0 20 0";
        assert_eq!(super::stat_cpu_seconds(stat), Some(2.0));
    }
}
