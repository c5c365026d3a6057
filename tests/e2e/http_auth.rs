//! The token for addresses other than loopback: without one only loopback
//! is served; with one every endpoint but `/metrics` (unless asked) answers
//! 401 to a request without it, and a wrong, shorter or longer token, a
//! Basic header or a token in the API's query are refused alike.

use std::net::SocketAddr;
use std::time::Duration;

use weir_host::http;

use crate::http_support::*;

#[test]
fn without_a_token_only_loopback_is_served() {
    let job = long_job(500);
    // Refused before the job starts, naming the address and the way out.
    let output = job.run(&["--http", "0.0.0.0:0"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "weir served 0.0.0.0 without a token:\n{stderr}");
    for part in ["0.0.0.0:0", "without a token", "--http-token-file"] {
        assert!(stderr.contains(part), "the refusal lacks {part:?}:\n{stderr}");
    }
    assert!(!stderr.contains("running;"), "the job started:\n{stderr}");

    // An empty token file is no token; the error names the file.
    let empty = job.job.write("empty-token", " \n");
    let output = job.run(&["--http", "0.0.0.0:0", "--http-token-file", &empty.display().to_string()]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "weir took an empty token:\n{stderr}");
    assert!(stderr.contains(&empty.display().to_string()) && stderr.contains("empty"), "{stderr}");
    // Opting /metrics in means nothing without a token: refused.
    let output = job.run(&["--http", "127.0.0.1:0", "--http-metrics-need-token"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success() && stderr.contains("--http-token-file"), "{stderr}");

    // Embedders: the same rule.
    let refused = http::serve("0.0.0.0:0", http::Jobs::new()).map(|s| s.local_addr());
    let message = refused.expect_err("serve on 0.0.0.0 without a token").to_string();
    assert!(message.contains("0.0.0.0:0") && message.contains("without a token"), "{message}");
    let access = http::Access::with_token(TOKEN).expect("a token");
    let server = http::serve_with("0.0.0.0:0", http::Jobs::new(), access).expect("serve with a token");
    let addr = SocketAddr::from((std::net::Ipv4Addr::LOCALHOST, server.local_addr().port()));
    assert_unauthorized(&get(addr, "/jobs"), "GET /jobs without the token");
    assert_eq!(request_as(addr, "GET", "/jobs", TOKEN).json(), serde_json::json!({"jobs": []}));
    server.shutdown();
}

#[test]
fn a_token_guards_every_endpoint_but_metrics() {
    let spec = openapi();
    let job = long_job(200);
    let token_file = job.job.write("http-token", format!("{TOKEN}\n"));
    let token_file = token_file.display().to_string();
    let mut served = Served::start_on(&job, "0.0.0.0:0", &["--http-token-file", &token_file]);
    let addr = served.addr;
    let id = job.job_id.clone();
    assert!(served.stderr().contains("token required"), "{}", served.stderr());
    assert!(!served.stderr().contains(TOKEN), "the token is in the log:\n{}", served.stderr());

    // Without the token, and with a wrong one: every documented operation
    // answers the documented 401, /metrics alone answers.
    for (template, item) in spec["paths"].as_object().expect("paths") {
        for method in ["get", "post"] {
            if !item[method].is_object() {
                continue;
            }
            let path = template.replace("{id}", &id).replace("{n}", "1");
            let what = format!("{method} {path}");
            let without = request(addr, &method.to_uppercase(), &path).unwrap_or_else(|e| panic!("{what}: {e}"));
            let wrong = request_as(addr, &method.to_uppercase(), &path, "s3cret-token-0123456788");
            if template == "/metrics" {
                assert_eq!(without.status, 200, "{what} without the token: {}", without.body);
                assert!(without.body.contains("weir_job_running"), "{}", without.body);
                continue;
            }
            assert_unauthorized(&without, &format!("{what} without the token"));
            check_response(&spec, template, method, &without);
            assert_unauthorized(&wrong, &format!("{what} with a wrong token"));
            check_response(&spec, template, method, &wrong);
            let challenge = wrong.header("www-authenticate").unwrap_or_default();
            assert!(challenge.contains("invalid_token"), "{what}: {challenge}");
        }
    }
    // Nothing is learnt without it, not even which paths exist; a token of
    // another length, another scheme, a token in the query of the API: no.
    assert_unauthorized(&get(addr, "/nowhere"), "GET /nowhere");
    assert_unauthorized(&request_as(addr, "GET", "/jobs", "s3cret"), "a shorter token");
    assert_unauthorized(&request_as(addr, "GET", "/jobs", &format!("{TOKEN}x")), "a longer token");
    let basic = request_with(addr, "GET", "/jobs", &[("Authorization", &format!("Basic {TOKEN}"))]).expect("GET");
    assert_unauthorized(&basic, "Basic instead of Bearer");
    assert_unauthorized(&get(addr, &format!("/jobs?token={TOKEN}")), "the token in the API's query");

    // With the token (the scheme in any case): as without one on loopback.
    let listed = request_as(addr, "GET", "/jobs", TOKEN);
    assert_eq!(listed.status, 200, "{}", listed.body);
    let listed = check_response(&spec, "/jobs", "get", &listed);
    assert_eq!(listed["jobs"][0]["id"], id.as_str());
    let lower = request_with(addr, "GET", &format!("/jobs/{id}"), &[("authorization", &format!("bearer {TOKEN}"))]);
    assert_eq!(lower.expect("GET").status, 200);
    // The page also takes it from its address (what a browser opens).
    let page = get(addr, &format!("/?token={TOKEN}"));
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(page.header("referrer-policy"), Some("no-referrer"));
    assert_unauthorized(&get(addr, "/?token=wrong"), "the page with a wrong token");

    // A cancel without the token changes nothing: the job keeps running
    // and counting.
    let events = |addr| request_as(addr, "GET", &format!("/jobs/{id}"), TOKEN).json()["source"]["events"].as_u64();
    let before = events(addr);
    assert_unauthorized(&post(addr, &format!("/jobs/{id}/cancel")), "POST cancel without the token");
    assert_unauthorized(&request_as(addr, "POST", &format!("/jobs/{id}/cancel"), "wrong"), "POST cancel, wrong token");
    std::thread::sleep(Duration::from_millis(800));
    let details = request_as(addr, "GET", &format!("/jobs/{id}"), TOKEN).json();
    assert_eq!(details["status"], "RUNNING", "{details:#}");
    assert!(details["source"]["events"].as_u64() > before, "the job stopped counting: {details:#}");
    assert!(served.child.try_wait().is_ok_and(|status| status.is_none()), "weir ended:\n{}", served.stderr());

    // With the token: cancelled; weir exits as after Ctrl-C.
    let cancelled = request_as(addr, "POST", &format!("/jobs/{id}/cancel"), TOKEN);
    assert_eq!(cancelled.status, 202, "{}", cancelled.body);
    let (success, stderr) = served.wait();
    assert!(success, "weir failed after the API cancelled it:\n{stderr}");
    assert!(stderr.contains("cancelled"), "{stderr}");
}

#[test]
fn metrics_need_the_token_when_asked() {
    let job = long_job(500);
    let token_file = job.job.write("http-token", TOKEN);
    let token_file = token_file.display().to_string();
    // On loopback too, a token given is a token required.
    let served = Served::start(&job, &["--http-token-file", &token_file, "--http-metrics-need-token"]);
    let addr = served.addr;
    assert_unauthorized(&get(addr, "/metrics"), "GET /metrics without the token");
    check_response(&openapi(), "/metrics", "get", &get(addr, "/metrics"));
    assert_unauthorized(&get(addr, "/jobs"), "GET /jobs without the token");
    let metrics = request_as(addr, "GET", "/metrics", TOKEN);
    assert_eq!(metrics.status, 200, "{}", metrics.body);
    assert!(metrics.body.contains(&format!("weir_job_running{{job=\"{}\"}} 1", job.job_id)), "{}", metrics.body);
    let (success, stderr) = served.terminate();
    assert!(success, "weir failed after SIGTERM:\n{stderr}");
}
