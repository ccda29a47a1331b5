//! What R3 costs the screen pop (R15): reading a phone number, and choosing among the
//! records that share one, with every spelling read (`choose_record_for_number`, as live
//! matching does) or told by the phone index which spellings surely are the number
//! (`choose_record_for_parsed`, as `OrgIndex::choose` does).
//!
//! `cargo bench -p callsync-core --bench matching [-- --rounds N]`
//!
//! Prints microseconds per operation, the median of `--rounds` rounds (default 15).
#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark: a panic is a failure

use std::hint::black_box;
use std::time::{Duration, Instant};

use callsync_core::ids::SalesforceId;
use callsync_core::matching::{
    Candidate, RecordObject, choose_record_for_number, choose_record_for_parsed,
};
use callsync_core::phone::{PhoneNumber, PhoneRegion};
use jiff::Timestamp;

/// One Tokyo number in the ten ways the sandbox's generator writes a Japanese number.
const SPELLINGS: [&str; 10] = [
    "03-1234-5678",
    "0312345678",
    "03 1234 5678",
    "(03) 1234-5678",
    "+81 3-1234-5678",
    "+81312345678",
    "０３－１２３４－５６７８",
    "0312-34-5678",
    "+81 (0)3 1234 5678",
    "03‐1234‐5678",
];

/// Records sharing the number: an office line on a hundred Contacts, as the benchmark
/// org's most shared numbers are.
const SHARING: usize = 100;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let rounds = args
        .iter()
        .position(|arg| arg == "--rounds")
        .and_then(|at| args.get(at + 1))
        .map_or(15, |rounds| {
            rounds.parse().expect("--rounds takes a number")
        });
    let region = PhoneRegion::JAPAN;

    println!("callsync-core benchmark: R3 for a number shared by {SHARING} records");
    println!(
        "machine: {} cores · {rounds} rounds, median shown",
        std::thread::available_parallelism().map_or(0, |cores| cores.get())
    );
    println!();
    println!("{:<58} {:>12}", "operation", "µs each");

    for spelling in [SPELLINGS[0], SPELLINGS[6], SPELLINGS[8]] {
        let each = median(rounds, 200, || {
            black_box(PhoneNumber::parse(black_box(spelling), region).unwrap());
        });
        println!(
            "{:<58} {:>12.1}",
            format!("read {spelling:?}"),
            micros(each)
        );
    }

    // Each record holds the number in one of the ten spellings, and another number.
    let candidates: Vec<Candidate> = (0..SHARING)
        .map(|at| Candidate {
            object: RecordObject::Contact,
            id: SalesforceId::parse(&format!("003{at:012}")).unwrap(),
            phones: vec![
                (
                    "Phone".to_owned(),
                    SPELLINGS[at % SPELLINGS.len()].to_owned(),
                ),
                (
                    "MobilePhone".to_owned(),
                    format!("090-{:04}-{:04}", at, at * 7),
                ),
            ],
            last_modified: Timestamp::from_second(1_700_000_000 + at as i64).unwrap(),
            is_converted: false,
            account_id: None,
            account_name: None,
            person_contact_id: None,
            name: None,
            company: None,
            owner_id: None,
        })
        .collect();
    // As the index hands them: only the field that may hold the number, and it surely does.
    let narrowed: Vec<Candidate> = candidates
        .iter()
        .map(|candidate| Candidate {
            phones: candidate.phones[..1].to_vec(),
            ..candidate.clone()
        })
        .collect();
    let customer = PhoneNumber::parse("0312345678", region).unwrap();
    let decided = |found: Option<callsync_core::matching::Match>| {
        found.map(|found| (found.record_id, found.matched_by))
    };
    let expected = decided(choose_record_for_number("0312345678", &candidates, region));
    assert!(expected.is_some());
    assert_eq!(
        decided(choose_record_for_parsed(
            &customer,
            &narrowed,
            region,
            |_, _| Some(true)
        )),
        expected,
        "the same record and field either way"
    );

    let every = median(rounds, 20, || {
        black_box(choose_record_for_number(
            black_box("0312345678"),
            &candidates,
            region,
        ));
    });
    println!(
        "{:<58} {:>12.1}",
        "choose, whole records, every spelling read",
        micros(every)
    );
    let told = median(rounds, 20, || {
        black_box(choose_record_for_parsed(
            black_box(&customer),
            &narrowed,
            region,
            |_, _| Some(true),
        ));
    });
    println!(
        "{:<58} {:>12.1}",
        "choose, as the index hands them (no spelling read)",
        micros(told)
    );
}

/// The median over `rounds` of the time one call of `run` takes, each round `calls` calls.
fn median(rounds: usize, calls: u32, mut run: impl FnMut()) -> Duration {
    let mut times: Vec<Duration> = (0..rounds.max(1))
        .map(|_| {
            let started = Instant::now();
            for _ in 0..calls {
                run();
            }
            started.elapsed() / calls
        })
        .collect();
    times.sort();
    times[times.len() / 2]
}

fn micros(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e6
}
