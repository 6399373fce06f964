//! End-to-end: `mapsleuth report` on corpus inputs, checked against the tool's own
//! `--format json` reports for the same inputs: the page is well formed and refers to
//! nothing outside itself, each pair's byte map has a cell per byte of each side with
//! the padding bytes the layout report lists hatched, and the finding codes are the
//! JSON's.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use serde_json::Value;

mod html;
mod support;

use html::Element;
use support::{layout_args, run, AMD64, CORPUS};

const HATCH: &str = "url(#ms-hatch)";

macro_rules! snap {
    ($name:expr, $value:expr) => {
        insta::with_settings!({snapshot_path => "../../../snapshots", prepend_module_to_snapshot => false}, {
            insta::assert_snapshot!($name, $value);
        })
    };
}

fn temp(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("report");
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// `mapsleuth report -o OUT ARGS`: the page, checked well formed and self-contained.
fn report(out: &str, args: &[&str]) -> (String, Vec<Element>) {
    let path = temp(out);
    let path_s = path.to_str().unwrap();
    let mut all = vec!["report", "-o", path_s];
    all.extend_from_slice(args);
    let r = run(&all);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let page = std::fs::read_to_string(&path).unwrap();
    let elements = html::parse(&page).unwrap_or_else(|e| panic!("{out}: {e}"));
    let bad = html::external_refs(&page, &elements);
    assert!(bad.is_empty(), "{out} refers outside itself: {bad:?}");
    (page, elements)
}

fn json(args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.extend_from_slice(&["--format", "json"]);
    let r = run(&all);
    assert!(r.code == 0 || r.code == 1, "{args:?}: {}", r.stderr);
    serde_json::from_str(&r.stdout).unwrap()
}

fn inside<'a>(outer: &'a Element, all: &'a [Element]) -> impl Iterator<Item = &'a Element> {
    all.iter().filter(move |e| outer.contains(e))
}

fn sections<'a>(all: &'a [Element], class: &str) -> Vec<&'a Element> {
    all.iter()
        .filter(|e| e.name == "section" && e.attr("class") == Some(class))
        .collect()
}

/// The codes of the `div.finding`s in `scope`, in page order.
fn finding_codes<'a>(scope: impl Iterator<Item = &'a Element>) -> Vec<String> {
    scope
        .filter(|e| e.name == "div" && e.attr("data-code").is_some())
        .map(|e| e.attr("data-code").unwrap().to_string())
        .collect()
}

fn codes_of(findings: &Value) -> Vec<String> {
    findings
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["code"].as_str().unwrap().to_string())
        .collect()
}

/// The bytes of one side of a pair the JSON rows say are only gaps: covered by a hole
/// or padding cell (C holes, trailing padding, Go's `_` fields) and by no field.
fn gap_bytes(pair: &Value, side: &str) -> BTreeSet<u64> {
    let (mut gaps, mut data) = (BTreeSet::new(), BTreeSet::new());
    for row in pair["rows"].as_array().unwrap() {
        let Some(cell) = row.get(side) else { continue };
        let (off, size) = (
            cell["offset"].as_u64().unwrap(),
            cell["size"].as_u64().unwrap(),
        );
        let gap = matches!(cell["kind"].as_str(), Some("hole" | "padding"));
        (if gap { &mut gaps } else { &mut data }).extend(off..off + size);
    }
    gaps.difference(&data).copied().collect()
}

/// The cells of one side of a byte map: byte offset -> fill.
fn cells(section: &Element, all: &[Element], class: &str) -> BTreeMap<u64, String> {
    let mut out = BTreeMap::new();
    for e in inside(section, all).filter(|e| e.name == "rect" && e.attr("class") == Some(class)) {
        let b: u64 = e.attr("data-b").unwrap().parse().unwrap();
        let fill = e.attr("fill").unwrap().to_string();
        assert!(out.insert(b, fill).is_none(), "byte {b} drawn twice");
    }
    out
}

