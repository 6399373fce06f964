//! The `[TYPES]` arguments of the dump commands (DESIGN.md): where the key and value
//! types of dumps come from. Reading and resolving them is the engine's
//! (`mapsleuth_engine::types`).

use clap::Args;
use mapsleuth_engine::TypeSpec;

use crate::output::UsageError;

// How keys and values are typed (see TYPES in the commands' help). The help texts are
// `analyze dump`'s; `diff` words --btf and --map for its two dumps (`mut_arg` there).
#[derive(Args)]
pub struct TypeArgs {
    /// BTF with the key and value types: a BPF object (with --map, or matched by the
    /// dump's map name), raw BTF, or vmlinux (with --key-type/--value-type).
    #[arg(long, value_name = "FILE")]
    pub btf: Option<String>,
    /// Base BTF when --btf is split BTF (a module's).
    #[arg(long, value_name = "FILE", requires = "btf")]
    pub btf_base: Option<String>,
    /// A Go binary whose DWARF has the key and value types (with --key-type/--value-type).
    #[arg(long, value_name = "APP", conflicts_with = "btf")]
    pub go_bin: Option<String>,
    /// The map of the --btf object whose key and value types decode the dump.
    #[arg(long, value_name = "NAME", requires = "btf", conflicts_with_all = ["key_type", "value_type"])]
    pub map: Option<String>,
    /// The key type: `__u32`, `struct flow_key`, `main.FlowKey`.
    #[arg(long, value_name = "TYPE")]
    pub key_type: Option<String>,
    /// The value type: `struct event`, `main.Event`.
    #[arg(long, value_name = "TYPE")]
    pub value_type: Option<String>,
    /// The type of a ring buffer's records (captures of `ringbuf`/`user_ringbuf` maps,
    /// which have no value type): `struct event`, `main.Event`.
    #[arg(long, value_name = "TYPE", conflicts_with_all = ["key_type", "value_type", "map"])]
    pub record_type: Option<String>,
}

impl TypeArgs {
    pub fn spec(&self) -> TypeSpec {
        TypeSpec {
            btf: self.btf.clone(),
            btf_base: self.btf_base.clone(),
            go_bin: self.go_bin.clone(),
            map: self.map.clone(),
            key_type: self.key_type.clone(),
            // A ring's records are its keyless values.
            value_type: self.record_type.clone().or_else(|| self.value_type.clone()),
            record_type: self.record_type.is_some(),
        }
    }
}

pub fn usage(msg: impl Into<String>) -> anyhow::Error {
    UsageError(msg.into()).into()
}
