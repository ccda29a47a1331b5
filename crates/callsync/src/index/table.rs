//! The in-memory form of one organisation's phone index (R15): compact, so that an org of
//! a million records fits in well under 200 MB, and exact, so that every candidate it gives
//! back is the very [`Candidate`] the sync read (R3 must decide as it would live).
//!
//! Layout (about 140 bytes a record, against about 1 KB for owned `Candidate`s in
//! string-keyed maps):
//! - **Ids** are interned once ([`Ids`]): 15 bytes each (the 15 case-sensitive characters;
//!   the 18-character form only adds a checksum of them), found through a hash table of
//!   `u32` positions, so a record, its Account, its owner and its Person Contact are each a
//!   `u32`. Owners (a few hundred users) and Accounts (shared by many Contacts) cost one
//!   entry whoever refers to them.
//! - **Records** are 32-byte [`Slot`]s in a `Vec` indexed by the record's id number:
//!   object and flags, the two date-times in milliseconds (Salesforce's precision), the
//!   owner's id number and one [`Link`] (a Contact's Account or a Person Account's Person
//!   Contact, which never occur on the same record).
//! - **Text** (names, company, phone fields exactly as stored in Salesforce, each searched
//!   phone field with a one-byte [`key_tag`]) is one blob per record in one byte buffer
//!   ([`Arena`]); a record refers to its blob by a `u32`. Blobs of removed or changed
//!   records are counted as garbage and the arena is rewritten once garbage outweighs what
//!   is alive.
//! - **Number keys** in normal form (R3.6) are packed into a `u64` ([`numeric_key`]); the
//!   rare key that does not fit (a digits-only string of more than 17 digits) is kept as
//!   text. Each (key, holder) is one 12-byte entry of one hash table ([`Numbers`]); the
//!   holders of a shared number are found together by its hash.
//!
//! [`PhoneTable::reserve`] sizes it all once for a backfill or a load.
//!
//! Hand-written rather than a crate: what makes it small is knowing the shape of the data
//! (Salesforce Ids, E.164 digits, a handful of fields); the hash tables are `hashbrown`'s.

use callsync_core::ids::SalesforceId;
use callsync_core::matching::{Candidate, RecordObject};
use callsync_core::phone::{PhoneKey, PhoneNumber, PhoneRegion};
use hashbrown::{DefaultHashBuilder, HashMap, HashTable};
use jiff::Timestamp;
use std::hash::BuildHasher as _;

use super::IndexedRecord;

/// Marks "no id" in a [`Slot`]'s references.
const NONE: u32 = u32::MAX;

/// A Salesforce Id in its 15 case-sensitive characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct PackedId([u8; 15]);

impl PackedId {
    fn of(id: &SalesforceId) -> Option<PackedId> {
        id.to_15().as_bytes().try_into().ok().map(PackedId)
    }

    fn unpack(&self) -> Option<SalesforceId> {
        std::str::from_utf8(&self.0)
            .ok()
            .and_then(|text| SalesforceId::parse(text).ok())
    }
}

/// Every Id the table refers to, once, numbered in order of first use. Numbers are never
/// reused: a removed record's Id may still be another record's Account or owner.
#[derive(Debug, Default)]
struct Ids {
    ids: Vec<PackedId>,
    positions: HashTable<u32>,
    hasher: DefaultHashBuilder,
}

impl Ids {
    fn find(&self, id: &PackedId) -> Option<u32> {
        let hash = self.hasher.hash_one(id);
        self.positions
            .find(hash, |&n| self.ids.get(n as usize) == Some(id))
            .copied()
    }

    fn intern(&mut self, id: PackedId) -> u32 {
        if let Some(n) = self.find(&id) {
            return n;
        }
        let n = u32::try_from(self.ids.len()).unwrap_or(NONE - 1);
        let hash = self.hasher.hash_one(id);
        let Ids {
            ids,
            positions,
            hasher,
        } = self;
        positions.insert_unique(hash, n, |&m| {
            ids.get(m as usize).map_or(0, |held| hasher.hash_one(held))
        });
        ids.push(id);
        n
    }

    fn get(&self, n: u32) -> Option<&PackedId> {
        self.ids.get(n as usize)
    }

    fn reserve(&mut self, additional: usize) {
        self.ids.reserve_exact(additional);
        let Ids {
            ids,
            positions,
            hasher,
        } = self;
        positions.reserve(additional, |&m| {
            ids.get(m as usize).map_or(0, |held| hasher.hash_one(held))
        });
    }

    fn unpack(&self, n: u32) -> Option<SalesforceId> {
        if n == NONE {
            return None;
        }
        self.get(n).and_then(PackedId::unpack)
    }

    fn heap_bytes(&self) -> usize {
        let buckets = (self.positions.capacity() * 8 / 7).next_power_of_two();
        self.ids.capacity() * size_of::<PackedId>() + buckets * (4 + 1)
    }
}

/// One record, fixed size: 32 bytes (two `i64`, three `u32`, the kind). `kind == EMPTY`
/// marks an Id with no record (an owner, an Account not indexed yet, a removed record).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Slot {
    system_modstamp_ms: i64,
    last_modified_ms: i64,
    owner: u32,
    /// The one other record it refers to, which depends on its object ([`Link`]).
    link: u32,
    /// Where the record's text blob starts in the arena.
    text: u32,
    kind: u8,
}

const _: () = assert!(size_of::<Slot>() == 32);

/// The Id a record refers to besides its owner, shared by one field of [`Slot`]: a
/// Contact's `AccountId` and a Person Account's `PersonContactId` never occur on the same
/// record (the index reads `AccountId` only for Contacts and `PersonContactId` only for
/// Accounts), and no other object has either (`Match::from_candidate` reads neither
/// of a Lead or a business Account, so R3 and R4 need nothing more).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Link {
    Account(u32),
    PersonContact(u32),
    Nothing,
}

impl Link {
    /// The link a record of `object` keeps, from its two possible references.
    fn of(object: RecordObject, account: u32, person_contact: u32) -> Link {
        match object {
            RecordObject::Contact if account != NONE => Link::Account(account),
            RecordObject::PersonAccount if person_contact != NONE => {
                Link::PersonContact(person_contact)
            }
            _ => Link::Nothing,
        }
    }

    /// The link as stored in a slot of `object` (which tells which Id it is).
    fn read(object: RecordObject, stored: u32) -> Link {
        match object {
            _ if stored == NONE => Link::Nothing,
            RecordObject::Contact => Link::Account(stored),
            RecordObject::PersonAccount => Link::PersonContact(stored),
            RecordObject::Account | RecordObject::Lead => Link::Nothing,
        }
    }

    fn stored(self) -> u32 {
        match self {
            Link::Account(n) | Link::PersonContact(n) => n,
            Link::Nothing => NONE,
        }
    }

