#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a failure is the message

use super::*;

/// A folder removed at the end of the test.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("ms-dataset-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A frame of map `map` with one value column `column` (partitioned by map).
fn frame(map: &str, column: &str, rows: u32) -> DataFrame {
    let maps: Vec<&str> = vec![map; rows as usize];
    let values: Vec<u32> = (0..rows).collect();
    DataFrame::new(
        rows as usize,
        vec![
            Column::new("map".into(), maps),
            Column::new(column.into(), values),
        ],
    )
    .unwrap()
}

fn append(ds: &mut Dataset, key: &str, df: &DataFrame, replace: bool, last: CommitStep) {
    let mut tx = ds.begin(key, replace).unwrap().expect("not skipped");
    tx.write("entries", df).unwrap();
    tx.commit_until(last).unwrap();
}

/// Appends and commits `df` as snapshot `key` (a new one).
fn add(ds: &mut Dataset, key: &str, df: &DataFrame) {
    append(ds, key, df, false, CommitStep::Cleaned);
}

/// A new dataset partitioned by map, in a scratch folder, open for writing.
fn fresh(name: &str) -> (Scratch, PathBuf, Dataset) {
    let dir = Scratch::new(name);
    let root = dir.0.join("ds");
    let (ds, notes) = Dataset::open_for_writing(&root, &by_map()).unwrap();
    assert!(notes.is_empty(), "{notes:?}");
    (dir, root, ds)
}

/// Every `.parquet` under the table folders: what DuckDB or Spark would read.
fn visible_parts(root: &Path) -> Vec<String> {
    fn walk(dir: &Path, root: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, root, out);
            } else if p.extension().is_some_and(|x| x == "parquet") {
                out.push(p.strip_prefix(root).unwrap().to_string_lossy().into_owned());
            }
        }
    }
    let mut out = Vec::new();
    for t in crate::TABLES {
        if root.join(t).is_dir() {
            walk(&root.join(t), root, &mut out);
        }
    }
    out.sort();
    out
}

fn committed_parts(ds: &Dataset) -> Vec<String> {
    let mut out: Vec<String> = ds
        .manifest()
        .snapshots
        .iter()
        .flat_map(|(_, f)| f.clone())
        .collect();
    out.sort();
    out
}

fn keys(ds: &Dataset) -> Vec<&str> {
    ds.manifest()
        .snapshots
        .iter()
        .map(|(k, _)| k.as_str())
        .collect()
}

fn by_map() -> Vec<String> {
    vec!["map".to_string()]
}

/// An export stopped after each step of a commit (a crash) leaves a dataset the next
/// export finishes: before the manifest commits, the new snapshot is rolled back and
/// the old one is whole; after, the new one is there and the old parts are gone. In
/// both, what readers of the folders see is exactly what the manifest names, and the
/// staging folder is gone.
#[test]
fn an_interrupted_commit_is_finished_by_the_next_export() {
    let steps = [
        CommitStep::Staged,
        CommitStep::Pending,
        CommitStep::Moved,
        CommitStep::Committed,
    ];
    for replace in [false, true] {
        for step in steps {
            let (_dir, root, mut ds) = fresh(&format!("crash-{replace}-{step:?}"));
            add(&mut ds, "a", &frame("m1", "x", 3));
            let before = committed_parts(&ds);
            let key = if replace { "a" } else { "b" };
            append(&mut ds, key, &frame("m2", "x", 5), replace, step);
            let crashed = visible_parts(&root);
            drop(ds);

            let (ds, notes) = Dataset::open_for_writing(&root, &by_map()).unwrap();
            let what = format!("replace {replace}, stopped after {step:?}: {notes:?}");
            assert!(!notes.is_empty(), "{what}");
            assert_eq!(visible_parts(&root), committed_parts(&ds), "{what}");
            let staging: Vec<_> = std::fs::read_dir(root.join(META_DIR))
                .unwrap()
                .filter_map(|e| e.ok())
                .filter(|e| e.file_name().to_string_lossy().starts_with(STAGING_PREFIX))
                .collect();
            assert!(staging.is_empty(), "{what}");
            assert!(ds.manifest().pending.is_none() && ds.manifest().retired.is_empty());
            // From the rename on, readers of the folders saw the new parts.
            let seen = crashed.iter().any(|p| p.contains("map=m2"));
            assert_eq!(seen, step >= CommitStep::Moved, "{what}");
            if step < CommitStep::Committed {
                assert_eq!(committed_parts(&ds), before, "{what}");
                assert_eq!(keys(&ds), ["a"], "{what}");
            } else {
                assert_eq!(keys(&ds), if replace { vec!["a"] } else { vec!["a", "b"] });
                let parts = committed_parts(&ds);
                assert_eq!(parts.iter().any(|p| before.contains(p)), !replace, "{what}");
                assert!(parts.iter().any(|p| p.contains("map=m2")), "{what}");
                // The replaced parts were still visible until the recovery.
                assert!(crashed.iter().any(|p| before.contains(p)), "{what}");
            }
        }
    }
}

