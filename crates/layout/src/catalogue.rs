//! The catalogue of finding codes: one enum per family (`L` layout cross-check, `D` dump
//! forensics, `B` BTF health), and for each code its string, severity, title and the
//! general fix. docs/findings.md is the same catalogue for humans; a test keeps the two
//! in step.

use std::fmt;
use std::str::FromStr;

use crate::finding::Severity;

/// What the catalogue says about one code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CodeInfo {
    /// `L001`: stable, never reused.
    pub code: &'static str,
    /// The severities its findings take; the first is the usual one. Codes with more
    /// than one depend on the case (a Go field in C's padding is a warning, over C
    /// data an error).
    pub severities: &'static [Severity],
    pub title: &'static str,
    /// The general remedy; each finding carries its own, specific fix.
    pub fix: Option<&'static str>,
}

impl CodeInfo {
    /// The usual severity.
    pub fn severity(&self) -> Severity {
        self.severities.first().copied().unwrap_or(Severity::Error)
    }
}

/// One code family: an enum whose variants are the codes, in code order, with the
/// catalogue entry of each.
macro_rules! family {
    (
        $(#[$meta:meta])*
        $family:ident ($short:ident) {
            $($variant:ident = $code:literal, [$($sev:ident)/+], $title:literal, $fix:expr;)+
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum $family {
            $(#[doc = concat!($code, ": ", $title, ".")] $variant,)+
        }

        impl $family {
            /// Every code of the family, in code order.
            pub const ALL: &'static [$family] = &[$($family::$variant),+];

            pub fn info(self) -> &'static CodeInfo {
                match self {
                    $($family::$variant => &CodeInfo {
                        code: $code,
                        severities: &[$(Severity::$sev),+],
                        title: $title,
                        fix: $fix,
                    },)+
                }
            }

            /// `L001`.
            pub fn as_str(self) -> &'static str {
                self.info().code
            }

            /// The usual severity of its findings.
            pub fn severity(self) -> Severity {
                self.info().severity()
            }
        }

        impl fmt::Display for $family {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl From<$family> for FindingCode {
            fn from(code: $family) -> FindingCode {
                FindingCode::$short(code)
            }
        }
    };
}

family! {
    /// `B` codes: BTF health (`mapsleuth btf check`).
    BtfCode (Btf) {
        NoKernelBtf = "B001", [Error], "no kernel BTF",
            Some("a kernel built with `CONFIG_DEBUG_INFO_BTF=y` (standard in major distributions \
                  since 2020), or external BTF for this exact kernel (BTFHub) passed to the \
                  loader.");
        Unparsable = "B002", [Error], "BTF does not parse",
            Some("regenerate it (`clang -g` for BPF objects, `pahole -J` for kernels); report it \
                  if it is a real kernel's.");
        WellKnownMissing = "B003", [Warning], "well-known kernel types missing",
            None;
        ConfigDisablesBtf = "B004", [Error], "kernel config does not enable BTF",
            Some("rebuild with `CONFIG_DEBUG_INFO_BTF=y` (pahole is needed at build time).");
        ModuleBtfDisabled = "B005", [Warning], "module BTF disabled",
            None;
        ModuleUnparsable = "B006", [Warning], "a module's BTF does not parse",
            None;
        ConfigUnreadable = "B007", [Info], "kernel config not readable",
            Some("`modprobe configs`.");
        NotKernelBtf = "B008", [Warning], "not kernel BTF",
            None;
        ForeignByteOrder = "B009", [Info], "byte order differs from this host",
            None;
        NoModuleBtf = "B010", [Info], "no module BTF",
            None;
    }
}

family! {
    /// `L` codes: the Go-vs-BTF layout cross-check (`mapsleuth analyze layout`).
    LayoutCode (Layout) {
        SizeDiffers = "L001", [Error], "total size differs",
            Some("the field findings that come with it.");
        AlignDiffers = "L002", [Info], "alignment differs",
            None;
        OffsetDiffers = "L003", [Error], "field offset differs",
            Some("explicit padding `_ [N]byte` before the field, or correct the field before \
                  it.");
        FieldSizeDiffers = "L004", [Error], "field size differs",
            Some("the exact-width type the message names (`Pid uint32`).");
        SignDiffers = "L005", [Warning], "signedness differs",
            Some("the Go integer of C's signedness (`Ret int32`).");
        IntAsBool = "L006", [Warning], "integer read as Go bool",
            Some("`uint8`, compared with 0.");
        FloatVsInt = "L007", [Error], "floating point vs integer",
            Some("the integer type.");
        EnumSizeDiffers = "L008", [Error], "enum width differs",
            Some("the integer of the enum's size and signedness (`int32`).");
        MissingInGo = "L009", [Error], "C field (or union) missing in Go",
            Some("declare the field at the named offset.");
        MissingInC = "L010", [Warning / Error], "Go field missing in C",
            None;
        Reordered = "L011", [Warning], "fields reordered",
            Some("declare them in the C order.");
        NonPod = "L012", [Error], "Go non-POD field",
            Some("fixed-size arrays and exact-width integers; `uint64` for kernel pointers.");
        Bitfields = "L013", [Error / Info], "C bitfields",
            None;
        PaddingMisplaced = "L014", [Warning], "explicit padding does not line up",
            Some("padding where C has its holes (the fix lists them).");
        GoarchSized = "L015", [Warning], "GOARCH-sized integer",
            Some("the exact-width integer (`Pid uint32`); `int`, `uint` and `uintptr` never \
                  belong in map structs.");
        TrailingZeroSize = "L016", [Error], "trailing zero-size Go field",
            Some("remove the field or move it.");
        ByteOrderDiffers = "L017", [Error], "byte order differs",
            Some("compile the BPF program for the Go program's machine (`clang -target bpfeb` for \
                  s390x).");
        Align64 = "L018", [Error], "64-bit alignment on 386 and arm",
            Some("explicit `_ [4]byte` before it (then the struct is right on every GOARCH).");
        PointerSizeDiffers = "L019", [Info], "pointer size differs",
            None;
        Union = "L020", [Info / Warning], "union",
            None;
        WeakPair = "L021", [Info], "weak pair",
            None;
        Unpaired = "L022", [Warning], "map type without a Go counterpart",
            Some("`--pair GoType=c_type`, or generate one with `mapsleuth go gen`.");
        BytesVsInt = "L023", [Warning], "byte array vs integer",
            None;
        LockIncompatible = "L024", [Error], "incompatible layout change since the lockfile",
            Some("revert the change, or accept it with `mapsleuth lock check --update` once every \
                  reader and writer of the map is rebuilt (and pinned maps recreated).");
        LockCompatible = "L025", [Info], "compatible layout change since the lockfile",
            Some("`mapsleuth lock check --update` records it.");
    }
}

family! {
    /// `D` codes: dump forensics (`mapsleuth analyze dump`).
    DumpCode (Dump) {
        KeyPadding = "D001", [Error], "non-zero key padding",
            Some("`struct flow_key k = {};` or `__builtin_memset(&k, 0, sizeof(k))` before setting \
                  the fields, in the BPF program and in user space; in Go, mirror the padding as \
                  `_ [3]byte`.");
        ValuePadding = "D002", [Warning], "non-zero value padding",
            Some("zero the value before filling it, or turn the padding into explicit fields set \
                  to 0.");
        KeySize = "D003", [Error], "key size differs from the key type",
            Some("the map's own key type (`mapsleuth btf maps --btf OBJ` lists them).");
        ValueSize = "D004", [Error], "value size differs from the value type",
            Some("mirror the C struct exactly (`mapsleuth analyze layout`, `mapsleuth go \
                  gen`).");
        ZeroEntries = "D005", [Info], "all-zero values",
            Some("check the code path that should update these keys.");
        ZeroField = "D006", [Info], "field zero in every entry",
            None;
        ConstantField = "D007", [Info], "field constant in every entry",
            None;
        NoNul = "D008", [Warning], "string without NUL terminator",
            Some("copy with a helper that terminates (`bpf_get_current_comm`, \
                  `bpf_probe_read_kernel_str`) or at most len-1 bytes; never assume the \
                  terminator.");
        NonPrintable = "D009", [Info], "string with non-printable bytes",
            Some("if it is binary, declare it `__u8[]` so tools show bytes.");
        AfterNul = "D010", [Warning], "bytes after the NUL terminator",
            Some("zero the buffer before copying a string into it.");
        BadEnum = "D011", [Warning], "enum value outside the enum",
            None;
        OverMaxEntries = "D012", [Error], "more entries than max_entries",
            Some("dump again, or capture (batch lookups give one consistent view).");
        DuplicateKey = "D013", [Error], "duplicate keys",
            Some("take the dump again, or a capture.");
        LookupError = "D014", [Info / Warning], "entries bpftool could not read",
            None;
        DumpIssue = "D015", [Error / Warning], "the dump itself is damaged",
            Some("take the dump again and keep all of bpftool's output.");
        MissingKey = "D016", [Error], "expected keys missing",
            Some("the program never inserted them, they were evicted or deleted, or the key's byte \
                  order or padding differs (see D001).");
        UnexpectedKey = "D017", [Warning], "unexpected keys",
            None;
        Disagrees = "D018", [Error], "our decoding differs from bpftool's",
            Some("`mapsleuth analyze layout`, then correct the type.");
        RecordSize = "D019", [Error], "ring record size differs from the record type",
            Some("the record type is the struct the program reserves or outputs \
                  (`bpf_ringbuf_reserve(&rb, sizeof(struct event), 0)`); records of several \
                  kinds need a header field to tell them apart.");
    }
}

/// A code of any family: what a [`Finding`](crate::Finding) is built from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FindingCode {
    Btf(BtfCode),
    Layout(LayoutCode),
    Dump(DumpCode),
}

impl FindingCode {
    /// Every code, `B`, then `L`, then `D` (the order of docs/findings.md).
    pub fn all() -> impl Iterator<Item = FindingCode> {
        let btf = BtfCode::ALL.iter().map(|c| FindingCode::from(*c));
        let layout = LayoutCode::ALL.iter().map(|c| FindingCode::from(*c));
        let dump = DumpCode::ALL.iter().map(|c| FindingCode::from(*c));
        btf.chain(layout).chain(dump)
    }

    pub fn info(self) -> &'static CodeInfo {
        match self {
            FindingCode::Btf(c) => c.info(),
            FindingCode::Layout(c) => c.info(),
            FindingCode::Dump(c) => c.info(),
        }
    }

    pub fn as_str(self) -> &'static str {
        self.info().code
    }

    pub fn severity(self) -> Severity {
        self.info().severity()
    }
}

impl fmt::Display for FindingCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for FindingCode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        FindingCode::all()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| format!("unknown finding code `{s}`"))
    }
}

#[cfg(test)]
mod tests;
