//! What `deploy/` ships is checked against the proxy it deploys: the
//! Kubernetes manifests, the Dockerfile and the Grafana dashboard.

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::Value;

use std::time::Duration;

use crate::support::{Running, msa_migrate, poll, workspace};

fn documents(file: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(file).unwrap();
    serde_saphyr::from_multiple::<Value>(&text)
        .unwrap_or_else(|err| panic!("{}: {err}", file.display()))
}

/// Every manifest kustomize applies, each document once.
fn manifests() -> Vec<Value> {
    let dir = workspace().join("deploy/kubernetes");
    let kustomization = &documents(&dir.join("kustomization.yaml"))[0];
    let listed: BTreeSet<String> = kustomization["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap().to_owned())
        .collect();
    let present: BTreeSet<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.ends_with(".yaml") && name != "kustomization.yaml")
        .collect();
    assert_eq!(
        listed, present,
        "kustomization.yaml must list every manifest"
    );
    listed
        .iter()
        .flat_map(|name| documents(&dir.join(name)))
        .collect()
}

fn find<'a>(docs: &'a [Value], kind: &str, name: &str) -> &'a Value {
    docs.iter()
        .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name}"))
}

fn port_of(listen: &str) -> u64 {
    listen.rsplit(':').next().unwrap().parse().unwrap()
}

#[test]
fn kubernetes_manifests_run_three_replicas_the_proxy_accepts() {
    let docs = manifests();
    let deployment = find(&docs, "Deployment", "msa-proxy");
    assert_eq!(deployment["spec"]["replicas"], 3);
    let pod = &deployment["spec"]["template"];
    let labels = &pod["metadata"]["labels"];
    let spec = &pod["spec"];
    assert_eq!(spec["securityContext"]["runAsNonRoot"], true);
    let container = &spec["containers"][0];
    let args: Vec<&str> = container["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert_eq!(args[0], "proxy");
    let config_path = args[args.iter().position(|a| *a == "--config").unwrap() + 1];

    // The configuration file comes from the ConfigMap mounted where --config points.
    let mount = container["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| {
            config_path.starts_with(m["mountPath"].as_str().unwrap()) && m["name"] == "config"
        })
        .expect("--config points into the config volume");
    let key = config_path
        .strip_prefix(mount["mountPath"].as_str().unwrap())
        .unwrap()
        .trim_start_matches('/');
    let config_map = find(&docs, "ConfigMap", "msa-proxy");
    let proxy_yaml = config_map["data"][key].as_str().expect("the mounted key");

    // The proxy itself accepts that configuration.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("proxy.yaml");
    std::fs::write(&file, proxy_yaml).unwrap();
    let (code, stdout, stderr) =
        msa_migrate(&["proxy", "--config", &file.display().to_string(), "--check"]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    let config: Value = serde_saphyr::from_str(proxy_yaml).unwrap();
    let store = config["state"]["store"].as_str().unwrap();
    let userinfo = store
        .strip_prefix("postgres://")
        .expect("replicas share their route state through PostgreSQL")
        .split_once('@')
        .map_or("", |(userinfo, _)| userinfo);
    assert!(
        !userinfo.contains(':'),
        "a password in the ConfigMap: {store}"
    );

    // No volume is mounted inside another (a Secret under the ConfigMap's
    // read-only mount), and the admin token file is in the Secret's mount.
    let mounts: Vec<(&str, &str)> = container["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["name"].as_str().unwrap(),
                m["mountPath"].as_str().unwrap(),
            )
        })
        .collect();
    for (_, inner) in &mounts {
        for (_, outer) in &mounts {
            assert!(
                !inner.starts_with(&format!("{outer}/")),
                "{inner} is mounted inside {outer}"
            );
        }
    }
    let token_file = config["admin"]["token_file"].as_str().unwrap();
    assert!(
        mounts
            .iter()
            .any(|(name, path)| *name == "admin-token"
                && token_file.starts_with(&format!("{path}/"))),
        "admin.token_file {token_file} is not in the admin-token mount"
    );

    // Probes hit the admin listener's health endpoints.
    let admin_port = port_of(config["admin"]["listen"].as_str().unwrap());
    let ports = container["ports"].as_array().unwrap();
    let admin = ports.iter().find(|p| p["name"] == "admin").unwrap();
    assert_eq!(admin["containerPort"].as_u64(), Some(admin_port));
    let http = ports.iter().find(|p| p["name"] == "http").unwrap();
    assert_eq!(
        http["containerPort"].as_u64(),
        Some(port_of(config["listen"].as_str().unwrap()))
    );
    for (probe, path) in [("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")] {
        assert_eq!(container[probe]["httpGet"]["path"], path, "{probe}");
        assert_eq!(container[probe]["httpGet"]["port"], "admin", "{probe}");
    }
    // Kubernetes waits for the drain before it kills the pod.
    let drain = args[args.iter().position(|a| *a == "--drain-timeout").unwrap() + 1];
    let drain = humantime_secs(drain);
    assert!(spec["terminationGracePeriodSeconds"].as_u64().unwrap() > drain);

    // The Services and the PodDisruptionBudget select these pods.
    let selects = |selector: &Value| {
        selector
            .as_object()
            .unwrap()
            .iter()
            .all(|(k, v)| &labels[k] == v)
    };
    assert!(selects(
        &find(&docs, "Service", "msa-proxy")["spec"]["selector"]
    ));
    assert!(selects(
        &find(&docs, "Service", "msa-proxy-admin")["spec"]["selector"]
    ));
    let pdb = &find(&docs, "PodDisruptionBudget", "msa-proxy")["spec"];
    assert!(selects(&pdb["selector"]["matchLabels"]));
    assert!(pdb["minAvailable"].as_u64().unwrap() < 3);
}

