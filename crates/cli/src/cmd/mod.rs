pub mod analyze;
pub mod analyze_dump;
pub mod btf;
pub mod capture;
pub mod diff;
pub mod go;
pub mod types;
