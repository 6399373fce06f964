//! BTF health, as the seeds' "is BTF loaded?" chapter asks it: is vmlinux BTF there and
//! sound, are the types CO-RE programs use present, do the modules' split BTF parse, does
//! the kernel config say BTF was built in. Findings use `B` codes.

use std::io::Read;
use std::path::{Path, PathBuf};

use mapsleuth_layout::{BtfCode, Finding, Location, Severity};
use serde::Serialize;

use crate::{Btf, BtfBytes};

/// Types nearly every CO-RE program relocates against.
pub const WELL_KNOWN: [&str; 2] = ["task_struct", "sk_buff"];
/// Kernel configs larger than this are not read (a real one is ~300 KB).
const MAX_CONFIG: u64 = 16 << 20;

#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct ModuleCheck {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub types: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct KernelConfig {
    pub source: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub debug_info_btf: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub debug_info_btf_modules: Option<bool>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CoreVerdict {
    /// Kernel BTF is present, valid and has the usual types.
    Works,
    /// Usable with caveats (missing module BTF, unusual types).
    Limited,
    /// CO-RE cannot relocate against this.
    No,
}

#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct BtfCheck {
    /// `live system` or the file checked.
    pub subject: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub btf_path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub btf_bytes: Option<u64>,
    /// Types the checked BTF defines itself.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub types: Option<u32>,
    /// For split BTF: types of the base it continues.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base_types: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub byte_order: Option<String>,
    /// Each well-known type and whether it is there.
    pub well_known: Vec<(String, bool)>,
    pub modules: Vec<ModuleCheck>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kernel_config: Option<KernelConfig>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kernel_release: Option<String>,
    pub co_re: CoreVerdict,
    pub verdict: String,
    pub findings: Vec<Finding>,
}

impl BtfCheck {
    /// A report about `subject` with nothing found yet.
    fn new(subject: &str) -> Self {
        BtfCheck {
            subject: subject.to_string(),
            btf_path: None,
            btf_bytes: None,
            types: None,
            base_types: None,
            byte_order: None,
            well_known: Vec::new(),
            modules: Vec::new(),
            kernel_config: None,
            kernel_release: None,
            co_re: CoreVerdict::No,
            verdict: String::new(),
            findings: Vec::new(),
        }
    }
}

fn finding(code: BtfCode, file: &str, msg: String, fix: &str) -> Finding {
    Finding::new(code, msg)
        .at(Location {
            file: Some(file.to_string()),
            ..Default::default()
        })
        .fix(fix)
}

/// Checks the running system. `root` is `/` in real use; tests point it at a tree
/// laid out like one (`sys/kernel/btf`, `proc/config.gz`, `boot/config-*`).
pub fn check_system(root: &Path) -> BtfCheck {
    let mut c = BtfCheck::new("live system");
    c.kernel_release = std::fs::read_to_string(root.join("proc/sys/kernel/osrelease"))
        .ok()
        .map(|s| s.trim().to_string());
    let btf_dir = root.join("sys/kernel/btf");
    let vmlinux = btf_dir.join("vmlinux");
    let vpath = vmlinux.display().to_string();
    c.btf_path = Some(vpath.clone());
    read_kernel_config(root, &mut c);
    let data = match std::fs::read(&vmlinux) {
        Ok(d) => d,
        Err(e) => {
            c.findings.push(finding(
                BtfCode::NoKernelBtf,
                &vpath,
                format!("no kernel BTF at {vpath} ({e}): CO-RE programs cannot load here"),
                "use a kernel built with CONFIG_DEBUG_INFO_BTF=y (most distributions since 2020), or ship a BTF file for this exact kernel (BTFHub) and point the loader at it",
            ));
            c.verdict = "CO-RE cannot work: the kernel exposes no BTF".into();
            return c;
        }
    };
    c.btf_bytes = Some(data.len() as u64);
    let base = match Btf::parse(&data).and_then(|b| b.validate().map(|_| b)) {
        Ok(b) => b,
        Err(e) => {
            c.findings.push(finding(
                BtfCode::Unparsable,
                &vpath,
                format!("kernel BTF does not parse: {e}"),
                "the kernel's BTF is corrupt or newer than this tool understands; report it with the file attached",
            ));
            c.verdict = "CO-RE cannot work: the kernel BTF is unreadable".into();
            return c;
        }
    };
    inspect_kernel_btf(&base, &vpath, &mut c);

    // Every other file in /sys/kernel/btf is a module's split BTF on vmlinux.
    let mut names: Vec<PathBuf> = std::fs::read_dir(&btf_dir)
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    names.sort();
    for p in names
        .into_iter()
        .filter(|p| p.file_name().is_some_and(|n| n != "vmlinux"))
    {
        let name = p
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let result = std::fs::read(&p).map_err(|e| e.to_string()).and_then(|d| {
            Btf::parse_split(&d, &base)
                .and_then(|m| m.validate().map(|_| m.count() - base.count()))
                .map_err(|e| e.to_string())
        });
        match result {
            Ok(n) => c.modules.push(ModuleCheck {
                name,
                types: Some(n),
                error: None,
            }),
            Err(e) => {
                c.findings.push(finding(
                    BtfCode::ModuleUnparsable,
                    &p.display().to_string(),
                    format!("module BTF `{name}` does not parse as split BTF on vmlinux: {e}"),
                    "programs that use this module's types cannot be relocated; rebuild the module against this kernel's BTF",
                ));
                c.modules.push(ModuleCheck {
                    name,
                    types: None,
                    error: Some(e),
                });
            }
        }
    }
    if c.modules.is_empty()
        && c.kernel_config
            .as_ref()
            .and_then(|k| k.debug_info_btf_modules)
            != Some(false)
    {
        // Built-in drivers only, or module BTF disabled: worth a note, not a warning.
        c.findings.push(finding(
            BtfCode::NoModuleBtf,
            &btf_dir.display().to_string(),
            "no module BTF in /sys/kernel/btf: only vmlinux types can be relocated".into(),
            "if your program uses types from a module, load the module (its BTF appears when it loads) or enable CONFIG_DEBUG_INFO_BTF_MODULES",
        ));
    }
    finish(&mut c);
    c
}

