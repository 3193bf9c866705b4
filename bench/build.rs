//! The harness compiles the tests' own fixtures (`tests/common/node_op.rs`,
//! `tests/common/redis.rs`) unchanged; they find the test provider at
//! `CARGO_MANIFEST_DIR/tests/op`, written for the root package. Pointing `CARGO_MANIFEST_DIR`
//! at the repository root (this member's parent) makes them, and the harness's own paths
//! (`bench/wrk`, `bench/flask`), resolve from there.

fn main() {
    let member = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let root = std::path::Path::new(&member)
        .parent()
        .expect("bench/ lies in the repository");
    println!("cargo:rustc-env=CARGO_MANIFEST_DIR={}", root.display());
    println!("cargo:rerun-if-changed=build.rs");
}
