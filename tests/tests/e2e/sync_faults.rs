//! "Nothing is lost" under a hostile network: two desktops (two admins, two
//! caches) make a few hundred random edits, each through its own seeded
//! fault proxy (drops, canned 503s, delays, responses reset or truncated
//! after the cloud applied the request, stretches of no network at all).
//! Then the network heals and both sync until idle, and [`run_harness`]
//! checks (each broken rule is a [`Violation`]; the test wants none):
//!
//! - both caches equal the cloud (users and company, versions included) and
//!   both outboxes are empty;
//! - every mutation the cloud received has exactly one stored result, and
//!   nothing else is stored;
//! - EVERY edit core acknowledged, of every kind (display name, phone, 2FA,
//!   role, status, company name, company 2FA), is found on the cloud by the
//!   idempotency key core queued it under: received from that desktop, with
//!   the change the caller asked for, and its one stored result is either
//!   applied or a refusal the person saw — returned to the caller with that
//!   code, or one sync notice on that desktop (never silent, never twice);
//!   no key reached the cloud that no edit was queued under;
//! - an edit acknowledged without a key (it changed nothing) showed its
//!   caller every value asked for, and such edits are rare; an edit refused
//!   before queuing carries a code of the shared edit rules (an invalid
//!   phone always is, as `invalid_phone`);
//! - most acknowledged edits were applied, and some of every kind were (a
//!   cloud that refuses everything, or a core that drops a kind, fails);
//! - replaying the applied mutations in the cloud's version order over the
//!   starting state gives the final state, and no mutation made on an older
//!   version changed a field away from a value its client had not seen (so
//!   no security field — 2FA, role, status, phone, company 2FA — regressed
//!   from a stale client).
//!
//! With the `defect-drop-edit` feature (core drops its first phone edit after
//! acknowledging it), a second test proves the checks report that loss.
//!
//! The seed is printed; set SECURECLOSE_FAULT_SEED to replay a run.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use secureclose_core::cache::COMPANY_SUBJECT;
use secureclose_core::client::CloudClient;
use secureclose_core::{AppCore, CoreError, Sensitive};
use secureclose_protocol::sync::{
    Mutation, MutationChange, MutationOutcome, MutationResult, PushRequest,
};
use secureclose_protocol::{codes, Company, CompanyUpdate, Role, User, UserStatus, UserUpdate};
use secureclose_tests::fault_proxy::{FaultPlan, FaultProxy};
use serde_json::Value;
use tempfile::TempDir;

use crate::core_sync::{open_quiet, sign_in};
use crate::support::{MemoryKeyStore, TestCloud};

const DEFAULT_SEED: u64 = 0x5EC0_C105_E001;
const EDITS_PER_DESKTOP: usize = 150;
const SECOND_ADMIN: &str = "priya.natarajan@desertsun.example";
const COMPANY: &str = "company";
/// The least share (percent) of the edits queued under a key that the cloud
/// must apply. Measured (2 cores): the default seed applies 239–248 of
/// 279–286 (86–88 %, six runs), seeds 1, 2, 3, 42, 777, 9001, 123456 and
/// 31337 apply 86–93 %; the refusals are the two admins' real conflicts and
/// stale offline edits. A cloud that refuses everything applies 0 %; a core
/// that dropped every non-name edit would leave only the name edits (under a
/// third) to apply. 70 % fails both by far and leaves room for a seed with
/// more conflicts.
const APPLIED_FLOOR_PERCENT: usize = 70;
/// Edits acknowledged without a key (nothing changed) happen only when a
/// pull or a rollback changes the cache between reading it and editing it,
/// or a random phone repeats the current one: measured 0–1 per run. More
/// means core is calling edits "no change" instead of queuing them.
const MAX_UNCHANGED: usize = 6;

fn seed() -> u64 {
    std::env::var("SECURECLOSE_FAULT_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(DEFAULT_SEED)
}

/// What an edit is about; every kind must reach the cloud.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    DisplayName,
    Phone,
    TwoFactor,
    Role,
    Status,
    CompanyName,
    CompanyTwoFactor,
}

const KINDS: [Kind; 7] = [
    Kind::DisplayName,
    Kind::Phone,
    Kind::TwoFactor,
    Kind::Role,
    Kind::Status,
    Kind::CompanyName,
    Kind::CompanyTwoFactor,
];

