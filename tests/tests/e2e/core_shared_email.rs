//! An email is unique per company, not across companies: the real core
//! signing in to the real cloud with an address two dealerships share goes
//! through the company chooser, and signs in to the account picked.

use std::sync::Arc;

use secureclose_core::views::LoginOutcome;
use secureclose_protocol::UserUpdate;

use crate::support::{open_core, MemoryKeyStore, TestCloud, DEMO_NON_ADMIN};

/// A Canyon Ridge user; Desert Sun's admin gives Marcus the same address.
const SHARED: &str = "nina.patel@canyonridge.example";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shared_email_signs_in_through_the_company_chooser() {
    let mut cloud = TestCloud::start().await;
    let admin_dir = tempfile::tempdir().unwrap();
    let admin = open_core(
        admin_dir.path(),
        cloud.base_url(),
        Arc::new(MemoryKeyStore::default()),
    )
    .await;
    let outcome = admin
        .login(&cloud.seed.admin_email, &cloud.seed.admin_password)
        .await
        .unwrap();
    assert!(
        matches!(outcome, LoginOutcome::SignedIn { .. }),
        "{outcome:?}"
    );
    // The list fills from the first sync's pull, which sign-in only starts.
    admin.sync_now().await.unwrap();
    let marcus = admin.list_users("marcus", 0, 1).await.unwrap().users[0].clone();
    assert_eq!(marcus.email, DEMO_NON_ADMIN);
    // Another company's address: the admin's edit is accepted (it must not
    // tell them the address exists elsewhere).
    let update = UserUpdate {
        email: Some(SHARED.into()),
        ..UserUpdate::default()
    };
    let edited = admin.update_user(&marcus.id, &update).await.unwrap();
    assert_eq!(edited.email, SHARED);
    admin.logout().await.unwrap();
    // Nina's password becomes Marcus's: one password, two accounts.
    let password = cloud.password_of(DEMO_NON_ADMIN).to_owned();
    cloud.set_canyon_ridge_password(&password).await;

    let dir = tempfile::tempdir().unwrap();
    let core = open_core(
        dir.path(),
        cloud.base_url(),
        Arc::new(MemoryKeyStore::default()),
    )
    .await;
    let LoginOutcome::NeedsCompanyChoice { companies } =
        core.login(SHARED, &password).await.unwrap()
    else {
        panic!("a password fitting two accounts asks which company");
    };
    let names: Vec<&str> = companies.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["Canyon Ridge Auto Group", "Desert Sun Motors"]);
    assert!(
        core.session().await.unwrap().is_none(),
        "nobody is signed in yet"
    );
    assert!(
        core.choose_company("not-offered").await.is_err(),
        "only an offered company can be picked"
    );
    let first = companies[0].id.clone();
    assert!(
        core.choose_company(&first).await.is_err(),
        "the refused pick ended the attempt: no pick works after it"
    );
    // The password is asked again.
    let LoginOutcome::NeedsCompanyChoice { companies } =
        core.login(SHARED, &password).await.unwrap()
    else {
        panic!("the chooser again");
    };
    let canyon = companies
        .iter()
        .find(|c| c.name.starts_with("Canyon"))
        .unwrap()
        .id
        .clone();
    let desert = companies
        .iter()
        .find(|c| c.name.starts_with("Desert"))
        .unwrap()
        .id
        .clone();
    let LoginOutcome::SignedIn { session, .. } = core.choose_company(&canyon).await.unwrap() else {
        panic!("Canyon Ridge has no 2FA: the pick signs in");
    };
    assert_eq!(session.company.id, canyon);
    assert_eq!(session.user.email, SHARED);
    assert_ne!(session.user.id, marcus.id, "Nina's account, not Marcus's");
    core.logout().await.unwrap();

    let LoginOutcome::NeedsCompanyChoice { .. } = core.login(SHARED, &password).await.unwrap()
    else {
        panic!("the chooser every time");
    };
    let LoginOutcome::SignedIn { session, .. } = core.choose_company(&desert).await.unwrap() else {
        panic!("Marcus has no 2FA: the pick signs in");
    };
    assert_eq!(session.user.id, marcus.id);
    assert_eq!(session.company.id, desert);
    // Nothing is waiting any more: a stray pick is refused.
    assert!(core.choose_company(&canyon).await.is_err());
    assert_eq!(core.session().await.unwrap().unwrap().user.id, marcus.id);

    // Offline, this computer holds a verifier per account (keyed by email
    // and company): the same chooser, then that company's offline policy.
    core.logout().await.unwrap();
    cloud.stop().await;
    let LoginOutcome::NeedsCompanyChoice { companies } =
        core.login(SHARED, &password).await.unwrap()
    else {
        panic!("offline too, a password fitting two accounts asks which company");
    };
    let ids: Vec<&str> = companies.iter().map(|c| c.id.as_str()).collect();
    assert!(
        ids.contains(&canyon.as_str()) && ids.contains(&desert.as_str()),
        "{ids:?}"
    );
    let LoginOutcome::SignedIn { session, .. } = core.choose_company(&desert).await.unwrap() else {
        panic!("Desert Sun allows offline sign-in");
    };
    assert!(session.offline_sign_in);
    assert_eq!(session.user.id, marcus.id);
}
