//! Third-party-initiated login (OpenID Connect Core 4): `initiate_login_path` starts the
//! named provider's login, passes `login_hint` on, lands on `target_link_uri`, and refuses
//! an unknown issuer or a target outside the app. The RP certification's "3rd Party-Init"
//! profile is `profile_third_party_init`.

use crate::common::app::*;
use crate::common::fake_op::FakeOp;
use rocket::http::{ContentType, Status};
use rocket::local::asynchronous::Client;

/// Where the app takes third-party-initiated logins.
pub(crate) const PATH: &str = "/login/initiate";

/// The quickstart against `op`, taking initiated logins at [`PATH`].
pub(crate) async fn app(op: &FakeOp) -> Client {
    TestApp::quickstart()
        .provider(op)
        .oidc(&format!("initiate_login_path = \"{PATH}\""))
        .start()
        .await
}

/// A form-encoded query of `pairs`.
pub(crate) fn query(pairs: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

#[rocket::async_test]
async fn a_posted_initiation_works_too_and_lands_on_the_root_by_default() {
    let op = FakeOp::start().await;
    let client = app(&op).await;
    let response = client
        .post(PATH)
        .header(ContentType::Form)
        .body(query(&[("iss", &op.issuer)]))
        .dispatch()
        .await;
    assert_eq!(response.status(), Status::SeeOther);
    let callback = authorize_at_once(&location(&response)).await;
    let response = browse(&client, &path_and_query(&callback)).await;
    assert_eq!(response.status(), Status::SeeOther);
    assert_eq!(location(&response), "/");
}

#[rocket::async_test]
async fn an_unknown_issuer_or_a_foreign_target_is_400_and_never_a_redirect() {
    let op = FakeOp::start().await;
    let client = app(&op).await;
    let cases = [
        ("no iss", query(&[("login_hint", "alice")])),
        ("unknown iss", query(&[("iss", "https://evil.example")])),
        (
            "repeated iss",
            query(&[("iss", &op.issuer), ("iss", &op.issuer)]),
        ),
        (
            "foreign target",
            query(&[
                ("iss", &op.issuer),
                ("target_link_uri", "https://evil.example/"),
            ]),
        ),
        (
            "scheme-relative target",
            query(&[("iss", &op.issuer), ("target_link_uri", "//evil.example/")]),
        ),
        (
            "another port of this host",
            query(&[
                ("iss", &op.issuer),
                ("target_link_uri", "http://127.0.0.1:9999/"),
            ]),
        ),
    ];
    for (case, q) in cases {
        let response = browse(&client, &format!("{PATH}?{q}")).await;
        assert_eq!(response.status(), Status::BadRequest, "{case}");
        assert!(
            response.headers().get_one("Location").is_none(),
            "{case}: no redirect"
        );
        let body = json(&response.into_string().await.unwrap());
        assert_eq!(body["error"], "invalid_request", "{case}: {body}");
    }
    assert_eq!(op.hits("/authorize"), 0, "the provider was never involved");
}

#[rocket::async_test]
async fn without_initiate_login_path_there_is_no_such_route() {
    let op = FakeOp::start().await;
    let client = TestApp::quickstart().provider(&op).start().await;
    let uri = format!("{PATH}?{}", query(&[("iss", &op.issuer)]));
    assert_eq!(browse(&client, &uri).await.status(), Status::NotFound);
}

#[rocket::async_test]
async fn an_initiated_login_at_the_real_provider_lands_on_the_target() {
    use crate::common::clients::{callback_after, op_client};
    use crate::common::node_op::NodeOp;
    let secret = "a-long-enough-client-secret-for-the-initiated-login-0123456789";
    let clients = serde_json::json!([op_client(
        "app",
        serde_json::json!({ "client_secret": secret })
    )]);
    let op = NodeOp::start(&[("OP_CLIENTS", &clients.to_string())]);
    let client = TestApp::quickstart()
        .issuer(&op.issuer)
        .provider_table(&format!(
            "client_id = \"app\"\nclient_secret = \"{secret}\""
        ))
        .oidc(&format!("initiate_login_path = \"{PATH}\""))
        .start()
        .await;
    let uri = format!(
        "{PATH}?{}",
        query(&[
            ("iss", &op.issuer),
            ("login_hint", "carol"),
            ("target_link_uri", "http://127.0.0.1:8000/whoami"),
        ])
    );
    let response = browse(&client, &uri).await;
    assert_eq!(response.status(), Status::SeeOther);
    let auth_url = location(&response);
    assert_eq!(param(&auth_url, "login_hint").as_deref(), Some("carol"));
    let callback = callback_after(&client, &auth_url, "carol").await;
    assert_eq!(callback.status(), Status::SeeOther);
    assert_eq!(location(&callback), "/whoami", "lands on the target");
    let whoami = browse(&client, "/whoami").await;
    assert_eq!(whoami.status(), Status::Ok);
    assert!(whoami.into_string().await.unwrap().contains("carol"));
}
