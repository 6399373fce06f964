//! Type names as each language spells them: `struct event`, `__u32[4]`, `const char *`
//! for C; `main.Event`, `[16]uint8`, `*uint64` for Go.

use crate::types::{Dialect, Qualifier, TypeId, TypeKind, TypeTable, MAX_DEPTH};

/// A member's dotted path: `prefix.name`; an empty side is left out (anonymous members
/// and embedded fields belong to their parent). Every engine joins paths with this.
pub fn join_path(prefix: &str, name: &str) -> String {
    match (prefix.is_empty(), name.is_empty()) {
        (true, _) => name.to_string(),
        (false, true) => prefix.to_string(),
        (false, false) => format!("{prefix}.{name}"),
    }
}

/// A name folded for matching across C and Go spellings: lowercase, without
/// underscores (`ts_ns` and `TsNs` both fold to `tsns`).
pub fn fold_name(name: &str) -> String {
    name.chars()
        .filter(|c| *c != '_')
        .flat_map(char::to_lowercase)
        .collect()
}

/// Whether a struct member is a Go blank field. gc names every blank field exactly `_`
/// in DWARF (`_ [3]byte`, `_ structs.HostLayout`); `_x` is an ordinary unexported field.
pub fn is_go_blank(member_name: &str) -> bool {
    member_name == "_"
}

/// Whether a leaf path (`hdr._[2].x`) lies inside a Go blank field: one of its
/// components, without its array index, is `_`. Nothing inside a blank field can be
/// read or set by name, so all of it is padding.
pub fn in_go_blank(path: &str) -> bool {
    path.split('.')
        .any(|part| is_go_blank(part.split('[').next().unwrap_or(part)))
}

impl TypeTable {
    /// The name a programmer would write for this type. Never fails: a broken graph
    /// renders as `<bad type N>` so that errors can still be reported about it.
    pub fn type_name(&self, id: TypeId) -> String {
        let mut out = String::new();
        self.write_name(id, 0, &mut out);
        out
    }

    fn write_name(&self, id: TypeId, depth: u32, out: &mut String) {
        use std::fmt::Write;
        let Ok(ty) = self.get(id) else {
            let _ = write!(out, "<bad type {id}>");
            return;
        };
        if depth > MAX_DEPTH {
            out.push_str("...");
            return;
        }
        let go = self.target.dialect == Dialect::Go;
        let named = |prefix: &str, out: &mut String| match &ty.name {
            Some(n) if go => out.push_str(n),
            Some(n) => {
                out.push_str(prefix);
                out.push_str(n);
            }
            None => {
                out.push_str(prefix.trim_end());
                out.push_str(" {...}");
            }
        };
        match &ty.kind {
            TypeKind::Void => out.push_str("void"),
            TypeKind::Struct(_) => named("struct ", out),
            TypeKind::Union(_) => named("union ", out),
            TypeKind::Enum { .. } => named("enum ", out),
            TypeKind::Forward { union } => named(if *union { "union " } else { "struct " }, out),
            TypeKind::Int { .. }
            | TypeKind::Float { .. }
            | TypeKind::Complex { .. }
            | TypeKind::Typedef { .. }
            | TypeKind::GoOpaque { .. }
            | TypeKind::Function => match &ty.name {
                Some(n) => out.push_str(n),
                None => match &ty.kind {
                    TypeKind::Function => out.push_str("fn"),
                    TypeKind::GoOpaque { go_kind, .. } => out.push_str(go_kind.as_str()),
                    _ => {
                        let _ = write!(out, "<anon {}>", id);
                    }
                },
            },
            TypeKind::Pointer { target } => {
                if let Some(n) = &ty.name {
                    out.push_str(n);
                } else if go {
                    out.push('*');
                    self.write_name(*target, depth + 1, out);
                } else {
                    self.write_name(*target, depth + 1, out);
                    out.push_str(" *");
                }
            }
            TypeKind::Array { elem, len } => {
                if go {
                    let _ = write!(out, "[{len}]");
                    self.write_name(*elem, depth + 1, out);
                } else {
                    // C lists dimensions outermost first: u32[3][4] is 3 arrays of 4.
                    let mut dims = vec![*len];
                    let mut inner = *elem;
                    while let Ok(TypeKind::Array { elem, len }) = self.get(inner).map(|t| &t.kind) {
                        if dims.len() as u32 > MAX_DEPTH {
                            break;
                        }
                        dims.push(*len);
                        inner = *elem;
                    }
                    self.write_name(inner, depth + 1, out);
                    for d in dims {
                        let _ = write!(out, "[{d}]");
                    }
                }
            }
            TypeKind::Qualified { qualifier, target } => {
                let q = match qualifier {
                    Qualifier::Const => "const",
                    Qualifier::Volatile => "volatile",
                    Qualifier::Restrict => "restrict",
                };
                let pointer = matches!(
                    self.get(*target).map(|t| &t.kind),
                    Ok(TypeKind::Pointer { .. })
                );
                if pointer {
                    self.write_name(*target, depth + 1, out);
                    out.push(' ');
                    out.push_str(q);
                } else {
                    out.push_str(q);
                    out.push(' ');
                    self.write_name(*target, depth + 1, out);
                }
            }
            TypeKind::TypeTag { tag, target } => {
                self.write_name(*target, depth + 1, out);
                let _ = write!(out, " __attribute__((btf_type_tag(\"{tag}\")))");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_blank_is_the_name_underscore_anywhere_in_the_path() {
        for blank in ["_", "_[0]", "_[2][1]", "hdr._", "_.x", "a._[3].b"] {
            assert!(in_go_blank(blank), "{blank}");
        }
        // A leading underscore is an ordinary (unexported) Go name.
        for named in ["_x", "__pad", "_pad[1]", "x_", "a.b_", "", "hdr.__u32"] {
            assert!(!in_go_blank(named), "{named}");
        }
        assert!(is_go_blank("_"));
        assert!(!is_go_blank("_ "));
    }
}
