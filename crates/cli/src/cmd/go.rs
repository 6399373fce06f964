//! `mapsleuth go ...`

use std::io::Write;

use clap::Subcommand;
use mapsleuth_dwarf::GoBinary;
use serde::Serialize;

use crate::output::{csv_field, Format, Out, UsageError};
use crate::render;

#[derive(Subcommand)]
pub enum GoCommand {
    /// Show the layout of a Go struct from the binary's DWARF, pahole-style, with the
    /// binary's own architecture rules (on 386 and arm a uint64 is only 4-aligned).
    ///
    /// TYPE is the name Go gives it (`main.Event`, `example.com/app/bpf.Event`), or the
    /// name without its package path when only one type has it (`bpf.Event`).
    #[command(after_help = "Examples:
  mapsleuth go show main.Event --go-bin ./app
  mapsleuth go show good.Event --go-bin corpus/go/bin/app-go1.25.5-linux-386

The binary needs its DWARF: a build with -ldflags=-w or -s has none.")]
    Show {
        #[arg(value_name = "TYPE")]
        type_name: String,
        /// The Go binary (ELF or Mach-O; compressed debug sections are fine).
        #[arg(long)]
        go_bin: String,
    },
    /// Print Go source of a struct that mirrors a BTF type byte for byte: exact-width
    /// integers, fixed-size arrays, explicit `_ [N]byte` padding for every hole (so the
    /// layout holds on 386 and arm too), bitfield storage units and unions as byte
    /// arrays with a comment, enum constants. The output is gofmt-clean.
    #[command(after_help = "Examples:
  mapsleuth go gen event --btf prog.bpf.o > event.go
  mapsleuth go gen 'struct flow_stats' --btf prog.bpf.o --package bpf --host-layout
  mapsleuth go gen iphdr --btf /sys/kernel/btf/vmlinux --go-name IPHeader

Check the result with `mapsleuth analyze layout` once it is compiled in.")]
    Gen {
        #[arg(value_name = "TYPE")]
        type_name: String,
        #[command(flatten)]
        input: crate::cmd::btf::BtfInputArgs,
        /// The Go package of the file.
        #[arg(long, default_value = "main")]
        package: String,
        /// The Go name of the struct (default: CamelCase of the C name).
        #[arg(long)]
        go_name: Option<String>,
        /// Start every struct with `_ structs.HostLayout`, as bpf2go does (Go 1.23+).
        #[arg(long)]
        host_layout: bool,
    },
    /// List the types in a Go binary's DWARF.
    #[command(after_help = "Examples:
  mapsleuth go types --go-bin ./app --name '^main\\.'
  mapsleuth go types --go-bin ./app --name 'Event$' --format json")]
    Types {
        #[arg(long)]
        go_bin: String,
        /// Only names matching this regular expression.
        #[arg(long)]
        name: Option<String>,
    },
}

pub fn run(cmd: GoCommand, out: &mut Out) -> anyhow::Result<i32> {
    match cmd {
        GoCommand::Show { type_name, go_bin } => show(&type_name, &go_bin, out),
        GoCommand::Types { go_bin, name } => types(&go_bin, name.as_deref(), out),
        GoCommand::Gen {
            type_name,
            input,
            package,
            go_name,
            host_layout,
        } => {
            if out.format != Format::Table {
                return Err(out.unsupported("go gen"));
            }
            let bytes = input.read()?;
            bytes.with(|btf| {
                let id = btf
                    .find_type(&type_name)
                    .map_err(|e| e.in_file(&input.btf, 0))?;
                let table = btf.to_table_for(&[id])?;
                let opts = mapsleuth_crosscheck::gogen::GoGenOptions {
                    package,
                    type_name: go_name,
                    host_layout,
                };
                let source = mapsleuth_crosscheck::gogen::generate(&table, id, &opts)?;
                write!(out.stdout, "{source}")?;
                Ok(0)
            })
        }
    }
}

pub fn open(path: &str) -> anyhow::Result<GoBinary<'static>> {
    Ok(mapsleuth_engine::open_go_binary(path)?)
}

fn show(type_name: &str, go_bin: &str, out: &mut Out) -> anyhow::Result<i32> {
    let bin = open(go_bin)?;
    let (table, ids) = bin
        .table_for(&[type_name])
        .map_err(|e| anyhow::anyhow!("{go_bin}: {e}"))?;
    let id = ids[0];
    match table.layout(id) {
        Ok(layout) => match out.format {
            Format::Json => out.json(&crate::cmd::btf::ShowDocument::Layout(layout))?,
            Format::Table => write!(out.stdout, "{}", render::layout_text(&table, &layout))?,
            _ => return Err(out.unsupported("go show")),
        },
        Err(mapsleuth_layout::LayoutError::NotAggregate { .. }) => {
            let summary = table.describe(id)?;
            match out.format {
                Format::Json => out.json(&crate::cmd::btf::ShowDocument::Summary(summary))?,
                Format::Table => {
                    write!(out.stdout, "{}", render::summary_text(&table, id, &summary))?
                }
                _ => return Err(out.unsupported("go show")),
            }
        }
        Err(e) => return Err(e.into()),
    }
    Ok(0)
}

#[derive(Serialize, schemars::JsonSchema)]
pub struct TypeRow<'a> {
    pub name: &'a str,
    pub kind: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    pub die_offset: u64,
}

fn types(go_bin: &str, name: Option<&str>, out: &mut Out) -> anyhow::Result<i32> {
    let re = name
        .map(regex::Regex::new)
        .transpose()
        .map_err(|e| UsageError(format!("bad --name regex: {e}")))?;
    let bin = open(go_bin)?;
    let entries = bin.types().map_err(|e| anyhow::anyhow!("{go_bin}: {e}"))?;
    let rows: Vec<TypeRow> = entries
        .iter()
        .filter(|e| re.as_ref().is_none_or(|re| re.is_match(&e.name)))
        .map(|e| TypeRow {
            name: &e.name,
            kind: &e.kind,
            size: e.size,
            die_offset: e.die_offset,
        })
        .collect();
    match out.format {
        Format::Json => out.json(&rows)?,
        Format::Ndjson => out.ndjson(&rows)?,
        Format::Sarif => return Err(out.unsupported("go types")),
        Format::Csv => {
            writeln!(out.stdout, "name,kind,size,die_offset")?;
            for r in &rows {
                let size = r.size.map(|s| s.to_string()).unwrap_or_default();
                writeln!(
                    out.stdout,
                    "{},{},{},{:#x}",
                    csv_field(r.name),
                    r.kind,
                    size,
                    r.die_offset
                )?;
            }
        }
        Format::Table => {
            writeln!(out.stdout, "{:<60} {:<10} {:>8}", "NAME", "KIND", "SIZE")?;
            for r in &rows {
                let size = r.size.map(|s| s.to_string()).unwrap_or_default();
                writeln!(out.stdout, "{:<60} {:<10} {:>8}", r.name, r.kind, size)?;
            }
            if !out.quiet {
                let t = bin.target();
                writeln!(
                    out.stdout,
                    "{} types; {} {}, {}, {}-byte pointers, DWARF {}",
                    rows.len(),
                    bin.go_version().unwrap_or("Go"),
                    t.arch,
                    t.byte_order.as_str(),
                    t.pointer_size,
                    bin.dwarf_version()
                )?;
            }
        }
    }
    Ok(0)
}
