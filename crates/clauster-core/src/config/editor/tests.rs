//! The settings editor: the writer's round trips (snapshots of the text before and after),
//! its refusals, and the allowlists' getters and checks.

use std::fmt::Write as _;

use serde_json::json;

use super::*;
use crate::config::{ConfigInput, load};

/// The edits applied to `text`, shown as the text before, the edits and the result (or the
/// refusal), for a snapshot.
fn check_edit(text: &str, edits: &[(&str, NewValue)]) -> String {
    let edits: Vec<(String, NewValue)> = edits
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect();
    let mut out = String::new();
    let _ = writeln!(out, "--- before\n{text}--- edits");
    for (key, value) in &edits {
        let _ = writeln!(out, "{key} = {value:?}");
    }
    match yaml_edit::apply(text, &edits) {
        Ok(after) => {
            let _ = write!(out, "--- after\n{after}");
        }
        Err(err) => {
            let _ = writeln!(out, "--- refused\n{err}");
        }
    }
    out
}

fn scalar(s: &str) -> NewValue {
    NewValue::Scalar(s.to_owned())
}

const COMMENTED: &str = "\
# Clauster on the build box
projects_root: ~/projects   # where the cards come from
port: 7621

usage:
  # what the badge shows
  mode: cost
  fx_rate: 1.0   # USD -> EUR, updated by hand
  currency: USD
  some_future_key: [1, 2]   # unknown to this version

metrics:
  show_disk: true
unknown_section:
  nested:
    deep: value # kept
";

#[test]
fn an_edit_keeps_comments_spacing_and_unknown_keys() {
    insta::assert_snapshot!(check_edit(
        COMMENTED,
        &[
            ("usage.fx_rate", scalar("0.92")),
            ("usage.currency", scalar("EUR")),
            ("metrics.show_disk", scalar("false")),
        ]
    ));
}

#[test]
fn a_missing_key_joins_its_section_and_a_missing_section_is_appended() {
    insta::assert_snapshot!(check_edit(
        COMMENTED,
        &[
            ("usage.currency_symbol", scalar("\"€\"")),
            ("metrics.poll_seconds", scalar("2.0")),
            ("logs.keep_rotated", scalar("3")),
            ("log_level", scalar("debug")),
        ]
    ));
}

#[test]
fn an_empty_or_null_section_takes_the_key() {
    insta::assert_snapshot!(check_edit(
        "usage:\nmetrics: ~   # off for now\nport: 7621\n",
        &[
            ("usage.fx_rate", scalar("2.5")),
            ("metrics.show_disk", scalar("false")),
        ]
    ));
}

#[test]
fn quoted_values_with_hashes_and_values_below_their_key_are_replaced_whole() {
    insta::assert_snapshot!(check_edit(
        "usage:\n  currency_symbol: \"# x\"  # the symbol\n  currency: 'U''S'\n  fx_rate:\n    1.5\n",
        &[
            ("usage.currency_symbol", scalar("\"kr \"")),
            ("usage.currency", scalar("SEK")),
            ("usage.fx_rate", scalar("10.9")),
        ]
    ));
}

#[test]
fn lists_and_the_events_map_are_written_in_block_style() {
    insta::assert_snapshot!(check_edit(
        "clone:\n  allowed_schemes:\n  - https\n  - ssh   # for the mirror\n  timeout_seconds: 300\nwebhooks:\n  events:\n    crash: true\n",
        &[
            (
                "clone.allowed_schemes",
                NewValue::List(vec!["https".into()])
            ),
            ("clone.allowed_private_cidrs", NewValue::List(vec![])),
            (
                "webhooks.events",
                NewValue::Map(vec![
                    ("crash".into(), "false".into()),
                    ("permission-needed".into(), "true".into()),
                ]),
            ),
        ]
    ));
}

