// PostgreSQL tests run only when BUDGET_TEST_DATABASE_URL is set; otherwise they are compiled
// as #[ignore] so the test report lists them as ignored (skipped), never as silently passed.
fn main() {
    println!("cargo::rustc-check-cfg=cfg(pg_tests)");
    println!("cargo:rerun-if-env-changed=BUDGET_TEST_DATABASE_URL");
    if std::env::var_os("BUDGET_TEST_DATABASE_URL").is_some_and(|v| !v.is_empty()) {
        println!("cargo:rustc-cfg=pg_tests");
    }
}
