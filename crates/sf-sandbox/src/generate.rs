//! The data generator: accounts, contacts, person accounts, leads and users with Japanese
//! and international names and phone numbers written the messy ways real orgs hold them
//! (odd hyphens, spaces, brackets, `+81`, full-width digits), the same number on several
//! records and objects, and converted leads. Deterministic for a seed; it bypasses
//! validation (it writes what a real org may already contain) and is fast enough for a
//! million records.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::ids::RecordId;
use crate::org::{NewUser, OrgState};

/// How much to generate.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GenerateSpec {
    #[serde(default)]
    pub seed: u64,
    #[serde(default)]
    pub accounts: usize,
    /// Business contacts, spread over the accounts.
    #[serde(default)]
    pub contacts: usize,
    #[serde(default)]
    pub person_accounts: usize,
    /// About one in five is converted.
    #[serde(default)]
    pub leads: usize,
    #[serde(default)]
    pub users: usize,
}

impl GenerateSpec {
    /// About `total` records in realistic proportions.
    pub fn total(total: usize, seed: u64) -> GenerateSpec {
        GenerateSpec {
            seed,
            accounts: total / 10,
            contacts: total * 5 / 10,
            person_accounts: total / 10,
            leads: total * 3 / 10,
            users: (total / 1000).clamp(1, 200),
        }
    }
}

/// What was generated.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GenerateReport {
    pub accounts: usize,
    pub contacts: usize,
    pub person_accounts: usize,
    pub leads: usize,
    pub converted_leads: usize,
    pub users: usize,
    /// Phone numbers that appear on more than one record.
    pub shared_numbers: usize,
}

const JAPANESE_FAMILY: &[&str] = &[
    "佐藤",
    "鈴木",
    "高橋",
    "田中",
    "伊藤",
    "渡辺",
    "山本",
    "中村",
    "小林",
    "加藤",
    "吉田",
    "山田",
    "佐々木",
    "山口",
    "松本",
    "井上",
    "木村",
    "林",
    "斎藤",
    "清水",
    "Sato",
    "Suzuki",
    "Takahashi",
    "Tanaka",
];
const JAPANESE_GIVEN: &[&str] = &[
    "太郎",
    "花子",
    "翔",
    "陽菜",
    "蓮",
    "結衣",
    "大翔",
    "さくら",
    "健太",
    "美咲",
    "悠斗",
    "葵",
    "ひなた",
    "ゆうき",
    "Haruto",
    "Yui",
];
const WESTERN_FAMILY: &[&str] = &[
    "Smith", "Johnson", "Garcia", "Müller", "Martin", "Rossi", "O'Brien", "Kim", "Nguyen", "Silva",
    "Dubois", "Kowalski",
];
const WESTERN_GIVEN: &[&str] = &[
    "James", "Maria", "Liam", "Sofia", "Noah", "Emma", "Lucas", "Chloé", "Mateo", "Ji-woo",
    "Olivia", "Hiro",
];
const COMPANY_WORDS: &[&str] = &[
    "株式会社",
    "合同会社",
    "Acme",
    "Global",
    "さくら",
    "Tokyo",
    "Pacific",
    "Nippon",
    "Blue Sky",
    "富士",
    "Orion",
    "Kansai",
];
const COMPANY_SUFFIX: &[&str] = &[
    "商事",
    "テクノロジー",
    "Holdings",
    "Inc.",
    "Ltd.",
    "Systems",
    "物産",
    "GmbH",
    "ソリューションズ",
    "Partners",
];

fn pick<'a>(rng: &mut StdRng, list: &[&'a str]) -> &'a str {
    list[rng.random_range(0..list.len())]
}

fn person_name(rng: &mut StdRng) -> (String, String) {
    if rng.random_bool(0.7) {
        (
            pick(rng, JAPANESE_GIVEN).to_string(),
            pick(rng, JAPANESE_FAMILY).to_string(),
        )
    } else {
        (
            pick(rng, WESTERN_GIVEN).to_string(),
            pick(rng, WESTERN_FAMILY).to_string(),
        )
    }
}

