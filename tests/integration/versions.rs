//! `[model] server`: the same model under two releases, two outcomes, for the stated reason.

use replsim::experiment::compare;
use replsim::scenario::{Override, parse_model};
use replsim::valkey::{Cluster, Release, RunResult};

fn set(path: &str, value: &str) -> Override {
    Override {
        path: path.into(),
        value: value.into(),
    }
}

fn run(text: &str, server: &str, extra: &[Override]) -> RunResult {
    let mut o = extra.to_vec();
    o.push(set("model.server", server));
    let m = parse_model(text, "test.toml", &o).expect("model");
    Cluster::build(&m.cluster(), &crate::checked::options(&m))
        .expect("build")
        .run()
        .expect("run")
}

/// 100 MB dataset, 20 MB/s of writes, 1 GbE: a short sync whose COB stays in tens of MB.
const SMALL: &str = r#"
[model]
name = "small"
horizon = "60s"
[dataset]
keys = 100000
value-size = "1kb"
[[nodes]]
name = "primary"
role = "primary"
[nodes.config]
repl-diskless-sync = "yes"
repl-backlog-size = "256mb"
[[nodes]]
name = "replica"
role = "replica"
[[links]]
a = "primary"
b = "replica"
bandwidth = "1gbit"
[[workloads]]
name = "app"
pattern = "constant"
ops-per-sec = 18500
value-size = { dist = "fixed", size = "1kb" }
"#;

#[test]
fn hard_limit_below_the_backlog_is_raised_from_redis_7_0() {
    let cob = [set(
        "nodes.primary.config.client-output-buffer-limit",
        "4mb 0 0",
    )];
    let old = run(SMALL, "redis-6.2", &cob).record;
    let new = run(SMALL, "redis-7.0", &cob).record;
    assert_eq!(
        serde_json::to_value(old.first_limit).unwrap(),
        "primary_cob_hard"
    );
    assert_eq!(serde_json::to_value(new.first_limit).unwrap(), "none");
    assert_eq!(new.outcome.as_str(), "clean_sync");
    assert_eq!(new.server, Release::Redis70);
}

#[test]
fn unset_configs_take_the_release_default_and_the_default_release_is_unchanged() {
    let text = std::fs::read_to_string("models/default.toml").unwrap();
    let m = parse_model(&text, "d", &[set("model.server", "redis-7.0")]).unwrap();
    assert_eq!(m.nodes[0].config.repl_backlog_size.bytes(), 1 << 20);
    let r = run(&text, "valkey-9.1", &[]).record;
    assert_eq!(
        (r.events, r.trace_hash.as_str()),
        (38185, "1bb2f4c39bc15bee")
    );
    // The resolved model of another release reads back.
    let again = parse_model(&m.to_toml(), "resolved", &[]).unwrap();
    assert_eq!(again.model.server, Release::Redis70);
}

#[test]
fn versions_runs_every_bundled_model() {
    for entry in std::fs::read_dir("models").unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "toml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let file = path.display().to_string();
        let (_, rows) = compare(&text, &file, &[], &[Release::Redis62, Release::Valkey91], 1)
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(rows.len(), 2, "{file}");
        for r in rows {
            assert!(
                r.not_applicable.is_some() || !r.outcome.is_empty(),
                "{file}"
            );
        }
    }
}