/// A replacement that fails before its commit (its writer dropped) leaves the old
/// snapshot's parts in place and named; nothing it staged stays.
#[test]
fn a_failed_replacement_keeps_the_old_parts() {
    let (_dir, root, mut ds) = fresh(line!().to_string().as_str());
    add(&mut ds, "a", &frame("m1", "x", 3));
    let before = committed_parts(&ds);
    {
        let mut tx = ds.begin("a", true).unwrap().expect("replacing");
        tx.write("entries", &frame("m1", "x", 7)).unwrap();
    }
    assert_eq!(committed_parts(&ds), before);
    assert_eq!(visible_parts(&root), before);
    assert_eq!(std::fs::read_dir(root.join(META_DIR)).unwrap().count(), 2); // manifest, lock
    assert!(ds.begin("a", false).unwrap().is_none(), "a is still there");
}

#[test]
fn one_export_at_a_time() {
    let (_dir, root, first) = fresh(line!().to_string().as_str());
    match Dataset::open_for_writing(&root, &by_map()) {
        Err(e) => assert!(e.to_string().contains("another export"), "{e}"),
        Ok(_) => unreachable!("two writers"),
    }
    // Readers are not kept out, and cannot write.
    let mut reader = Dataset::open(&root, &[]).unwrap();
    assert!(reader.begin("k", false).is_err());
    drop(first);
    assert!(Dataset::open_for_writing(&root, &by_map()).is_ok());
}

/// A query of one map's partitions still has the columns only another map's parts
/// hold, as nulls of their dtype: the table's columns do not depend on the WHERE.
#[test]
fn a_scan_of_some_partitions_has_every_column_of_the_table() {
    let (_dir, _root, mut ds) = fresh(line!().to_string().as_str());
    add(&mut ds, "a", &frame("m1", "only_m1", 2));
    add(&mut ds, "b", &frame("m2", "only_m2", 3));
    let m2: Vec<Part> = ds
        .parts("entries")
        .into_iter()
        .filter(|p| p.values == [("map".to_string(), Some("m2".to_string()))])
        .collect();
    assert_eq!(m2.len(), 1);
    let df = ds.scan("entries", &m2).unwrap().unwrap().collect().unwrap();
    assert_eq!(df.height(), 3);
    let only_m1 = df.column("only_m1").unwrap();
    assert_eq!(only_m1.dtype(), &DataType::UInt32);
    assert_eq!(only_m1.null_count(), 3);
    assert_eq!(df.column("only_m2").unwrap().null_count(), 0);
}

#[test]
fn folder_names_are_decoded() {
    assert_eq!(
        folder_values("map=fl%2Fows/host=__HIVE_DEFAULT_PARTITION__/p.parquet"),
        vec![
            ("map".to_string(), Some("fl/ows".to_string())),
            ("host".to_string(), None)
        ]
    );
}
