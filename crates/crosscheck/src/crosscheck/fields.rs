//! A C field and the Go field matched with it: offset, size and representation.

use mapsleuth_layout::{Finding, GoKind, LayoutCode, Leaf, LeafKind, Location};

use super::bytes;

/// The first offset difference seen, and the field it was seen at: later fields moved
/// by the same amount share its cause and say so instead of repeating the fix.
pub(super) type Shift = Option<(i128, String)>;

/// Go spelling of the unsigned/signed integer of `size` bytes.
pub(super) fn go_int(size: u64, signed: bool) -> String {
    match (size, signed) {
        (1 | 2 | 4 | 8, true) => format!("int{}", size * 8),
        (1 | 2 | 4 | 8, false) => format!("uint{}", size * 8),
        (n, _) => format!("[{n}]byte"),
    }
}

/// What a Go field should be declared as to mirror this C leaf.
pub(super) fn go_spelling(c: &Leaf) -> String {
    let size = bytes(c.size_bits);
    match &c.kind {
        LeafKind::Int { signed } | LeafKind::Enum { signed } | LeafKind::Char { signed } => {
            go_int(size, *signed)
        }
        LeafKind::Bool => "uint8".into(),
        LeafKind::Float => format!("float{}", size * 8),
        LeafKind::Bytes { len, .. } => format!("[{len}]byte"),
        LeafKind::Pointer => "uint64".into(),
        _ => format!("[{size}]byte"),
    }
}

fn float(k: &LeafKind) -> bool {
    matches!(k, LeafKind::Float | LeafKind::Complex)
}

fn integral(k: &LeafKind) -> bool {
    matches!(
        k,
        LeafKind::Int { .. } | LeafKind::Char { .. } | LeafKind::Enum { .. } | LeafKind::Bool
    )
}

fn number_kind(k: &LeafKind) -> &'static str {
    if float(k) {
        "floating point"
    } else {
        "an integer"
    }
}

fn plural(n: u64) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// A matched pair of leaves, with the offsets and sizes every check compares.
pub(super) struct FieldPair<'l> {
    c: &'l Leaf,
    go: &'l Leaf,
    /// Where findings about the pair point.
    at: Location,
    coff: u64,
    goff: u64,
    csize: u64,
    gsize: u64,
}

impl<'l> FieldPair<'l> {
    pub(super) fn new(c: &'l Leaf, go: &'l Leaf, at: Location) -> Self {
        FieldPair {
            c,
            go,
            at,
            coff: bytes(c.offset_bits),
            goff: bytes(go.offset_bits),
            csize: c.size_bits.div_ceil(8),
            gsize: go.size_bits.div_ceil(8),
        }
    }

    fn finding(&self, code: LayoutCode, message: String) -> Finding {
        Finding::new(code, message).at(self.at.clone())
    }

    /// Everything wrong with the pair, in the order the checks run. A problem that
    /// makes the rest meaningless (a bitfield, a pointer, a size) ends the list.
    /// `go_max_align` is the Go target's largest scalar alignment.
    pub(super) fn findings(&self, go_max_align: u64, shift: &mut Shift) -> Vec<Finding> {
        if self.c.bitfield {
            return vec![self.bitfield_in_plain_field()];
        }
        if let Some(f) = self.not_plain_data() {
            return vec![f];
        }
        let mut out: Vec<Finding> = self.offset(shift).into_iter().collect();
        if let Some(f) = self.size() {
            out.push(f);
            return out;
        }
        out.extend(self.goarch_sized());
        if let Some(f) = self.float_vs_int() {
            out.push(f);
            return out;
        }
        out.extend(self.representation(go_max_align));
        out
    }

    /// L021: the pair was made only by position.
    pub(super) fn matched_by_position(&self) -> Finding {
        self.finding(
            LayoutCode::WeakPair,
            format!(
                "C `{}` and Go `{}` were matched by position (the names differ)",
                self.c.path, self.go.path
            ),
        )
    }

    /// L013: a C bitfield mirrored by a Go field that holds other bytes too.
    fn bitfield_in_plain_field(&self) -> Finding {
        let (c, go) = (self.c, self.go);
        self.finding(
            LayoutCode::Bitfields,
            format!(
                "C bitfield `{}` ({} bit{} at bit {} of its unit) is mirrored by Go field `{}` \
                 ({}, {} byte{} at {}): Go has no bitfields, so the bits of several C fields \
                 land in one Go field and the rest read other bytes",
                c.path,
                c.size_bits,
                plural(c.size_bits),
                c.offset_bits % 8,
                go.path,
                go.type_name,
                self.gsize,
                plural(self.gsize),
                self.goff
            ),
        )
        .fix(
            "declare one integer for the whole storage unit (see the unit finding) and extract \
             each bitfield with shifts and masks",
        )
    }

