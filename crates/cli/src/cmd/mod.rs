pub mod analyze;
pub mod btf;
pub mod go;
