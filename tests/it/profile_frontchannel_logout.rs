//! The OpenID RP certification's Front-Channel Logout profile
//! (`oidcc-client-front-channel-logout-rp-basic`): after an RP-initiated logout, the
//! provider's logout page frames the app's `frontchannel_logout_uri` with `iss` and `sid`,
//! then sends the browser back to the `post_logout_redirect_uri`. Named after the conformance
//! suite's test, against the misbehaving provider, with the memory store. The same checks per
//! session store (a wrong `iss` or `sid` ends nothing) are
//! `sessions::<store>::front_channel_logout_needs_the_sessions_sid`; a provider page framing
//! the URI in a real browser is `browser::frontchannel_logout_at_the_provider`.

use crate::common::app::*;
use crate::common::fake_op::FakeOp;
use rocket::http::{Accept, Cookie, Status};
use serde_json::json;

const SESSION: &str = "oidc_session_default";

#[rocket::async_test]
async fn oidcc_client_test_rp_frontchannel_rpinitlogout() {
    let op = FakeOp::start().await;
    op.set(|b| {
        b.id_token_claims
            .insert("sid".into(), json!("op-session-1"));
    });
    let client = TestApp::quickstart()
        .provider(&op)
        .oidc("[default.oidc.session]\nstore = \"memory\"")
        .start()
        .await;
    log_in(&client).await;
    let copy = client.cookies().get(SESSION).unwrap().value().to_string();

    // The app's logout sends the browser to the provider.
    let response = browse_same_origin(&client, "/logout").await;
    assert_eq!(response.status(), Status::SeeOther);
    let end_session = location(&response);
    assert!(end_session.starts_with(&format!("{}/logout?", op.issuer)));
    // The provider's page frames the app's frontchannel_logout_uri, across sites: no cookie.
    let framed = format!("/logout/frontchannel?iss={}&sid=op-session-1", op.issuer);
    let response = client.get(framed).dispatch().await;
    assert_eq!(response.status(), Status::Ok);
    assert_eq!(
        response.headers().get_one("Cache-Control"),
        Some("no-store")
    );
    assert_eq!(
        response.headers().get_one("Content-Security-Policy"),
        Some(format!("frame-ancestors {}", op.issuer).as_str()),
        "only the provider may frame it"
    );
    // Then back to the post_logout_redirect_uri with the app's state.
    let back = provider_browser().get(&end_session).send().await.unwrap();
    let back = back.headers()["location"].to_str().unwrap().to_string();
    let response = browse(&client, &path_and_query(&back)).await;
    assert_eq!(response.status(), Status::SeeOther);
    assert_eq!(location(&response), "/");
    let whoami = client
        .get("/whoami")
        .header(Accept::JSON)
        .cookie(Cookie::new(SESSION, copy))
        .dispatch()
        .await;
    assert_eq!(
        whoami.status(),
        Status::Unauthorized,
        "no copy of the session cookie opens it"
    );
}

/// The provider's framed request comes without the session cookie (cross-site): by the
/// spec nothing else ends; with `frontchannel_logout_by_sid` the stored sessions of that
/// `sid` end on the server. With cookie sessions the setting stops launch (every forged
/// `sid` would write a mark).
#[rocket::async_test]
async fn a_framed_request_without_the_cookie_ends_the_sid_only_when_allowed() {
    for by_sid in [false, true] {
        let op = FakeOp::start().await;
        op.set(|b| {
            b.id_token_claims
                .insert("sid".into(), json!("op-session-2"));
        });
        // Untracked: each request carries exactly the cookies given to it.
        let client = TestApp::quickstart()
            .provider(&op)
            .oidc(&format!(
                "frontchannel_logout_by_sid = {by_sid}\n[default.oidc.session]\nstore = \"memory\""
            ))
            .start_untracked()
            .await;
        let owned =
            |response: &rocket::local::asynchronous::LocalResponse<'_>| -> Vec<Cookie<'static>> {
                response
                    .cookies()
                    .iter()
                    .map(|c| c.clone().into_owned())
                    .collect()
            };
        let started = browse(&client, "/login").await;
        let transaction = owned(&started);
        let callback = authorize_at_once(&location(&started)).await;
        let finished = client
            .get(path_and_query(&callback))
            .header(Accept::HTML)
            .cookies(transaction)
            .dispatch()
            .await;
        assert_eq!(finished.status(), Status::SeeOther, "logged in");
        let session: Vec<Cookie<'static>> = owned(&finished)
            .into_iter()
            .filter(|c| c.name().starts_with(SESSION))
            .collect();
        let whoami = || {
            client
                .get("/whoami")
                .header(Accept::JSON)
                .cookies(session.clone())
                .dispatch()
        };
        assert_eq!(whoami().await.status(), Status::Ok);
        // A made-up sid ends nothing, either way.
        let made_up = format!("/logout/frontchannel?iss={}&sid=someone-else", op.issuer);
        assert_eq!(client.get(made_up).dispatch().await.status(), Status::Ok);
        assert_eq!(whoami().await.status(), Status::Ok);
        // The provider's frame, without the cookie.
        let framed = format!("/logout/frontchannel?iss={}&sid=op-session-2", op.issuer);
        assert_eq!(client.get(framed).dispatch().await.status(), Status::Ok);
        let expected = if by_sid {
            Status::Unauthorized
        } else {
            Status::Ok
        };
        assert_eq!(
            whoami().await.status(),
            expected,
            "frontchannel_logout_by_sid = {by_sid}"
        );
    }
    let op = FakeOp::start().await;
    TestApp::quickstart()
        .provider(&op)
        .oidc("frontchannel_logout_by_sid = true")
        .launch_fails()
        .await;
}