/// What one call to update_user/update_company returned.
#[derive(Debug, Clone, PartialEq)]
enum Outcome {
    /// Accepted: the entity the caller was shown (the cloud's, or optimistic).
    Ok(Value),
    /// The cloud refused it while the caller waited (rolled back, shown in the dialog).
    Cloud(String),
    /// Refused on the desktop before anything was queued.
    Local(String),
}

#[derive(Debug)]
struct Call {
    /// Its place in its desktop's run.
    n: usize,
    kind: Kind,
    entity: String,
    /// The update as asked (only the fields present).
    asked: Value,
    /// An invalid phone: core must refuse it before queuing anything.
    invalid: bool,
    /// The idempotency key core queued it under (`None`: nothing queued).
    key: Option<String>,
    outcome: Outcome,
}

struct Desktop {
    label: &'static str,
    core: AppCore,
    keys: Arc<MemoryKeyStore>,
    proxy: FaultProxy,
    calls: Vec<Call>,
    _dir: TempDir,
}

/// A rule the run broke.
#[derive(Debug)]
enum Violation {
    /// An edit core acknowledged under `key` that the cloud never received.
    Lost {
        desktop: &'static str,
        n: usize,
        kind: Kind,
        key: String,
        asked: Value,
    },
    /// Any other rule; the text says which and why it must hold.
    Broken(String),
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Violation::Lost {
                desktop,
                n,
                kind,
                key,
                asked,
            } => write!(
                f,
                "LOST: desktop {desktop}'s edit #{n} ({kind:?} {asked}) was acknowledged under \
                 key {key} but the cloud never received it"
            ),
            Violation::Broken(text) => f.write_str(text),
        }
    }
}