fn humantime_secs(text: &str) -> u64 {
    text.strip_suffix('s').unwrap().parse().unwrap()
}

#[test]
fn the_image_builds_the_cli_and_runs_it_as_non_root() {
    let dockerfile = std::fs::read_to_string(workspace().join("deploy/Dockerfile")).unwrap();
    let stages = dockerfile
        .lines()
        .filter(|l| l.starts_with("FROM "))
        .count();
    assert!(stages >= 2, "multi-stage");
    assert!(dockerfile.contains("cargo build --release --locked -p msa-cli"));
    let user = dockerfile
        .lines()
        .rfind(|l| l.starts_with("USER "))
        .expect("a USER line");
    assert!(
        !user.contains("root:") || user.contains("nonroot"),
        "{user}"
    );
    assert!(dockerfile.contains("ENTRYPOINT [\"/usr/local/bin/msa-migrate\"]"));
}

#[test]
fn the_grafana_dashboard_queries_only_metrics_the_proxy_exports() {
    let path = workspace().join("deploy/grafana/msa-proxy-dashboard.json");
    let dashboard: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut queried = BTreeSet::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            let expr = target["expr"].as_str().unwrap();
            let mut rest = expr;
            while let Some(at) = rest.find("msa_proxy_") {
                let name: String = rest[at..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                rest = &rest[at + name.len()..];
                queried.insert(name);
            }
        }
    }
    assert!(queried.len() >= 6, "{queried:?}");

    // Traffic that touches every family: a shadowed route whose new service is
    // down (upstream errors, circuit, shadow outcomes) and a reload.
    let dir = tempfile::tempdir().unwrap();
    let monolith = Running::start(
        "legacy-commerce",
        &[
            "--db",
            &format!("sqlite://{}", dir.path().join("monolith.db").display()),
            "--listen",
            "127.0.0.1:0",
            "--seed",
            "5",
        ],
    );
    let file = dir.path().join("proxy.yaml");
    let config = format!(
        "listen: 127.0.0.1:0\nworkers: 1\nlegacy: monolith\nadmin:\n  listen: 127.0.0.1:0\n\
         upstreams:\n  monolith:\n    endpoints: [{}]\n  coupon:\n    endpoints: [127.0.0.1:9]\n\
         routes:\n  - name: coupon-read\n    path: /api/coupons/{{id}}\n    upstream: coupon\n    mode: shadow\n",
        monolith.authority()
    );
    std::fs::write(&file, &config).unwrap();
    let mut proxy = Running::start(
        "msa-migrate",
        &["proxy", "--config", &file.display().to_string()],
    );
    let admin = proxy.next_url("admin");
    for _ in 0..3 {
        let status = reqwest::blocking::get(format!("{}/api/coupons/1", proxy.url))
            .unwrap()
            .status();
        assert!(status.is_success(), "{status}");
    }
    std::fs::write(
        &file,
        config.replace("workers: 1", "workers: 1\naccess_log: false"),
    )
    .unwrap();
    let metrics = wait_for_metrics(&admin, |text| {
        text.contains("msa_proxy_config_reloads_total") && text.contains("msa_proxy_shadow_total")
    });
    let exported: BTreeSet<&str> = metrics
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    for name in &queried {
        let family = ["_total", "_bucket", "_sum", "_count"]
            .iter()
            .find_map(|suffix| name.strip_suffix(suffix))
            .unwrap_or(name);
        assert!(
            exported.contains(family),
            "the dashboard queries {name}, the proxy exports {exported:?}"
        );
    }
}

/// The admin API's `/metrics` once `ready` says so (reloads and shadow results are asynchronous).
/// Gives up after 10 s with the last answer, for the caller's assertion to show.
fn wait_for_metrics(admin: &str, ready: impl Fn(&str) -> bool) -> String {
    let mut text = String::new();
    let _ = poll(Duration::from_secs(10), Duration::from_millis(100), || {
        text = reqwest::blocking::get(format!("{admin}/metrics"))
            .unwrap()
            .text()
            .unwrap();
        ready(&text).then_some(())
    });
    text
}
