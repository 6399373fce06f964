//! `mapsleuth btf ...`

use std::io::Write;
use std::path::Path;

use anyhow::Context;
use clap::{Args, Subcommand};
use mapsleuth_btf::{check_file, check_system, discover_maps, BtfCheck, Kind};
use mapsleuth_engine::BtfInput;
use mapsleuth_layout::Severity;
use serde::Serialize;

use crate::output::{csv_field, exit_for, Format, Out, Style, UsageError};
use crate::render;

#[derive(Subcommand)]
pub enum BtfCommand {
    /// Show the layout of a type, pahole-style: members, offsets, sizes, bitfield
    /// positions, holes, trailing padding, size and alignment.
    ///
    /// TYPE may be `struct NAME`, `union NAME`, `enum NAME`, a typedef (resolved to what
    /// it names: `__u64` works) or a bare struct name.
    #[command(after_help = "Examples:
  mapsleuth btf show event --btf corpus/bpf/maps.bpf.o
  mapsleuth btf show 'struct sk_buff' --btf /sys/kernel/btf/vmlinux
  mapsleuth btf show ms_mod_state --btf module.btf --btf-base /sys/kernel/btf/vmlinux")]
    Show {
        #[arg(value_name = "TYPE")]
        type_name: String,
        #[command(flatten)]
        input: BtfInputArgs,
    },
    /// List the types of a BTF file.
    #[command(after_help = "Examples:
  mapsleuth btf types --btf prog.bpf.o --kind struct
  mapsleuth btf types --btf /sys/kernel/btf/vmlinux --name '^bpf_map' --format json")]
    Types {
        #[command(flatten)]
        input: BtfInputArgs,
        /// Only this kind: int, ptr, array, struct, union, enum, fwd, typedef, volatile,
        /// const, restrict, func, func_proto, var, datasec, float, decl_tag, type_tag,
        /// enum64.
        #[arg(long)]
        kind: Option<String>,
        /// Only names matching this regular expression.
        #[arg(long)]
        name: Option<String>,
    },
    /// List the maps a BPF object defines (BTF-defined `.maps` and legacy `maps`):
    /// name, type, key and value types and sizes, max_entries, flags, pinning, inner map.
    Maps {
        #[command(flatten)]
        input: BtfInputArgs,
    },
    /// Is BTF usable here? With no --btf, checks the running system: vmlinux BTF,
    /// well-known types, module BTF, kernel config, and whether CO-RE can work.
    Check {
        /// A BTF file to check instead of the live system.
        #[arg(long)]
        btf: Option<String>,
        /// Base BTF when --btf is split BTF (a module's).
        #[arg(long)]
        btf_base: Option<String>,
        /// Exit with status 1 when a finding is at least this severe.
        #[arg(long, default_value = "error")]
        fail_on: Severity,
    },
}

#[derive(Args)]
pub struct BtfInputArgs {
    /// Raw BTF (/sys/kernel/btf/vmlinux) or an ELF file with a .BTF section (a BPF
    /// object, a vmlinux image, a kernel module).
    #[arg(long)]
    pub btf: String,
    /// Base BTF for split BTF, e.g. /sys/kernel/btf/vmlinux for `/sys/kernel/btf/<module>`.
    #[arg(long)]
    pub btf_base: Option<String>,
}

impl BtfInputArgs {
    /// Reads the file (and its base).
    pub fn read(&self) -> anyhow::Result<BtfInput> {
        Ok(BtfInput::read(&self.btf, self.btf_base.as_deref())?)
    }
}

/// What `btf show` and `go show` print with --format json: the layout of an
/// aggregate, or the typedef chain of anything else.
#[derive(Serialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum ShowDocument {
    Layout(mapsleuth_layout::Layout),
    Summary(mapsleuth_layout::TypeSummary),
}

