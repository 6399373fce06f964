//! Corpus loading for the frame tests: BTF objects, dumps, and their analyses.

// Test code: unwrapping, panicking and printing say what failed.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    clippy::print_stderr
)]
#![allow(dead_code)]

use std::path::PathBuf;

use mapsleuth_btf::{discover_maps, Btf, BtfBytes, MapDef};
use mapsleuth_dump::{parse_bpftool_map_show, read_file, Dump, DumpReadOptions};
use mapsleuth_forensics::dump_report::{analyze, DumpAnalysis, Types};
use mapsleuth_forensics::forensics::{Options, TypeRef};
use mapsleuth_frames::DumpInput;
use mapsleuth_layout::TypeTable;

pub fn corpus(p: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../corpus")).join(p)
}

pub struct Object {
    pub table: TypeTable,
    pub maps: Vec<MapDef>,
}

pub fn object(name: &str) -> Object {
    let path = corpus(name);
    let bytes = BtfBytes::read(path.to_str().unwrap()).unwrap();
    let btf = Btf::parse(&bytes.data).unwrap();
    let table = btf.to_table().unwrap();
    let maps = discover_maps(&btf, &table, &bytes.legacy_maps).unwrap();
    Object { table, maps }
}

impl Object {
    /// The map a dump records (cut to 15 characters, as the kernel keeps map names).
    pub fn map(&self, dump_map: &str) -> Option<&MapDef> {
        self.maps
            .iter()
            .find(|m| m.name == dump_map || (dump_map.len() == 15 && m.name.starts_with(dump_map)))
    }

    pub fn types(&self, def: &MapDef) -> Types<'_> {
        let tref = |id: Option<u32>| {
            id.map(|id| TypeRef {
                table: &self.table,
                id,
            })
        };
        Types {
            key: tref(def.key_type_id),
            value: tref(def.value_type_id),
            source: Some("maps.bpf.o"),
        }
    }
}

/// `(file, map)` of every `bpftool -j` dump of the manifest.
pub fn json_dumps() -> Vec<(String, String)> {
    std::fs::read_to_string(corpus("dumps/manifest.tsv"))
        .unwrap()
        .lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            (f.len() >= 3 && f[1] == "json").then(|| (f[0].to_string(), f[2].to_string()))
        })
        .collect()
}

/// A dump read, with the types of its map and its analysis.
pub struct Analysed<'o> {
    pub file: String,
    pub dump: Dump,
    pub types: Types<'o>,
    pub analysis: DumpAnalysis,
}

impl Analysed<'_> {
    pub fn input(&self) -> DumpInput<'_> {
        DumpInput {
            dump: &self.dump,
            analysis: &self.analysis,
            types: self.types,
            snapshot: None,
        }
    }
}

/// Reads the dumps of a file, with the map information of `STEM.show.json` beside it
/// (as the CLI does), so that their map has a name.
pub fn read_all(path: &str) -> Vec<Dump> {
    try_read_all(path).unwrap()
}

/// [`read_all`], or the reader's error (the corpus records bpftool's failures too).
pub fn try_read_all(path: &str) -> Result<Vec<Dump>, mapsleuth_dump::DumpError> {
    let mut dumps = read_file(corpus(path), &DumpReadOptions::default())?;
    let stem = path
        .strip_suffix(".pretty.json")
        .or_else(|| path.strip_suffix(".json"))
        .or_else(|| path.strip_suffix(".txt"));
    if let (Some(stem), [dump]) = (stem, dumps.as_mut_slice()) {
        let show = corpus(&format!("{stem}.show.json"));
        if let Ok(bytes) = std::fs::read(&show) {
            let metas = parse_bpftool_map_show(&bytes, "show").unwrap();
            dump.merge_meta(&metas[0]);
        }
    }
    Ok(dumps)
}

/// Reads `dumps/FILE` (one map) and analyses it with the types of `map` in `obj` (none
/// when the object does not define it).
pub fn analysed<'o>(obj: &'o Object, file: &str, map: &str) -> Analysed<'o> {
    let mut all = analysed_all(obj, file, map);
    assert_eq!(all.len(), 1, "{file}");
    all.remove(0)
}

/// Every dump of `dumps/FILE`, analysed as [`analysed`] does.
pub fn analysed_all<'o>(obj: &'o Object, file: &str, map: &str) -> Vec<Analysed<'o>> {
    analyse(obj, file, map, read_all(&format!("dumps/{file}")))
}

fn analyse<'o>(obj: &'o Object, file: &str, map: &str, dumps: Vec<Dump>) -> Vec<Analysed<'o>> {
    let types = obj.map(map).map(|d| obj.types(d)).unwrap_or_default();
    dumps
        .into_iter()
        .map(|dump| {
            let analysis = analyze(&dump, &types, Options::default(), &mut |_| {}).unwrap();
            Analysed {
                file: file.to_string(),
                dump,
                types,
                analysis,
            }
        })
        .collect()
}

/// Every dump of every `bpftool -j` file of the manifest (the compact form only; the
/// files recording bpftool's own failures hold no dump).
pub fn all_json_dumps(obj: &Object) -> Vec<Analysed<'_>> {
    json_dumps()
        .into_iter()
        .filter(|(f, _)| !f.contains(".pretty."))
        .filter_map(|(f, m)| {
            let dumps = try_read_all(&format!("dumps/{f}")).ok()?;
            Some(analyse(obj, &f, &m, dumps))
        })
        .flatten()
        .collect()
}
