//! The number of possible CPUs, which sizes per-CPU map values.
//!
//! The kernel copies `round_up(value_size, 8)` bytes for each CPU in its possible mask
//! (`num_possible_cpus()`, the weight of the mask, not its highest index + 1), in mask
//! order. /sys/devices/system/cpu/possible prints that mask as a list like `0-1,4`.

use std::io;
use std::sync::OnceLock;

const POSSIBLE: &str = "/sys/devices/system/cpu/possible";

/// Parses a kernel CPU list (`0-3,8,10-11`) into the number of CPUs it names.
pub fn parse_cpu_list(s: &str) -> Result<usize, String> {
    let s = s.trim();
    if s.is_empty() {
        return Err("empty CPU list".into());
    }
    let mut count = 0usize;
    for part in s.split(',') {
        let num = |t: &str| {
            t.trim()
                .parse::<usize>()
                .map_err(|_| format!("bad CPU number {t:?} in {s:?}"))
        };
        let n = match part.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (num(a)?, num(b)?);
                if b < a {
                    return Err(format!("bad CPU range {part:?} in {s:?}"));
                }
                b - a + 1
            }
            None => {
                num(part)?;
                1
            }
        };
        count = count
            .checked_add(n)
            .filter(|&c| c <= 1 << 20)
            .ok_or_else(|| format!("implausible CPU count in {s:?}"))?;
    }
    Ok(count)
}

/// The kernel's `num_possible_cpus()`, read once.
pub fn possible_cpus() -> io::Result<usize> {
    static CACHE: OnceLock<Result<usize, String>> = OnceLock::new();
    CACHE
        .get_or_init(|| {
            let text = std::fs::read_to_string(POSSIBLE).map_err(|e| format!("{POSSIBLE}: {e}"))?;
            parse_cpu_list(&text).map_err(|e| format!("{POSSIBLE}: {e}"))
        })
        .clone()
        .map_err(io::Error::other)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists() {
        assert_eq!(parse_cpu_list("0\n"), Ok(1));
        assert_eq!(parse_cpu_list("0-1"), Ok(2));
        assert_eq!(parse_cpu_list("0-1,4"), Ok(3));
        assert_eq!(parse_cpu_list("0-3,8-11,16"), Ok(9));
        assert!(parse_cpu_list("").is_err());
        assert!(parse_cpu_list("3-1").is_err());
        assert!(parse_cpu_list("a").is_err());
        assert!(parse_cpu_list("0-").is_err());
        assert!(parse_cpu_list("0-99999999999").is_err());
    }
}