    fn account(self) -> u32 {
        match self {
            Link::Account(n) => n,
            _ => NONE,
        }
    }

    fn person_contact(self) -> u32 {
        match self {
            Link::PersonContact(n) => n,
            _ => NONE,
        }
    }
}

const EMPTY: u8 = 0;
const CONVERTED: u8 = 0x80;

impl Slot {
    const EMPTY: Slot = Slot {
        system_modstamp_ms: 0,
        last_modified_ms: 0,
        owner: NONE,
        link: NONE,
        text: 0,
        kind: EMPTY,
    };

    fn is_empty(&self) -> bool {
        self.kind == EMPTY
    }

    fn link(&self) -> Link {
        self.object()
            .map_or(Link::Nothing, |object| Link::read(object, self.link))
    }

    fn object(&self) -> Option<RecordObject> {
        match self.kind & !CONVERTED {
            1 => Some(RecordObject::Contact),
            2 => Some(RecordObject::Account),
            3 => Some(RecordObject::PersonAccount),
            4 => Some(RecordObject::Lead),
            _ => None,
        }
    }

    fn kind_of(object: RecordObject, converted: bool) -> u8 {
        let base = match object {
            RecordObject::Contact => 1,
            RecordObject::Account => 2,
            RecordObject::PersonAccount => 3,
            RecordObject::Lead => 4,
        };
        if converted { base | CONVERTED } else { base }
    }
}

/// The phone fields callsync reads, by tag; any other field name is stored with its name.
const PHONE_FIELDS: [&str; 3] = ["Phone", "MobilePhone", "PersonMobilePhone"];

/// Tags of a text blob's entries: `[count] ([tag] [len] bytes)*`, `len` a LEB128 varint;
/// a phone's value is preceded by its [`key_tag`].
const TAG_NAME: u8 = 1;
const TAG_COMPANY: u8 = 2;
const TAG_ACCOUNT_NAME: u8 = 3;
/// `TAG_PHONE + i`: the value of `PHONE_FIELDS[i]`.
const TAG_PHONE: u8 = 0x10;
/// A phone field not in `PHONE_FIELDS`: two strings follow, its name and its value.
const TAG_OTHER_PHONE: u8 = 0x1F;

/// The strings of a record, decoded from its blob.
#[derive(Debug, Default)]
struct Texts {
    name: Option<String>,
    company: Option<String>,
    account_name: Option<String>,
    phones: Vec<(String, String)>,
    /// Each phone's [`key_tag`], beside `phones`.
    tags: Vec<u8>,
}

/// A byte summing up a number key, kept beside each searched phone field so that a lookup
/// hands matching only the fields that may hold its number (`PhoneTable::candidates`):
/// reading a spelling is most of the cost of a match, and a number shared by forty records
/// would otherwise have all their other numbers read too. Equal keys have equal tags; `0`
/// is "not known" (a field not searched, or one that is not a number), which is never
/// left out.
fn key_tag(key: &TableKey) -> u8 {
    let mixed = match key {
        TableKey::Numeric(value) => *value,
        // std's SipHash with its fixed keys: the same text, the same tag, in any table.
        TableKey::Text(text) => {
            std::hash::BuildHasherDefault::<std::hash::DefaultHasher>::default().hash_one(text)
        }
    };
    // Fibonacci hashing: the top bits of the product depend on every bit of the key.
    ((mixed.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 57) as u8) + 1
}

/// Encodes a record's strings; `tags` holds each phone's [`key_tag`], in order.
fn encode_texts(candidate: &Candidate, tags: &[u8]) -> Vec<u8> {
    let mut blob = vec![0u8];
    let mut count = 0u8;
    // `tag` starts an entry; `key_tag` goes just before the string (a phone's value).
    let mut put = |blob: &mut Vec<u8>, tag: Option<u8>, key_tag: Option<u8>, text: &str| {
        if let Some(tag) = tag {
            blob.push(tag);
            count = count.saturating_add(1);
        }
        if let Some(key_tag) = key_tag {
            blob.push(key_tag);
        }
        let mut len = text.len();
        loop {
            let low = (len & 0x7F) as u8;
            len >>= 7;
            if len == 0 {
                blob.push(low);
                break;
            }
            blob.push(low | 0x80);
        }
        blob.extend_from_slice(text.as_bytes());
    };
    for (tag, text) in [
        (TAG_NAME, &candidate.name),
        (TAG_COMPANY, &candidate.company),
        (TAG_ACCOUNT_NAME, &candidate.account_name),
    ] {
        if let Some(text) = text {
            put(&mut blob, Some(tag), None, text);
        }
    }
    for (i, (field, value)) in candidate.phones.iter().enumerate() {
        let key_tag = Some(tags.get(i).copied().unwrap_or(0));
        match PHONE_FIELDS.iter().position(|known| known == field) {
            Some(known) => put(&mut blob, Some(TAG_PHONE + known as u8), key_tag, value),
            None => {
                put(&mut blob, Some(TAG_OTHER_PHONE), None, field);
                put(&mut blob, None, key_tag, value);
            }
        }
    }
    blob[0] = count;
    blob
}

/// Reads one varint-prefixed string at `*at`.
fn read_text<'a>(blob: &'a [u8], at: &mut usize) -> Option<&'a str> {
    let mut len = 0usize;
    let mut shift = 0;
    loop {
        let byte = *blob.get(*at)?;
        *at += 1;
        len |= usize::from(byte & 0x7F) << shift;
        if byte & 0x80 == 0 {
            break;
        }
        shift += 7;
        if shift > 28 {
            return None;
        }
    }
    let text = std::str::from_utf8(blob.get(*at..*at + len)?).ok()?;
    *at += len;
    Some(text)
}

/// Decodes a blob (from its first byte; it may run on past its end, into the next one).
fn decode_texts(blob: &[u8]) -> Option<Texts> {
    decode(blob, true)
}

/// [`decode_texts`]; without `names`, the name, company and account name are skipped
/// (matching does not read them).
fn decode(blob: &[u8], names: bool) -> Option<Texts> {
    let count = *blob.first()?;
    let mut at = 1;
    let mut texts = Texts::default();
    let name = |text: &str| names.then(|| text.to_owned());
    for _ in 0..count {
        let tag = *blob.get(at)?;
        at += 1;
        match tag {
            TAG_NAME => texts.name = name(read_text(blob, &mut at)?),
            TAG_COMPANY => texts.company = name(read_text(blob, &mut at)?),
            TAG_ACCOUNT_NAME => texts.account_name = name(read_text(blob, &mut at)?),
            TAG_OTHER_PHONE => {
                let field = read_text(blob, &mut at)?.to_owned();
                texts.tags.push(*blob.get(at)?);
                at += 1;
                texts
                    .phones
                    .push((field, read_text(blob, &mut at)?.to_owned()));
            }
            tag if (TAG_PHONE..TAG_PHONE + PHONE_FIELDS.len() as u8).contains(&tag) => {
                let field = PHONE_FIELDS[usize::from(tag - TAG_PHONE)];
                texts.tags.push(*blob.get(at)?);
                at += 1;
                texts
                    .phones
                    .push((field.to_owned(), read_text(blob, &mut at)?.to_owned()));
            }
            _ => return None,
        }
    }
    Some(texts)
}

