//! "Nothing is lost" under a hostile network: two desktops (two admins, two
//! caches) make a few hundred random edits, each through its own seeded
//! fault proxy (drops, canned 503s, delays, responses reset or truncated
//! after the cloud applied the request, stretches of no network at all).
//! Then the network heals and both sync until idle, and:
//!
//! - both caches equal the cloud (users and company, versions included);
//! - every mutation the cloud received has exactly one stored result, and
//!   every edit core accepted reached the cloud under exactly one key;
//! - every refusal was either returned to the edit's caller or became a
//!   notice on that desktop (never silent);
//! - replaying the applied mutations in the cloud's version order over the
//!   starting state gives the final state, and no mutation made on an older
//!   version changed a field away from a value its client had not seen (so
//!   no security field — 2FA, role, status, phone, company 2FA — regressed
//!   from a stale client).
//!
//! The seed is printed; set SECURECLOSE_FAULT_SEED to replay a run.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use secureclose_core::client::CloudClient;
use secureclose_core::{AppCore, CoreError, Sensitive};
use secureclose_protocol::sync::{
    Mutation, MutationChange, MutationOutcome, MutationResult, PushRequest,
};
use secureclose_protocol::{Company, CompanyUpdate, Role, User, UserStatus, UserUpdate};
use secureclose_tests::fault_proxy::{FaultPlan, FaultProxy};
use serde_json::Value;
use tempfile::TempDir;

use crate::core_sync::{open_quiet, sign_in};
use crate::support::{MemoryKeyStore, TestCloud};

const DEFAULT_SEED: u64 = 0x5EC0_C105_E001;
const EDITS_PER_DESKTOP: usize = 150;
const SECOND_ADMIN: &str = "priya.natarajan@desertsun.example";
const COMPANY: &str = "company";

