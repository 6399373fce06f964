//! The frames on the corpus dumps, against independent oracles: every cell of the
//! entries frame equals bpftool's own decoding of the entry (`formatted`), the layout
//! frame equals pahole's recorded layout, and the findings and changes frames hold what
//! the engines reported.

// Test code: unwrapping, panicking and printing say what failed.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    clippy::print_stderr
)]

mod common;

use common::{analysed, corpus, json_dumps, object};
use mapsleuth_forensics::decode::escape;
use mapsleuth_forensics::diff::{diff, DiffOptions};
use mapsleuth_frames::polars::prelude::*;
use mapsleuth_frames::{changes, entries, entries_in, entry_chunks, findings, layout};
use serde_json::Value as J;

/// bpftool's decoded form at one of our leaf paths: members by name (anonymous members
/// are objects under `""`, looked through as C does), array elements by `[i]`.
fn bpftool_at<'j>(j: &'j J, path: &str) -> Option<&'j J> {
    fn member<'j>(j: &'j J, name: &str) -> Option<&'j J> {
        let obj = j.as_object()?;
        if let Some(v) = obj.get(name) {
            return Some(v);
        }
        obj.get("").and_then(|anon| match anon {
            J::Array(alts) => alts.iter().find_map(|a| member(a, name)),
            other => member(other, name),
        })
    }
    let mut cur = j;
    for part in path.split('.').filter(|p| !p.is_empty()) {
        let (name, rest) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if !name.is_empty() {
            cur = member(cur, name)?;
        }
        for idx in rest.split('[').filter(|s| !s.is_empty()) {
            let i: usize = idx.strip_suffix(']')?.parse().ok()?;
            cur = cur.as_array()?.get(i)?;
        }
    }
    Some(cur)
}

/// A bpftool number: JSON numbers, and `"0x..."` strings (bitfields, odd widths).
fn bpftool_int(j: &J) -> Option<i128> {
    match j {
        J::Number(n) => n
            .as_i64()
            .map(i128::from)
            .or_else(|| n.as_u64().map(i128::from)),
        J::String(s) => i128::from_str_radix(s.strip_prefix("0x")?, 16).ok(),
        J::Bool(b) => Some(i128::from(*b)),
        _ => None,
    }
}

/// bpftool's bytes: an array of numbers, or a string (a `char` array that is text).
fn bpftool_bytes(j: &J) -> Option<Vec<u8>> {
    match j {
        J::Array(a) => a.iter().map(|x| bpftool_int(x).map(|v| v as u8)).collect(),
        J::String(s) => Some(s.as_bytes().to_vec()),
        _ => None,
    }
}

fn int_of(v: &AnyValue<'_>) -> Option<i128> {
    Some(match v {
        AnyValue::UInt8(x) => i128::from(*x),
        AnyValue::UInt16(x) => i128::from(*x),
        AnyValue::UInt32(x) => i128::from(*x),
        AnyValue::UInt64(x) => i128::from(*x),
        AnyValue::Int8(x) => i128::from(*x),
        AnyValue::Int16(x) => i128::from(*x),
        AnyValue::Int32(x) => i128::from(*x),
        AnyValue::Int64(x) => i128::from(*x),
        AnyValue::Boolean(b) => i128::from(*b),
        _ => return None,
    })
}

/// One cell against bpftool's value for it.
fn check_cell(cell: &AnyValue<'_>, theirs: &J, what: &str) {
    match cell {
        AnyValue::String(s) => match theirs {
            // enum names, and char arrays bpftool printed as text
            J::String(t) => assert_eq!(s, t, "{what}"),
            // an enum value that is none of the names
            J::Number(_) => assert_eq!(s.parse::<i128>().ok(), bpftool_int(theirs), "{what}"),
            // a char array bpftool printed as numbers (not NUL-terminated text)
            J::Array(_) => {
                let bytes = bpftool_bytes(theirs).unwrap();
                let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
                assert_eq!(*s, escape(&bytes[..end]), "{what}");
            }
            other => panic!("{what}: {s:?} against {other}"),
        },
        AnyValue::Binary(b) => {
            assert_eq!(Some(b.to_vec()), bpftool_bytes(theirs), "{what}")
        }
        AnyValue::Null => panic!("{what}: null against {theirs}"),
        other => assert_eq!(int_of(other), bpftool_int(theirs), "{what}: {other:?}"),
    }
}