/// Decodes only the phone fields of a blob: what [`PhoneTable::keys_of`] needs.
fn decode_phones(blob: &[u8]) -> Vec<(String, String)> {
    decode_texts(blob)
        .map(|texts| texts.phones)
        .unwrap_or_default()
}

/// Every record's text blob, one after another in one buffer, found by offset.
///
/// One `Vec` rather than chunks, for the resident memory: a large buffer is its own
/// anonymous mapping, so the capacity it has not written yet costs address space only,
/// and it grows in place (glibc's `realloc` moves the pages with `mremap`, no copy).
/// Smaller chunks sat among the short-lived allocations of the backfill (its pages of
/// JSON) and kept the heap from giving them back: 20–30 MB at a million records
/// (BENCHMARKS.md, "Fifth pass"). [`PhoneTable::reserve`] sizes it up front.
#[derive(Debug, Default)]
struct Arena {
    bytes: Vec<u8>,
    /// Bytes of blobs no record refers to any more.
    garbage: usize,
}

/// Garbage worth rewriting the arena for, at the least.
const WORTH_COMPACTING: usize = 4 << 20;

impl Arena {
    /// Appends `blob`; `None` when the arena is full (4 GiB of text).
    fn push(&mut self, blob: &[u8]) -> Option<u32> {
        let start = u32::try_from(self.bytes.len()).ok()?;
        u32::try_from(self.bytes.len() + blob.len()).ok()?;
        self.bytes.extend_from_slice(blob);
        Some(start)
    }

    fn blob(&self, at: u32) -> &[u8] {
        self.bytes.get(at as usize..).unwrap_or(&[])
    }

    fn written(&self) -> usize {
        self.bytes.len()
    }

    fn heap_bytes(&self) -> usize {
        self.bytes.capacity()
    }
}

/// The length of the blob at the start of `bytes` (to count it as garbage).
fn blob_len(bytes: &[u8]) -> usize {
    let Some(&count) = bytes.first() else {
        return 0;
    };
    let mut at = 1;
    for _ in 0..count {
        let Some(&tag) = bytes.get(at) else {
            return at;
        };
        at += 1;
        let phone = tag == TAG_OTHER_PHONE || tag >= TAG_PHONE;
        let strings = if tag == TAG_OTHER_PHONE { 2 } else { 1 };
        for string in 0..strings {
            if phone && string == strings - 1 {
                at += 1; // the key tag before a phone's value
            }
            let before = at;
            if read_text(bytes, &mut at).is_none() {
                return before;
            }
        }
    }
    at
}

/// A number key in normal form (R3.6) packed into a `u64`, or the text of one that does
/// not fit.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum TableKey {
    Numeric(u64),
    Text(Box<str>),
}

/// Bit 63 set: a digits-only key (R3.6 "matches only itself, digit for digit"), its length
/// in bits 57–61 (leading zeros count) and its value below. Clear: an E.164 number's digits
/// (at most 15, never starting with 0), so the two kinds never collide.
const DIGITS: u64 = 1 << 63;
const MAX_PACKED_DIGITS: usize = 17;

/// `key` as a `u64`, when it fits.
fn numeric_key(key: &PhoneKey) -> Option<u64> {
    let digits_value = |digits: &str| -> Option<u64> {
        if digits.is_empty() || !digits.bytes().all(|byte| byte.is_ascii_digit()) {
            return None;
        }
        digits.parse::<u64>().ok()
    };
    match key {
        PhoneKey::E164(text) => {
            let digits = text.strip_prefix('+')?;
            if digits.len() > 15 || digits.starts_with('0') {
                return None;
            }
            digits_value(digits)
        }
        PhoneKey::Digits(digits) => {
            if digits.len() > MAX_PACKED_DIGITS {
                return None;
            }
            Some(DIGITS | ((digits.len() as u64) << 57) | digits_value(digits)?)
        }
    }
}

fn table_key(key: &PhoneKey) -> TableKey {
    match numeric_key(key) {
        Some(value) => TableKey::Numeric(value),
        None => TableKey::Text(Box::from(key.as_str())),
    }
}

/// A packed key as the two halves `numbers` is keyed by (4-byte aligned, unlike `u64`).
fn halves(value: u64) -> [u32; 2] {
    [(value >> 32) as u32, value as u32]
}

/// Number keys to the id numbers holding them: one holder in `one`, several in `many`.
#[derive(Debug)]
struct Holders<K> {
    one: HashMap<K, u32>,
    many: HashMap<K, Vec<u32>>,
}

impl<K> Default for Holders<K> {
    fn default() -> Self {
        Holders {
            one: HashMap::default(),
            many: HashMap::default(),
        }
    }
}

impl<K: Eq + std::hash::Hash + Clone> Holders<K> {
    fn add(&mut self, key: K, n: u32) {
        if let Some(held) = self.many.get_mut(&key) {
            if !held.contains(&n) {
                held.push(n);
            }
            return;
        }
        match self.one.get(&key) {
            None => {
                self.one.insert(key, n);
            }
            Some(&held) if held == n => {}
            Some(&held) => {
                self.one.remove(&key);
                self.many.insert(key, vec![held, n]);
            }
        }
    }

    fn remove(&mut self, key: &K, n: u32) {
        if self.one.get(key) == Some(&n) {
            self.one.remove(key);
            return;
        }
        if let Some(held) = self.many.get_mut(key) {
            held.retain(|&m| m != n);
            match held.as_slice() {
                [] => {
                    self.many.remove(key);
                }
                [last] => {
                    let last = *last;
                    self.many.remove(key);
                    self.one.insert(key.clone(), last);
                }
                _ => {}
            }
        }
    }

    fn get(&self, key: &K) -> &[u32] {
        match self.one.get(key) {
            Some(n) => std::slice::from_ref(n),
            None => self.many.get(key).map_or(&[], Vec::as_slice),
        }
    }

    fn len(&self) -> usize {
        self.one.len() + self.many.len()
    }

    fn heap_bytes(&self, key_size: usize) -> usize {
        self.one.capacity() * (key_size + 4 + 1)
            + self.many.capacity() * (key_size + size_of::<Vec<u32>>() + 1)
            + self.many.values().map(|v| v.capacity() * 4).sum::<usize>()
    }
}

/// One holder of one packed number key: 12 bytes (the key as two `u32`s, which a `u64`
/// would pad to 16).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Holding {
    key: [u32; 2],
    n: u32,
}

