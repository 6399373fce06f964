//! One side of the entries (their keys or their values): its type, and the checks run
//! on its bytes. Each check's state, and the findings it makes, are in its own module.

use std::collections::HashMap;

use super::enums::EnumCheck;
use super::fields::FieldStats;
use super::padding::Padding;
use super::sizes::Sizes;
use super::strings::StrCheck;
use super::tally::EntryId;
use super::{Marks, TypeRef};
use crate::decode::{DecodeError, FlatDecoder};

/// Keys sort before values in findings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(super) enum Role {
    Key,
    Value,
    /// A ring buffer's records: keyless values, checked as values are.
    Record,
}

impl Role {
    pub fn name(self) -> &'static str {
        match self {
            Role::Record => "record",
            _ => self.pick("key", "value"),
        }
    }

    /// `key` for keys, `value` for values and ring records.
    pub fn pick<T>(self, key: T, value: T) -> T {
        match self {
            Role::Key => key,
            Role::Value | Role::Record => value,
        }
    }
}

/// Types larger than this get no byte masks (the dump reader allows 4 MiB values).
const MAX_MASKED_SIZE: u64 = 4 << 20;

/// Everything checked on one side (keys or values) of the entries.
pub(super) struct Side {
    pub role: Role,
    pub type_name: String,
    pub size: u64,
    pub flat: FlatDecoder,
    /// Byte-level checks run only on types small enough to hold masks for.
    pub byte_checks: bool,
    /// Leaf path → byte offset, for locations.
    pub offsets: HashMap<String, u64>,
    pub sizes: Sizes,
    pub padding: Padding,
    pub fields: FieldStats,
    pub strings: Vec<StrCheck>,
    pub enums: Vec<EnumCheck>,
}

impl Side {
    pub fn new(role: Role, t: TypeRef<'_>) -> Result<Side, DecodeError> {
        let flat = FlatDecoder::new(t.table, t.id)?;
        let size = flat.size();
        let order = t.table.target.byte_order;
        let byte_checks = size <= MAX_MASKED_SIZE;
        let mut offsets = HashMap::new();
        for l in flat.leaves() {
            offsets.entry(l.path.clone()).or_insert(l.offset_bits / 8);
        }
        let mut side = Side {
            role,
            type_name: flat.type_name().to_string(),
            size,
            byte_checks,
            offsets,
            sizes: Sizes::default(),
            padding: Padding::default(),
            fields: FieldStats::default(),
            strings: Vec::new(),
            enums: Vec::new(),
            flat,
        };
        if byte_checks {
            side.padding = Padding::plan(t, &side.flat, size, order)?;
            side.strings = StrCheck::plan(&side.flat);
            side.enums = EnumCheck::plan(&side.flat);
            side.fields = FieldStats::plan(&side.flat, size, order);
        }
        Ok(side)
    }

    /// The byte checks of one key or value; an all-zero value has no padding or
    /// field values to look at.
    pub fn check(&mut self, bytes: &[u8], entry: &EntryId<'_>, all_zero: bool, marks: &mut Marks) {
        if !self.sizes.check(self.role, self.size, bytes, entry, marks) || !self.byte_checks {
            return;
        }
        if !all_zero {
            self.padding.check(self.role, bytes, entry, marks);
        }
        for s in &mut self.strings {
            s.check(bytes, entry, marks);
        }
        for e in &mut self.enums {
            e.check(&self.flat, bytes, entry, marks);
        }
        if !all_zero {
            self.fields.check(bytes);
        }
    }
}