/// Every pair of the layout report against the page's byte maps and findings.
fn check_pairs(layout: &Value, all: &[Element]) {
    let pairs = layout["pairs"].as_array().unwrap();
    let secs = sections(all, "pair");
    assert_eq!(secs.len(), pairs.len());
    for (sec, pair) in secs.iter().zip(pairs) {
        let name = format!("{} vs {}", pair["go_type"], pair["c_type"]);
        for (side, class, attr) in [("go", "bg", "data-go-size"), ("c", "bc", "data-c-size")] {
            let size = pair[format!("{side}_layout")]["size"].as_u64().unwrap();
            assert_eq!(sec.attr(attr), Some(size.to_string().as_str()), "{name}");
            let cells = cells(sec, all, class);
            // One cell per byte, bytes 0..size (the corpus has no type over 1024 bytes).
            assert_eq!(
                cells.keys().copied().collect::<Vec<_>>(),
                (0..size).collect::<Vec<_>>(),
                "{name} {side}"
            );
            let hatched: BTreeSet<u64> = cells
                .iter()
                .filter(|(_, f)| *f == HATCH)
                .map(|(b, _)| *b)
                .collect();
            assert_eq!(
                hatched,
                gap_bytes(pair, side),
                "{name}: hatched {side} bytes"
            );
            // The layout's holes and trailing padding (whole bytes) are among them.
            let l = &pair[format!("{side}_layout")];
            for h in l["holes"].as_array().unwrap() {
                let (o, s) = (
                    h["offset_bits"].as_u64().unwrap(),
                    h["size_bits"].as_u64().unwrap(),
                );
                for b in o.div_ceil(8)..(o + s) / 8 {
                    assert!(
                        hatched.contains(&b),
                        "{name} {side}: hole byte {b} not hatched"
                    );
                }
            }
            let tail = l["trailing_padding"].as_u64().unwrap();
            for b in size - tail..size {
                assert!(
                    hatched.contains(&b),
                    "{name} {side}: trailing byte {b} not hatched"
                );
            }
        }
        assert_eq!(
            finding_codes(inside(sec, all)),
            codes_of(&pair["findings"]),
            "{name}"
        );
    }
}

#[test]
fn every_pair_of_an_object_matches_the_layout_report() {
    let args = ["--go-bin", AMD64, "--btf", "bpf/maps.bpf.o"];
    let (_, all) = report("pairs.html", &args);
    let mut layout_args = vec!["analyze", "layout"];
    layout_args.extend_from_slice(&args);
    let layout = json(&layout_args);
    assert!(layout["pairs"].as_array().unwrap().len() >= 30);
    check_pairs(&layout, &all);
    // Findings about no single pair are listed once, outside the pairs.
    let in_pairs: Vec<&Element> = sections(&all, "pair");
    let other = all
        .iter()
        .filter(|e| !in_pairs.iter().any(|s| s.contains(e)));
    assert_eq!(finding_codes(other), codes_of(&layout["findings"]));
}

/// The dump's findings by code in the page equal the JSON report's.
fn check_dump(all: &[Element], dump: &Value) {
    let secs = sections(all, "dump");
    assert_eq!(secs.len(), 1);
    let sec = secs[0];
    assert_eq!(
        sec.attr("data-entries").unwrap(),
        dump["entry_count"].to_string()
    );
    let page: BTreeMap<String, u64> = inside(sec, all)
        .filter(|e| e.name == "tr" && e.attr("data-code").is_some())
        .map(|e| {
            (
                e.attr("data-code").unwrap().to_string(),
                e.attr("data-count").unwrap().parse().unwrap(),
            )
        })
        .collect();
    let mut want: BTreeMap<String, u64> = BTreeMap::new();
    for c in codes_of(&dump["findings"]) {
        *want.entry(c).or_default() += 1;
    }
    assert!(!want.is_empty());
    assert_eq!(page, want);
    // The findings listed are the JSON's, in its order.
    assert_eq!(finding_codes(inside(sec, all)), codes_of(&dump["findings"]));
}

#[test]
fn a_pair_and_its_dump_match_the_json_reports() {
    let types = ["--btf", "bpf/maps.bpf.o", "--map", "events"];
    let mut args = vec!["--go-bin", AMD64];
    args.extend_from_slice(&types);
    args.push("dumps/events.json");
    let (page, all) = report("events.html", &args);
    let layout = json(&layout_args("events"));
    check_pairs(&layout, &all);
    let mut dump_args = vec!["analyze", "dump"];
    dump_args.extend_from_slice(&types);
    dump_args.push("dumps/events.json");
    let dumps = json(&dump_args);
    check_dump(&all, &dumps["dumps"][0]);
    // The sample is an entry with non-zero padding, drawn red: the README's key 1 has
    // `de ad be ef` in its hole and `aa bb cc` in its trailing padding.
    let leaks: Vec<&Element> = all
        .iter()
        .filter(|e| e.name == "g" && e.attr("class") == Some("leak"))
        .collect();
    assert_eq!(leaks.len(), 7, "{page}");
    assert!(page.contains("Sample entry #1"));
}