/// Packed number keys to the records holding them: one entry per (key, holder), the key
/// repeated when several records hold it (found together by their hash). A key with
/// several holders costs no allocation of its own: a map to a `Vec` per shared number put
/// a hundred thousand small allocations among the backfill's short-lived ones, where they
/// pinned the heap's pages.
#[derive(Debug, Default)]
struct Numbers {
    holdings: HashTable<Holding>,
    hasher: DefaultHashBuilder,
    /// Distinct keys held.
    keys: usize,
}

impl Numbers {
    fn hash(&self, key: [u32; 2]) -> u64 {
        self.hasher.hash_one(key)
    }

    fn holders(&self, key: [u32; 2]) -> impl Iterator<Item = u32> + '_ {
        self.holdings
            .iter_hash(self.hash(key))
            .filter(move |holding| holding.key == key)
            .map(|holding| holding.n)
    }

    fn add(&mut self, key: [u32; 2], n: u32) {
        let mut held = false;
        for m in self.holders(key) {
            if m == n {
                return;
            }
            held = true;
        }
        if !held {
            self.keys += 1;
        }
        let hash = self.hash(key);
        let hasher = &self.hasher;
        self.holdings
            .insert_unique(hash, Holding { key, n }, |holding| {
                hasher.hash_one(holding.key)
            });
    }

    fn remove(&mut self, key: [u32; 2], n: u32) {
        let hash = self.hash(key);
        let Ok(entry) = self
            .holdings
            .find_entry(hash, |holding| *holding == Holding { key, n })
        else {
            return;
        };
        entry.remove();
        if self.holders(key).next().is_none() {
            self.keys -= 1;
        }
    }

    fn reserve(&mut self, additional: usize) {
        let hasher = &self.hasher;
        self.holdings
            .reserve(additional, |holding| hasher.hash_one(holding.key));
    }

    fn heap_bytes(&self) -> usize {
        // `capacity` is 7/8 of the buckets; each bucket is an entry and a control byte.
        let buckets = (self.holdings.capacity() * 8 / 7).next_power_of_two();
        buckets * (size_of::<Holding>() + 1)
    }
}

/// The in-memory table: records by Id, and number keys (R3.6) to the records holding them.
#[derive(Debug)]
pub(super) struct PhoneTable {
    region: PhoneRegion,
    ids: Ids,
    /// By id number; `EMPTY` where the Id has no record.
    slots: Vec<Slot>,
    text: Arena,
    /// Packed keys ([`numeric_key`]).
    numbers: Numbers,
    long_numbers: Holders<Box<str>>,
    records: usize,
}

impl PhoneTable {
    pub(super) fn new(region: PhoneRegion) -> PhoneTable {
        PhoneTable {
            region,
            ids: Ids::default(),
            slots: Vec::new(),
            text: Arena::default(),
            numbers: Numbers::default(),
            long_numbers: Holders::default(),
            records: 0,
        }
    }

    /// Makes room for `records` more records, so that a backfill or a load builds the table
    /// without growing it on the way: each growth of a hash table frees the old one, and
    /// glibc answers a large free by raising its threshold for serving allocations from
    /// its own mappings, so that everything after (the backfill's pages of JSON among
    /// them) stays in its heaps for good; and a `Vec` that doubles ends with up to twice
    /// the room it needs. Sized for the org at hand: about one Id in ten more than records
    /// (Person Accounts' Contacts, owners), a number key and 48 bytes of text a record.
    pub(super) fn reserve(&mut self, records: usize) {
        let ids = records + records / 10 + 256;
        self.ids.reserve(ids);
        self.slots.reserve_exact(ids);
        self.numbers.reserve(records + records / 4);
        self.text.bytes.reserve(records * 48);
    }

    pub(super) fn region(&self) -> PhoneRegion {
        self.region
    }

    /// Records held.
    pub(super) fn records(&self) -> usize {
        self.records
    }

    /// Distinct number keys held.
    pub(super) fn numbers(&self) -> usize {
        self.numbers.keys + self.long_numbers.len()
    }

    /// What the table's allocations hold, in bytes (capacity, not only what is used): for
    /// the status and the benchmark.
    pub(super) fn heap_bytes(&self) -> usize {
        self.ids.heap_bytes()
            + self.slots.capacity() * size_of::<Slot>()
            + self.text.heap_bytes()
            + self.numbers.heap_bytes()
            + self.long_numbers.heap_bytes(size_of::<Box<str>>())
            + self
                .long_numbers
                .one
                .keys()
                .chain(self.long_numbers.many.keys())
                .map(|key| key.len())
                .sum::<usize>()
    }

    /// The normal-form key of each of a record's phone fields (R3.6), `None` for a field
    /// not searched (R3.2) or not a number.
    fn phone_keys(
        object: RecordObject,
        phones: &[(String, String)],
        region: PhoneRegion,
    ) -> Vec<Option<TableKey>> {
        let searched = object.searched_phone_fields();
        phones
            .iter()
            .map(|(field, value)| {
                searched
                    .iter()
                    .any(|s| s.eq_ignore_ascii_case(field))
                    .then(|| PhoneNumber::parse(value, region).ok())
                    .flatten()
                    .map(|number| table_key(number.key()))
            })
            .collect()
    }

    /// The normal-form keys of a record's searched phone fields (R3.2, R3.6), once each.
    fn keys_of(
        object: RecordObject,
        phones: &[(String, String)],
        region: PhoneRegion,
    ) -> Vec<TableKey> {
        Self::distinct(Self::phone_keys(object, phones, region))
    }

    fn distinct(keys: Vec<Option<TableKey>>) -> Vec<TableKey> {
        let mut keys: Vec<TableKey> = keys.into_iter().flatten().collect();
        keys.sort();
        keys.dedup();
        keys
    }

    fn slot(&self, n: u32) -> Option<&Slot> {
        self.slots.get(n as usize).filter(|slot| !slot.is_empty())
    }

    fn slot_of(&self, id: &SalesforceId) -> Option<(u32, &Slot)> {
        let n = self.ids.find(&PackedId::of(id)?)?;
        self.slot(n).map(|slot| (n, slot))
    }

    fn add_key(&mut self, key: TableKey, n: u32) {
        match key {
            TableKey::Numeric(value) => self.numbers.add(halves(value), n),
            TableKey::Text(text) => self.long_numbers.add(text, n),
        }
    }

    fn remove_key(&mut self, key: &TableKey, n: u32) {
        match key {
            TableKey::Numeric(value) => self.numbers.remove(halves(*value), n),
            TableKey::Text(text) => self.long_numbers.remove(text, n),
        }
    }

