//! `replsim validate`: the same model run on real `valkey-server` or `redis-server` processes ([`release`]) (on 127.0.0.1, or in
//! network namespaces joined by bandwidth-shaped veth links: [`netns`]) and in the simulator,
//! classified by the same outcome record, compared side by side.
//!
//! This module touches processes and files; the Valkey model (`valkey/`) does not know it
//! exists. It reuses the model's specs, journal events and classifier so that "the same
//! outcome" means the same code path on both sides.

pub mod calibrate;
pub mod compare;
pub mod directives;
pub mod events;
pub mod load;
pub mod locate;
pub mod netns;
pub mod release;
pub mod run;
pub mod script;
pub mod server;
pub mod shaped_calibrate;

pub use compare::{Agreement, CaseResult};
pub use locate::{ServerBinary, find_server};
pub use release::{NotApplicable, RealRelease};
pub use run::{RealRun, run_real};