    /// L012: a Go string, slice, map, interface or pointer where C has plain bytes.
    fn not_plain_data(&self) -> Option<Finding> {
        let (c, go) = (self.c, self.go);
        if let LeafKind::GoOpaque { go_kind } = &go.kind {
            return Some(self.go_heap_value(*go_kind));
        }
        if go.kind != LeafKind::Pointer {
            return None;
        }
        let f = if c.kind != LeafKind::Pointer {
            self.finding(
                LayoutCode::NonPod,
                format!(
                    "Go field `{}` is a pointer ({}): the kernel writes a plain value there \
                     (C `{} {}`), and the Go runtime would follow it",
                    go.path, go.type_name, c.type_name, c.path
                ),
            )
            .fix(format!("declare `{} {}`", go.path, go_spelling(c)))
        } else {
            self.finding(
                LayoutCode::NonPod,
                format!(
                    "Go field `{}` is a Go pointer mirroring C pointer `{}`: the value is a \
                     kernel address, meaningless (and dangerous) as a Go pointer",
                    go.path, c.path
                ),
            )
            .fix(format!("declare `{} uint64`", go.path))
        };
        Some(f)
    }

    fn go_heap_value(&self, go_kind: GoKind) -> Finding {
        let (c, go) = (self.c, self.go);
        let want = go_spelling(c);
        let fix = match go_kind {
            GoKind::String => format!(
                "declare `{} {want}`: a C char array is bytes in the struct, a Go string is a \
                 pointer and a length",
                go.path
            ),
            GoKind::Slice => format!(
                "declare `{} {want}`: a fixed-size array, not a slice (a slice is a pointer, \
                 length and capacity)",
                go.path
            ),
            _ => format!(
                "declare `{} {want}`: map values hold plain bytes, never Go {} values",
                go.path,
                go_kind.as_str()
            ),
        };
        self.finding(
            LayoutCode::NonPod,
            format!(
                "Go field `{}` is a {} ({}, {} bytes), which holds pointers into the Go heap: it \
                 cannot be copied to or from a map; C has `{} {}` ({} bytes at {})",
                go.path,
                go_kind.as_str(),
                go.type_name,
                self.gsize,
                c.type_name,
                c.path,
                self.csize,
                self.coff
            ),
        )
        .fix(fix)
    }

    /// L003: the field is elsewhere in Go.
    fn offset(&self, shift: &mut Shift) -> Option<Finding> {
        let (c, go, coff, goff) = (self.c, self.go, self.coff, self.goff);
        if coff == goff {
            return None;
        }
        let delta = i128::from(goff) - i128::from(coff);
        if let Some((_, first)) = shift.as_ref().filter(|(d, _)| *d == delta) {
            // The same shift as an earlier field: one cause, said once.
            return Some(
                self.finding(
                    LayoutCode::OffsetDiffers,
                    format!(
                        "`{}` is at offset {coff} in C but at {goff} in Go (`{}`): the same \
                         shift as `{first}`",
                        c.path, go.path
                    ),
                )
                .fix(format!("fixed with `{first}`")),
            );
        }
        *shift = Some((delta, c.path.clone()));
        let fix = if goff < coff {
            format!(
                "Go places `{}` {} bytes early: insert `_ [{}]byte` before it, or fix the field \
                 before it",
                go.path,
                coff - goff,
                coff - goff
            )
        } else {
            format!(
                "Go places `{}` {} bytes late: remove padding or narrow the field before it",
                go.path,
                goff - coff
            )
        };
        Some(
            self.finding(
                LayoutCode::OffsetDiffers,
                format!(
                    "`{}` is at offset {coff} in C but at {goff} in Go (`{}`)",
                    c.path, go.path
                ),
            )
            .fix(fix),
        )
    }

    /// L004, or L008 for an enum: the sizes differ.
    fn size(&self) -> Option<Finding> {
        let (c, go, csize, gsize) = (self.c, self.go, self.csize, self.gsize);
        if csize == gsize {
            return None;
        }
        let (code, what) = if matches!(c.kind, LeafKind::Enum { .. }) {
            (LayoutCode::EnumSizeDiffers, "enum")
        } else {
            (LayoutCode::FieldSizeDiffers, "field")
        };
        Some(
            self.finding(
                code,
                format!(
                    "{what} `{}` is {csize} bytes in C (`{}`) but {gsize} in Go (`{} {}`)",
                    c.path, c.type_name, go.path, go.type_name
                ),
            )
            .fix(format!("declare `{} {}`", go.path, go_spelling(c))),
        )
    }

