//! Rows 120–126: the restart-policy route (issue 25).

use super::*;

// Rows 120–126: the restart-policy route (issue 25, bridges.md §7.9, http-api.md §5.3).
#[tokio::test]
async fn rows_120_to_126_the_project_policy_route() {
    let bench = Bench::start(usual_sandbox(), &[]);
    let policy = |name: &str| format!("/api/projects/{name}/policy");
    bench
        .table(vec![
            (
                120,
                put(policy("alpha"), json!({"restart": "always"})),
                422,
                is("invalid restart policy 'always'; expected never or on-failure"),
            ),
            (
                121,
                put(policy("alpha"), json!({"keep_running": "yes"})),
                422,
                is("keep_running must be a boolean"),
            ),
            (
                121,
                put(policy("alpha"), json!({"restart": 5})),
                422,
                is("restart must be a string"),
            ),
            (
                122,
                put(policy("alpha"), json!({"wanted": true})),
                422,
                is("unknown field 'wanted'; a policy has restart and keep_running"),
            ),
            (
                123,
                put(policy("alpha"), json!([true])),
                422,
                is("request body must be a JSON object"),
            ),
            (
                123,
                put(policy("alpha"), json!({})),
                422,
                is(
                    "nothing to change: give restart (never or on-failure) and/or keep_running (true or false)",
                ),
            ),
            (
                124,
                put(policy("nope"), json!({"keep_running": true})),
                404,
                is("project 'nope' not found"),
            ),
            (
                124,
                get(policy("nope")),
                404,
                is("project 'nope' not found"),
            ),
            (
                125,
                put(policy("-rf"), json!({"keep_running": true})),
                422,
                invalid_name("-rf"),
            ),
            (
                126,
                put(
                    policy("alpha"),
                    json!({"restart": format!("on-failure\u{202e}{}", "x".repeat(3000))}),
                ),
                422,
                is(format!(
                    "invalid restart policy '{}'; expected never or on-failure",
                    clauster_core::names::echo(&format!("on-failure\u{202e}{}", "x".repeat(3000)))
                )),
            ),
        ])
        .await;
    // Nothing of the refused requests was stored.
    let answer = get(policy("alpha")).send(&bench.server.base).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(
        answer.json(),
        json!({"project": "alpha", "restart": "never", "keep_running": false, "wanted": true})
    );
}
