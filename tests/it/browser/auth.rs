//! Signing in and out of the dashboard in Chromium (ui.md §2, §11).

use super::*;

/// Auth on: the dashboard sends the browser to the login page; after signing in through the
/// plain form the page loads under the CSP (nonce'd scripts, `wasm-unsafe-eval`), hydrates,
/// and its event socket passes the cookie-plus-Origin rule.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
pub(crate) async fn sign_in_then_the_dashboard_hydrates_under_the_csp() {
    let (sandbox, _) = untrusted_project("alpha", &[".git"]);
    password_config(&sandbox);
    let server = start_server(&sandbox, None, &[], &[]);
    let base = server.base.clone();
    let log = server.log.clone();

    with_browser(&sandbox, move |client| async move {
        goto_dashboard(&client, &base).await;
        wait_css(&client, "input[name='password']", 10, &log).await;
        assert!(
            client
                .current_url()
                .await
                .unwrap()
                .path()
                .ends_with("/login")
        );
        submit_password(&client, "wrong", &log).await;
        let error = wait_css(&client, ".login-error", 10, &log).await;
        assert_eq!(error.text().await.unwrap(), "Wrong password.");

        submit_password(&client, "browser-pw", &log).await;
        wait_css(&client, "html[data-hydrated='true']", 30, &log).await;
        wait_css(&client, "[data-project='alpha']", 5, &log).await;
        screenshot(&client, "dashboard-signed-in").await;
    })
    .await;
}

/// ui.md §2 and §11: **Log out** in the header ends the session and lands on the login page;
/// an API call answered 401 sends the page there; a session revoked elsewhere (a logout from
/// another device) closes the event socket with 1008 and sends the open page there without
/// any click.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_out_and_a_revoked_session_land_on_the_login_page() {
    let (sandbox, _) = untrusted_project("alpha", &[]);
    password_config(&sandbox);
    let server = start_server(&sandbox, None, &[], &[]);
    let base = server.base.clone();
    let log = server.log.clone();
    with_browser(&sandbox, move |client| async move {
        sign_in(&client, &base, &log).await;
        click(&client, "form.log-out button", &log).await;
        wait_css(&client, "input[name='password']", 10, &log).await;
        assert!(client.current_url().await.unwrap().path().ends_with("/login"));
        // The cookie is gone: the dashboard sends the browser back to login.
        client.goto(&format!("{base}/")).await.unwrap();
        wait_css(&client, "input[name='password']", 10, &log).await;
        assert!(client.current_url().await.unwrap().path().ends_with("/login"));

        // Signed in, then the cookie is lost (the event socket, authenticated at its
        // handshake, stays open): the next API call's 401 sends the page to login.
        sign_in(&client, &base, &log).await;
        client.delete_all_cookies().await.unwrap();
        click(&client, "[data-project='alpha'] details.menu > summary", &log).await;
        click(&client, "[data-project='alpha'] button.edit-claude-md", &log).await;
        assert!(
            until(&client, "return location.pathname.endsWith('/login') && !!document.querySelector(\"input[name='password']\")", 15).await,
            "a 401 from the API did not go to the login page"
        );

        // Signed in again; another device logs out, which revokes every session.
        sign_in(&client, &base, &log).await;
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let signed = http
            .post(format!("{base}/login"))
            .header("origin", &base)
            .form(&[("password", "browser-pw")])
            .send()
            .await
            .unwrap();
        assert_eq!(signed.status().as_u16(), 303);
        let cookie = signed.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
        let out = http
            .post(format!("{base}/logout"))
            .header("origin", &base)
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(out.status().as_u16(), 303);
        assert!(
            until(&client, "return location.pathname.endsWith('/login') && !!document.querySelector(\"input[name='password']\")", 15).await,
            "the revoked page did not go to the login page"
        );
    })
    .await;
    drop(server);
}
