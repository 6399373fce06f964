//! What every format reader shares: the input's name, the options, the format.

use std::sync::Arc;

use crate::error::Position;
use crate::format::DumpFormat;
use crate::model::{Dump, DumpSource};
use crate::options::DumpReadOptions;

pub(crate) struct Ctx<'a> {
    pub file: Arc<str>,
    pub opts: &'a DumpReadOptions,
    pub format: DumpFormat,
}

impl Ctx<'_> {
    pub fn new_dump(&self, map_index: usize, start: Position) -> Dump {
        Dump::new(
            DumpSource {
                name: Arc::clone(&self.file),
                format: self.format,
                map_index,
            },
            start,
            self.opts.limits.max_issues,
        )
    }
}