/// Every leaf cell of every row of every BTF JSON dump equals bpftool's decoding.
#[test]
fn entries_equal_bpftools_formatted_cell_by_cell() {
    let obj = object("bpf/maps.bpf.o");
    let (mut files, mut cells, mut rows_seen) = (0, 0, 0);
    for (file, map) in json_dumps() {
        if obj.map(&map).is_none() {
            continue;
        }
        let a = analysed(&obj, &file, &map);
        if !a.dump.has_formatted() || a.types.value.is_none() {
            continue;
        }
        files += 1;
        let df = entries(&[a.input()]).unwrap();
        let expected_rows: usize = a.dump.entries().map(|e| e.value_count().max(1)).sum();
        assert_eq!(df.height(), expected_rows, "{file}: rows");
        assert!(
            df.column("formatted").is_err(),
            "{file}: every entry decoded"
        );
        let entry_col = df.column("entry").unwrap();
        let cpu_col = df.column("cpu").unwrap();
        let leaf_cols: Vec<&Column> = df
            .columns()
            .iter()
            .filter(|c| {
                let n = c.name().as_str();
                n == "key" || n == "value" || n.starts_with("key.") || n.starts_with("value.")
            })
            .collect();
        assert!(!leaf_cols.is_empty(), "{file}");
        for row in 0..df.height() {
            let index = int_of(&entry_col.get(row).unwrap()).unwrap() as usize;
            let e = a.dump.entry(index).unwrap();
            let formatted = e.formatted().unwrap().unwrap();
            let cpu = int_of(&cpu_col.get(row).unwrap());
            assert_eq!(cpu.is_some(), e.is_percpu(), "{file} row {row}");
            for c in &leaf_cols {
                let name = c.name().as_str();
                let (role, path) = name.split_once('.').unwrap_or((name, ""));
                let side = match (role, cpu) {
                    ("key", _) => &formatted["key"],
                    (_, Some(cpu)) => &formatted["values"][cpu as usize]["value"],
                    _ => &formatted["value"],
                };
                let theirs = bpftool_at(side, path)
                    .unwrap_or_else(|| panic!("{file}: no {name} in bpftool's {side}"));
                let what = format!("{file} entry {index} cpu {cpu:?} {name}");
                check_cell(&c.get(row).unwrap(), theirs, &what);
                cells += 1;
            }
            rows_seen += 1;
        }
        // The raw bytes are the dump's.
        let kb = df.column("key_bytes").unwrap();
        let vb = df.column("value_bytes").unwrap();
        for row in 0..df.height() {
            let index = int_of(&entry_col.get(row).unwrap()).unwrap() as usize;
            let e = a.dump.entry(index).unwrap();
            let cpu = int_of(&cpu_col.get(row).unwrap());
            let value = match cpu {
                Some(c) => e.cpu_value(c as usize),
                None => e.value(),
            };
            assert_eq!(kb.get(row).unwrap(), AnyValue::Binary(e.key().unwrap()));
            assert_eq!(vb.get(row).unwrap(), AnyValue::Binary(value.unwrap()));
        }
    }
    // The 12 BTF maps of the corpus in two JSON forms (as the decoder test counts them).
    assert_eq!(files, 24, "BTF JSON dumps compared");
    assert!(rows_seen >= 170, "{rows_seen} rows");
    assert!(cells >= 900, "{cells} cells");
}