#[test]
fn text_in_a_block_scalar_is_never_taken_for_a_key() {
    insta::assert_snapshot!(check_edit(
        "notes: |\n  usage:\n    fx_rate: 3\nusage:\n  mode: tokens\n",
        &[("usage.fx_rate", scalar("4.0"))]
    ));
}

#[test]
fn crlf_line_ends_are_kept() {
    let out = yaml_edit::apply(
        "usage:\r\n  fx_rate: 1.0\r\n",
        &[("usage.fx_rate".to_owned(), scalar("2.0"))],
    )
    .expect("edits");
    assert_eq!(out, "usage:\r\n  fx_rate: 2.0\r\n");
}

#[test]
fn flow_style_anchors_aliases_and_merge_keys_are_refused_with_the_reason() {
    let cases = [
        ("usage: {fx_rate: 1.0}\n", "usage.fx_rate"),
        ("usage:\n  prices: {a: 1}\n", "usage.prices"),
        ("{usage: {fx_rate: 1.0}}\n", "usage.fx_rate"),
        ("base: &b\n  fx_rate: 2.0\nusage: *b\n", "usage.fx_rate"),
        ("usage: &u\n  fx_rate: 2.0\nother: *u\n", "usage.fx_rate"),
        ("base: &b 2.0\nusage:\n  fx_rate: *b\n", "usage.fx_rate"),
        (
            "base: &b\n  fx_rate: 2.0\nusage:\n  <<: *b\n  mode: cost\n",
            "usage.fx_rate",
        ),
        ("usage: [1, 2\n", "usage.fx_rate"),
        ("usage: cost\n", "usage.fx_rate"),
    ];
    let mut out = String::new();
    for (text, key) in cases {
        out.push_str(&check_edit(text, &[(key, scalar("3.0"))]));
        out.push('\n');
    }
    insta::assert_snapshot!(out);
}

#[test]
fn an_empty_file_gets_the_sections() {
    insta::assert_snapshot!(check_edit(
        "",
        &[
            ("usage.fx_rate", scalar("2.0")),
            ("usage.currency", scalar("EUR")),
            (
                "clone.allowed_schemes",
                NewValue::List(vec!["https".into()])
            ),
        ]
    ));
}

/// The edited file loads, with the new values, through the real loader.
#[test]
fn an_edited_file_loads_with_the_new_values() {
    let edits = [
        ("usage.fx_rate", json!(0.92)),
        ("usage.currency", json!("EUR")),
        ("instance_defaults.max_bridges", json!(4)),
        ("log_format", json!("json")),
    ];
    let edits: Vec<(String, NewValue)> = edits
        .iter()
        .map(|(k, v)| {
            let field = Tier::Basic.field(k).expect("allowlisted");
            ((*k).to_owned(), check(field, v).expect("valid"))
        })
        .collect();
    let text = yaml_edit::apply(COMMENTED, &edits).expect("edits");
    let loaded = load(&ConfigInput {
        text: Some(text),
        home: Some("/home/op".into()),
        ..ConfigInput::default()
    })
    .expect("loads");
    let c = &loaded.config;
    assert!((c.usage.fx_rate - 0.92).abs() < f64::EPSILON);
    assert_eq!(c.usage.currency, "EUR");
    assert_eq!(c.instance_defaults.max_bridges, Some(4));
    for key in ["usage.fx_rate", "usage.currency", "log_format"] {
        assert_eq!(
            value(c, key),
            Some(edits.iter().find(|(k, _)| k == key).map(|_| match key {
                "usage.fx_rate" => json!(0.92),
                "usage.currency" => json!("EUR"),
                _ => json!("json"),
            }))
            .flatten()
        );
    }
}

