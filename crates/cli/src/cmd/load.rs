//! The dump inputs of `analyze dump`, `export` and `query` (the arguments they share), and
//! progress bars while the engine reads and analyses them.

use std::io::IsTerminal;
use std::time::Duration;

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use mapsleuth_dump::{DumpFormat, DumpReadOptions, RawLayout};
use mapsleuth_engine::{Analysed, DumpRequest, ExpectedFn, Progress, TypeSource};

use crate::cmd::types::TypeArgs;

/// The dumps and how to read them: the arguments `analyze dump`, `export` and `query`
/// share.
#[derive(Args)]
pub struct DumpSources {
    /// Dump files: `bpftool map dump` output (plain or with BTF), `bpftool -j`/`-p map
    /// dump`, raw key+value records (with --key-size/--value-size), or mapsleuth capture
    /// files. `-` reads standard input.
    #[arg(value_name = "DUMP")]
    pub dumps: Vec<String>,
    #[command(flatten)]
    pub types: TypeArgs,
    /// `bpftool -j map show` output for the dumped map (name, type, sizes, max_entries).
    /// Without it, NAME.show.json next to NAME.json (or .txt) is used when it exists.
    #[arg(long, value_name = "FILE")]
    pub map_info: Option<String>,
    /// The dump format, when detection is not wanted: text, btf-text, json, raw, capture.
    #[arg(long, value_name = "F")]
    pub input_format: Option<DumpFormat>,
    /// Key bytes of raw records.
    #[arg(long, value_name = "N", requires = "value_size")]
    pub key_size: Option<usize>,
    /// Value bytes of raw records.
    #[arg(long, value_name = "N", requires = "key_size")]
    pub value_size: Option<usize>,
}

impl DumpSources {
    pub fn request(&self) -> DumpRequest {
        DumpRequest {
            inputs: self.dumps.clone(),
            types: self.types.spec(),
            map_info: self.map_info.clone(),
            read: read_options(self.input_format, self.key_size, self.value_size),
        }
    }

    /// Reads and analyses every dump, with progress bars on a terminal.
    pub fn load<'s>(
        &self,
        src: &'s TypeSource,
        expected: &mut ExpectedFn<'_>,
    ) -> anyhow::Result<Vec<Analysed<'s>>> {
        // Not required by clap: `query --dataset` reads no dump.
        if self.dumps.is_empty() {
            return Err(crate::cmd::types::usage("give one or more DUMP files"));
        }
        Ok(mapsleuth_engine::load(
            src,
            &self.request(),
            expected,
            &mut Bars::default(),
        )?)
    }

    /// Reads and analyses the one input `path` (a dataset export goes one at a time).
    pub fn load_one<'s>(
        &self,
        src: &'s TypeSource,
        path: &str,
    ) -> anyhow::Result<Vec<Analysed<'s>>> {
        let mut req = self.request();
        req.inputs = vec![path.to_string()];
        Ok(mapsleuth_engine::load(
            src,
            &req,
            &mut |_, _| Ok(None),
            &mut Bars::default(),
        )?)
    }
}

pub fn read_options(
    format: Option<DumpFormat>,
    key_size: Option<usize>,
    value_size: Option<usize>,
) -> DumpReadOptions {
    DumpReadOptions {
        format,
        raw: key_size.zip(value_size).map(|(k, v)| RawLayout {
            key_size: k,
            value_size: v,
            cpus: None,
        }),
        ..DumpReadOptions::default()
    }
}

/// A spinner while a big input is read, a bar while a big dump is analysed; only when
/// stderr is a terminal.
#[derive(Default)]
struct Bars {
    bar: Option<ProgressBar>,
}

impl Progress for Bars {
    fn reading(&mut self, path: &str, size: Option<u64>) {
        let size = size.unwrap_or(0);
        if !std::io::stderr().is_terminal() || size < (32 << 20) {
            return;
        }
        let pb = ProgressBar::new_spinner();
        pb.set_message(format!("reading {path} ({} MB)", size >> 20));
        pb.enable_steady_tick(Duration::from_millis(120));
        self.bar = Some(pb);
    }

    fn read_done(&mut self) {
        if let Some(pb) = self.bar.take() {
            pb.finish_and_clear();
        }
    }

    fn analysing(&mut self, name: &str, entries: u64) {
        if !std::io::stderr().is_terminal() || entries < 200_000 {
            return;
        }
        let pb = ProgressBar::new(entries);
        pb.set_style(
            ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} entries ({eta})")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        pb.set_message(name.to_string());
        self.bar = Some(pb);
    }

    fn analysed(&mut self, done: u64) {
        if let Some(pb) = &self.bar {
            pb.set_position(done);
        }
    }

    fn analysis_done(&mut self) {
        self.read_done();
    }
}

/// A truncated dump is unreadable input (exit status 2), even though the entries before
/// the cut were read and analysed: says on stderr where each one stops and how many
/// entries came before. True when some dump was truncated.
pub fn report_truncations(done: &[Analysed<'_>]) -> bool {
    report_truncated(done.iter().map(|a| &a.dump), "read and analysed")
}

/// [`report_truncations`] for dumps, with what was done with the entries read.
pub fn report_truncated<'d>(
    dumps: impl IntoIterator<Item = &'d mapsleuth_dump::Dump>,
    done: &str,
) -> bool {
    let mut any = false;
    for dump in dumps {
        if let Some(e) = dump.issues.iter().find(|e| e.is_truncation()) {
            let n = dump.len();
            let entries = if n == 1 { "entry" } else { "entries" };
            eprintln!("mapsleuth: error: {e}; {n} {entries} before it were {done}");
            any = true;
        }
    }
    any
}
