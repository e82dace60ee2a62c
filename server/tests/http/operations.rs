//! Operations endpoints and API conventions shared by every route: health, readiness, metrics,
//! the OpenAPI document, problem+json for unknown routes, malformed and oversized bodies.

use crate::util::{BACKENDS, TestServer, assert_problem, client, get, read};

#[actix_rt::test]
async fn health_readiness_metrics_and_openapi() {
    for backend in BACKENDS {
        let Some(server) = TestServer::start(backend, "health_readiness_metrics_and_openapi")
        else {
            continue;
        };
        let health = get(&server.url("/healthz")).await;
        assert_eq!(health.status, 200);
        assert_eq!(health.json["status"], "ok");

        let ready = get(&server.url("/readyz")).await;
        assert_eq!(ready.status, 200, "{backend:?}: {}", ready.text);
        assert_eq!(ready.json["status"], "ok");

        let doc = get(&server.url("/openapi.json")).await;
        assert_eq!(doc.status, 200);
        assert!(
            doc.json["openapi"]
                .as_str()
                .unwrap_or("")
                .starts_with("3.1"),
            "OpenAPI version {}",
            doc.json["openapi"]
        );
        for path in [
            "/healthz",
            "/readyz",
            "/metrics",
            "/openapi.json",
            "/v1/admin/fund",
        ] {
            assert!(doc.json["paths"][path].is_object(), "{path} documented");
        }

        let metrics = get(&server.url("/metrics")).await;
        assert_eq!(metrics.status, 200);
        assert!(metrics.content_type.starts_with("text/plain"));
        // The requests above were counted under their route pattern.
        assert!(
            metrics.text.contains(
                r#"purse_http_requests_total{method="GET",route="/healthz",status="200"} 1"#
            ),
            "{}",
            metrics.text
        );
        assert!(
            metrics
                .text
                .contains("purse_http_request_duration_seconds_bucket")
        );
    }
}

#[actix_rt::test]
async fn unknown_routes_and_bad_bodies_are_problems() {
    let Some(server) = TestServer::start(
        crate::util::Backend::Sqlite,
        "unknown_routes_and_bad_bodies_are_problems",
    ) else {
        return;
    };
    let missing = get(&server.url("/v1/no-such-thing")).await;
    assert_problem(&missing, 404, "route_not_found");

    // Unknown route with a body: still a problem, never plain text.
    let reply = read(
        client()
            .post(server.url("/nope"))
            .insert_header(("content-type", "application/json"))
            .send_body("{}")
            .await
            .expect("sent"),
    )
    .await;
    assert_problem(&reply, 404, "route_not_found");

    // Metrics do not grow a label per probed path.
    let metrics = get(&server.url("/metrics")).await;
    assert!(!metrics.text.contains("no-such-thing"));
    assert!(metrics.text.contains(r#"route="unmatched""#));
}

#[actix_rt::test]
async fn bodies_over_the_limit_and_wrong_types_are_problems() {
    const TOKEN: &str = "operator-token-for-tests-0123456789abcdef";
    let Some(server) = TestServer::start_with(
        crate::util::Backend::Sqlite,
        "bodies_over_the_limit_and_wrong_types_are_problems",
        |config| config.admin_token = Some(TOKEN.to_owned()),
    ) else {
        return;
    };
    let post = |body: Vec<u8>, content_type: &'static str| {
        let url = server.url("/v1/admin/fund");
        async move {
            read(
                client()
                    .post(url)
                    .insert_header(("content-type", content_type))
                    .insert_header(("authorization", format!("Bearer {TOKEN}")))
                    .send_body(body)
                    .await
                    .expect("sent"),
            )
            .await
        }
    };
    let mut big = br#"{"wallet_id":"wal_x","amount":"1","reference":""#.to_vec();
    big.extend(std::iter::repeat_n(b'a', 64 * 1024));
    big.extend(br#""}"#);
    assert_problem(&post(big, "application/json").await, 413, "body_too_large");
    assert_problem(
        &post(b"{not json".to_vec(), "application/json").await,
        400,
        "body_invalid",
    );
    assert_problem(
        &post(br#"{"wallet_id":"w","amount":"1"}"#.to_vec(), "text/plain").await,
        415,
        "unsupported_media_type",
    );
}
