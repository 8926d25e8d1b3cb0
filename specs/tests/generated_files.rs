//! The checked-in contract files are the generators' output: `specs/openapi.yaml`
//! from `specs::openapi`, `specs/typescript/router.d.ts`
//! from `specs::typescript`. `make contract` (UPDATE_CONTRACT=1) writes them again.

use std::path::Path;

/// Compares `path` with `generated`; rewrites it when `UPDATE_CONTRACT` is set.
fn check(path: &str, generated: &str) {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    if std::env::var_os("UPDATE_CONTRACT").is_some() {
        std::fs::write(&file, generated).unwrap();
        return;
    }
    let checked_in = std::fs::read_to_string(&file).unwrap_or_default();
    if checked_in != generated {
        let line = checked_in
            .lines()
            .zip(generated.lines())
            .position(|(a, b)| a != b)
            .map_or(
                checked_in.lines().count().min(generated.lines().count()),
                |l| l,
            );
        panic!(
            "{path} differs from what the specs crate generates (first at line {}): run `make contract` and commit the result",
            line + 1
        );
    }
}

#[test]
fn openapi_yaml_is_generated() {
    check("openapi.yaml", &specs::openapi::document_yaml());
}

#[test]
fn router_d_ts_is_generated() {
    check("typescript/router.d.ts", &specs::typescript::router_d_ts());
}