fn seed() -> u64 {
    std::env::var("SECURECLOSE_FAULT_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(DEFAULT_SEED)
}

/// What one call to update_user/update_company returned.
#[derive(Debug, Clone, PartialEq)]
enum Outcome {
    Ok,
    /// The cloud refused it while the caller waited (rolled back, shown in the dialog).
    Cloud(String),
    /// Refused on the desktop before anything was queued.
    Local(String),
}

#[derive(Debug)]
struct Call {
    entity: String,
    changes: Value,
    /// A display-name or company-name token unique to this call.
    token: Option<String>,
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

fn outcome_of<T>(result: Result<T, CoreError>) -> Outcome {
    match result {
        Ok(_) => Outcome::Ok,
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
        let (update, token) = if rng.gen_bool(0.5) {
            let update = CompanyUpdate {
                two_factor_required: Some(!company.two_factor_required),
                ..CompanyUpdate::default()
            };
            (update, None)
        } else {
            let name = format!("Desert Sun {token}");
            let update = CompanyUpdate {
                name: Some(name.clone()),
                ..CompanyUpdate::default()
            };
            (update, Some(name))
        };
        let outcome = outcome_of(d.core.update_company(&update).await);
        d.calls.push(Call {
            entity: COMPANY.into(),
            changes: serde_json::to_value(&update).unwrap(),
            token,
            outcome,
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
    let mut name_token = None;
    let roll = rng.gen_range(0.0..0.90);
    if roll < 0.27 {
        name_token = Some(format!("Name {token}"));
        update.display_name = name_token.clone();
    } else if roll < 0.40 {
        update.mobile_phone = Some(Some(phone(rng)));
    } else if roll < 0.47 {
        update.mobile_phone = Some(if user.mobile_phone.is_some() {
            None
        } else {
            Some(phone(rng))
        });
    } else if roll < 0.53 {
        // Not a phone number: core must refuse it before queuing anything.
        update.mobile_phone = Some(Some(
            ["12345", "+1 555", "call me"][rng.gen_range(0..3)].into(),
        ));
    } else if roll < 0.71 {
        update.two_factor_enabled = Some(!user.two_factor_enabled);
    } else if roll < 0.82 {
        update.role = Some(match user.role {
            Role::Admin => Role::User,
            Role::User => Role::Admin,
        });
    } else {
        update.status = Some(match user.status {
            UserStatus::Active => UserStatus::Disabled,
            UserStatus::Disabled => UserStatus::Active,
        });
    }
    // Sometimes a security change rides with a name change, as in the dialog.
    if name_token.is_none() && update.mobile_phone.is_none() && rng.gen_bool(0.2) {
        name_token = Some(format!("Name {token}"));
        update.display_name = name_token.clone();
    }
    let outcome = outcome_of(d.core.update_user(&user.id, &update).await);
    d.calls.push(Call {
        entity: user.id.clone(),
        changes: serde_json::to_value(&update).unwrap(),
        token: name_token,
        outcome,
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

async fn sync_until_idle(a: &Desktop, b: &Desktop) {
    for round in 0..30 {
        let sa = a.core.sync_now().await.unwrap();
        let sb = b.core.sync_now().await.unwrap();
        if sa.pending_edits == 0 && sb.pending_edits == 0 {
            // One more pass each: A pulls what B pushed in this round.
            a.core.sync_now().await.unwrap();
            b.core.sync_now().await.unwrap();
            return;
        }
        assert!(
            round < 29,
            "outboxes never emptied on a healed network: {sa:?} {sb:?}"
        );
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
fn received(proxy: &FaultProxy) -> BTreeMap<String, Mutation> {
    let mut by_key = BTreeMap::new();
    for body in proxy.recorded() {
        let request: PushRequest = serde_json::from_slice(&body).expect("a push body");
        for m in request.mutations {
            if let Some(earlier) = by_key.insert(m.idempotency_key.clone(), m.clone()) {
                assert_eq!(
                    earlier, m,
                    "a retry must resend the very same mutation under its key"
                );
            }
        }
    }
    by_key
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_desktops_through_a_faulty_network_lose_nothing_and_regress_nothing() {
    let seed = seed();
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
    sync_until_idle(&a, &b).await;

    for d in [&a, &b] {
        let stats = d.proxy.stats();
        eprintln!(
            "desktop {}: {} calls, proxy {stats:?}",
            d.label,
            d.calls.len()
        );
        assert!(
            stats.resets + stats.truncated > 0 && stats.dropped + stats.server_errors > 0,
            "the run must include responses lost after the cloud applied the request and \
             requests lost before it, or it proves nothing: {stats:?}"
        );
    }

    // 1. Both caches equal the cloud.
    let (cloud_users, cloud_company) = cloud_state(&cloud, &a.keys).await;
    for d in [&a, &b] {
        let (users, company) = cached_state(&d.core).await;
        assert_eq!(
            users, cloud_users,
            "desktop {}'s users must equal the cloud's",
            d.label
        );
        assert_eq!(
            company, cloud_company,
            "desktop {}'s company must equal the cloud's",
            d.label
        );
        assert_eq!(
            d.core.sync_status().await.pending_edits,
            0,
            "outbox of {} empty",
            d.label
        );
    }

    // 2. Every received key has exactly one stored result, and nothing else is stored.
    let db = secureclose_cloud::db::connect(&cloud.database_url, 1)
        .await
        .unwrap();
    let rows: Vec<(String, String, i64)> =
        sqlx::query_as("SELECT idempotency_key, result_json, at FROM applied_mutations")
            .fetch_all(&db.pool)
            .await
            .unwrap();
    db.pool.close().await;
    let results: BTreeMap<String, (MutationResult, i64)> = rows
        .into_iter()
        .map(|(key, json, at)| (key, (serde_json::from_str(&json).unwrap(), at)))
        .collect();
    let (got_a, got_b) = (received(&a.proxy), received(&b.proxy));
    let all_keys: BTreeSet<&String> = got_a.keys().chain(got_b.keys()).collect();
    assert_eq!(
        results.keys().collect::<BTreeSet<_>>(),
        all_keys,
        "the cloud must hold one result per key it received (exactly once), and no other"
    );

    for (d, got) in [(&a, &got_a), (&b, &got_b)] {
        // 3. Every accepted edit reached the cloud under exactly one key.
        let queued: Vec<&Call> = d
            .calls
            .iter()
            .filter(|c| !matches!(c.outcome, Outcome::Local(_)))
            .collect();
        for call in d
            .calls
            .iter()
            .filter(|c| matches!(c.outcome, Outcome::Local(_)))
        {
            assert_eq!(
                call.outcome,
                Outcome::Local("invalid_phone".into()),
                "only the invalid phones are refused before queuing: {call:?}"
            );
        }
        for call in queued.iter().filter(|c| c.token.is_some()) {
            let token = Value::String(call.token.clone().unwrap());
            let keys: Vec<&String> = got
                .iter()
                .filter(|(_, m)| {
                    let (entity, changes, _) = entity_of(m);
                    entity == call.entity
                        && (changes.get("display_name") == Some(&token)
                            || changes.get("name") == Some(&token))
                })
                .map(|(k, _)| k)
                .collect();
            assert_eq!(
                keys.len(),
                1,
                "desktop {}'s edit {call:?} must reach the cloud under exactly one key: {keys:?}",
                d.label
            );
        }
        // ...and no edit was queued twice: per (entity, changes), no more keys than calls.
        let mut calls_per_edit: HashMap<(String, String), i64> = HashMap::new();
        for call in &queued {
            *calls_per_edit
                .entry((call.entity.clone(), call.changes.to_string()))
                .or_default() += 1;
        }
        for m in got.values() {
            let (entity, changes, _) = entity_of(m);
            let left = calls_per_edit
                .entry((entity, changes.to_string()))
                .or_default();
            *left -= 1;
            assert!(
                *left >= 0,
                "desktop {} sent more keys than it made edits for {m:?}: an edit was queued twice",
                d.label
            );
        }
        // 4. Every refusal was seen: by the waiting caller or as a notice.
        let refused = got
            .keys()
            .filter(|k| !matches!(results[*k].0.outcome, MutationOutcome::Applied { .. }))
            .count();
        let told_caller = queued
            .iter()
            .filter(|c| matches!(c.outcome, Outcome::Cloud(_)))
            .count();
        let notices = d.core.sync_status().await.notices.len();
        eprintln!(
            "desktop {}: {} keys, {refused} refused ({told_caller} to the caller, {notices} notices)",
            d.label,
            got.len()
        );
        assert_eq!(
            refused,
            told_caller + notices,
            "desktop {}: every refused edit must be reported once, to the caller or as a notice",
            d.label
        );
    }

    // 5. Replay the applied mutations in the cloud's order over the start state.
    let mut applied: Vec<(&String, i64, i64, &Mutation, &MutationResult)> = Vec::new();
    for (key, m) in got_a.iter().chain(got_b.iter()) {
        let (result, at) = &results[key];
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
        let state = model
            .get_mut(&entity)
            .expect("an entity the cloud started with");
        // Made on the version the cloud still had: nothing newer can be
        // overwritten (its base values may be the client's own pending edits).
        let up_to_date = state["version"] == m.base_version;
        for (field, new) in changes.as_object().unwrap() {
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
        for (field, new) in changes.as_object().unwrap() {
            assert_eq!(
                &after[field.as_str()],
                new,
                "{key}: the cloud says applied, so its entity must show the change"
            );
        }
    }
    assert!(
        regressions.is_empty(),
        "applied mutations overwrote values their clients had not seen:\n{}",
        regressions.join("\n")
    );
    let edited_user_fields = [
        "display_name",
        "mobile_phone",
        "role",
        "status",
        "two_factor_enabled",
    ];
    for user in &cloud_users {
        let actual = serde_json::to_value(user).unwrap();
        for field in edited_user_fields {
            assert_eq!(
                actual[field], model[&user.id][field],
                "{}.{field}: the cloud must hold the value of the last applied mutation, \
                 nothing applied twice or out of order",
                user.email
            );
        }
    }
    let company = serde_json::to_value(&cloud_company).unwrap();
    for field in ["name", "two_factor_required"] {
        assert_eq!(
            company[field], model[COMPANY][field],
            "company.{field} per the replay"
        );
    }
    eprintln!(
        "{} mutations applied, {} refused",
        applied.len(),
        results.len() - applied.len()
    );
}
