//! Mistakes inside a model end the run with an error value, never a panic.

use replsim::engine::{
    Actor, ActorId, Ctx, Message, SimDuration, SimError, SimTime, Simulation, StopAt,
};

#[derive(Clone, Debug)]
enum Bad {
    ToNobody,
    IntoThePast,
    Forever,
    ZeroPeriod,
}

impl Message for Bad {
    const KIND_NAMES: &'static [&'static str] = &["bad"];
    fn kind(&self) -> usize {
        0
    }
}

struct Culprit;
impl Actor for Culprit {
    type Msg = Bad;
    type Env = ();
    fn handle(&mut self, msg: Bad, ctx: &mut Ctx<'_, Bad, ()>) {
        match msg {
            Bad::ToNobody => ctx.send(ActorId::from_index(99), Bad::ToNobody, SimDuration::ZERO),
            Bad::IntoThePast => ctx.send_at(ctx.me(), Bad::ToNobody, SimTime::ZERO),
            Bad::Forever => ctx.send(ctx.me(), Bad::ToNobody, SimDuration::MAX),
            Bad::ZeroPeriod => {
                ctx.schedule_periodic(Bad::ToNobody, SimDuration::ZERO, SimDuration::ZERO);
            }
        }
    }
}

fn run_with(msg: Bad) -> Result<replsim::engine::RunStats, SimError> {
    let mut sim = Simulation::new(1, ());
    let c = sim.add_actor("culprit", Culprit).unwrap();
    sim.send_at(c, msg, SimTime::from_secs(1)).unwrap();
    sim.run(StopAt::horizon(SimTime::from_secs(10)))
}

#[test]
fn sending_to_an_unknown_actor_is_an_error() {
    let err = run_with(Bad::ToNobody).unwrap_err();
    assert!(
        matches!(err, SimError::UnknownActor { ref from, .. } if from == "culprit"),
        "{err}"
    );
}

#[test]
fn scheduling_into_the_past_is_an_error() {
    let err = run_with(Bad::IntoThePast).unwrap_err();
    assert!(matches!(err, SimError::ScheduledInPast { .. }), "{err}");
    assert!(err.to_string().contains("before the current time"));
}

#[test]
fn time_overflow_is_an_error_not_a_wrap() {
    assert!(matches!(
        run_with(Bad::Forever).unwrap_err(),
        SimError::TimeOverflow { .. }
    ));
}

#[test]
fn zero_period_is_an_error() {
    assert!(matches!(
        run_with(Bad::ZeroPeriod).unwrap_err(),
        SimError::ZeroPeriod { .. }
    ));
}

#[test]
fn setup_errors_are_values() {
    let mut sim: Simulation<Culprit> = Simulation::new(1, ());
    sim.add_actor("x", Culprit).unwrap();
    assert!(matches!(
        sim.add_actor("x", Culprit),
        Err(SimError::DuplicateName(_))
    ));
    assert!(
        sim.send_at(ActorId::from_index(5), Bad::ToNobody, SimTime::ZERO)
            .is_err()
    );
}