fn company_name(rng: &mut StdRng, serial: usize) -> String {
    format!(
        "{}{} {}",
        pick(rng, COMPANY_WORDS),
        pick(rng, COMPANY_SUFFIX),
        serial
    )
}

/// A phone number in national digits, with how it is dialled from abroad.
#[derive(Debug, Clone)]
struct Number {
    /// Country calling code.
    country: &'static str,
    /// National significant number's digits, with the trunk prefix (`0312345678`).
    national: String,
}

fn new_number(rng: &mut StdRng) -> Number {
    match rng.random_range(0..10) {
        // Tokyo/Osaka landlines: 0A-BBBB-CCCC.
        0..=3 => {
            let area = if rng.random_bool(0.6) { "03" } else { "06" };
            Number {
                country: "81",
                national: format!("{area}{:08}", rng.random_range(0..100_000_000u32)),
            }
        }
        // Mobiles: 090/080/070-BBBB-CCCC.
        4..=7 => {
            let prefix = ["090", "080", "070"][rng.random_range(0..3)];
            Number {
                country: "81",
                national: format!("{prefix}{:08}", rng.random_range(0..100_000_000u32)),
            }
        }
        // US numbers in the 555-01xx fiction range.
        8 => Number {
            country: "1",
            national: format!(
                "{:03}55501{:02}",
                rng.random_range(201..990u32),
                rng.random_range(0..100u32)
            ),
        },
        // London numbers in Ofcom's drama range.
        _ => Number {
            country: "44",
            national: format!("0207946{:04}", rng.random_range(0..1000u32)),
        },
    }
}

fn full_width(text: &str) -> String {
    text.chars()
        .map(|character| match character {
            '0'..='9' => {
                char::from_u32(u32::from(character) - u32::from('0') + 0xFF10).unwrap_or(character)
            }
            '-' => 'ー',
            '(' => '（',
            ')' => '）',
            '+' => '＋',
            ' ' => '\u{3000}',
            other => other,
        })
        .collect()
}

/// Writes a number the way some person typed it.
fn messy(rng: &mut StdRng, number: &Number) -> String {
    let national = &number.national;
    let without_trunk = national.strip_prefix('0').unwrap_or(national);
    match number.country {
        "81" => {
            let (first, rest) = if national.starts_with("03") || national.starts_with("06") {
                national.split_at(2)
            } else {
                national.split_at(3)
            };
            let (middle, last) = rest.split_at(4);
            match rng.random_range(0..10) {
                0 => format!("{first}-{middle}-{last}"),
                1 => national.clone(),
                2 => format!("{first} {middle} {last}"),
                3 => format!("({first}) {middle}-{last}"),
                4 => format!("+81 {}-{middle}-{last}", &first[1..]),
                5 => format!("+81{without_trunk}"),
                6 => full_width(&format!("{first}-{middle}-{last}")),
                // Hyphens in odd places.
                7 => format!("{}-{}-{}", &national[..4], &national[4..6], &national[6..]),
                8 => format!("+81 (0){} {middle} {last}", &first[1..]),
                _ => format!("{first}‐{middle}‐{last}"),
            }
        }
        "1" => {
            let (area, rest) = national.split_at(3);
            let (exchange, line) = rest.split_at(3);
            match rng.random_range(0..4) {
                0 => format!("+1 ({area}) {exchange}-{line}"),
                1 => format!("{area}.{exchange}.{line}"),
                2 => format!("1-{area}-{exchange}-{line}"),
                _ => format!("({area}) {exchange}-{line}"),
            }
        }
        _ => match rng.random_range(0..3) {
            0 => format!("+44 20 {} {}", &national[3..7], &national[7..]),
            1 => format!("020 {} {}", &national[3..7], &national[7..]),
            _ => format!("+44 (0)20 {}{}", &national[3..7], &national[7..]),
        },
    }
}

struct Phones {
    pool: Vec<Number>,
    uses: Vec<u32>,
}

