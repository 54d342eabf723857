//! Integration tests of nabla-data (one binary: fixtures, loader, IDX, CSV, downloads).

mod common;
mod csv_files;
mod fetch;
mod idx;
mod loader;
