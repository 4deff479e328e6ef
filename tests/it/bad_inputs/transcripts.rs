//! The transcript viewer's refusals (issue 21), with and without auth.

use super::*;

/// The transcript viewer's routes (issue 21): names, sessions and agents that are not files
/// of the project, and paths that try to leave it, are refused without touching anything.
#[tokio::test]
async fn transcript_viewer_refusals() {
    const S: &str = "11111111-1111-4111-8111-111111111111";
    let sandbox = usual_sandbox();
    plant_transcript(&sandbox, S);
    let bench = Bench::start(sandbox, &[]);
    let not_found = || is("transcript not found");
    bench
        .table(vec![
            (
                0,
                get("/api/projects/..%2Falpha/transcripts/x"),
                422,
                invalid_name("../alpha"),
            ),
            (
                0,
                get("/api/projects/al%20pha/transcripts/x/tail"),
                422,
                invalid_name("al pha"),
            ),
            (
                0,
                get("/api/projects/alpha/transcripts/..%2F..%2Fetc%2Fpasswd"),
                404,
                not_found(),
            ),
            (
                0,
                get("/api/projects/alpha/transcripts/%2Fetc%2Fpasswd/tail"),
                404,
                not_found(),
            ),
            (
                0,
                get("/api/projects/alpha/transcripts/a%00b"),
                404,
                not_found(),
            ),
            (
                0,
                get(format!(
                    "/api/projects/alpha/transcripts/{S}?agent=..%2F..%2Fx"
                )),
                404,
                not_found(),
            ),
            (
                0,
                get(format!("/api/projects/beta/transcripts/{S}")),
                404,
                not_found(),
            ),
            (
                0,
                get(format!("/api/projects/alpha/transcripts/{S}?cursor=1e9")),
                422,
                is("cursor must be an integer"),
            ),
            (
                0,
                get(format!(
                    "/api/projects/alpha/transcripts/{S}/turns/0/items/..%2F..%2Fetc%2Fpasswd"
                )),
                404,
                is("no such item in this turn"),
            ),
            (
                0,
                get(format!(
                    "/api/projects/alpha/transcripts/{S}/turns/-1/items/0"
                )),
                404,
                is("no such turn"),
            ),
            (0, get(format!("/p/alpha/s/{S}%2F..")), 404, Detail::Any),
            (0, get("/p/..%2Falpha/transcripts"), 422, Detail::Any),
        ])
        .await;
}

/// Row 161: a tail asked for from 0, before the start or past the end of a large transcript
/// answers at most 256 KiB of turns (plus its envelope), never the whole file (release
/// review F3: 65 MB for a 50 MB transcript).
#[tokio::test]
async fn a_transcript_tail_from_anywhere_is_bounded() {
    const S: &str = "11111111-1111-4111-8111-111111111111";
    let sandbox = usual_sandbox();
    let path = plant_transcript(&sandbox, S);
    let line = json!({"type": "user", "message": {"role": "user", "content": "z".repeat(60_000)}})
        .to_string()
        + "\n";
    std::fs::write(&path, line.repeat(40)).expect("a 2.4 MB transcript");
    let bench = Bench::start(sandbox, &[]);
    for (offset, reset) in [("0", false), ("-5", false), ("999999999999", true)] {
        let answer = bench
            .refuses(
                161,
                get(format!(
                    "/api/projects/alpha/transcripts/{S}/tail?offset={offset}"
                )),
                200,
                &Detail::Any,
            )
            .await;
        assert!(
            answer.body.len() < (256 << 10) + 4096,
            "offset {offset}: {} bytes",
            answer.body.len()
        );
        let tail = answer.json();
        assert_eq!(tail["reset"], reset, "offset {offset}");
        assert_eq!(tail["more"], !reset, "offset {offset}");
        let turns = tail["turns"].as_array().expect("turns").len();
        assert!((1..40).contains(&turns), "offset {offset}: {turns} turns");
    }
}

/// With authentication on, the viewer's routes need it like every other, and its socket is
/// closed with 1008 when the cookie session is logged out.
#[tokio::test]
async fn transcript_viewer_with_auth_on() {
    use futures_util::StreamExt as _;
    const S: &str = "11111111-1111-4111-8111-111111111111";
    let sandbox = password_sandbox("");
    let path = plant_transcript(&sandbox, S);
    let bench = Bench::start(sandbox, &[]);
    bench
        .refuses_unauthenticated(
            46,
            vec![
                get(format!("/api/projects/alpha/transcripts/{S}")),
                get(format!("/api/projects/alpha/transcripts/{S}/tail")),
            ],
        )
        .await;
    let page = bench
        .refuses(46, get(format!("/p/alpha/s/{S}")), 303, &Detail::Any)
        .await;
    assert_eq!(page.header("location"), "/login");
    assert_eq!(
        handshake(&bench.server.ws, &format!("/ws/transcript/alpha/{S}"), &[]).await,
        Err(403)
    );

    let cookie = session_cookie(&bench).await;
    let mut request = format!("{}/ws/transcript/alpha/{S}?offset=0", bench.server.ws)
        .into_client_request()
        .expect("a ws request");
    request
        .headers_mut()
        .insert("cookie", cookie.parse().expect("a header"));
    request
        .headers_mut()
        .insert("origin", bench.server.base.parse().expect("a header"));
    let (mut socket, _) = tokio_tungstenite::connect_async(request)
        .await
        .expect("the socket opens");
    let first = tokio::time::timeout(Duration::from_secs(20), socket.next())
        .await
        .expect("the turns within 20 s")
        .expect("a message")
        .expect("a frame");
    assert!(
        first.to_text().expect("text").contains("\"turns\""),
        "{first:?}"
    );
    let logout = post_empty("/logout")
        .session(&cookie, &bench.server.base)
        .send(&bench.server.base)
        .await;
    assert_eq!(logout.status, 303);
    let closed = loop {
        let message = tokio::time::timeout(Duration::from_secs(20), socket.next())
            .await
            .expect("a close within 20 s")
            .expect("a message")
            .expect("a frame");
        if let tungstenite::Message::Close(frame) = message {
            break frame.expect("a close frame");
        }
    };
    assert_eq!(
        (u16::from(closed.code), closed.reason.as_str()),
        (1008, "logged out")
    );
    drop(path);
}