/// Every allowlisted key has a getter and a spec type; none names a secret, auth, bind,
/// path or code-executing setting.
#[test]
fn the_allowlists_are_readable_and_hold_no_sensitive_key() {
    let config = load(&ConfigInput {
        home: Some("/home/op".into()),
        ..ConfigInput::default()
    })
    .expect("defaults")
    .config;
    // Sections and keys that are secrets, auth, bind, paths or run code.
    let forbidden_sections = [
        "auth",
        "tls",
        "projects",
        "config_write",
        "login_shepherd",
        "mcp",
        "claustrum",
        "db",
        "ui",
    ];
    let forbidden_words = [
        "host",
        "port",
        "projects_root",
        "state_dir",
        "binary",
        "hash",
        "secret",
        "password",
        "urls",
        "env",
        "path_append",
        "root_path",
        "config_dir",
        "node_from_nvm",
        "prices",
    ];
    for tier in [Tier::Basic, Tier::Advanced] {
        for field in tier.fields() {
            assert!(
                value(&config, field.key).is_some(),
                "{} has no getter",
                field.key
            );
            let mut segments = field.key.split('.');
            let section = segments.next().unwrap_or_default();
            assert!(
                !forbidden_sections.contains(&section),
                "{} must not be editable",
                field.key
            );
            assert!(
                !field.key.split('.').any(|s| forbidden_words.contains(&s)),
                "{} must not be editable",
                field.key
            );
        }
    }
    assert_eq!(value(&config, "auth.password_hash"), None);
    assert_eq!(value(&config, "webhooks.urls"), None);
    assert!(Tier::Basic.field("clone.enabled").is_none());
    assert!(Tier::Advanced.field("usage.fx_rate").is_none());
}

#[test]
fn submitted_values_are_checked_against_type_and_range() {
    let cases = [
        ("instance_defaults.capacity", json!(0)),
        ("instance_defaults.capacity", json!(2.5)),
        ("instance_defaults.capacity", json!("3")),
        ("instance_defaults.max_bridges", json!(null)),
        ("instance_defaults.session_name_prefix", json!(null)),
        ("claude.startup_grace_seconds", json!(0)),
        ("claude.startup_grace_seconds", json!(0.5)),
        ("claude.stop_grace_seconds", json!(61)),
        ("usage.fx_rate", json!(1)),
        ("usage.mode", json!("off")),
        ("usage.mode", json!("never")),
        ("usage.currency", json!("EUR\n: x")),
        ("usage.currency_symbol", json!("kr")),
        ("usage.currency_symbol", json!("yes")),
        ("log_format", json!(true)),
        ("clone.allowed_schemes", json!(["https", 3])),
        ("clone.allowed_private_cidrs", json!(["10.0.0.0/8"])),
        ("webhooks.events", json!({"crash": false})),
        ("webhooks.events", json!({"not-an-event": true})),
        ("webhooks.events", json!({"crash": "no"})),
        ("webhooks.retries", json!(11)),
    ];
    let mut out = String::new();
    for (key, value) in cases {
        let field = Tier::Basic
            .field(key)
            .or_else(|| Tier::Advanced.field(key))
            .expect("allowlisted");
        let _ = writeln!(out, "{key} = {value} -> {:?}", check(field, &value));
    }
    insta::assert_snapshot!(out);
}

#[test]
fn present_keys_come_from_the_file_and_a_broken_file_says_none() {
    let keys = present("usage:\n  show_cost: false\n  fx_rate: 2\n", Tier::Basic).expect("parses");
    assert_eq!(
        keys.into_iter().collect::<Vec<_>>(),
        vec!["usage.fx_rate", "usage.show_cost"]
    );
    assert_eq!(present("usage: {fx_rate: 1.0\n", Tier::Basic), None);
}

/// The fields marked live are exactly those `copy_live` copies.
#[test]
fn the_live_fields_are_the_ones_copied_live() {
    let base = load(&ConfigInput {
        home: Some("/home/op".into()),
        ..ConfigInput::default()
    })
    .expect("defaults")
    .config;
    for tier in [Tier::Basic, Tier::Advanced] {
        for field in tier.fields() {
            let mut into = base.clone();
            assert_eq!(
                copy_live(&mut into, &base, field.key),
                field.live,
                "{}",
                field.key
            );
        }
    }
}
