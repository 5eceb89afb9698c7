//! Pipeline tests: every stage on its own, then one problem end to end on a real model.

mod answers;
mod end_to_end;
mod report;
mod sandbox;
mod strategies;

pub fn shared_data(name: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}
