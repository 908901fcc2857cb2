//! axe-core in the REAL webview (WebKitGTK under the app's strict CSP), so
//! rules jsdom cannot judge (colour contrast, layout) are checked too.
//!
//! The source comes from the UI's devDependency (`ui/node_modules/axe-core`),
//! read at run time and injected with WebDriver "execute script"; each
//! screen's full report is saved to the artifacts dir as `axe-<screen>.json`.

use std::path::Path;
use std::sync::OnceLock;

use fantoccini::Client;
use serde_json::Value;

use crate::support::artifacts_dir;

fn axe_source() -> &'static str {
    static SOURCE: OnceLock<String> = OnceLock::new();
    SOURCE.get_or_init(|| {
        let path =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../ui/node_modules/axe-core/axe.min.js");
        std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!(
                "cannot read {}: {e} (run `npm ci` in ui/: axe-core is its devDependency)",
                path.display()
            )
        })
    })
}

/// Runs axe on the whole document and hands back a JSON-safe summary
/// (axe's result objects hold DOM nodes, which WebDriver cannot serialise).
const RUN_AXE: &str = r#"
const done = arguments[arguments.length - 1];
window.axe
  .run(document, { resultTypes: ["violations"] })
  .then((result) =>
    done({
      ok: true,
      violations: result.violations.map((v) => ({
        id: v.id,
        impact: v.impact,
        help: v.help,
        nodes: v.nodes.map((n) => ({ target: n.target.join(" "), summary: n.failureSummary })),
      })),
      // A rule that threw (e.g. blocked by the CSP) lands in "incomplete"
      // with an error: it must not pass silently.
      errors: result.incomplete
        .filter((r) => r.error)
        .map((r) => ({ id: r.id, error: String(r.error.message || r.error) })),
    }),
  )
  .catch((e) => done({ ok: false, error: String((e && e.stack) || e) }));
"#;

/// Fails listing every violation of impact "serious" or "critical" on the
/// current screen (open dialogs included).
pub(super) async fn assert_accessible(client: &Client, screen: &str) {
    let present = client
        .execute(
            "return typeof window.axe === 'object' && typeof window.axe.run === 'function';",
            vec![],
        )
        .await
        .unwrap();
    if present != Value::Bool(true) {
        // The script body runs as a function in the page: axe's UMD wrapper
        // then registers `window.axe` (no module system in the page).
        let script = format!("{}\n;return typeof window.axe === 'object';", axe_source());
        let injected = client
            .execute(&script, vec![])
            .await
            .unwrap_or_else(|e| panic!("axe-core could not be injected on {screen}: {e}"));
        assert_eq!(
            injected,
            Value::Bool(true),
            "axe-core must register window.axe in the webview ({screen})"
        );
    }
    // WebKitWebDriver enforces no script timeout: bound the scan ourselves so
    // a stalled page fails the test instead of hanging CI.
    let report = tokio::time::timeout(
        std::time::Duration::from_secs(60),
        client.execute_async(RUN_AXE, vec![]),
    )
    .await
    .unwrap_or_else(|_| panic!("axe.run did not finish within 60 s on {screen}"))
    .unwrap_or_else(|e| panic!("axe.run failed on {screen}: {e}"));
    std::fs::write(
        artifacts_dir().join(format!("axe-{screen}.json")),
        serde_json::to_string_pretty(&report).unwrap(),
    )
    .unwrap();
    assert_eq!(
        report["ok"],
        Value::Bool(true),
        "axe.run must complete on {screen}: {}",
        report["error"]
    );
    let errors = report["errors"].as_array().unwrap();
    assert!(
        errors.is_empty(),
        "axe rules failed to run on {screen} (so they checked nothing): {errors:?}"
    );
    let violations = report["violations"].as_array().unwrap();
    let blocking: Vec<String> = violations
        .iter()
        .filter(|v| matches!(v["impact"].as_str(), Some("serious" | "critical")))
        .map(|v| {
            let nodes: Vec<String> = v["nodes"]
                .as_array()
                .unwrap()
                .iter()
                .map(|n| format!("    {} — {}", n["target"], n["summary"]))
                .collect();
            format!(
                "  [{}] {}: {}\n{}",
                v["impact"].as_str().unwrap_or("?"),
                v["id"].as_str().unwrap_or("?"),
                v["help"].as_str().unwrap_or("?"),
                nodes.join("\n")
            )
        })
        .collect();
    assert!(
        blocking.is_empty(),
        "axe-core found serious/critical accessibility violations on {screen} \
         (the product ships with none: every user must be able to use every screen):\n{}",
        blocking.join("\n")
    );
}
