//! The CPU and memory a Lambda function of a given memory size gets, as a cgroup (v1) on this
//! machine: Lambda gives CPU in proportion to memory, one vCPU at 1,769 MB, so a function of
//! `m` MB gets `m / 1769` of a CPU (`cpu.cfs_quota_us` over `cpu.cfs_period_us`) and `m` MB of
//! memory (`memory.limit_in_bytes`). Needs root and the v1 `cpu` and `memory` hierarchies under
//! `/sys/fs/cgroup` (the benchmark says so and stops where they are missing).

use std::path::{Path, PathBuf};

/// Lambda's memory size with one whole vCPU.
pub const MB_PER_VCPU: u32 = 1769;
/// The scheduler's period; the quota is a share of it.
const PERIOD_US: u64 = 100_000;
const ROOT: &str = "/sys/fs/cgroup";

/// One process's cgroups (cpu, memory) for a memory size. Each process gets fresh ones, as each
/// Lambda sandbox does: in a cgroup shared with the process before, the quota that process used
/// up in the current period would hold the next one back.
#[derive(Debug, Clone)]
pub struct Cap {
    pub memory_mb: u32,
    /// The `cgroup.procs` files a process joins (cpu, memory).
    pub procs: Vec<PathBuf>,
}

/// The CPU quota of `memory_mb` per [`PERIOD_US`] (at most the whole period: one CPU).
pub fn quota_us(memory_mb: u32) -> u64 {
    (PERIOD_US * u64::from(memory_mb) / u64::from(MB_PER_VCPU)).clamp(1_000, PERIOD_US)
}

/// The share of one CPU, as the table prints it.
pub fn vcpu(memory_mb: u32) -> f64 {
    quota_us(memory_mb) as f64 / PERIOD_US as f64
}

static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

impl Cap {
    /// Fresh cgroups `wxface-bench/<pid>-<n>-<m>mb` in the cpu and memory hierarchies; the
    /// empty ones of earlier processes are removed first.
    pub fn new(memory_mb: u32) -> Result<Self, String> {
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let name = format!("{}-{n}-{memory_mb}mb", std::process::id());
        let mut dirs = Vec::new();
        for hierarchy in ["cpu", "memory"] {
            let parent = Path::new(ROOT).join(hierarchy).join("wxface-bench");
            remove_empty_children(&parent);
            let dir = parent.join(&name);
            std::fs::create_dir_all(&dir).map_err(|e| {
                format!(
                    "{}: {e} (the CPU caps need root and cgroup v1's cpu and memory hierarchies)",
                    dir.display()
                )
            })?;
            dirs.push(dir);
        }
        let (cpu, mem) = (&dirs[0], &dirs[1]);
        write(&cpu.join("cpu.cfs_period_us"), &PERIOD_US.to_string())?;
        write(
            &cpu.join("cpu.cfs_quota_us"),
            &quota_us(memory_mb).to_string(),
        )?;
        let bytes = u64::from(memory_mb) << 20;
        write(&mem.join("memory.limit_in_bytes"), &bytes.to_string())?;
        Ok(Self {
            memory_mb,
            procs: dirs.iter().map(|d| d.join("cgroup.procs")).collect(),
        })
    }
}

/// rmdir of every child cgroup: only those without a process go.
fn remove_empty_children(parent: &Path) {
    for child in std::fs::read_dir(parent).into_iter().flatten().flatten() {
        if child.path().is_dir() {
            let _ = std::fs::remove_dir(child.path());
        }
    }
}

fn write(path: &Path, value: &str) -> Result<(), String> {
    std::fs::write(path, value).map_err(|e| format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_quota_is_the_memory_share_of_one_cpu() {
        assert_eq!(quota_us(1769), 100_000);
        assert_eq!(quota_us(512), 28_942);
        assert_eq!(quota_us(128), 7_235);
        assert_eq!(quota_us(3538), 100_000);
        assert!((vcpu(512) - 0.289).abs() < 0.001);
    }
}