/// Checks one BTF file (raw, ELF `.BTF`), optionally split on a base.
pub fn check_file(path: &str, base_path: Option<&str>) -> BtfCheck {
    let mut c = BtfCheck::new(path);
    c.btf_path = Some(path.to_string());
    let bytes = match BtfBytes::read(path) {
        Ok(b) => b,
        Err(e) => {
            c.findings.push(finding(
                BtfCode::Unparsable,
                path,
                format!("no readable BTF: {e}"),
                "check that the file is raw BTF or an ELF file with a .BTF section",
            ));
            c.verdict = "not usable: no readable BTF".into();
            return c;
        }
    };
    c.btf_bytes = Some(bytes.data.len() as u64);
    let base_bytes = match base_path.map(BtfBytes::read).transpose() {
        Ok(b) => b,
        Err(e) => {
            c.findings.push(finding(
                BtfCode::Unparsable,
                base_path.unwrap_or(path),
                format!("base BTF: {e}"),
                "pass the vmlinux BTF the module was built against",
            ));
            c.verdict = "not usable: the base BTF is unreadable".into();
            return c;
        }
    };
    let base = match base_bytes.as_ref().map(|b| Btf::parse(&b.data)).transpose() {
        Ok(b) => b,
        Err(e) => {
            c.findings.push(finding(
                BtfCode::Unparsable,
                base_path.unwrap_or(path),
                format!("base BTF does not parse: {e}"),
                "pass the vmlinux BTF the module was built against",
            ));
            c.verdict = "not usable: the base BTF is unreadable".into();
            return c;
        }
    };
    let parsed = match &base {
        Some(b) => Btf::parse_split(&bytes.data, b),
        None => Btf::parse(&bytes.data),
    };
    let btf = match parsed.and_then(|b| b.validate().map(|_| b)) {
        Ok(b) => b,
        Err(e) => {
            let e = e.in_file(path, bytes.file_offset);
            c.findings.push(finding(
                BtfCode::Unparsable,
                path,
                format!("BTF does not parse: {e}"),
                "the BTF is corrupt or truncated; regenerate it (clang -g for BPF objects, pahole -J for kernels)",
            ));
            c.verdict = "not usable: the BTF is invalid".into();
            return c;
        }
    };
    let host_big = cfg!(target_endian = "big");
    if (btf.byte_order() == mapsleuth_layout::ByteOrder::Big) != host_big {
        c.findings.push(finding(
            BtfCode::ForeignByteOrder,
            path,
            format!("the BTF is {}, unlike this host", btf.byte_order().as_str()),
            "fine for offline analysis; a loader on this host would need BTF of its own byte order",
        ));
    }
    inspect_kernel_btf(&btf, path, &mut c);
    if let Some(b) = &base {
        c.base_types = Some(b.count());
        c.types = Some(btf.count() - b.count());
    }
    finish(&mut c);
    c
}

