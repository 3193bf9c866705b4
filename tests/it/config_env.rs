//! Configuration the Rocket way: `ROCKET_CONFIG` names the file and `ROCKET_OIDC` overrides
//! keys in it. One test, since it changes the process environment.

use crate::common::app::{json, secret_key, start_login};
use crate::common::fake_op::{self, FakeOp};
use rocket::http::{Accept, Status};
use rocket::local::asynchronous::Client;

#[rocket::async_test]
async fn rocket_config_and_rocket_oidc_configure_the_quickstart() {
    let op = FakeOp::start().await;
    let dir = std::env::temp_dir().join(format!("oidc-config-env-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("Rocket.toml");
    std::fs::write(
        &file,
        format!(
            r#"
[default]
secret_key = "{}"
log_level = "critical"
[default.oidc]
redirect_uri = "http://127.0.0.1:8000/from_file"
[default.oidc.providers.default]
issuer = "{}"
client_id = "{}"
client_secret = "{}"
"#,
            secret_key(),
            op.issuer,
            fake_op::CLIENT_ID,
            fake_op::CLIENT_SECRET
        ),
    )
    .unwrap();
    std::env::set_var("ROCKET_CONFIG", &file);
    std::env::set_var(
        "ROCKET_OIDC",
        r#"{redirect_uri="http://127.0.0.1:8000/from_env", clock_skew=30}"#,
    );

    let client = Client::tracked(crate::common::app::quickstart_default_rocket())
        .await
        .expect("launches from ROCKET_CONFIG");
    let auth_url = start_login(&client, "/login").await;
    assert!(
        auth_url.starts_with(&op.issuer),
        "issuer from the file: {auth_url}"
    );
    assert_eq!(
        crate::common::app::param(&auth_url, "redirect_uri").as_deref(),
        Some("http://127.0.0.1:8000/from_env"),
        "redirect_uri from ROCKET_OIDC"
    );
    // The callback is mounted at the overriding path, not at the file's.
    let response = client
        .get("/from_env?code=x")
        .header(Accept::JSON)
        .dispatch()
        .await;
    assert_eq!(response.status(), Status::BadRequest);
    assert_eq!(
        json(&response.into_string().await.unwrap())["error"],
        "invalid_request"
    );
    let response = client.get("/from_file?code=x").dispatch().await;
    assert_eq!(response.status(), Status::NotFound);

    // A bad override stops launch.
    std::env::set_var("ROCKET_OIDC", r#"{redirect_uri="http://example.com/cb"}"#);
    let error = Client::untracked(crate::common::app::quickstart_default_rocket())
        .await
        .expect_err("an http redirect_uri off loopback stops launch");
    assert!(matches!(
        error.kind(),
        rocket::error::ErrorKind::FailedFairings(_)
    ));
    std::env::remove_var("ROCKET_OIDC");
    std::env::remove_var("ROCKET_CONFIG");
    let _ = std::fs::remove_dir_all(dir);
}