pub fn run(cmd: BtfCommand, out: &mut Out) -> anyhow::Result<i32> {
    match cmd {
        BtfCommand::Show { type_name, input } => show(&type_name, &input, out),
        BtfCommand::Types { input, kind, name } => {
            types(&input, kind.as_deref(), name.as_deref(), out)
        }
        BtfCommand::Maps { input } => maps(&input, out),
        BtfCommand::Check {
            btf,
            btf_base,
            fail_on,
        } => check(btf.as_deref(), btf_base.as_deref(), fail_on, out),
    }
}

fn show(type_name: &str, args: &BtfInputArgs, out: &mut Out) -> anyhow::Result<i32> {
    let input = args.read()?;
    input.with(|btf| {
        let id = btf
            .find_type(type_name)
            .map_err(|e| e.in_file(&args.btf, 0))?;
        // The whole BTF: every use of a type can pin or lower its inferred alignment.
        let table = btf.to_table()?;
        match table.layout(id) {
            Ok(layout) => match out.format {
                Format::Json => out.json(&ShowDocument::Layout(layout))?,
                Format::Table => write!(out.stdout, "{}", render::layout_text(&table, &layout))?,
                _ => return Err(out.unsupported("btf show")),
            },
            Err(mapsleuth_layout::LayoutError::NotAggregate { .. }) => {
                let summary = table.describe(id)?;
                match out.format {
                    Format::Json => out.json(&summary)?,
                    Format::Table => {
                        write!(out.stdout, "{}", render::summary_text(&table, id, &summary))?
                    }
                    _ => return Err(out.unsupported("btf show")),
                }
            }
            Err(e) => return Err(e.into()),
        }
        Ok(0)
    })
}

#[derive(Serialize, schemars::JsonSchema)]
pub struct TypeRow {
    pub id: u32,
    pub kind: &'static str,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// Members, values or parameters.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vlen: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub type_id: Option<u32>,
}

fn types(
    args: &BtfInputArgs,
    kind: Option<&str>,
    name: Option<&str>,
    out: &mut Out,
) -> anyhow::Result<i32> {
    let kind = kind
        .map(|k| {
            Kind::from_name(k).ok_or_else(|| {
                UsageError(format!(
                    "unknown --kind `{k}`; one of int, ptr, array, struct, union, enum, fwd, typedef, volatile, const, restrict, func, func_proto, var, datasec, float, decl_tag, type_tag, enum64"
                ))
            })
        })
        .transpose()?;
    let re = name
        .map(regex::Regex::new)
        .transpose()
        .map_err(|e| UsageError(format!("bad --name regex: {e}")))?;
    let input = args.read()?;
    input.with(|btf| {
        let mut rows = Vec::new();
        for id in btf.first_id()..=btf.count() {
            let (c, t) = btf.get(id)?;
            if kind.is_some_and(|k| k != c.kind) {
                continue;
            }
            let n = btf.string(c.name_off)?;
            if let Some(re) = &re {
                if !re.is_match(n) {
                    continue;
                }
            }
            use mapsleuth_btf::BtfType as T;
            let (size, vlen, type_id) = match &t {
                T::Int { size, .. } | T::Float { size } | T::Datasec { size, .. } => {
                    (Some(u64::from(*size)), None, None)
                }
                T::Struct { size, members } | T::Union { size, members } => {
                    (Some(u64::from(*size)), Some(members.len()), None)
                }
                T::Enum { size, values, .. } | T::Enum64 { size, values, .. } => {
                    (Some(u64::from(*size)), Some(values.len()), None)
                }
                T::FuncProto { ret, params } => (None, Some(params.len()), Some(*ret)),
                T::Array { elem, .. } => (btf.size_of(id).ok(), None, Some(*elem)),
                other => (None, None, other.referenced_ids().first().copied()),
            };
            rows.push(TypeRow {
                id,
                kind: c.kind.name(),
                name: n.to_string(),
                size,
                vlen,
                type_id,
            });
        }
        match out.format {
            Format::Json => out.json(&rows)?,
            Format::Ndjson => out.ndjson(&rows)?,
            Format::Sarif => return Err(out.unsupported("btf types")),
            Format::Csv => {
                writeln!(out.stdout, "id,kind,name,size,vlen,type_id")?;
                for r in &rows {
                    writeln!(
                        out.stdout,
                        "{},{},{},{},{},{}",
                        r.id,
                        r.kind,
                        csv_field(&r.name),
                        opt(r.size),
                        opt(r.vlen),
                        opt(r.type_id)
                    )?;
                }
            }
            Format::Table => {
                writeln!(
                    out.stdout,
                    "{:>7}  {:<10}  {:<40}  {:>8}  {:>5}  {:>7}",
                    "ID", "KIND", "NAME", "SIZE", "VLEN", "TYPE"
                )?;
                for r in &rows {
                    let name = if r.name.is_empty() { "(anon)" } else { &r.name };
                    writeln!(
                        out.stdout,
                        "{:>7}  {:<10}  {:<40}  {:>8}  {:>5}  {:>7}",
                        r.id,
                        r.kind,
                        name,
                        opt(r.size),
                        opt(r.vlen),
                        opt(r.type_id)
                    )?;
                }
                if !out.quiet {
                    writeln!(out.stdout, "{} types", rows.len())?;
                }
            }
        }
        Ok(0)
    })
}

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map(|v| v.to_string()).unwrap_or_default()
}