    /// Stores `record` unless the table holds a newer version of it.
    pub(super) fn upsert(&mut self, record: &IndexedRecord) {
        let stamp = record.system_modstamp.as_millisecond();
        if let Some((_, old)) = self.slot_of(&record.candidate.id)
            && old.system_modstamp_ms > stamp
        {
            return;
        }
        self.remove(&record.candidate.id);
        let Some(id) = PackedId::of(&record.candidate.id) else {
            return;
        };
        let candidate = &record.candidate;
        let mut reference = |id: &Option<SalesforceId>| {
            id.as_ref()
                .and_then(PackedId::of)
                .map_or(NONE, |packed| self.ids.intern(packed))
        };
        let owner = reference(&candidate.owner_id);
        let link = match candidate.object {
            RecordObject::Contact => {
                Link::of(candidate.object, reference(&candidate.account_id), NONE)
            }
            RecordObject::PersonAccount => Link::of(
                candidate.object,
                NONE,
                reference(&candidate.person_contact_id),
            ),
            RecordObject::Account | RecordObject::Lead => Link::Nothing,
        };
        let n = self.ids.intern(id);
        let keys = Self::phone_keys(candidate.object, &candidate.phones, self.region);
        let tags: Vec<u8> = keys
            .iter()
            .map(|key| key.as_ref().map_or(0, key_tag))
            .collect();
        let Some(text) = self.text.push(&encode_texts(candidate, &tags)) else {
            tracing::error!("the phone index's text arena is full; a record was left out");
            return;
        };
        if self.slots.len() <= n as usize {
            self.slots.resize(n as usize + 1, Slot::EMPTY);
        }
        let slot = Slot {
            system_modstamp_ms: stamp,
            last_modified_ms: candidate.last_modified.as_millisecond(),
            owner,
            link: link.stored(),
            text,
            kind: Slot::kind_of(candidate.object, candidate.is_converted),
        };
        if let Some(place) = self.slots.get_mut(n as usize) {
            *place = slot;
        }
        self.records += 1;
        for key in Self::distinct(keys) {
            self.add_key(key, n);
        }
    }

    /// The `SystemModstamp` of the version of `id` held, if any.
    pub(super) fn held_stamp(&self, id: &SalesforceId) -> Option<Timestamp> {
        self.slot_of(id)
            .and_then(|(_, slot)| Timestamp::from_millisecond(slot.system_modstamp_ms).ok())
    }

    /// Removes the record `id` if the table's version is not newer than `stamp`.
    pub(super) fn remove_if_older(&mut self, id: &SalesforceId, stamp: Timestamp) {
        if self
            .slot_of(id)
            .is_some_and(|(_, old)| old.system_modstamp_ms <= stamp.as_millisecond())
        {
            self.remove(id);
        }
    }

    fn remove(&mut self, id: &SalesforceId) {
        let Some((n, old)) = self.slot_of(id).map(|(n, slot)| (n, *slot)) else {
            return;
        };
        let blob = self.text.blob(old.text);
        let phones = decode_phones(blob);
        let len = blob_len(blob);
        self.text.garbage += len;
        if let Some(object) = old.object() {
            for key in Self::keys_of(object, &phones, self.region) {
                self.remove_key(&key, n);
            }
        }
        if let Some(place) = self.slots.get_mut(n as usize) {
            *place = Slot::EMPTY;
        }
        self.records -= 1;
        self.compact_text_if_wasteful();
    }

    /// Rewrites the arena with only the blobs records refer to, once more than half of what
    /// it holds is garbage (and it is worth the work).
    fn compact_text_if_wasteful(&mut self) {
        let alive = self.text.written() - self.text.garbage;
        if self.text.garbage < WORTH_COMPACTING || self.text.garbage < alive {
            return;
        }
        let mut fresh = Arena {
            bytes: Vec::with_capacity(alive),
            garbage: 0,
        };
        for slot in self.slots.iter_mut().filter(|slot| !slot.is_empty()) {
            let blob = self.text.blob(slot.text);
            let blob = &blob[..blob_len(blob)];
            match fresh.push(blob) {
                Some(at) => slot.text = at,
                None => return, // cannot happen: the fresh arena is smaller than the old one
            }
        }
        self.text = fresh;
    }

    /// Puts every number in normal form again with another default region (R3.6): the
    /// table is built again, as the keys and their tags in the text change with it.
    pub(super) fn rekey(&mut self, region: PhoneRegion) {
        let mut rebuilt = PhoneTable::new(region);
        rebuilt.reserve(self.records);
        for n in 0..self.slots.len() {
            if let Some(record) = self.unpack(n as u32) {
                rebuilt.upsert(&record);
            }
        }
        *self = rebuilt;
    }

    /// The record `n` as the sync read it.
    fn unpack(&self, n: u32) -> Option<IndexedRecord> {
        let slot = self.slot(n)?;
        self.unpack_with(n, decode_texts(self.text.blob(slot.text))?)
    }

    /// The record `n` with `texts` for its strings.
    fn unpack_with(&self, n: u32, texts: Texts) -> Option<IndexedRecord> {
        let slot = self.slot(n)?;
        Some(IndexedRecord {
            candidate: Candidate {
                object: slot.object()?,
                id: self.ids.unpack(n)?,
                phones: texts.phones,
                last_modified: Timestamp::from_millisecond(slot.last_modified_ms).ok()?,
                is_converted: slot.kind & CONVERTED != 0,
                account_id: self.ids.unpack(slot.link().account()),
                account_name: texts.account_name,
                person_contact_id: self.ids.unpack(slot.link().person_contact()),
                name: texts.name,
                company: texts.company,
                owner_id: self.ids.unpack(slot.owner),
            },
            system_modstamp: Timestamp::from_millisecond(slot.system_modstamp_ms).ok()?,
        })
    }

    /// The record with `id`, if held.
    #[cfg(test)]
    pub(super) fn get(&self, id: &SalesforceId) -> Option<IndexedRecord> {
        let (n, _) = self.slot_of(id)?;
        self.unpack(n)
    }

    /// The record `id` as a candidate, its `Account.Name` read as [`Self::candidates`] does.
    pub(super) fn candidate(&self, id: &SalesforceId) -> Option<Candidate> {
        let (n, _) = self.slot_of(id)?;
        self.candidate_at(n)
    }

    /// Record `n` as a candidate: a Contact's `Account.Name` read from its Account now (R4),
    /// so a renamed Account needs no change to its Contacts.
    fn candidate_at(&self, n: u32) -> Option<Candidate> {
        let slot = self.slot(n)?;
        let mut candidate = self.unpack(n)?.candidate;
        if candidate.object == RecordObject::Contact {
            candidate.account_name = self
                .slot(slot.link().account())
                .and_then(|account| decode_texts(self.text.blob(account.text)))
                .and_then(|texts| texts.name);
        }
        Some(candidate)
    }

