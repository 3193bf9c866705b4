//! Support for the login tests against the misbehaving provider, no tests of its own: the
//! quickstart with a catcher that also shows the developer detail, whole logins with the
//! provider's answer in the query or posted, and [`Refusal`], a login the app must refuse.
//! Used by `callback_security` and the certification profiles (`profile_basic`,
//! `profile_form_post`, `profile_config`...).

use crate::common::app::*;
use crate::common::fake_op::FakeOp;
use rocket::http::{Accept, Status};
use rocket::local::asynchronous::Client;
use serde_json::{json, Value};

pub(crate) const SESSION_COOKIE: &str = "oidc_session_default";

/// The quickstart's catcher shows users only `error_description()`; for the callback,
/// these tests also render `developer_detail()` (what the log says), to assert both.
#[rocket::catch(default)]
pub(crate) fn callback_error_with_detail(
    status: Status,
    req: &rocket::Request<'_>,
) -> (Status, rocket::serde::json::Json<Value>) {
    let body = match rocket_oidc_auth::OidcError::of(req) {
        Some(err) => json!({
            "error": err.error(),
            "message": err.error_description(),
            "detail": err.developer_detail(),
        }),
        None => json!({ "error": status.reason_lossy(), "message": null }),
    };
    (status, rocket::serde::json::Json(body))
}

/// The quickstart against a new fake provider, `oidc_extra` lines under `[default.oidc]`
/// and `provider_extra` lines under the provider's table.
pub(crate) async fn setup_with(oidc_extra: &str, provider_extra: &str) -> (FakeOp, Client) {
    let op = FakeOp::start().await;
    let rocket = TestApp::quickstart()
        .provider(&op)
        .oidc(oidc_extra)
        .provider_table(provider_extra)
        .rocket()
        .register(
            "/redirect_uri",
            rocket::catchers![callback_error_with_detail],
        );
    let client = Client::tracked(rocket)
        .await
        .expect("the quickstart launches");
    (op, client)
}

/// [`setup_with`] and nothing more.
pub(crate) async fn setup() -> (FakeOp, Client) {
    setup_with("", "").await
}

/// The developer detail of an error body (see `callback_error_with_detail`).
pub(crate) fn detail(body: &str) -> String {
    json(body)["detail"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// How the provider's answer reaches the callback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ResponseMode {
    /// In the callback's query (the default for `response_type = "code"`).
    Query,
    /// Posted to the callback (`response_mode = "form_post"`), as a form_post provider's
    /// page does.
    FormPost,
}

impl ResponseMode {
    /// The provider table's line that asks for this mode.
    pub(crate) fn provider_line(self) -> &'static str {
        match self {
            ResponseMode::Query => "",
            ResponseMode::FormPost => "response_mode = \"form_post\"",
        }
    }

    /// A whole login through `/login`, the answer brought to the callback this way: the
    /// callback's status and body.
    pub(crate) async fn login(self, client: &Client) -> (Status, String) {
        match self {
            ResponseMode::Query => login(client).await,
            ResponseMode::FormPost => login_posted(client).await,
        }
    }
}

/// A whole login through /login with the provider's answer posted to the callback (as a
/// form_post provider's page does); returns the callback's status and body.
pub(crate) async fn login_posted(client: &Client) -> (Status, String) {
    let auth_url = start_login(client, "/login").await;
    let callback = url::Url::parse(&authorize_at_once(&auth_url).await).unwrap();
    let response = client
        .post(callback.path().to_string())
        .header(rocket::http::ContentType::Form)
        .header(Accept::HTML)
        .body(callback.query().unwrap_or_default())
        .dispatch()
        .await;
    let status = response.status();
    (status, response.into_string().await.unwrap_or_default())
}

/// A whole login through /login; returns the callback's status and body.
pub(crate) async fn login(client: &Client) -> (Status, String) {
    let response = log_in_at_once(client, "/login").await;
    let status = response.status();
    (status, response.into_string().await.unwrap_or_default())
}