/// The dtypes follow the C types of `struct flow_key` and `struct flow_stats`, and
/// `struct event` (docs/frames.md's table).
#[test]
fn dtypes_follow_the_types() {
    let obj = object("bpf/maps.bpf.o");
    let flows = analysed(&obj, "flows.json", "flows");
    let df = entries(&[flows.input()]).unwrap();
    let dtype = |n: &str| df.column(n).unwrap().dtype().clone();
    assert_eq!(dtype("key.saddr"), DataType::UInt32);
    assert_eq!(dtype("key.sport"), DataType::UInt16);
    assert_eq!(dtype("key.proto"), DataType::UInt8);
    assert_eq!(dtype("value.packets"), DataType::UInt64);
    assert_eq!(dtype("value.state"), DataType::String);
    assert_eq!(dtype("value.last_seen_ns"), DataType::Int64);
    assert_eq!(dtype("key_bytes"), DataType::Binary);
    assert_eq!(dtype("map"), DataType::String);
    assert_eq!(
        df.column("map").unwrap().get(0).unwrap(),
        AnyValue::String("flows")
    );
    let events = analysed(&obj, "events.json", "events");
    let df = entries(&[events.input()]).unwrap();
    assert_eq!(df.column("value.comm").unwrap().dtype(), &DataType::String);
    assert_eq!(df.column("value.ret").unwrap().dtype(), &DataType::Int32);
    assert_eq!(df.column("key").unwrap().dtype(), &DataType::UInt32);
}

/// Several dumps: one frame, the union of their columns, a source per row.
#[test]
fn several_dumps_become_one_frame() {
    let obj = object("bpf/maps.bpf.o");
    let parts: Vec<_> = [
        ("flows.json", "flows"),
        ("flows.after.json", "flows"),
        ("events.json", "events"),
        ("pcpu_hash_stats.json", "pcpu_hash_stats"),
        ("outer_hash.json", "outer_hash"),
    ]
    .into_iter()
    .map(|(f, m)| analysed(&obj, f, m))
    .collect();
    let inputs: Vec<_> = parts.iter().map(|a| a.input()).collect();
    let df = entries(&inputs).unwrap();
    let alone: Vec<DataFrame> = inputs.iter().map(|i| entries(&[*i]).unwrap()).collect();
    assert_eq!(df.height(), alone.iter().map(|d| d.height()).sum::<usize>());
    // Every column of every dump, once; each dump's rows keep their values.
    let mut offset = 0;
    for (part, a) in alone.iter().zip(&parts) {
        for c in part.columns() {
            let all = df.column(c.name()).unwrap();
            assert_eq!(all.dtype(), c.dtype(), "{}: {}", a.file, c.name());
            let slice = all.slice(offset as i64, part.height());
            assert!(
                slice
                    .as_materialized_series()
                    .equals_missing(c.as_materialized_series()),
                "{}: {}",
                a.file,
                c.name()
            );
        }
        // Columns of the others are null here.
        for c in df.columns() {
            if part.column(c.name()).is_err() {
                assert_eq!(
                    c.slice(offset as i64, part.height()).null_count(),
                    part.height(),
                    "{}: {}",
                    a.file,
                    c.name()
                );
            }
        }
        offset += part.height();
    }
    let sources = df.column("source").unwrap().n_unique().unwrap();
    assert_eq!(sources, parts.len());
}