    /// Record `n` for matching the number whose key has `tag`
    /// ([`Self::matching_candidates`]), and its phones that surely hold the number.
    fn holder_at(&self, n: u32, tag: u8) -> Option<(Candidate, u32)> {
        let slot = self.slot(n)?;
        let mut texts = decode(self.text.blob(slot.text), false)?;
        let (phones, tags): (Vec<_>, Vec<_>) = std::mem::take(&mut texts.phones)
            .into_iter()
            .zip(std::mem::take(&mut texts.tags))
            .filter(|(_, held)| *held == 0 || *held == tag)
            .unzip();
        texts.phones = phones;
        let mut tagged = tags.iter().enumerate().filter(|(_, held)| **held == tag);
        let sure = match (tagged.next(), tagged.next()) {
            (Some((only, _)), None) if only < 32 => 1 << only,
            _ => 0,
        };
        Some((self.unpack_with(n, texts)?.candidate, sure))
    }

    /// The candidates holding the number key `key`, whole ([`Self::candidate_at`]).
    pub(super) fn candidates(&self, key: &PhoneKey) -> Vec<Candidate> {
        self.holder_numbers(key)
            .filter_map(|n| self.candidate_at(n))
            .collect()
    }

    /// [`Self::candidates`] for matching. Each carries only the phone fields that may
    /// hold `key` (by [`key_tag`]; a field left out cannot hold it, so R3 picks the same
    /// record and field as from whole records) and no names (R3 does not read them; the
    /// chosen record is read whole afterwards). A number shared by a hundred records then
    /// costs neither their other numbers nor their names.
    pub(super) fn matching_candidates(&self, key: &PhoneKey) -> ForMatching {
        let tag = key_tag(&table_key(key));
        let mut holders = ForMatching::default();
        for (candidate, sure) in self
            .holder_numbers(key)
            .filter_map(|n| self.holder_at(n, tag))
        {
            holders.candidates.push(candidate);
            holders.sure.push(sure);
        }
        holders
    }

    /// The numbers of the records holding `key`.
    fn holder_numbers(&self, key: &PhoneKey) -> Box<dyn Iterator<Item = u32> + '_> {
        match table_key(key) {
            TableKey::Numeric(value) => Box::new(self.numbers.holders(halves(value))),
            TableKey::Text(text) => Box::new(self.long_numbers.get(&text).iter().copied()),
        }
    }
}

/// The records [`PhoneTable::matching_candidates`] hands to matching, and which of their
/// phones surely hold the number.
#[derive(Debug, Default)]
pub(super) struct ForMatching {
    pub(super) candidates: Vec<Candidate>,
    /// Beside each candidate: bit `p` set when its `phones[p]` holds the number for sure,
    /// so R3 need not read it. The record is among the number's holders, so one of its
    /// searched fields has the number's key, and this is its only field with that key's
    /// tag. Set for at most one phone; the others are read (R3.6).
    sure: Vec<u32>,
}