/// A local logout from the app's own page; the session cookie is gone after it.
pub(crate) async fn log_out(client: &Client) {
    client
        .get("/logout")
        .header(rocket::http::Header::new("Sec-Fetch-Site", "same-origin"))
        .dispatch()
        .await;
    assert!(client.cookies().get(SESSION_COOKIE).is_none());
}

/// Sets a claim of the ID token from the token endpoint (`null` removes it).
pub(crate) fn set_claim(op: &FakeOp, claim: &str, value: Value) {
    let claim = claim.to_string();
    op.set(move |b| {
        b.id_token_claims.insert(claim, value);
    });
}

/// No session: the cookie jar has none, and an API call gets 401.
pub(crate) async fn assert_no_session(client: &Client) {
    assert!(
        client.cookies().get(SESSION_COOKIE).is_none(),
        "no session cookie may be set"
    );
    let response = client.get("/whoami").header(Accept::JSON).dispatch().await;
    assert_eq!(response.status(), Status::Unauthorized);
}

/// A login the app must refuse: how the provider misbehaves, and what the catcher gets.
#[derive(Clone, Copy)]
pub(crate) struct Refusal {
    /// Lines under `[default.oidc]`.
    pub(crate) oidc: &'static str,
    /// Lines under the provider's table.
    pub(crate) provider: &'static str,
    pub(crate) misbehave: fn(&FakeOp),
    pub(crate) status: Status,
    pub(crate) error: &'static str,
    /// Words the developer detail says (not checked when empty).
    pub(crate) detail: &'static str,
    /// What users are shown, where the test knows it exactly (else: a description).
    pub(crate) message: Option<&'static str>,
    /// Endpoints the app must not call once it has seen the misbehaviour.
    pub(crate) not_called: &'static [&'static str],
}

/// A bad ID token: refused with 401 `invalid_id_token`, and no UserInfo call after it.
pub(crate) const BAD_ID_TOKEN: Refusal = Refusal {
    oidc: "",
    provider: "",
    misbehave: |_| {},
    status: Status::Unauthorized,
    error: "invalid_id_token",
    detail: "",
    message: None,
    not_called: &["/userinfo"],
};

/// A whole login through `/login` with the provider misbehaving as `case` says: the catcher
/// gets `case`'s status and error code within 10 s, and no session is set. Twice: with the
/// answer in the callback's query, and posted to it (`response_mode = "form_post"`, the RP
/// certification's Form Post profile runs every Basic test that way).
pub(crate) async fn assert_refused(name: &str, case: Refusal) {
    assert_refused_via(name, case, ResponseMode::Query).await;
    assert_refused_via(&format!("{name} (form_post)"), case, ResponseMode::FormPost).await;
}

/// [`assert_refused`] with the answer brought to the callback one way only.
pub(crate) async fn assert_refused_via(name: &str, case: Refusal, mode: ResponseMode) {
    let provider = format!("{}\n{}", case.provider, mode.provider_line());
    let (op, client) = setup_with(case.oidc, &provider).await;
    (case.misbehave)(&op);
    let started = std::time::Instant::now();
    let (status, body) = mode.login(&client).await;
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "{name}: answered within 10 s"
    );
    assert_eq!(status, case.status, "{name}: {body}");
    let parsed = json(&body);
    assert_eq!(parsed["error"], case.error, "{name}: {body}");
    match case.message {
        Some(message) => assert_eq!(parsed["message"], message, "{name}: {body}"),
        None => assert!(
            parsed["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{name}: a description: {body}"
        ),
    }
    if !case.detail.is_empty() {
        assert!(
            detail(&body).contains(case.detail),
            "{name}: the developer detail should say {:?}: {body}",
            case.detail
        );
    }
    for path in case.not_called {
        assert_eq!(
            op.hits(path),
            0,
            "{name}: no call to {path} after the refusal"
        );
    }
    assert_no_session(&client).await;
}