/// Every `snapshot` object in a JSON document, in order.
fn snapshots(v: &Value, out: &mut Vec<(String, String)>) {
    match v {
        Value::Object(m) => {
            if let (Some(Value::String(id)), Some(Value::String(d))) =
                (m.get("snapshot_id"), m.get("digest"))
            {
                out.push((id.clone(), d.clone()));
            }
            m.values().for_each(|x| snapshots(x, out));
        }
        Value::Array(a) => a.iter().for_each(|x| snapshots(x, out)),
        _ => {}
    }
}

#[test]
fn a_captures_header_names_its_snapshot_and_digest() {
    let (page, all) = report("capture.html", &["captures/outer.mscap"]);
    // `diff --format json` says which snapshot each capture holds.
    let diff = json(&["diff", "captures/outer.mscap", "captures/outer.after.mscap"]);
    let mut found = Vec::new();
    snapshots(&diff, &mut found);
    let (old, new) = (&found[0], found.iter().find(|s| s != &&found[0]).unwrap());
    let table = all
        .iter()
        .find(|e| e.attr("id") == Some("snapshots"))
        .unwrap();
    let text = &page[table.start..table.end];
    assert!(text.contains(&old.0) && text.contains(&old.1), "{text}");
    assert!(!page.contains(&new.0) && !page.contains(&new.1));
}

/// The byte map of one pair, as the page has it: a stable part of the page.
#[test]
fn byte_map_snapshot() {
    let (page, all) = report(
        "badpad.html",
        &[
            "--go-bin",
            AMD64,
            "--btf",
            "bpf/maps.bpf.o",
            "--pair",
            "badpad.Event=event",
        ],
    );
    let sec = sections(&all, "pair")[0];
    let svg = inside(sec, &all).find(|e| e.name == "svg").unwrap();
    let svg = &page[svg.start..svg.end];
    snap!("report__bytemap_badpad_event", svg.replace("><", ">\n<"));
}

/// `flows.json`'s entries `copies` times, keys made distinct: a bigger dump of the same
/// map with the same findings per entry.
fn grown_flows(copies: usize) -> PathBuf {
    let text = std::fs::read_to_string(format!("{CORPUS}/dumps/flows.json")).unwrap();
    let entries: Vec<Value> = serde_json::from_str(&text).unwrap();
    let mut out = Vec::new();
    for c in 0..copies {
        for e in &entries {
            let mut e = e.clone();
            e.as_object_mut().unwrap().remove("formatted");
            // Key bytes 0..4 (the source address) carry the copy number.
            for (i, b) in (c as u32).to_le_bytes().iter().enumerate() {
                e["key"][i] = Value::String(format!("0x{b:02x}"));
            }
            out.push(e);
        }
    }
    let path = temp(&format!("flows-x{copies}.json"));
    std::fs::write(&path, serde_json::to_string(&out).unwrap()).unwrap();
    path
}

#[test]
fn the_page_does_not_grow_with_the_entry_count() {
    let mut sizes = Vec::new();
    for copies in [500, 5000] {
        let dump = grown_flows(copies);
        let args = [
            "--btf",
            "bpf/maps.bpf.o",
            "--map",
            "flows",
            dump.to_str().unwrap(),
        ];
        let (page, all) = report(&format!("flows-x{copies}.html"), &args);
        let sec = sections(&all, "dump")[0];
        assert_eq!(sec.attr("data-entries").unwrap(), (copies * 6).to_string());
        sizes.push(page.len());
    }
    // Ten times the entries: only the numbers in the text get longer.
    let (small, big) = (sizes[0], sizes[1]);
    assert!(big < small + small / 50, "{small} -> {big} bytes");
}

