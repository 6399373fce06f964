//! A type together with the table it lives in: what the engines take for "this type"
//! (the crosscheck's two sides, forensics' key and value types).

use crate::types::{TypeId, TypeTable};

#[derive(Clone, Copy)]
pub struct TypeRef<'t> {
    pub table: &'t TypeTable,
    pub id: TypeId,
}

impl TypeRef<'_> {
    /// The type's name as its language spells it.
    pub fn name(&self) -> String {
        self.table.type_name(self.id)
    }
}
