//! The README stays true: every setting lucid reads is documented there, and the test
//! command it gives is the one CI runs.

use lucid::config::catalog::SETTINGS;

const README: &str = include_str!("../../README.md");
const CI: &str = include_str!("../../.ci/run");

#[test]
fn every_setting_is_in_the_readme_with_its_default() {
    for setting in SETTINGS {
        let row = README
            .lines()
            .find(|l| l.starts_with(&format!("| `{}`", setting.env)))
            .unwrap_or_else(|| panic!("README has no table row for {}", setting.env));
        if let Some(default) = setting.default {
            assert!(
                row.contains(&format!("`{default}`")),
                "README row for {} lacks its default {default}: {row}",
                setting.env
            );
        }
        if !setting.file.is_empty() {
            assert!(
                row.contains(&format!("`{}`", setting.file)),
                "README row for {} lacks its file key",
                setting.env
            );
        }
    }
}

#[test]
fn ci_runs_the_test_command_the_readme_gives() {
    assert!(
        README.contains("\nscripts/test\n"),
        "README must give `scripts/test` as the test command"
    );
    assert!(
        CI.lines()
            .any(|l| l.trim() == "exec scripts/test" || l.trim() == "scripts/test"),
        ".ci/run must run scripts/test"
    );
}
