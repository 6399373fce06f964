pub mod btf;
pub mod go;