fn inspect_kernel_btf(btf: &Btf, path: &str, c: &mut BtfCheck) {
    c.types = Some(btf.count());
    c.byte_order = Some(btf.byte_order().as_str().into());
    for name in WELL_KNOWN {
        let present = btf
            .ids_named(name)
            .into_iter()
            .any(|id| matches!(btf.get(id), Ok((_, crate::BtfType::Struct { .. }))));
        c.well_known.push((name.to_string(), present));
    }
    let missing: Vec<&str> = c
        .well_known
        .iter()
        .filter(|(_, p)| !p)
        .map(|(n, _)| n.as_str())
        .collect();
    if missing.len() == WELL_KNOWN.len() {
        c.findings.push(finding(
            BtfCode::NotKernelBtf,
            path,
            format!("this is not kernel BTF: none of {} is defined ({} types)", WELL_KNOWN.join(", "), btf.count()),
            "CO-RE relocates against the kernel's BTF (/sys/kernel/btf/vmlinux), not a program's; check the right file",
        ));
    } else if !missing.is_empty() {
        c.findings.push(finding(
            BtfCode::WellKnownMissing,
            path,
            format!("kernel BTF lacks well-known types: {}", missing.join(", ")),
            "the BTF may be stripped or from an unusual build; programs using these types will fail to relocate",
        ));
    }
}

fn finish(c: &mut BtfCheck) {
    let worst = c.findings.iter().map(|f| f.severity).max();
    let not_kernel = c
        .findings
        .iter()
        .any(|f| f.code == BtfCode::NotKernelBtf.as_str());
    c.co_re = match worst {
        Some(Severity::Error) => CoreVerdict::No,
        _ if not_kernel => CoreVerdict::No,
        Some(Severity::Warning) => CoreVerdict::Limited,
        _ => CoreVerdict::Works,
    };
    c.verdict = match c.co_re {
        CoreVerdict::Works => match c.base_types {
            Some(base) => format!(
                "CO-RE can work: split BTF with {} types of its own on a base of {base}",
                c.types.unwrap_or(0)
            ),
            None => format!(
                "CO-RE can work: kernel BTF with {} types, {} module BTF{}",
                c.types.unwrap_or(0),
                c.modules.len(),
                if c.modules.len() == 1 { "" } else { "s" }
            ),
        },
        CoreVerdict::Limited => "CO-RE can work with limits: see the warnings".into(),
        CoreVerdict::No if not_kernel => {
            "not kernel BTF: fine for reading program types, not a CO-RE base".into()
        }
        CoreVerdict::No => "CO-RE cannot work: see the errors".into(),
    };
}

fn read_kernel_config(root: &Path, c: &mut BtfCheck) {
    let mut candidates = vec![root.join("proc/config.gz")];
    if let Some(rel) = &c.kernel_release {
        candidates.push(root.join(format!("boot/config-{rel}")));
    }
    for p in candidates {
        let Ok(raw) = std::fs::read(&p) else { continue };
        let text = if p.extension().is_some_and(|e| e == "gz") {
            let mut s = String::new();
            let dec = flate2::read::GzDecoder::new(&raw[..]);
            if dec.take(MAX_CONFIG).read_to_string(&mut s).is_err() {
                continue;
            }
            s
        } else {
            String::from_utf8_lossy(&raw).into_owned()
        };
        let opt = |name: &str| -> Option<bool> {
            for line in text.lines() {
                if line
                    .strip_prefix(name)
                    .and_then(|r| r.strip_prefix('='))
                    .is_some_and(|v| v == "y" || v == "m")
                {
                    return Some(true);
                }
                if line == format!("# {name} is not set") {
                    return Some(false);
                }
            }
            None
        };
        let cfg = KernelConfig {
            source: p.display().to_string(),
            debug_info_btf: opt("CONFIG_DEBUG_INFO_BTF"),
            debug_info_btf_modules: opt("CONFIG_DEBUG_INFO_BTF_MODULES"),
        };
        let src = cfg.source.clone();
        if cfg.debug_info_btf != Some(true) {
            c.findings.push(finding(
                BtfCode::ConfigDisablesBtf,
                &src,
                "the kernel config does not enable CONFIG_DEBUG_INFO_BTF".into(),
                "rebuild the kernel with CONFIG_DEBUG_INFO_BTF=y (needs pahole at build time), or ship external BTF (BTFHub)",
            ));
        }
        if cfg.debug_info_btf_modules == Some(false) {
            c.findings.push(finding(
                BtfCode::ModuleBtfDisabled,
                &src,
                "CONFIG_DEBUG_INFO_BTF_MODULES is not set: modules carry no BTF".into(),
                "programs that use module types (e.g. nf_conn from nf_conntrack) cannot be relocated; enable CONFIG_DEBUG_INFO_BTF_MODULES",
            ));
        }
        c.kernel_config = Some(cfg);
        return;
    }
    c.findings.push(finding(
        BtfCode::ConfigUnreadable,
        &root.join("proc/config.gz").display().to_string(),
        "the kernel config is not readable (no /proc/config.gz, no /boot/config-<release>): the build options cannot be confirmed".into(),
        "load the configs module (modprobe configs) or install the kernel's config file to confirm CONFIG_DEBUG_INFO_BTF",
    ));
}
