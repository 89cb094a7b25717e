//! Run a bundled model from Rust and read its outcome: the ten-line version of
//! `replsim run models/worked-example-classic.toml --json`.

use std::path::Path;

use replsim::scenario::load_model;
use replsim::valkey::Cluster;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let model = load_model(Path::new("models/worked-example-classic.toml"), &[])?;
    let result = Cluster::build(&model.cluster(), &model.run_options())?.run()?;
    let r = &result.record;
    println!("outcome {:?}, first limit {:?}", r.outcome, r.first_limit);
    println!(
        "first COB disconnect at {:?} s, trace hash {}",
        r.t_cob_overflow_s, r.trace_hash
    );
    Ok(())
}