impl Phones {
    /// A number: usually new, sometimes one already used elsewhere (a shared office line,
    /// a lead who later became a contact).
    fn next(&mut self, rng: &mut StdRng) -> String {
        let index = if !self.pool.is_empty() && rng.random_bool(0.15) {
            rng.random_range(0..self.pool.len())
        } else {
            self.pool.push(new_number(rng));
            self.uses.push(0);
            self.pool.len() - 1
        };
        self.uses[index] += 1;
        let number = self.pool[index].clone();
        messy(rng, &number)
    }

    fn maybe(&mut self, rng: &mut StdRng, probability: f64) -> Option<String> {
        rng.random_bool(probability).then(|| self.next(rng))
    }
}

fn put(record: &mut Map<String, Value>, field: &str, value: Option<String>) {
    if let Some(value) = value {
        record.insert(field.to_string(), Value::String(value));
    }
}

/// Generates `spec` into the org.
pub fn generate(state: &mut OrgState, spec: &GenerateSpec) -> GenerateReport {
    let mut rng = StdRng::seed_from_u64(spec.seed);
    let mut phones = Phones {
        pool: Vec::with_capacity(spec.accounts + spec.contacts + spec.leads + spec.person_accounts),
        uses: Vec::new(),
    };
    let mut report = GenerateReport::default();
    let mut owners: Vec<RecordId> = vec![state.admin_user()];
    for serial in 0..spec.users {
        let (first, last) = person_name(&mut rng);
        let mut user = NewUser::named(
            &format!("user{serial}.{}@callsync.sandbox", spec.seed),
            &first,
            &last,
        );
        user.phone = Some(phones.next(&mut rng));
        owners.push(state.add_user(&user));
        report.users += 1;
    }
    let mut accounts: Vec<RecordId> = Vec::with_capacity(spec.accounts);
    for serial in 0..spec.accounts {
        let mut record = Map::new();
        record.insert("Name".to_string(), json!(company_name(&mut rng, serial)));
        record.insert("IsPersonAccount".to_string(), json!(false));
        put(&mut record, "Phone", Some(phones.next(&mut rng)));
        put(&mut record, "Fax", phones.maybe(&mut rng, 0.2));
        let owner = owners[rng.random_range(0..owners.len())];
        record.insert("OwnerId".to_string(), json!(owner.as_str()));
        accounts.push(state.insert_raw("Account", record, Some(owner), None));
        report.accounts += 1;
    }
    let mut contacts: Vec<(RecordId, Option<RecordId>)> = Vec::with_capacity(spec.contacts);
    for _ in 0..spec.contacts {
        let (first, last) = person_name(&mut rng);
        let mut record = Map::new();
        record.insert("FirstName".to_string(), json!(first));
        record.insert("LastName".to_string(), json!(last));
        record.insert("IsPersonAccount".to_string(), json!(false));
        let account = (!accounts.is_empty() && rng.random_bool(0.9))
            .then(|| accounts[rng.random_range(0..accounts.len())]);
        if let Some(account) = account {
            record.insert("AccountId".to_string(), json!(account.as_str()));
        }
        put(&mut record, "Phone", phones.maybe(&mut rng, 0.8));
        put(&mut record, "MobilePhone", phones.maybe(&mut rng, 0.5));
        put(&mut record, "HomePhone", phones.maybe(&mut rng, 0.1));
        put(&mut record, "OtherPhone", phones.maybe(&mut rng, 0.05));
        let owner = owners[rng.random_range(0..owners.len())];
        record.insert("OwnerId".to_string(), json!(owner.as_str()));
        contacts.push((
            state.insert_raw("Contact", record, Some(owner), None),
            account,
        ));
        report.contacts += 1;
    }
    for _ in 0..spec.person_accounts {
        let (first, last) = person_name(&mut rng);
        let owner = owners[rng.random_range(0..owners.len())];
        let mut account = Map::new();
        account.insert("FirstName".to_string(), json!(first));
        account.insert("LastName".to_string(), json!(last));
        account.insert("IsPersonAccount".to_string(), json!(true));
        account.insert("OwnerId".to_string(), json!(owner.as_str()));
        put(&mut account, "Phone", phones.maybe(&mut rng, 0.5));
        put(
            &mut account,
            "PersonMobilePhone",
            phones.maybe(&mut rng, 0.7),
        );
        put(&mut account, "PersonHomePhone", phones.maybe(&mut rng, 0.3));
        let account_id = state.insert_raw("Account", account.clone(), Some(owner), None);
        let mut contact = Map::new();
        for (from, to) in [
            ("FirstName", "FirstName"),
            ("LastName", "LastName"),
            ("Phone", "Phone"),
            ("PersonMobilePhone", "MobilePhone"),
            ("PersonHomePhone", "HomePhone"),
        ] {
            if let Some(value) = account.get(from) {
                contact.insert(to.to_string(), value.clone());
            }
        }
        contact.insert("AccountId".to_string(), json!(account_id.as_str()));
        contact.insert("IsPersonAccount".to_string(), json!(true));
        contact.insert("OwnerId".to_string(), json!(owner.as_str()));
        let contact_id = state.insert_raw("Contact", contact, Some(owner), None);
        state.set_raw_field(&account_id, "PersonContactId", json!(contact_id.as_str()));
        report.person_accounts += 1;
    }
    for serial in 0..spec.leads {
        let (first, last) = person_name(&mut rng);
        let owner = owners[rng.random_range(0..owners.len())];
        let mut record = Map::new();
        record.insert("FirstName".to_string(), json!(first));
        record.insert("LastName".to_string(), json!(last));
        record.insert("Company".to_string(), json!(company_name(&mut rng, serial)));
        record.insert("OwnerId".to_string(), json!(owner.as_str()));
        put(&mut record, "Phone", phones.maybe(&mut rng, 0.8));
        put(&mut record, "MobilePhone", phones.maybe(&mut rng, 0.4));
        let converted = !contacts.is_empty() && rng.random_bool(0.2);
        if converted {
            let (contact, account) = contacts[rng.random_range(0..contacts.len())];
            record.insert("IsConverted".to_string(), json!(true));
            record.insert("Status".to_string(), json!("Closed - Converted"));
            record.insert("ConvertedContactId".to_string(), json!(contact.as_str()));
            if let Some(account) = account {
                record.insert("ConvertedAccountId".to_string(), json!(account.as_str()));
            }
            record.insert(
                "ConvertedDate".to_string(),
                json!(jiff::Zoned::now().date().to_string()),
            );
            report.converted_leads += 1;
        } else {
            record.insert("IsConverted".to_string(), json!(false));
            let status = [
                "Open - Not Contacted",
                "Working - Contacted",
                "Closed - Not Converted",
            ][rng.random_range(0..3)];
            record.insert("Status".to_string(), json!(status));
        }
        state.insert_raw("Lead", record, Some(owner), None);
        report.leads += 1;
    }
    report.shared_numbers = phones.uses.iter().filter(|uses| **uses > 1).count();
    report
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::source::QuerySource;

    #[test]
    fn the_same_seed_generates_the_same_org() {
        let spec = GenerateSpec {
            seed: 3,
            accounts: 20,
            contacts: 50,
            person_accounts: 10,
            leads: 30,
            users: 2,
        };
        let phones = |spec: &GenerateSpec| {
            let org = crate::org::Org::new(1, std::time::Duration::ZERO);
            let report = generate(&mut org.write(), spec);
            let state = org.read();
            let numbers: Vec<Value> = state
                .records("Contact", false)
                .filter_map(|record| record.get("Phone").cloned())
                .collect();
            (report, numbers)
        };
        let (first_report, first) = phones(&spec);
        let (_, second) = phones(&spec);
        assert_eq!(first, second);
        assert_eq!(first_report.person_accounts, 10);
        assert!(first_report.shared_numbers > 0);
    }

    #[test]
    fn messy_formats_include_full_width_digits_and_country_codes() {
        let mut rng = StdRng::seed_from_u64(5);
        let number = Number {
            country: "81",
            national: "0312345678".to_string(),
        };
        let forms: Vec<String> = (0..200).map(|_| messy(&mut rng, &number)).collect();
        assert!(forms.iter().any(|form| form.contains('０')));
        assert!(forms.iter().any(|form| form.starts_with("+81")));
        assert!(forms.iter().any(|form| form == "03-1234-5678"));
    }
}