fn maps(args: &BtfInputArgs, out: &mut Out) -> anyhow::Result<i32> {
    let input = args.read()?;
    let legacy = input.main.legacy_maps.clone();
    input.with(|btf| {
        let table = btf.to_table()?;
        let maps = discover_maps(btf, &table, &legacy)?;
        match out.format {
            Format::Json => out.json(&maps)?,
            Format::Ndjson => out.ndjson(&maps)?,
            Format::Sarif => return Err(out.unsupported("btf maps")),
            Format::Csv => {
                writeln!(out.stdout, "name,type,key_type,key_size,value_type,value_size,max_entries,flags,pinning,inner")?;
                for m in &maps {
                    writeln!(
                        out.stdout,
                        "{},{},{},{},{},{},{},{:#x},{},{}",
                        csv_field(&m.name),
                        m.map_type_name,
                        csv_field(m.key_type.as_deref().unwrap_or("")),
                        opt(m.key_size),
                        csv_field(m.value_type.as_deref().unwrap_or("")),
                        opt(m.value_size),
                        opt(m.max_entries),
                        m.map_flags,
                        opt(m.pinning),
                        csv_field(m.inner.as_ref().map(|i| i.name.as_str()).unwrap_or(""))
                    )?;
                }
            }
            Format::Table => {
                writeln!(
                    out.stdout,
                    "{:<18} {:<16} {:<26} {:<26} {:>8} {:>8} NOTES",
                    "NAME", "TYPE", "KEY", "VALUE", "MAX", "FLAGS"
                )?;
                for m in &maps {
                    let kv = |t: &Option<String>, s: Option<u64>| match (t, s) {
                        (Some(t), Some(s)) => format!("{t} ({s}B)"),
                        (None, Some(s)) => format!("{s} bytes"),
                        (Some(t), None) => t.clone(),
                        (None, None) => "-".into(),
                    };
                    let mut notes = Vec::new();
                    if let Some(p) = m.pinning {
                        notes.push(if p == 1 { "pinned by name".to_string() } else { format!("pinning={p}") });
                    }
                    if let Some(i) = &m.inner {
                        notes.push(format!(
                            "inner: {} {} -> {}",
                            i.map_type_name,
                            kv(&i.key_type, i.key_size),
                            kv(&i.value_type, i.value_size)
                        ));
                    }
                    if let mapsleuth_btf::MapSource::Legacy { file_offset } = m.source {
                        notes.push(format!("legacy bpf_map_def at {file_offset:#x}"));
                    }
                    writeln!(
                        out.stdout,
                        "{:<18} {:<16} {:<26} {:<26} {:>8} {:>8} {}",
                        m.name,
                        m.map_type_name,
                        kv(&m.key_type, m.key_size),
                        kv(&m.value_type, m.value_size),
                        opt(m.max_entries),
                        format!("{:#x}", m.map_flags),
                        notes.join("; ")
                    )?;
                }
                if maps.is_empty() && !out.quiet {
                    writeln!(out.stdout, "{}", out.paint("no maps defined (no .maps or maps section)", Style::Dim))?;
                }
            }
        }
        Ok(0)
    })
}

