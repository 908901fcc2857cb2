//! Trusted computers through the real core against the real cloud: the
//! code step's "Don't ask for a code on this computer" keeps a token in the
//! keychain, the next sign-in here skips the code, the list marks this
//! computer, and revoking it here asks for the code again.

use std::sync::Arc;

use secureclose_core::views::LoginOutcome;
use secureclose_protocol::SecondFactorMethod;

use crate::core_totp::turn_on_two_factor;
use crate::support::{open_core, MemoryKeyStore, TestCloud};

const EMILY: &str = "emily.chen@desertsun.example";
const EMILY_PHONE: &str = "+14805550162";

/// The company allows trusted computers for `days` (as its admin would).
async fn allow_days(cloud: &TestCloud, days: i64) {
    let db = secureclose_cloud::db::connect(&cloud.database_url, 1)
        .await
        .unwrap();
    sqlx::query("UPDATE companies SET trusted_computer_days = $1")
        .bind(days)
        .execute(&db.pool)
        .await
        .unwrap();
    db.pool.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trusted_computer_skips_the_code_until_it_is_revoked_here() {
    let cloud = TestCloud::start_dev().await;
    allow_days(&cloud, 7).await;
    turn_on_two_factor(&cloud, EMILY).await;
    let dir = tempfile::tempdir().unwrap();
    let keys = Arc::new(MemoryKeyStore::default());
    let core = open_core(dir.path(), cloud.base_url(), keys.clone()).await;
    let password = cloud.password_of(EMILY).to_owned();

    let LoginOutcome::NeedsSecondFactor { challenge } = core.login(EMILY, &password).await.unwrap()
    else {
        panic!("2FA is on: a code first");
    };
    assert_eq!(
        challenge.trusted_computer_days, 7,
        "the checkbox is offered"
    );
    let code = cloud.last_code(EMILY_PHONE).await;
    let outcome = core
        .verify_code_trusting_this_computer(SecondFactorMethod::Sms, &code)
        .await
        .unwrap();
    assert!(matches!(outcome, LoginOutcome::SignedIn { .. }));
    assert!(
        keys.accounts().iter().any(|a| a.starts_with("trusted:")),
        "the token is kept in the keychain: {:?}",
        keys.accounts()
    );
    core.logout().await.unwrap();

    let outcome = core.login(EMILY, &password).await.unwrap();
    assert!(
        matches!(outcome, LoginOutcome::SignedIn { .. }),
        "this computer skips the code: {outcome:?}"
    );
    let listed = core.trusted_computers().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert!(listed[0].this_computer, "the list marks this computer");
    assert!(
        listed[0].label.contains('('),
        "named after the computer: {}",
        listed[0].label
    );

    core.revoke_trusted_computer(&listed[0].id).await.unwrap();
    assert!(
        !keys.accounts().iter().any(|a| a.starts_with("trusted:")),
        "revoked here: the token leaves the keychain"
    );
    core.logout().await.unwrap();
    assert!(matches!(
        core.login(EMILY, &password).await.unwrap(),
        LoginOutcome::NeedsSecondFactor { .. }
    ));
}
