//! How to read a dump: the caller's choices and the bounds on untrusted input.

use crate::format::DumpFormat;

/// Bounds on what a dump reader accepts; every input is untrusted. (Capture files have
/// their own, on the file's structure: `capture_file::CaptureLimits`.)
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DumpLimits {
    /// Entries per map dump.
    pub max_entries: u64,
    /// Bytes of one key or one value (per CPU).
    pub max_value_size: usize,
    /// Bytes of one line of plain text.
    pub max_line_len: usize,
    /// Per-CPU values of one entry.
    pub max_cpus: usize,
    /// Nesting of JSON arrays and objects.
    pub max_depth: usize,
    /// Bytes of bpftool's decoded form of one entry.
    pub max_formatted_len: usize,
    /// Issues kept per dump; more are counted in [`Dump::issues_dropped`](crate::Dump::issues_dropped).
    pub max_issues: usize,
}

impl Default for DumpLimits {
    fn default() -> Self {
        DumpLimits {
            max_entries: 64 << 20,
            // KMALLOC_MAX_SIZE on x86-64: no map value can be larger.
            max_value_size: 4 << 20,
            max_line_len: 1 << 20,
            max_cpus: 8192,
            max_depth: 64,
            max_formatted_len: 16 << 20,
            max_issues: 1000,
        }
    }
}

/// Key and value sizes of raw records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RawLayout {
    pub key_size: usize,
    pub value_size: usize,
    /// For per-CPU records: values per record. Each value then takes
    /// `round_up(value_size, 8)` bytes, as `bpf(2)` lays them out.
    pub cpus: Option<usize>,
}

/// How to read a dump.
#[derive(Clone, Debug, Default)]
pub struct DumpReadOptions {
    /// Force a format (`--input-format`); `None` detects it from content.
    pub format: Option<DumpFormat>,
    /// Sizes of raw records; also makes undetectable input read as raw records.
    pub raw: Option<RawLayout>,
    pub limits: DumpLimits,
    /// Fail on the first recovered problem instead of keeping it in
    /// [`Dump::issues`](crate::Dump::issues).
    pub strict: bool,
    /// Threads for one big `-j` dump of one map: 0 is every core, 1 reads in one pass.
    /// Either way the dumps are the same (the halves are joined only when they prove
    /// to be what one pass would have read).
    pub threads: usize,
    /// Inputs this long or longer are read in two halves when threads allow; `None`
    /// is 32 MiB (below that a second thread costs more than it saves).
    pub split_min_len: Option<usize>,
    /// Entries the second half is read into at a time (`None`: 65,536); tests make
    /// it small to join many parts.
    pub split_part_len: Option<usize>,
}