/// What [`run_harness`] found: the broken rules, and every desktop's calls.
struct Report {
    violations: Vec<Violation>,
    // Read by the defect test only.
    #[cfg_attr(not(feature = "defect-drop-edit"), expect(dead_code))]
    calls: Vec<(&'static str, Vec<Call>)>,
}

/// Per kind: what became of the edits.
#[derive(Debug, Default, Clone, Copy)]
struct Fate {
    /// Queued under a key (acknowledged to the caller, or refused to them).
    keyed: usize,
    applied: usize,
    refused_to_caller: usize,
    refused_as_notice: usize,
    /// Acknowledged without a key: it changed nothing.
    unchanged: usize,
    refused_locally: usize,
}

fn outcome_of(result: Result<Value, CoreError>) -> Outcome {
    match result {
        Ok(entity) => Outcome::Ok(entity),
        Err(CoreError::Cloud { code, .. }) => Outcome::Cloud(code),
        Err(other) => Outcome::Local(other.code().to_owned()),
    }
}

async fn desktop(
    label: &'static str,
    cloud: &TestCloud,
    email: &str,
    password: &str,
    seed: u64,
) -> Desktop {
    let upstream = cloud
        .base_url()
        .trim_start_matches("http://")
        .parse()
        .unwrap();
    let proxy = FaultProxy::start(upstream, seed, FaultPlan::none())
        .await
        .unwrap();
    proxy.record_requests("/api/v1/sync/push");
    let dir = tempfile::tempdir().unwrap();
    let keys = Arc::new(MemoryKeyStore::default());
    let core = open_quiet(dir.path(), &proxy.url(), keys.clone()).await;
    sign_in(&core, email, password).await;
    Desktop {
        label,
        core,
        keys,
        proxy,
        calls: Vec::new(),
        _dir: dir,
    }
}

/// A US mobile number in the fictional 555-01XX range (valid E.164).
fn phone(rng: &mut StdRng) -> String {
    format!(
        "+1{}55501{:02}",
        ["480", "602", "520"][rng.gen_range(0..3)],
        rng.gen_range(0..100)
    )
}

/// One random edit of what this desktop's cache shows now.
async fn random_edit(d: &mut Desktop, rng: &mut StdRng, n: usize, admins: &BTreeSet<String>) {
    let token = format!("{} {n:03}", d.label);
    let roll: f64 = rng.gen();
    if roll < 0.10 {
        let company = d.core.company().await.unwrap();
        let (kind, update) = if rng.gen_bool(0.5) {
            let update = CompanyUpdate {
                two_factor_required: Some(!company.two_factor_required),
                ..CompanyUpdate::default()
            };
            (Kind::CompanyTwoFactor, update)
        } else {
            let update = CompanyUpdate {
                name: Some(format!("Desert Sun {token}")),
                ..CompanyUpdate::default()
            };
            (Kind::CompanyName, update)
        };
        let edit = d.core.update_company_keyed(&update).await;
        d.calls.push(Call {
            n,
            kind,
            entity: COMPANY.into(),
            asked: serde_json::to_value(&update).unwrap(),
            invalid: false,
            key: edit.idempotency_key,
            outcome: outcome_of(edit.result.map(|c| serde_json::to_value(c).unwrap())),
        });
        return;
    }
    let users: Vec<User> = d
        .core
        .list_users("", 0, 200)
        .await
        .unwrap()
        .users
        .into_iter()
        .filter(|u| !admins.contains(&u.email))
        .collect();
    let user = &users[rng.gen_range(0..users.len())];
    let mut update = UserUpdate::default();
    let mut invalid = false;
    let roll = rng.gen_range(0.0..0.90);
    let kind = if roll < 0.27 {
        update.display_name = Some(format!("Name {token}"));
        Kind::DisplayName
    } else if roll < 0.40 {
        update.mobile_phone = Some(Some(phone(rng)));
        Kind::Phone
    } else if roll < 0.47 {
        update.mobile_phone = Some(if user.mobile_phone.is_some() {
            None
        } else {
            Some(phone(rng))
        });
        Kind::Phone
    } else if roll < 0.53 {
        // Not a phone number: core must refuse it before queuing anything.
        update.mobile_phone = Some(Some(
            ["12345", "+1 555", "call me"][rng.gen_range(0..3)].into(),
        ));
        invalid = true;
        Kind::Phone
    } else if roll < 0.71 {
        update.two_factor_enabled = Some(!user.two_factor_enabled);
        Kind::TwoFactor
    } else if roll < 0.82 {
        update.role = Some(match user.role {
            Role::Admin => Role::User,
            Role::User => Role::Admin,
        });
        Kind::Role
    } else {
        update.status = Some(match user.status {
            UserStatus::Active => UserStatus::Disabled,
            UserStatus::Disabled => UserStatus::Active,
        });
        Kind::Status
    };
    // Sometimes a security change rides with a name change, as in the dialog
    // (the kind stays the security one).
    if update.display_name.is_none() && update.mobile_phone.is_none() && rng.gen_bool(0.2) {
        update.display_name = Some(format!("Name {token}"));
    }
    let edit = d.core.update_user_keyed(&user.id, &update).await;
    d.calls.push(Call {
        n,
        kind,
        entity: user.id.clone(),
        asked: serde_json::to_value(&update).unwrap(),
        invalid,
        key: edit.idempotency_key,
        outcome: outcome_of(edit.result.map(|u| serde_json::to_value(u).unwrap())),
    });
}

async fn run_edits(d: &mut Desktop, seed: u64, admins: &BTreeSet<String>) {
    let mut rng = StdRng::seed_from_u64(seed);
    let faulty = FaultPlan::uniform(0.05, Duration::from_millis(300));
    d.proxy.set_plan(faulty);
    let mut down_until = 0;
    for n in 0..EDITS_PER_DESKTOP {
        // Stretches of no network at all: edits pile up on stale bases.
        if n >= down_until && n % 10 == 0 && rng.gen_bool(0.3) {
            down_until = n + rng.gen_range(5..20);
            d.proxy.set_down(true);
        }
        if n == down_until {
            d.proxy.set_down(false);
        }
        random_edit(d, &mut rng, n, admins).await;
        if rng.gen_bool(0.1) {
            // Offline and server errors are statuses here, not errors.
            d.core.sync_now().await.unwrap();
        }
    }
}

/// Syncs both until their outboxes are empty (a violation if they never do).
async fn sync_until_idle(a: &Desktop, b: &Desktop, v: &mut Vec<Violation>) {
    for round in 0..30 {
        let sa = a.core.sync_now().await.unwrap();
        let sb = b.core.sync_now().await.unwrap();
        if sa.pending_edits == 0 && sb.pending_edits == 0 {
            // One more pass each: A pulls what B pushed in this round.
            a.core.sync_now().await.unwrap();
            b.core.sync_now().await.unwrap();
            return;
        }
        if round == 29 {
            v.push(Violation::Broken(format!(
                "outboxes never emptied on a healed network: {sa:?} {sb:?}"
            )));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn cloud_state(cloud: &TestCloud, keys: &MemoryKeyStore) -> (Vec<User>, Company) {
    let token = Sensitive::new(keys.session_tokens().pop().expect("a session token"));
    let client = CloudClient::new(cloud.base_url()).unwrap();
    let mut users = client.users(&token).await.unwrap().users;
    users.sort_by(|a, b| a.id.cmp(&b.id));
    (users, client.company(&token).await.unwrap())
}

async fn cached_state(core: &AppCore) -> (Vec<User>, Company) {
    let mut users = core.list_users("", 0, 500).await.unwrap().users;
    users.sort_by(|a, b| a.id.cmp(&b.id));
    (users, core.company().await.unwrap())
}

/// Every distinct mutation the cloud received from one desktop, by key.
fn received(d: &Desktop, v: &mut Vec<Violation>) -> BTreeMap<String, Mutation> {
    let mut by_key = BTreeMap::new();
    for body in d.proxy.recorded() {
        let request: PushRequest = serde_json::from_slice(&body).expect("a push body");
        for m in request.mutations {
            if let Some(earlier) = by_key.insert(m.idempotency_key.clone(), m.clone()) {
                if earlier != m {
                    v.push(Violation::Broken(format!(
                        "desktop {}: a retry must resend the very same mutation under its key: \
                         {earlier:?} then {m:?}",
                        d.label
                    )));
                }
            }
        }
    }
    by_key
}

/// The cloud's stored result of every key, with when it was stored.
async fn stored_results(cloud: &TestCloud) -> BTreeMap<String, (MutationResult, i64)> {
    let db = secureclose_cloud::db::connect(&cloud.database_url, 1)
        .await
        .unwrap();
    let rows: Vec<(String, String, i64)> =
        sqlx::query_as("SELECT idempotency_key, result_json, at FROM applied_mutations")
            .fetch_all(&db.pool)
            .await
            .unwrap();
    db.pool.close().await;
    rows.into_iter()
        .map(|(key, json, at)| (key, (serde_json::from_str(&json).unwrap(), at)))
        .collect()
}

fn entity_of(m: &Mutation) -> (String, Value, Value) {
    match &m.change {
        MutationChange::UpdateUser {
            user_id,
            changes,
            base,
        } => (
            user_id.clone(),
            serde_json::to_value(changes).unwrap(),
            serde_json::to_value(base).unwrap(),
        ),
        MutationChange::UpdateCompany { changes, base } => (
            COMPANY.into(),
            serde_json::to_value(changes).unwrap(),
            serde_json::to_value(base).unwrap(),
        ),
    }
}

/// The code a refusal reaches the person with (`None`: applied).
fn refusal_code(outcome: &MutationOutcome) -> Option<String> {
    match outcome {
        MutationOutcome::Applied { .. } => None,
        MutationOutcome::Rejected { error } => Some(error.code.clone()),
        MutationOutcome::Conflict { .. } => Some(codes::CONFLICT.to_owned()),
    }
}

/// Fields of `shown` that differ from `wanted` (an object of field → value).
fn differing(wanted: &Value, shown: &Value) -> Vec<String> {
    wanted
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(field, value)| shown[field.as_str()] != **value)
        .map(|(field, value)| format!("{field}: wanted {value}, shown {}", shown[field.as_str()]))
        .collect()
}

/// Every acknowledged edit of one desktop against what the cloud received
/// (`got`) and stored (`results`); `subjects` = the notice subjects an edit
/// of each entity may carry.
async fn check_calls(
    d: &Desktop,
    got: &BTreeMap<String, Mutation>,
    results: &BTreeMap<String, (MutationResult, i64)>,
    subjects: &HashMap<String, BTreeSet<String>>,
    fates: &mut BTreeMap<Kind, Fate>,
    v: &mut Vec<Violation>,
) {
    let label = d.label;
    let mut broken = |text: String| v.push(Violation::Broken(format!("desktop {label}: {text}")));
    let mut ours: BTreeSet<&str> = BTreeSet::new();
    let mut lost = Vec::new();
    // Refusals the caller was not told: each needs its notice.
    let mut unseen: Vec<(&Call, String)> = Vec::new();
    for call in &d.calls {
        let fate = fates.entry(call.kind).or_default();
        let Some(key) = &call.key else {
            match &call.outcome {
                Outcome::Local(code) => {
                    fate.refused_locally += 1;
                    // The desktop refuses before queuing only what the shared
                    // edit rules refuse (the cloud would answer the same).
                    let shared_rule = [
                        codes::VALIDATION,
                        codes::INVALID_PHONE,
                        codes::PHONE_REQUIRED,
                        codes::PHONE_NEEDED_FOR_TWO_FACTOR,
                        codes::TWO_FACTOR_UNAVAILABLE,
                    ]
                    .contains(&code.as_str());
                    if !shared_rule || (call.invalid && code != codes::INVALID_PHONE) {
                        broken(format!(
                            "only edits the shared rules refuse are refused before queuing, \
                             an invalid phone as invalid_phone, yet {call:?} was"
                        ));
                    }
                }
                Outcome::Ok(shown) => {
                    // Acknowledged, nothing queued: only right if it changed nothing.
                    fate.unchanged += 1;
                    let off = differing(&call.asked, shown);
                    if !off.is_empty() {
                        broken(format!(
                            "edit {call:?} was acknowledged without being queued, so it must \
                             have changed nothing, yet the caller was not shown {off:?}"
                        ));
                    }
                }
                Outcome::Cloud(_) => broken(format!(
                    "edit {call:?} was refused by the cloud without ever being queued"
                )),
            }
            if call.invalid && !matches!(call.outcome, Outcome::Local(_)) {
                broken(format!(
                    "an invalid phone must be refused locally: {call:?}"
                ));
            }
            continue;
        };
        fate.keyed += 1;
        if call.invalid || matches!(call.outcome, Outcome::Local(_)) {
            broken(format!(
                "an invalid phone must be refused before queuing, and a local refusal \
                 queues nothing: {call:?}"
            ));
        }
        if !ours.insert(key) {
            broken(format!("two edits were queued under the one key {key}"));
        }
        let Some(m) = got.get(key) else {
            lost.push(Violation::Lost {
                desktop: label,
                n: call.n,
                kind: call.kind,
                key: key.clone(),
                asked: call.asked.clone(),
            });
            continue;
        };
        let (entity, changes, _) = entity_of(m);
        let not_asked = differing(&changes, &call.asked);
        if entity != call.entity || !not_asked.is_empty() {
            broken(format!(
                "key {key} must carry the edit it was queued for ({call:?}), not {entity} \
                 {changes} ({not_asked:?})"
            ));
        }
        if let Outcome::Ok(shown) = &call.outcome {
            let off = differing(&changes, shown);
            if !off.is_empty() {
                broken(format!(
                    "edit {call:?} was acknowledged, so its caller must be shown the change \
                     sent under {key}: {off:?}"
                ));
            }
        }
        let Some((result, _)) = results.get(key) else {
            broken(format!(
                "key {key} was received but the cloud stored no result"
            ));
            continue;
        };
        match (refusal_code(&result.outcome), &call.outcome) {
            (None, Outcome::Cloud(told)) => broken(format!(
                "edit {call:?} was applied under {key}, yet its caller was told {told}"
            )),
            (None, _) => fate.applied += 1,
            (Some(code), Outcome::Cloud(told)) if *told == code => fate.refused_to_caller += 1,
            (Some(code), Outcome::Cloud(told)) => broken(format!(
                "edit {call:?} was refused as {code}, but its caller was told {told}"
            )),
            (Some(code), _) => unseen.push((call, code)),
        }
    }
    for key in got.keys().filter(|k| !ours.contains(k.as_str())) {
        broken(format!(
            "the cloud received key {key}, which no edit was queued under: {:?}",
            got[key]
        ));
    }
    // Each refusal the caller did not see is one notice on this desktop.
    let mut notices = d.core.sync_status().await.notices;
    for (call, code) in unseen {
        let found = notices.iter().position(|n| {
            n.code == code
                && subjects
                    .get(&call.entity)
                    .is_some_and(|s| s.contains(&n.subject))
        });
        match found {
            Some(i) => {
                notices.remove(i);
                fates.entry(call.kind).or_default().refused_as_notice += 1;
            }
            None => broken(format!(
                "edit {call:?} was refused as {code} with neither its caller told nor a \
                 notice: a silent loss"
            )),
        }
    }
    for notice in notices {
        broken(format!(
            "notice {notice:?} answers no refused edit: a refusal reported twice, or invented"
        ));
    }
    v.extend(lost);
}

/// Replays the applied mutations in the cloud's order over the start state:
/// the end state must match, and no stale edit may overwrite an unseen value.
fn check_replay(
    mut model: HashMap<String, Value>,
    received: [&BTreeMap<String, Mutation>; 2],
    results: &BTreeMap<String, (MutationResult, i64)>,
    cloud_users: &[User],
    cloud_company: &Company,
    v: &mut Vec<Violation>,
) -> usize {
    let mut applied: Vec<(&String, i64, i64, &Mutation, &MutationResult)> = Vec::new();
    for (key, m) in received.into_iter().flatten() {
        let Some((result, at)) = results.get(key) else {
            continue; // reported by check_calls
        };
        if let MutationOutcome::Applied { version } = result.outcome {
            applied.push((key, version, *at, m, result));
        }
    }
    applied.sort_by_key(|(_, version, at, m, _)| (entity_of(m).0, *version, *at));
    let security = [
        "two_factor_enabled",
        "role",
        "status",
        "mobile_phone",
        "two_factor_required",
    ];
    let mut regressions = Vec::new();
    for (key, version, _, m, result) in &applied {
        let (entity, changes, base) = entity_of(m);
        let Some(state) = model.get_mut(&entity) else {
            v.push(Violation::Broken(format!(
                "{key} changed {entity}, which the cloud did not start with"
            )));
            continue;
        };
        // Made on the version the cloud still had: nothing newer can be
        // overwritten (its base values may be the client's own pending edits).
        let up_to_date = state["version"] == m.base_version;
        for (field, new) in changes.as_object().into_iter().flatten() {
            let current = state[field.as_str()].clone();
            let seen = base.get(field.as_str()).cloned();
            if !up_to_date && current != *new && seen.as_ref() != Some(&current) {
                regressions.push(format!(
                    "{key} set {entity}.{field} = {new} over {current} its client never saw \
                     (base {seen:?}){}",
                    if security.contains(&field.as_str()) {
                        " [SECURITY FIELD]"
                    } else {
                        ""
                    }
                ));
            }
            state[field.as_str()] = new.clone();
        }
        state["version"] = Value::from(*version);
        // The stored result may omit the entity (a replay answers with the
        // current one); when it is there, it must show the change.
        let after = match (&result.user, &result.company) {
            (Some(u), _) => serde_json::to_value(u).unwrap(),
            (_, Some(c)) => serde_json::to_value(c).unwrap(),
            _ => continue,
        };
        let off = differing(&changes, &after);
        if !off.is_empty() {
            v.push(Violation::Broken(format!(
                "{key}: the cloud says applied, so its entity must show the change: {off:?}"
            )));
        }
    }
    if !regressions.is_empty() {
        v.push(Violation::Broken(format!(
            "applied mutations overwrote values their clients had not seen:\n{}",
            regressions.join("\n")
        )));
    }
    let edited_user_fields = [
        "display_name",
        "mobile_phone",
        "role",
        "status",
        "two_factor_enabled",
    ];
    for user in cloud_users {
        let actual = serde_json::to_value(user).unwrap();
        for field in edited_user_fields {
            if actual[field] != model[&user.id][field] {
                v.push(Violation::Broken(format!(
                    "{}.{field} is {} on the cloud but {} per the replay: the cloud must hold \
                     the value of the last applied mutation, nothing applied twice or out of \
                     order",
                    user.email, actual[field], model[&user.id][field]
                )));
            }
        }
    }
    let company = serde_json::to_value(cloud_company).unwrap();
    for field in ["name", "two_factor_required"] {
        if company[field] != model[COMPANY][field] {
            v.push(Violation::Broken(format!(
                "company.{field} is {} on the cloud but {} per the replay",
                company[field], model[COMPANY][field]
            )));
        }
    }
    applied.len()
}

/// Most edits must be applied, and some of every kind.
fn check_floor(fates: &BTreeMap<Kind, Fate>, v: &mut Vec<Violation>) {
    let total = |f: fn(&Fate) -> usize| fates.values().map(f).sum::<usize>();
    let (keyed, applied, unchanged) = (
        total(|f| f.keyed),
        total(|f| f.applied),
        total(|f| f.unchanged),
    );
    if applied * 100 < keyed * APPLIED_FLOOR_PERCENT {
        v.push(Violation::Broken(format!(
            "only {applied} of {keyed} acknowledged edits were applied (floor \
             {APPLIED_FLOOR_PERCENT} %): most random edits do not conflict, so the cloud \
             refused or core lost far too many"
        )));
    }
    for kind in KINDS {
        if fates.get(&kind).map_or(0, |f| f.applied) == 0 {
            v.push(Violation::Broken(format!(
                "no {kind:?} edit was applied: every kind must reach the cloud ({:?})",
                fates.get(&kind)
            )));
        }
    }
    if unchanged > MAX_UNCHANGED {
        v.push(Violation::Broken(format!(
            "{unchanged} edits were acknowledged as changing nothing (at most {MAX_UNCHANGED} \
             can race with a pull): core must queue the edits it acknowledges"
        )));
    }
}

/// Runs the two desktops through their faulty networks and checks the result.
async fn run_harness(seed: u64) -> Report {
    eprintln!("sync_faults seed = {seed} (SECURECLOSE_FAULT_SEED replays it)");
    let cloud = TestCloud::start().await;
    let priya_password = cloud.password_of(SECOND_ADMIN).to_owned();
    let mut a = desktop(
        "A",
        &cloud,
        &cloud.seed.admin_email,
        &cloud.seed.admin_password,
        seed,
    )
    .await;
    let mut b = desktop("B", &cloud, SECOND_ADMIN, &priya_password, seed ^ 0xB).await;
    let admins: BTreeSet<String> = [cloud.seed.admin_email.clone(), SECOND_ADMIN.to_owned()].into();

    let (start_users, start_company) = cloud_state(&cloud, &a.keys).await;
    let mut model: HashMap<String, Value> = start_users
        .iter()
        .map(|u| (u.id.clone(), serde_json::to_value(u).unwrap()))
        .collect();
    model.insert(
        COMPANY.into(),
        serde_json::to_value(&start_company).unwrap(),
    );

    tokio::join!(
        run_edits(&mut a, seed.wrapping_add(1), &admins),
        run_edits(&mut b, seed.wrapping_add(2), &admins)
    );
    a.proxy.heal();
    b.proxy.heal();
    let mut v = Vec::new();
    sync_until_idle(&a, &b, &mut v).await;

    for d in [&a, &b] {
        let stats = d.proxy.stats();
        eprintln!(
            "desktop {}: {} calls, proxy {stats:?}",
            d.label,
            d.calls.len()
        );
        if stats.resets + stats.truncated == 0 || stats.dropped + stats.server_errors == 0 {
            v.push(Violation::Broken(format!(
                "desktop {}: the run must include responses lost after the cloud applied the \
                 request and requests lost before it, or it proves nothing: {stats:?}",
                d.label
            )));
        }
    }

    // 1. Both caches equal the cloud, and nothing waits in an outbox.
    let (cloud_users, cloud_company) = cloud_state(&cloud, &a.keys).await;
    for d in [&a, &b] {
        let (users, company) = cached_state(&d.core).await;
        if users != cloud_users {
            v.push(Violation::Broken(format!(
                "desktop {}'s users must equal the cloud's",
                d.label
            )));
        }
        if company != cloud_company {
            v.push(Violation::Broken(format!(
                "desktop {}'s company must equal the cloud's: {company:?} vs {cloud_company:?}",
                d.label
            )));
        }
        let pending = d.core.pending_edit_keys().await.unwrap();
        if !pending.is_empty() {
            v.push(Violation::Broken(format!(
                "desktop {}'s outbox must be empty after syncing on a healed network: {pending:?}",
                d.label
            )));
        }
    }

    // 2. Every received key has exactly one stored result, and nothing else is stored.
    let results = stored_results(&cloud).await;
    let (got_a, got_b) = (received(&a, &mut v), received(&b, &mut v));
    let all_keys: BTreeSet<&String> = got_a.keys().chain(got_b.keys()).collect();
    if results.keys().collect::<BTreeSet<_>>() != all_keys {
        v.push(Violation::Broken(format!(
            "the cloud must hold one result per key it received (exactly once), and no other: \
             {} results, {} keys received",
            results.len(),
            all_keys.len()
        )));
    }

    // 3. Every edit either desktop made, by its key.
    let mut subjects: HashMap<String, BTreeSet<String>> = start_users
        .iter()
        .map(|u| (u.id.clone(), [u.display_name.clone()].into()))
        .collect();
    subjects.insert(COMPANY.into(), [COMPANY_SUBJECT.to_owned()].into());
    for call in a.calls.iter().chain(&b.calls) {
        if let (Some(name), Some(names)) = (
            call.asked.get("display_name").and_then(Value::as_str),
            subjects.get_mut(&call.entity),
        ) {
            names.insert(name.to_owned());
        }
    }
    let mut fates = BTreeMap::new();
    for (d, got) in [(&a, &got_a), (&b, &got_b)] {
        check_calls(d, got, &results, &subjects, &mut fates, &mut v).await;
    }

    // 4. The replay, then the floor.
    let applied = check_replay(
        model,
        [&got_a, &got_b],
        &results,
        &cloud_users,
        &cloud_company,
        &mut v,
    );
    for (kind, fate) in &fates {
        eprintln!("{kind:?}: {fate:?}");
    }
    let keyed: usize = fates.values().map(|f| f.keyed).sum();
    let refused: usize = fates
        .values()
        .map(|f| f.refused_to_caller + f.refused_as_notice)
        .sum();
    eprintln!(
        "{applied} mutations applied, {} refused; of {keyed} edits queued under a key, \
         {} applied, {refused} refused",
        results.len() - applied,
        fates.values().map(|f| f.applied).sum::<usize>()
    );
    check_floor(&fates, &mut v);

    Report {
        violations: v,
        calls: vec![
            (a.label, std::mem::take(&mut a.calls)),
            (b.label, std::mem::take(&mut b.calls)),
        ],
    }
}

fn listed(violations: &[Violation]) -> String {
    violations
        .iter()
        .map(|v| format!("- {v}"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_desktops_through_a_faulty_network_lose_nothing_and_regress_nothing() {
    let report = run_harness(seed()).await;
    assert!(
        report.violations.is_empty(),
        "every acknowledged edit must be applied once or refused visibly, and the caches, \
         the cloud and the replay must agree; {} rule(s) broken:\n{}",
        report.violations.len(),
        listed(&report.violations)
    );
}

/// The checks above catch a lost edit: built with core's deliberate
/// `test-drop-one-edit` defect (the first phone edit is acknowledged, then
/// silently never queued), the same run must report exactly that loss.
#[cfg(feature = "defect-drop-edit")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fault_harness_reports_the_phone_edit_a_defective_core_dropped() {
    let report = run_harness(seed()).await;
    eprintln!(
        "violations with the defect:\n{}",
        listed(&report.violations)
    );
    let [Violation::Lost {
        desktop, n, key, ..
    }] = report.violations.as_slice()
    else {
        panic!(
            "the defect loses exactly one acknowledged edit, so the harness must report \
             exactly that loss and nothing else (cache and cloud still agree), got:\n{}",
            listed(&report.violations)
        );
    };
    let (_, calls) = report
        .calls
        .iter()
        .find(|(label, _)| label == desktop)
        .expect("the loss names one of the two desktops");
    let first_phone = calls
        .iter()
        .find(|c| c.kind == Kind::Phone && c.key.is_some())
        .expect("the run makes queued phone edits");
    assert_eq!(
        (first_phone.n, first_phone.key.as_ref()),
        (*n, Some(key)),
        "the lost edit must be the one the defect drops: desktop {desktop}'s first queued \
         phone edit ({first_phone:?})"
    );
}