#[test]
fn the_tag_checker_rejects_broken_pages() {
    assert!(html::parse("<p><b>x</p></b>").is_err());
    assert!(html::parse("<div><p>x</p>").is_err());
    assert!(html::parse("</div>").is_err());
    assert!(html::parse(r#"<div a="1>"#).is_err());
    let ok = "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><style>a<b</style></head><body><svg><rect/></svg><br></body></html>";
    assert_eq!(html::parse(ok).unwrap().len(), 8);
    let all = html::parse(r#"<a href="https://x">x</a><img src="//x"><link rel="x">"#).unwrap();
    assert_eq!(html::external_refs("", &all).len(), 4);
}

/// The `<title>`s (hover texts) of the chart whose `aria-label` is `label`.
fn chart_titles(page: &str, all: &[Element], label: &str) -> Vec<String> {
    let svg = all
        .iter()
        .find(|e| e.name == "svg" && e.attr("aria-label") == Some(label))
        .unwrap_or_else(|| panic!("no chart `{label}`"));
    inside(svg, all)
        .filter(|e| e.name == "title")
        .map(|e| {
            let t = &page[e.start..e.end];
            html::unescape(t.trim_start_matches("<title>").trim_end_matches("</title>"))
        })
        .collect()
}

#[test]
fn per_cpu_charts_add_up_to_the_json_values() {
    let types = ["--btf", "bpf/maps.bpf.o", "--map", "pcpu_hash_stats"];
    let dump = "dumps/pcpu_hash_stats.json";
    let mut args = types.to_vec();
    args.extend_from_slice(&["--field", "packets", dump]);
    let (page, all) = report("pcpu.html", &args);
    let mut dump_args = vec!["analyze", "dump"];
    dump_args.extend_from_slice(&types);
    dump_args.push(dump);
    let d = &json(&dump_args)["dumps"][0];
    // The decoded `packets` of every CPU's value, from the JSON entries.
    let mut per_cpu: BTreeMap<u64, u128> = BTreeMap::new();
    let mut values = 0u64;
    for e in d["entries"].as_array().unwrap() {
        for v in e["values"].as_array().unwrap() {
            let cpu = v["cpu"].as_u64().unwrap();
            *per_cpu.entry(cpu).or_default() += u128::from(v["value"]["packets"].as_u64().unwrap());
            values += 1;
        }
    }
    assert!(per_cpu.len() > 1);
    let want: Vec<String> = per_cpu
        .iter()
        .map(|(c, s)| format!("CPU {c}: {s}"))
        .collect();
    assert_eq!(chart_titles(&page, &all, "sum of packets per CPU"), want);
    // The histogram counts every value once.
    let counted: u64 = chart_titles(&page, &all, "histogram of packets")
        .iter()
        .map(|t| t.rsplit(": ").next().unwrap().parse::<u64>().unwrap())
        .sum();
    assert_eq!(counted, values);
}

#[test]
fn the_zero_chart_counts_the_json_values() {
    let types = ["--btf", "bpf/maps.bpf.o", "--map", "flows"];
    let mut args = types.to_vec();
    args.push("dumps/flows.json");
    let (page, all) = report("flows-zero.html", &args);
    let mut dump_args = vec!["analyze", "dump"];
    dump_args.extend_from_slice(&types);
    dump_args.push("dumps/flows.json");
    let d = &json(&dump_args)["dumps"][0];
    let entries = d["entries"].as_array().unwrap();
    let titles = chart_titles(&page, &all, "zero and constant fields");
    let mut checked = 0;
    for (field, first) in entries[0]["value"].as_object().unwrap() {
        // Integer fields (enums print as names: their zero is a name, not checked here).
        let vals: Vec<i64> = entries
            .iter()
            .filter_map(|e| e["value"][field].as_i64())
            .collect();
        if vals.len() != entries.len() {
            continue;
        }
        let zero = vals.iter().filter(|v| **v == 0).count();
        let text = if vals.iter().all(|v| Some(*v) == first.as_i64()) {
            format!("constant: {first}")
        } else {
            format!("{:.0}% zero", zero as f64 * 100.0 / vals.len() as f64)
        };
        assert!(
            titles.contains(&format!("{field}: {text}")),
            "{field}: {text} not in {titles:?}"
        );
        checked += 1;
    }
    assert!(checked >= 3, "{checked}");
}