/// A dump's entries frame built chunk by chunk (a dataset export) is the whole frame:
/// same columns, same rows, in order; no chunk is over the bound unless one entry is
/// (a per-CPU entry's rows are never split), and no chunk is empty.
#[test]
fn chunks_of_entries_make_the_whole_frame() {
    let obj = object("bpf/maps.bpf.o");
    for (file, map) in [
        ("flows.json", "flows"),
        ("pcpu_hash_stats.json", "pcpu_hash_stats"),
        ("events.txt", "events"),
        ("conns.json", "conns"),
    ] {
        let a = analysed(&obj, file, map);
        let input = a.input();
        let whole = entries(&[input]).unwrap();
        let per_entry = input.dump.entries().map(|e| e.value_count().max(1));
        let widest = per_entry.max().unwrap_or(1);
        for max_rows in [1, 2, 3, 5, usize::MAX] {
            let chunks = entry_chunks(input.dump, max_rows);
            assert_eq!(chunks.first().map(|r| r.start), Some(0), "{file}");
            assert_eq!(
                chunks.last().map(|r| r.end),
                Some(input.dump.len()),
                "{file}"
            );
            let frames: Vec<DataFrame> = chunks
                .iter()
                .map(|r| entries_in(&input, r.clone()).unwrap())
                .collect();
            for (r, f) in chunks.iter().zip(&frames) {
                assert!(!r.is_empty(), "{file}: {r:?}");
                assert!(
                    f.height() <= max_rows.max(widest),
                    "{file} {max_rows}: {r:?}"
                );
                assert_eq!(f.get_column_names(), whole.get_column_names(), "{file}");
            }
            let glued = frames
                .into_iter()
                .reduce(|mut a, b| {
                    a.vstack_mut(&b).unwrap();
                    a
                })
                .unwrap();
            assert!(glued.equals_missing(&whole), "{file}, chunks of {max_rows}");
        }
    }
}

/// Every finding of every dump is a row, with its location.
#[test]
fn findings_frame_holds_every_finding() {
    let obj = object("bpf/maps.bpf.o");
    let parts: Vec<_> = common::all_json_dumps(&obj);
    let inputs: Vec<_> = parts.iter().map(|a| a.input()).collect();
    let df = findings(&inputs).unwrap();
    let all: Vec<(&str, &mapsleuth_layout::Finding)> = parts
        .iter()
        .flat_map(|a| {
            a.analysis
                .findings
                .iter()
                .map(move |f| (&*a.dump.source.name, f))
        })
        .collect();
    assert_eq!(df.height(), all.len());
    assert!(all.len() >= 10, "the corpus plants findings: {}", all.len());
    let s = |name: &str, row: usize| match df.column(name).unwrap().get(row).unwrap() {
        AnyValue::String(s) => Some(s.to_string()),
        AnyValue::Null => None,
        other => Some(other.to_string()),
    };
    for (row, (file, f)) in all.iter().enumerate() {
        assert_eq!(s("source", row).as_deref(), Some(*file));
        assert_eq!(s("code", row).as_deref(), Some(f.code.as_str()));
        assert_eq!(s("severity", row).as_deref(), Some(f.severity.as_str()));
        assert_eq!(s("message", row).as_deref(), Some(f.message.as_str()));
        assert_eq!(s("field", row), f.location.field);
        assert_eq!(s("key", row), f.location.key);
        assert_eq!(
            s("byte_offset", row),
            f.location.offset.map(|o| o.to_string())
        );
    }
}

/// pahole's members of `struct NAME`: (name, offset, size), holes and trailing padding
/// as ("hole"/"trailing", offset, size).
fn pahole_struct(text: &str, name: &str) -> Vec<(String, u64, u64)> {
    let head = format!("struct {name} {{");
    let start = text.find(&head).unwrap();
    let body = &text[start..text[start..].find("\n};").unwrap() + start];
    let mut out = Vec::new();
    let mut last_end = 0;
    for line in body.lines().skip(1) {
        let t = line.trim();
        if let Some(rest) = t.strip_prefix("/* XXX ") {
            let n: u64 = rest.split(' ').next().unwrap().parse().unwrap();
            if rest.contains("bytes hole") {
                out.push(("hole".to_string(), last_end, n));
            }
        } else if let Some(rest) = t.strip_prefix("/* padding: ") {
            let n: u64 = rest.trim_end_matches(" */").parse().unwrap();
            out.push(("trailing".to_string(), last_end, n));
        } else if let (Some(semi), Some(c)) = (t.find(';'), t.find("/*")) {
            let decl = &t[..semi];
            let field = decl.rsplit([' ', '*']).next().unwrap();
            let field = field.split('[').next().unwrap().to_string();
            let nums: Vec<u64> = t[c + 2..]
                .trim_end_matches("*/")
                .split_whitespace()
                .filter_map(|x| x.parse().ok())
                .collect();
            if let [off, size] = nums[..] {
                last_end = off + size;
                out.push((field, off, size));
            }
        }
    }
    out
}