    /// L015: `int`, `uint` or `uintptr`, right here by accident.
    fn goarch_sized(&self) -> Option<Finding> {
        let (c, go) = (self.c, self.go);
        if !matches!(go.type_name.as_str(), "int" | "uint" | "uintptr") {
            return None;
        }
        Some(
            self.finding(
                LayoutCode::GoarchSized,
                format!(
                    "Go field `{}` is `{}`, whose size follows GOARCH (4 bytes on 386 and arm, 8 \
                     on 64-bit): it matches C `{}` here only by accident",
                    go.path, go.type_name, c.type_name
                ),
            )
            .fix(format!("declare `{} {}`", go.path, go_spelling(c))),
        )
    }

    /// L007: floating point on one side, an integer on the other.
    fn float_vs_int(&self) -> Option<Finding> {
        let (c, go) = (self.c, self.go);
        if float(&c.kind) == float(&go.kind) {
            return None;
        }
        Some(
            self.finding(
                LayoutCode::FloatVsInt,
                format!(
                    "`{}` is {} in C (`{}`) but {} in Go (`{}`): the same bytes mean a \
                     different number",
                    c.path,
                    number_kind(&c.kind),
                    c.type_name,
                    number_kind(&go.kind),
                    go.type_name
                ),
            )
            .fix(format!("declare `{} {}`", go.path, go_spelling(c))),
        )
    }

    /// L006, L005, L023: the same bytes, read as another kind of integer.
    fn representation(&self, go_max_align: u64) -> Option<Finding> {
        let (c, go, csize) = (self.c, self.go, self.csize);
        // An integer at an offset Go cannot align it to (packed C structs) can only be
        // mirrored by bytes.
        let go_align = go_max_align.min(csize.max(1));
        // ... and Go has no 128-bit integers.
        let aligned_for_go = self.coff.is_multiple_of(go_align) && matches!(csize, 2 | 4 | 8);
        match (&c.kind, &go.kind) {
            (
                LeafKind::Int { .. } | LeafKind::Char { .. } | LeafKind::Enum { .. },
                LeafKind::Bool,
            ) => Some(self.int_as_bool()),
            (LeafKind::Int { signed: cs }, LeafKind::Int { signed: gs }) if cs != gs => {
                Some(self.sign_differs(*cs, *gs))
            }
            (LeafKind::Bytes { .. }, g) if integral(g) && csize > 1 => Some(
                self.finding(
                    LayoutCode::BytesVsInt,
                    format!(
                        "`{}` is a byte array in C (`{}`) but an integer in Go (`{}`): the value \
                         depends on the byte order",
                        c.path, c.type_name, go.type_name
                    ),
                )
                .fix(format!(
                    "declare `{} {}` and convert explicitly",
                    go.path,
                    go_spelling(c)
                )),
            ),
            (k, LeafKind::Bytes { .. }) if integral(k) && csize > 1 && aligned_for_go => Some(
                self.finding(
                    LayoutCode::BytesVsInt,
                    format!(
                        "`{}` is an integer in C (`{}`) but a byte array in Go (`{}`): decode it \
                         with the target's byte order",
                        c.path, c.type_name, go.type_name
                    ),
                )
                .fix(format!("declare `{} {}`", go.path, go_spelling(c))),
            ),
            _ => None,
        }
    }

    /// L006.
    fn int_as_bool(&self) -> Finding {
        self.finding(
            LayoutCode::IntAsBool,
            format!(
                "`{}` is an integer in C (`{}`) but `bool` in Go: any value other than 0 or 1 is \
                 undefined behaviour for a Go bool",
                self.c.path, self.c.type_name
            ),
        )
        .fix(format!(
            "declare `{} uint8` and compare it with 0",
            self.go.path
        ))
    }

    /// L005.
    fn sign_differs(&self, c_signed: bool, go_signed: bool) -> Finding {
        let sign = |s: bool| if s { "signed" } else { "unsigned" };
        self.finding(
            LayoutCode::SignDiffers,
            format!(
                "`{}` is {} in C (`{}`) but {} in Go (`{}`): values past {} read wrong",
                self.c.path,
                sign(c_signed),
                self.c.type_name,
                sign(go_signed),
                self.go.type_name,
                if c_signed {
                    "-1 (negative numbers)"
                } else {
                    "the signed maximum"
                }
            ),
        )
        .fix(format!(
            "declare `{} {}`",
            self.go.path,
            go_spelling(self.c)
        ))
    }
}