fn check(
    btf: Option<&str>,
    base: Option<&str>,
    fail_on: Severity,
    out: &mut Out,
) -> anyhow::Result<i32> {
    let report: BtfCheck = match btf {
        Some(path) => {
            if !Path::new(path).exists() {
                return Err(anyhow::anyhow!("{path}: no such file")).context("btf check");
            }
            check_file(path, base)
        }
        None => check_system(Path::new("/")),
    };
    match out.format {
        Format::Json => out.json(&report)?,
        Format::Ndjson => out.ndjson(&report.findings)?,
        Format::Table => {
            let s = &mut out.stdout;
            writeln!(s, "subject:        {}", report.subject)?;
            if let Some(rel) = &report.kernel_release {
                writeln!(s, "kernel:         {rel}")?;
            }
            if let Some(p) = &report.btf_path {
                match (report.types, report.btf_bytes) {
                    (Some(t), Some(b)) => writeln!(
                        s,
                        "BTF:            {p}: {b} bytes, {t} types{}, {}",
                        report
                            .base_types
                            .map(|n| format!(" on a base of {n}"))
                            .unwrap_or_default(),
                        report.byte_order.clone().unwrap_or_default()
                    )?,
                    _ => writeln!(s, "BTF:            {p}: not usable")?,
                }
            }
            for (name, present) in &report.well_known {
                writeln!(
                    s,
                    "  {:<14}{}",
                    name,
                    if *present { "present" } else { "MISSING" }
                )?;
            }
            if !report.modules.is_empty() {
                let ok = report.modules.iter().filter(|m| m.error.is_none()).count();
                writeln!(
                    s,
                    "module BTF:     {} ({} parse as split BTF)",
                    report.modules.len(),
                    ok
                )?;
                for m in &report.modules {
                    match (&m.types, &m.error) {
                        (Some(t), _) => writeln!(s, "  {:<24}{t} types", m.name)?,
                        (_, Some(e)) => writeln!(s, "  {:<24}ERROR {e}", m.name)?,
                        _ => {}
                    }
                }
            }
            if let Some(k) = &report.kernel_config {
                let show = |v: Option<bool>| match v {
                    Some(true) => "y",
                    Some(false) => "not set",
                    None => "absent",
                };
                writeln!(s, "kernel config:  {}", k.source)?;
                writeln!(s, "  CONFIG_DEBUG_INFO_BTF={}", show(k.debug_info_btf))?;
                writeln!(
                    s,
                    "  CONFIG_DEBUG_INFO_BTF_MODULES={}",
                    show(k.debug_info_btf_modules)
                )?;
            }
            let verdict_style = match report.co_re {
                mapsleuth_btf::CoreVerdict::Works => Style::Ok,
                mapsleuth_btf::CoreVerdict::Limited => Style::Warning,
                mapsleuth_btf::CoreVerdict::No => Style::Error,
            };
            let v = out.paint(&report.verdict, verdict_style);
            writeln!(out.stdout, "verdict:        {v}")?;
            if !report.findings.is_empty() {
                writeln!(out.stdout)?;
                out.findings(&report.findings)?;
            }
        }
        Format::Sarif => return Err(out.unsupported("btf check")),
        Format::Csv => return Err(out.unsupported("btf check")),
    }
    Ok(exit_for(&report.findings, fail_on))
}
