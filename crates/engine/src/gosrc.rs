//! Where a Go struct is declared, from the sources (`--go-src DIR`). Go's DWARF has no
//! `DW_AT_decl_file`/`DW_AT_decl_line` on types (only on functions and variables; checked
//! on every corpus binary), so SARIF results find `type X struct` in the `.go` files.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// One declaration: the file (relative to the scanned directory) and 1-based line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Declared {
    pub file: String,
    pub line: usize,
    /// The directory's path relative to the root, `/`-separated.
    dir: String,
    package: String,
}

/// Every `type X struct` under a directory, by identifier.
#[derive(Debug, Default)]
pub struct GoSources {
    by_ident: HashMap<String, Vec<Declared>>,
}

impl GoSources {
    /// Scans `.go` files under `root` (not `vendor/`, `testdata/` or hidden directories).
    pub fn scan(root: &str) -> Result<GoSources> {
        let mut out = GoSources::default();
        let mut stack = vec![PathBuf::from(root)];
        while let Some(dir) = stack.pop() {
            let entries = std::fs::read_dir(&dir).map_err(|error| Error::Io {
                path: dir.display().to_string(),
                error,
            })?;
            let mut paths: Vec<PathBuf> =
                entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
            paths.sort();
            for p in paths {
                let name = p
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                if p.is_dir() {
                    if !name.starts_with('.') && name != "vendor" && name != "testdata" {
                        stack.push(p);
                    }
                } else if name.ends_with(".go") && !name.ends_with("_test.go") {
                    if let Ok(text) = std::fs::read_to_string(&p) {
                        out.add_file(Path::new(root), &p, &text);
                    }
                }
            }
        }
        Ok(out)
    }

    fn add_file(&mut self, root: &Path, path: &Path, text: &str) {
        let rel = path.strip_prefix(root).unwrap_or(path);
        let file = rel.to_string_lossy().replace('\\', "/");
        let dir = rel
            .parent()
            .map(|d| d.to_string_lossy().replace('\\', "/"))
            .unwrap_or_default();
        let mut package = String::new();
        let mut in_group = false;
        for (i, line) in text.lines().enumerate() {
            let t = line.trim();
            if let Some(p) = t.strip_prefix("package ") {
                package = p.split_whitespace().next().unwrap_or("").to_string();
                continue;
            }
            let decl = if let Some(rest) = t.strip_prefix("type ") {
                if rest.starts_with('(') {
                    in_group = true;
                    continue;
                }
                Some(rest)
            } else if in_group {
                if t.starts_with(')') {
                    in_group = false;
                }
                Some(t)
            } else {
                None
            };
            if let Some(ident) = decl.and_then(struct_ident) {
                self.by_ident
                    .entry(ident.to_string())
                    .or_default()
                    .push(Declared {
                        file: file.clone(),
                        line: i + 1,
                        dir: dir.clone(),
                        package: package.clone(),
                    });
            }
        }
    }

    /// Where `go_type` (`example.com/app/good.Event`, `main.Event`) is declared: among
    /// the declarations of its identifier in a package of its name, the one whose
    /// directory ends the package path best.
    pub fn find(&self, go_type: &str) -> Option<&Declared> {
        let head = &go_type[..go_type.find('[').unwrap_or(go_type.len())];
        let (pkg_path, ident) = head.rsplit_once('.')?;
        let pkg_name = pkg_path.rsplit('/').next().unwrap_or(pkg_path);
        let found = self.by_ident.get(ident)?;
        found
            .iter()
            .filter(|d| d.package == pkg_name)
            .max_by_key(|d| {
                (
                    common_tail(&d.dir, pkg_path),
                    std::cmp::Reverse(d.file.len()),
                )
            })
    }
}

/// `Event struct {` or `Event[T any] struct {` → `Event`.
fn struct_ident(decl: &str) -> Option<&str> {
    let end = decl.find(|c: char| !(c.is_alphanumeric() || c == '_'))?;
    let (ident, rest) = decl.split_at(end);
    let rest = match rest.strip_prefix('[') {
        Some(r) => &r[r.find(']')? + 1..],
        None => rest,
    };
    (!ident.is_empty() && rest.trim_start().starts_with("struct")).then_some(ident)
}

/// Path components `a` and `b` share at their ends.
fn common_tail(a: &str, b: &str) -> usize {
    a.rsplit('/')
        .zip(b.rsplit('/'))
        .take_while(|(x, y)| x == y)
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_structs_by_package_path() {
        let mut s = GoSources::default();
        let root = Path::new("/src");
        s.add_file(
            root,
            Path::new("/src/good/event.go"),
            "package good\n\n// x\ntype Event struct {\n\tPid uint32\n}\n",
        );
        s.add_file(
            root,
            Path::new("/src/event.go"),
            "package main\n\ntype (\n\tFlags uint32\n\tEvent struct {\n\t\tPid uint32\n\t}\n)\n",
        );
        s.add_file(
            root,
            Path::new("/src/generic/pair.go"),
            "package generic\ntype Pair[K any, V any] struct { K K; V V }\n",
        );
        let d = s.find("example.com/app/good.Event").unwrap();
        assert_eq!((d.file.as_str(), d.line), ("good/event.go", 4));
        let d = s.find("main.Event").unwrap();
        assert_eq!((d.file.as_str(), d.line), ("event.go", 5));
        let d = s
            .find("example.com/app/generic.Pair[uint32,uint64]")
            .unwrap();
        assert_eq!((d.file.as_str(), d.line), ("generic/pair.go", 2));
        assert!(s.find("main.Flags").is_none());
        assert!(s.find("example.com/app/other.Event").is_none());
    }

    #[test]
    fn scans_the_corpus_program() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../corpus/go/app");
        let s = GoSources::scan(dir).unwrap();
        let d = s.find("example.com/app/reorder.Event").unwrap();
        assert!(d.file.starts_with("reorder/"), "{d:?}");
        let text = std::fs::read_to_string(format!("{dir}/{}", d.file)).unwrap();
        let line = text.lines().nth(d.line - 1).unwrap();
        assert!(line.contains("Event struct"), "{line}");
        assert!(GoSources::scan("/nonexistent/dir").is_err());
    }
}
