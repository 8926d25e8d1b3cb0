//! The alert rules of `docs/metrics/alerts.yml` load in Prometheus's own checker and
//! fire on the series their unit tests feed them (`alerts.test.yml`), and every
//! metric they name is one the server exports (`docs/metrics.md`).

use std::process::Command;

fn promtool(args: &[&str]) -> Option<(bool, String)> {
    let out = Command::new("promtool")
        .args(args)
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/metrics"))
        .output()
        .ok()?;
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Some((out.status.success(), said))
}

#[test]
fn the_alert_rules_load_and_fire_as_their_tests_say() {
    let Some((checked, said)) = promtool(&["check", "rules", "alerts.yml"]) else {
        eprintln!(
            "promtool is not installed (make test-deps installs Debian's prometheus): not run"
        );
        return;
    };
    assert!(checked && said.contains("SUCCESS: 8 rules found"), "{said}");
    let (tested, said) = promtool(&["test", "rules", "alerts.test.yml"]).unwrap();
    assert!(tested, "{said}");
}

#[test]
fn the_rules_name_only_metrics_the_server_exports() {
    let rules = include_str!("../../docs/metrics/alerts.yml");
    let documented = include_str!("../../docs/metrics.md");
    let mut named: Vec<&str> = rules
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|word| word.starts_with("dokploy_auth_"))
        .collect();
    named.sort();
    named.dedup();
    assert!(!named.is_empty());
    for metric in named {
        let family = metric
            .trim_end_matches("_bucket")
            .trim_end_matches("_total");
        assert!(
            documented.contains(family),
            "{metric} is not in docs/metrics.md"
        );
    }
}
