//! ccusage's native CLI on the same corpus: `ccusage claude daily --json --offline` with
//! `CLAUDE_CONFIG_DIR` pointing at the corpus and an empty HOME (so no other agent's data and
//! no network price fetch), timed from spawn to exit.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// ccusage's `totals`, in its own field names.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Totals {
    pub input: u64,
    pub output: u64,
    pub cache_creation: u64,
    pub cache_read: u64,
    pub cost_usd: f64,
}

/// Reads the `totals` object of `ccusage … --json`.
pub fn parse(json: &str) -> Result<Totals, String> {
    let value: Value =
        serde_json::from_str(json).map_err(|e| format!("ccusage printed no JSON: {e}"))?;
    let totals = &value["totals"];
    let n = |key: &str| {
        totals[key]
            .as_u64()
            .ok_or_else(|| format!("ccusage totals lack `{key}`: {totals}"))
    };
    Ok(Totals {
        input: n("inputTokens")?,
        output: n("outputTokens")?,
        cache_creation: n("cacheCreationTokens")?,
        cache_read: n("cacheReadTokens")?,
        cost_usd: totals["totalCost"].as_f64().unwrap_or(f64::NAN),
    })
}

/// One run over the corpus at `config_dir` (which holds `projects/`).
pub fn run(bin: &Path, config_dir: &Path, home: &Path) -> Result<(Duration, Totals), String> {
    std::fs::create_dir_all(home).map_err(|e| e.to_string())?;
    let started = Instant::now();
    let output = Command::new(bin)
        .args(["claude", "daily", "--json", "--offline"])
        .env_clear()
        .env("HOME", home)
        .env("CLAUDE_CONFIG_DIR", config_dir)
        .env("TZ", "UTC")
        .env("PATH", "/usr/bin:/bin")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("could not run {}: {e}", bin.display()))?;
    let took = started.elapsed();
    if !output.status.success() {
        return Err(format!(
            "ccusage failed with {}: {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    Ok((took, parse(&String::from_utf8_lossy(&output.stdout))?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_are_read_and_missing_ones_named() {
        let json = r#"{"daily":[],"totals":{"cacheCreationTokens":11715,"cacheReadTokens":17228,"inputTokens":6,"outputTokens":13,"totalCost":0.126119,"totalTokens":28962}}"#;
        let totals = parse(json).expect("parses");
        assert_eq!(
            (
                totals.input,
                totals.output,
                totals.cache_creation,
                totals.cache_read
            ),
            (6, 13, 11_715, 17_228)
        );
        let err = parse(r#"{"totals":{}}"#).expect_err("incomplete");
        assert!(err.contains("inputTokens"), "{err}");
        assert!(parse("not json").expect_err("garbage").contains("no JSON"));
    }
}
