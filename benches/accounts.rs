//! The id index of a million accounts: the hash table the hub ships, and a
//! sorted array with binary search, the alternative issue 23 asked to
//! measure (it lives here only).
//!
//! `cargo bench --bench accounts`. The accounts are `u0000000:p0000000` ...
//! `u0999999:p0999999`. Both indexes hold `u32` indexes and compare ids in
//! the same arena of [`Accounts`]. Each iteration looks up one id, present
//! or absent, in random order; the `_chained` lookups wait for the one
//! before (its result picks the next id), so they time a lookup's latency,
//! where the others let the CPU overlap the misses of successive lookups.
//! A million ids in random order miss the cache; 64 ids over and over
//! (`present_warm`) stay in it, as a few chatting clients' do. The builds
//! time the table alone, the sort alone (from random order and
//! from the file's), and the whole parse that start-up does. The memory of
//! each index is printed once.

use std::hash::Hasher;
use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, SamplingMode};
use hashbrown::HashTable;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use reactor_hub::accounts::{Accounts, IdHasher};

const ACCOUNTS: u32 = 1_000_000;
/// `u0000000`.
const ID_LEN: usize = 8;

/// The accounts file's text.
fn file() -> String {
    (0..ACCOUNTS)
        .map(|n| format!("u{n:07}:p{n:07}\n"))
        .collect()
}

/// The hash the hub's table uses (`hash_id` in src/accounts.rs).
fn hash(id: &[u8]) -> u64 {
    let mut hasher = IdHasher::default();
    hasher.write(id);
    hasher.finish()
}

/// The table alone, as start-up builds it: room for every line first.
fn build_table(accounts: &Accounts, indexes: &[u32]) -> HashTable<u32> {
    let mut table = HashTable::with_capacity(indexes.len());
    for &i in indexes {
        let rehash = |&i: &u32| hash(accounts.id_bytes(i));
        table.insert_unique(hash(accounts.id_bytes(i)), i, rehash);
    }
    table
}

/// The alternative: the indexes, sorted by their ids' bytes.
fn build_sorted(accounts: &Accounts, mut indexes: Vec<u32>) -> Vec<u32> {
    indexes.sort_unstable_by(|&a, &b| accounts.id_bytes(a).cmp(accounts.id_bytes(b)));
    indexes
}

/// Whether `id` is in the sorted array.
fn sorted_find(accounts: &Accounts, sorted: &[u32], id: &[u8]) -> bool {
    sorted
        .binary_search_by(|&i| accounts.id_bytes(i).cmp(id))
        .is_ok()
}

/// Ids of one length, one after the other in one string: read in
/// sequence, so that the ids themselves cost no miss.
struct Ids {
    text: String,
    len: usize,
}

impl Ids {
    /// The ids of `order`, each with `suffix`.
    fn new(order: &[u32], suffix: &str) -> Self {
        let text = order.iter().map(|n| format!("u{n:07}{suffix}")).collect();
        let len = ID_LEN + suffix.len();
        Self { text, len }
    }

    fn count(&self) -> usize {
        self.text.len() / self.len
    }

    fn nth(&self, at: usize) -> &str {
        &self.text[at * self.len..][..self.len]
    }
}

/// An index's name, and its lookup: whether an id is there.
type Finder<'a> = (&'a str, &'a dyn Fn(&str) -> bool);

/// One lookup an iteration, through every id of `ids` in turn.
fn lookups(c: &mut Criterion, group: &str, ids: &Ids, finders: [Finder; 2]) {
    let mut group = c.benchmark_group(group);
    let count = ids.count();
    for (name, find) in finders {
        for chained in [false, true] {
            let name = if chained {
                format!("{name}_chained")
            } else {
                name.to_string()
            };
            // Zero, but only known when it runs: `found & zero` makes the
            // next id wait for this lookup's result.
            let zero = black_box(0usize);
            let mut at = 0;
            group.bench_function(name, |b| {
                b.iter(|| {
                    let found = find(ids.nth(at));
                    let wait = if chained {
                        usize::from(found) & zero
                    } else {
                        0
                    };
                    at += 1 + wait;
                    if at == count {
                        at = 0;
                    }
                    black_box(found)
                })
            });
        }
    }
    group.finish();
}

fn id_index(c: &mut Criterion) {
    let text = file();
    let accounts = Accounts::parse(&text).expect("a good file");
    assert_eq!(accounts.len(), ACCOUNTS as usize);
    let in_file_order: Vec<u32> = (0..ACCOUNTS).collect();
    let mut shuffled = in_file_order.clone();
    shuffled.shuffle(&mut StdRng::seed_from_u64(23));

    let table = build_table(&accounts, &in_file_order);
    let sorted = build_sorted(&accounts, shuffled.clone());
    assert!(sorted.iter().zip(&in_file_order).all(|(a, b)| a == b));
    let per_account = |bytes: usize| bytes as f64 / f64::from(ACCOUNTS);
    println!(
        "index bytes per account: table {:.1} ({} B allocated, {} usable slots), sorted {:.1}",
        per_account(table.allocation_size()),
        table.allocation_size(),
        table.capacity(),
        per_account(sorted.capacity() * std::mem::size_of::<u32>()),
    );

    let present = Ids::new(&shuffled, "");
    // `u0123456a` sorts between two ids: each search takes its own path.
    let absent = Ids::new(&shuffled, "a");
    let by_table = |id: &str| accounts.find(id).is_some();
    let by_sort = |id: &str| sorted_find(&accounts, &sorted, id.as_bytes());
    for at in (0..ACCOUNTS as usize).step_by(997) {
        let (id, not) = (present.nth(at), absent.nth(at));
        assert!(by_table(id) && by_sort(id) && !by_table(not) && !by_sort(not));
    }
    // 64 ids looked up again and again, as a few chatting clients' are:
    // their lines stay in the cache, and the CPU's work shows.
    let warm = Ids::new(&shuffled[..64], "");
    let groups = [
        ("accounts/present", &present),
        ("accounts/absent", &absent),
        ("accounts/present_warm", &warm),
    ];
    for (group, ids) in groups {
        lookups(c, group, ids, [("table", &by_table), ("sorted", &by_sort)]);
    }

    let mut group = c.benchmark_group("accounts/build");
    group.sample_size(10);
    // A few iterations a sample: a sort from random order takes a third
    // of a second.
    group.sampling_mode(SamplingMode::Flat);
    group.measurement_time(Duration::from_secs(10));
    group.bench_function("table", |b| {
        b.iter(|| build_table(&accounts, black_box(&in_file_order)))
    });
    for (name, order) in [
        ("sort_random_order", &shuffled),
        ("sort_file_order", &in_file_order),
    ] {
        group.bench_function(name, |b| {
            b.iter_batched(
                || order.clone(),
                |order| build_sorted(&accounts, order),
                BatchSize::LargeInput,
            )
        });
    }
    group.bench_function("parse", |b| {
        b.iter(|| Accounts::parse(black_box(&text)).expect("a good file"))
    });
    group.finish();
}

criterion_group!(benches, id_index);
criterion_main!(benches);
