pub mod analyze;
pub mod btf;
pub mod capture;
pub mod go;