impl ForMatching {
    /// Whether phone `phone` of candidate `at` surely holds the number (then R3 need not
    /// read it); `None` when R3 must read it.
    pub(super) fn surely_holds(&self, at: usize, phone: usize) -> Option<bool> {
        let bit = u32::try_from(phone)
            .ok()
            .and_then(|phone| 1u32.checked_shl(phone))?;
        self.sure
            .get(at)
            .is_some_and(|sure| sure & bit != 0)
            .then_some(true)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // tests: a panic is a failure

    use super::*;

    fn id(text: &str) -> SalesforceId {
        SalesforceId::parse(text).unwrap()
    }

    fn at(millis: i64) -> Timestamp {
        Timestamp::from_millisecond(millis).unwrap()
    }

    fn record(text: &str, object: RecordObject, phone: &str, stamp: i64) -> IndexedRecord {
        IndexedRecord {
            candidate: Candidate {
                object,
                id: id(text),
                phones: vec![("Phone".to_owned(), phone.to_owned())],
                last_modified: at(stamp),
                is_converted: false,
                account_id: None,
                account_name: None,
                person_contact_id: None,
                name: Some(format!("N{stamp}")),
                company: None,
                owner_id: None,
            },
            system_modstamp: at(stamp),
        }
    }

    const CONTACT: &str = "003000000000001AAA";

    fn key(number: &str) -> PhoneKey {
        PhoneNumber::parse(number, PhoneRegion::JAPAN)
            .unwrap()
            .key()
            .clone()
    }

    /// Records of every shape, each to come back exactly as stored.
    fn assorted() -> Vec<IndexedRecord> {
        let long_name = "山田".repeat(100);
        vec![
            IndexedRecord {
                candidate: Candidate {
                    object: RecordObject::Contact,
                    id: id("003aB0000012xYzQAA"),
                    phones: vec![
                        ("Phone".to_owned(), "03-1234-5678".to_owned()),
                        (
                            "MobilePhone".to_owned(),
                            "０９０ー１２３４ー５６７８".to_owned(),
                        ),
                    ],
                    last_modified: at(1_700_000_000_123),
                    is_converted: false,
                    account_id: Some(id("001000000000001AAA")),
                    account_name: None,
                    person_contact_id: None,
                    name: Some("佐藤 太郎".to_owned()),
                    company: None,
                    owner_id: Some(id("005000000000001AAA")),
                },
                system_modstamp: at(1_700_000_000_456),
            },
            IndexedRecord {
                candidate: Candidate {
                    object: RecordObject::PersonAccount,
                    id: id("001000000000002AAA"),
                    phones: vec![
                        ("Phone".to_owned(), "+44 20 7946 0001".to_owned()),
                        ("PersonMobilePhone".to_owned(), "080 1111 2222".to_owned()),
                    ],
                    last_modified: at(-5),
                    is_converted: false,
                    account_id: None,
                    account_name: Some(long_name.clone()),
                    person_contact_id: Some(id("003000000000009AAA")),
                    name: Some(long_name),
                    company: None,
                    owner_id: Some(id("005000000000001AAA")),
                },
                system_modstamp: at(0),
            },
            IndexedRecord {
                candidate: Candidate {
                    object: RecordObject::Lead,
                    id: id("00Q000000000001"),
                    phones: vec![
                        ("HomePhone".to_owned(), "1".to_owned()),
                        ("Phone".to_owned(), "12345678901234567890123".to_owned()),
                    ],
                    last_modified: at(1),
                    is_converted: true,
                    account_id: None,
                    account_name: None,
                    person_contact_id: None,
                    name: None,
                    company: Some(String::new()),
                    owner_id: None,
                },
                system_modstamp: at(2),
            },
            IndexedRecord {
                candidate: Candidate {
                    object: RecordObject::Account,
                    id: id("001000000000003AAA"),
                    phones: Vec::new(),
                    last_modified: at(3),
                    is_converted: false,
                    account_id: None,
                    account_name: None,
                    person_contact_id: None,
                    name: Some("Acme".to_owned()),
                    company: None,
                    owner_id: None,
                },
                system_modstamp: at(3),
            },
        ]
    }

    #[test]
    fn r15_every_record_comes_back_from_the_compact_form_exactly_as_stored() {
        let mut table = PhoneTable::new(PhoneRegion::JAPAN);
        let records = assorted();
        for record in &records {
            table.upsert(record);
        }
        assert_eq!(table.records(), records.len());
        for record in &records {
            assert_eq!(
                table.get(&record.candidate.id).as_ref(),
                Some(record),
                "{:?}",
                record.candidate.id
            );
        }
    }

    #[test]
    fn r15_a_text_blob_decodes_to_what_was_encoded_and_its_length_is_known() {
        for record in assorted() {
            let tags: Vec<u8> = (1..=record.candidate.phones.len() as u8).collect();
            let blob = encode_texts(&record.candidate, &tags);
            assert_eq!(blob_len(&blob), blob.len());
            let mut trailing = blob.clone();
            trailing.extend_from_slice(&[9, 9, 9]);
            let texts = decode_texts(&trailing).unwrap();
            assert_eq!(texts.name, record.candidate.name);
            assert_eq!(texts.company, record.candidate.company);
            assert_eq!(texts.account_name, record.candidate.account_name);
            assert_eq!(texts.phones, record.candidate.phones);
            assert_eq!(texts.tags, tags);
        }
        assert!(decode_texts(&[1, 0x7E, 0]).is_none(), "an unknown tag");
        assert!(decode_texts(&[1, TAG_NAME, 5, b'a']).is_none(), "cut short");
    }

    #[test]
    fn r3_6_number_keys_pack_without_collisions_and_long_ones_stay_text() {
        let e164 = numeric_key(&PhoneKey::E164("+81312345678".to_owned())).unwrap();
        let digits = numeric_key(&PhoneKey::Digits("81312345678".to_owned())).unwrap();
        let zero = numeric_key(&PhoneKey::Digits("081312345678".to_owned())).unwrap();
        assert_eq!(e164, 81_312_345_678);
        assert_ne!(e164, digits, "E.164 and digits-only keys differ");
        assert_ne!(digits, zero, "leading zeros count");
        assert_ne!(
            numeric_key(&PhoneKey::Digits("0".to_owned())),
            numeric_key(&PhoneKey::Digits("00".to_owned()))
        );
        assert!(numeric_key(&PhoneKey::Digits("1".repeat(17))).is_some());
        assert_eq!(numeric_key(&PhoneKey::Digits("1".repeat(18))), None);
        assert_eq!(numeric_key(&PhoneKey::Digits(String::new())), None);
        assert_eq!(numeric_key(&PhoneKey::E164("+0123".to_owned())), None);
        let mut table = PhoneTable::new(PhoneRegion::JAPAN);
        let long = "12345678901234567890123";
        table.upsert(&record(CONTACT, RecordObject::Contact, long, 1));
        assert_eq!(table.long_numbers.len(), 1);
        assert_eq!(table.candidates(&key(long)).len(), 1);
        assert!(table.candidates(&key("1234567890123456789012")).is_empty());
    }

    #[test]
    fn r15_a_number_is_found_in_every_spelling_and_moves_with_its_record() {
        let mut table = PhoneTable::new(PhoneRegion::JAPAN);
        table.upsert(&record(CONTACT, RecordObject::Contact, "03-1234-5678", 10));
        assert_eq!(
            table.candidates(&key("+81312345678")).len(),
            1,
            "R3.6 normal form"
        );
        table.upsert(&record(CONTACT, RecordObject::Contact, "06-1111-2222", 11));
        assert!(
            table.candidates(&key("+81312345678")).is_empty(),
            "the old number is gone"
        );
        assert_eq!(table.candidates(&key("+81611112222")).len(), 1);
        assert_eq!(table.numbers(), 1);
        assert_eq!(table.records(), 1);
    }

    #[test]
    fn r15_a_number_held_by_several_records_lists_each_once_until_they_let_go() {
        let mut table = PhoneTable::new(PhoneRegion::JAPAN);
        let ids = [
            "003000000000001AAA",
            "003000000000002AAA",
            "003000000000003AAA",
        ];
        for (n, text) in ids.iter().enumerate() {
            let mut both = record(text, RecordObject::Contact, "03-1234-5678", n as i64);
            both.candidate
                .phones
                .push(("MobilePhone".to_owned(), "0312345678".to_owned()));
            table.upsert(&both);
        }
        assert_eq!(table.candidates(&key("0312345678")).len(), 3);
        table.remove_if_older(&id(ids[0]), at(100));
        table.remove_if_older(&id(ids[1]), at(100));
        assert_eq!(table.candidates(&key("0312345678")).len(), 1);
        assert_eq!(table.numbers.holdings.len(), 1, "one holder left");
        assert_eq!(table.numbers(), 1);
        table.remove_if_older(&id(ids[2]), at(100));
        assert_eq!(table.numbers(), 0);
        assert_eq!(table.records(), 0);
    }

    #[test]
    fn r3_2_matching_candidates_keep_only_fields_that_may_hold_the_number() {
        let mut table = PhoneTable::new(PhoneRegion::JAPAN);
        let mut both = record(CONTACT, RecordObject::Contact, "06-1111-2222", 10);
        both.candidate.phones.push((
            "MobilePhone".to_owned(),
            "０３－１２３４－５６７８".to_owned(),
        ));
        both.candidate
            .phones
            .push(("Fax".to_owned(), "03-1234-5678".to_owned()));
        table.upsert(&both);
        let whole = table.candidates(&key("03-1234-5678"));
        assert_eq!(whole.len(), 1);
        assert_eq!(whole[0].phones, both.candidate.phones, "whole, as stored");
        let narrowed = table.matching_candidates(&key("03-1234-5678"));
        assert_eq!(narrowed.candidates.len(), 1);
        assert_eq!(
            narrowed.candidates[0].phones,
            vec![
                (
                    "MobilePhone".to_owned(),
                    "０３－１２３４－５６７８".to_owned()
                ),
                // Not searched (R3.2): its key is not known, so it is never left out.
                ("Fax".to_owned(), "03-1234-5678".to_owned()),
            ],
            "the other number's field is left out"
        );
        assert_eq!(
            narrowed.sure,
            [0b01],
            "the one field with the number's tag holds it; the Fax is for R3 to read"
        );
        assert_eq!(narrowed.candidates[0].name, None, "R3 reads no names");

        // The number in both searched fields: neither is sure, R3 reads both (and takes
        // the first, R3.2).
        let mut twice = record(
            "003000000000002AAA",
            RecordObject::Contact,
            "03-1234-5678",
            10,
        );
        twice
            .candidate
            .phones
            .push(("MobilePhone".to_owned(), "+81 3 1234 5678".to_owned()));
        table.upsert(&twice);
        let narrowed = table.matching_candidates(&key("03-1234-5678"));
        let at = narrowed
            .candidates
            .iter()
            .position(|candidate| candidate.id == twice.candidate.id)
            .unwrap();
        assert_eq!(narrowed.candidates[at].phones, twice.candidate.phones);
        assert_eq!(narrowed.sure[at], 0);
        assert_eq!(
            key_tag(&table_key(&key("03-1234-5678"))),
            key_tag(&table_key(&key("+81312345678"))),
            "one number, one tag, whatever the spelling"
        );
    }

    #[test]
    fn r15_an_older_version_or_deletion_never_replaces_a_newer_one() {
        let mut table = PhoneTable::new(PhoneRegion::JAPAN);
        table.upsert(&record(CONTACT, RecordObject::Contact, "03-1234-5678", 20));
        table.upsert(&record(CONTACT, RecordObject::Contact, "06-1111-2222", 10));
        assert_eq!(table.candidates(&key("+81312345678")).len(), 1);
        table.remove_if_older(&id(CONTACT), at(15));
        assert_eq!(
            table.candidates(&key("+81312345678")).len(),
            1,
            "a deletion older than the record"
        );
        table.remove_if_older(&id(CONTACT), at(25));
        assert_eq!(table.records(), 0);
        assert_eq!(table.numbers(), 0);
    }

    #[test]
    fn r3_2_only_searched_fields_are_keys_and_a_record_without_a_phone_is_held_for_r3_1() {
        let mut table = PhoneTable::new(PhoneRegion::JAPAN);
        let mut other = record(CONTACT, RecordObject::Account, "03-1234-5678", 1);
        other.candidate.phones = vec![("MobilePhone".to_owned(), "03-1234-5678".to_owned())];
        table.upsert(&other);
        assert!(
            table.candidates(&key("+81312345678")).is_empty(),
            "an Account's MobilePhone is not searched"
        );
        assert_eq!(
            table.records(),
            1,
            "every Account is held for its name (R4)"
        );
        let mut bare = record("003000000000002AAA", RecordObject::Contact, "", 1);
        bare.candidate.phones.clear();
        table.upsert(&bare);
        assert_eq!(table.records(), 2, "a click-to-call may name it");
        assert_eq!(table.numbers(), 0);
        assert_eq!(table.candidate(&bare.candidate.id).unwrap(), bare.candidate);
    }

    #[test]
    fn r4_a_contacts_company_is_read_from_its_account_at_lookup() {
        let mut table = PhoneTable::new(PhoneRegion::JAPAN);
        let account = "001000000000001AAA";
        let mut person = record(CONTACT, RecordObject::Contact, "03-1234-5678", 1);
        person.candidate.account_id = Some(id(account));
        table.upsert(&person);
        assert_eq!(
            table.candidates(&key("+81312345678"))[0].account_name,
            None,
            "its Account is not indexed yet"
        );
        let mut firm = record(account, RecordObject::Account, "06-0000-0000", 1);
        firm.candidate.name = Some("Acme".to_owned());
        table.upsert(&firm);
        assert_eq!(
            table.candidates(&key("+81312345678"))[0]
                .account_name
                .as_deref(),
            Some("Acme")
        );
        firm.candidate.name = Some("Acme Renamed".to_owned());
        firm.system_modstamp = at(2);
        table.upsert(&firm);
        assert_eq!(
            table.candidates(&key("+81312345678"))[0]
                .account_name
                .as_deref(),
            Some("Acme Renamed")
        );
    }

    #[test]
    fn r15_text_of_changed_records_is_reclaimed_and_records_survive_it() {
        let mut table = PhoneTable::new(PhoneRegion::JAPAN);
        let mut first = record(CONTACT, RecordObject::Contact, "03-1234-5678", 0);
        first.candidate.name = Some("x".repeat(1000));
        let kept = record(
            "003000000000002AAA",
            RecordObject::Contact,
            "06-1111-2222",
            0,
        );
        table.upsert(&kept);
        for stamp in 1..20_000 {
            first.system_modstamp = at(stamp);
            table.upsert(&first);
        }
        assert!(
            table.text.written() - table.text.garbage <= 2_000_000,
            "garbage was dropped: {} written, {} garbage",
            table.text.written(),
            table.text.garbage
        );
        assert!(table.text.heap_bytes() < 5 * WORTH_COMPACTING);
        assert_eq!(table.get(&id(CONTACT)), Some(first));
        assert_eq!(table.get(&kept.candidate.id), Some(kept));
    }

    #[test]
    fn r15_a_slot_is_32_bytes_and_its_link_is_the_id_its_object_refers_to() {
        assert_eq!(size_of::<Slot>(), 32);
        assert_eq!(size_of::<Holding>(), 12, "a number entry");
        assert_eq!(Link::of(RecordObject::Contact, 7, NONE), Link::Account(7));
        assert_eq!(
            Link::of(RecordObject::PersonAccount, NONE, 9),
            Link::PersonContact(9)
        );
        assert_eq!(Link::of(RecordObject::Contact, NONE, NONE), Link::Nothing);
        for object in [RecordObject::Account, RecordObject::Lead] {
            assert_eq!(Link::of(object, 7, 9), Link::Nothing, "{object:?}");
            assert_eq!(Link::read(object, 7), Link::Nothing, "{object:?}");
        }
        for link in [Link::Account(3), Link::PersonContact(3), Link::Nothing] {
            let object = match link {
                Link::PersonContact(_) => RecordObject::PersonAccount,
                _ => RecordObject::Contact,
            };
            assert_eq!(Link::read(object, link.stored()), link);
        }
        assert_eq!(Link::PersonContact(3).account(), NONE);
        assert_eq!(Link::Account(3).person_contact(), NONE);

        // Through the table: a Contact's Account and a Person Account's Person Contact
        // come back in their own field, the other one empty.
        let mut table = PhoneTable::new(PhoneRegion::JAPAN);
        let records = assorted();
        for record in &records {
            table.upsert(record);
        }
        let contact = table.get(&records[0].candidate.id).unwrap().candidate;
        assert_eq!(contact.account_id, records[0].candidate.account_id);
        assert_eq!(contact.person_contact_id, None);
        let person = table.get(&records[1].candidate.id).unwrap().candidate;
        assert_eq!(
            person.person_contact_id,
            records[1].candidate.person_contact_id
        );
        assert_eq!(person.account_id, None);
    }

    #[test]
    fn r3_6_another_default_region_puts_every_number_in_normal_form_again() {
        let mut table = PhoneTable::new(PhoneRegion::JAPAN);
        table.upsert(&record(CONTACT, RecordObject::Contact, "020 7946 0001", 1));
        let britain = PhoneRegion::parse("GB").unwrap();
        table.rekey(britain);
        let london = PhoneNumber::parse("+44 20 7946 0001", britain).unwrap();
        assert_eq!(table.candidates(london.key()).len(), 1);
    }
}