/// The layout frame of `struct event` and `struct flow_key` equals pahole's.
#[test]
fn layout_frame_equals_pahole() {
    let obj = object("bpf/maps.bpf.o");
    let pahole = std::fs::read_to_string(corpus("oracles/btf/maps.bpf.o.pahole.txt")).unwrap();
    for (file, map, role, type_name) in [
        ("events.json", "events", "value", "event"),
        ("flows.json", "flows", "key", "flow_key"),
        ("flows.json", "flows", "value", "flow_stats"),
    ] {
        let a = analysed(&obj, file, map);
        let df = layout(&[a.input()]).unwrap();
        let df = df
            .lazy()
            .filter(col("role").eq(lit(role)))
            .collect()
            .unwrap();
        let oracle = pahole_struct(&pahole, type_name);
        assert_eq!(df.height(), oracle.len(), "{type_name}: {oracle:?}");
        for (row, (name, off, size)) in oracle.iter().enumerate() {
            let get = |c: &str| df.column(c).unwrap().get(row).unwrap();
            let kind = get("kind").get_str().unwrap().to_string();
            if name == "hole" || name == "trailing" {
                assert_eq!(&kind, name, "{type_name} row {row}");
            } else {
                assert_eq!(get("path").get_str(), Some(name.as_str()), "{type_name}");
            }
            assert_eq!(
                int_of(&get("byte_offset")),
                Some(i128::from(*off)),
                "{type_name} {name}"
            );
            assert_eq!(
                int_of(&get("byte_size")),
                Some(i128::from(*size)),
                "{type_name} {name}"
            );
            assert_eq!(
                get("type_name").get_str(),
                Some(format!("struct {type_name}").as_str())
            );
            assert_eq!(get("side").get_str(), Some("btf"));
        }
    }
}

/// The changes frame of the corpus diff pair holds the engine's changes, one per row.
#[test]
fn changes_frame_holds_the_diff() {
    let obj = object("bpf/maps.bpf.o");
    let old = analysed(&obj, "flows.json", "flows");
    let new = analysed(&obj, "flows.after.json", "flows");
    let m = diff(&old.dump, &new.dump, &new.types, &DiffOptions::default()).unwrap();
    let rows = m.changes();
    assert!(m.counts.added > 0 && m.counts.removed > 0 && m.counts.changed > 0);
    let df = changes(&[&m]).unwrap();
    assert_eq!(df.height(), rows.len());
    let s = |name: &str, row: usize| match df.column(name).unwrap().get(row).unwrap() {
        AnyValue::String(s) => Some(s.to_string()),
        AnyValue::Null => None,
        other => Some(other.to_string()),
    };
    for (i, c) in rows.iter().enumerate() {
        assert_eq!(s("kind", i).as_deref(), Some(c.kind.as_str()));
        assert_eq!(s("key", i).as_deref(), Some(c.key.as_str()));
        assert_eq!(s("path", i).as_deref(), Some(c.path.as_str()));
        assert_eq!(s("old", i), c.old);
        assert_eq!(s("new", i), c.new);
        assert_eq!(
            s("field_kind", i).as_deref(),
            c.field_kind.map(|k| k.as_str())
        );
        assert_eq!(s("old_source", i).as_deref(), Some(&*old.dump.source.name));
    }
    let count = |k: &str| {
        df.clone()
            .lazy()
            .filter(col("kind").eq(lit(k)))
            .collect()
            .unwrap()
            .height()
    };
    assert_eq!(count("added"), m.counts.added);
    assert_eq!(count("removed"), m.counts.removed);
}
