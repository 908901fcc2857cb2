//! The edit rules both sides share (`protocol::rules`) judge an edit alike:
//! each bad edit the cloud refuses with a code, the desktop refuses offline
//! with the same code and words, before anything is queued: an edit the
//! cloud would refuse never waits in the outbox.

use secureclose_core::client::CloudClient;
use secureclose_core::{AppCore, CoreError, Sensitive};
use secureclose_protocol::{codes, CompanyUpdate, OfflinePolicy, SessionPolicy, UserUpdate};

use crate::core_sync::{admin_core, cached};
use crate::support::TestCloud;

/// A refusal's code and words, from the cloud or from the desktop.
fn refusal(err: CoreError) -> (String, String) {
    match err {
        CoreError::Cloud { code, message, .. } => (code, message),
        local => (local.code().to_owned(), local.user_message()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_desktop_offline_refuses_each_bad_edit_with_the_clouds_code_and_queues_nothing() {
    let mut cloud = TestCloud::start().await;
    let dir = tempfile::tempdir().unwrap();
    let (core, keys) = admin_core(&cloud, dir.path()).await;
    let marcus = cached(&core, "marcus").await;
    let tom = cached(&core, "tom").await;
    assert!(tom.mobile_phone.is_none(), "the demo's Tom has no phone");
    // Marcus gets 2FA (online), so his phone becomes one 2FA needs.
    let two_factor_on = UserUpdate {
        two_factor_enabled: Some(true),
        ..UserUpdate::default()
    };
    core.update_user(&marcus.id, &two_factor_on).await.unwrap();

    let user_edit = |f: fn(&mut UserUpdate)| {
        let mut update = UserUpdate::default();
        f(&mut update);
        update
    };
    let cases: Vec<(&str, &str, UserUpdate, &str)> = vec![
        (
            "a blank name",
            &marcus.id,
            user_edit(|u| u.display_name = Some("   ".into())),
            codes::VALIDATION,
        ),
        (
            "a name of control characters",
            &marcus.id,
            user_edit(|u| u.display_name = Some("\u{0}".repeat(10))),
            codes::VALIDATION,
        ),
        (
            "an email without a domain",
            &marcus.id,
            user_edit(|u| u.email = Some("marcus@".into())),
            codes::VALIDATION,
        ),
        (
            "a phone that is no number",
            &marcus.id,
            user_edit(|u| u.mobile_phone = Some(Some("call me".into()))),
            codes::INVALID_PHONE,
        ),
        (
            "2FA for someone without a phone",
            &tom.id,
            two_factor_on.clone(),
            codes::PHONE_REQUIRED,
        ),
        (
            "removing the phone 2FA sends codes to",
            &marcus.id,
            user_edit(|u| u.mobile_phone = Some(None)),
            codes::PHONE_NEEDED_FOR_TWO_FACTOR,
        ),
    ];
    let blank_company = CompanyUpdate {
        name: Some(" ".into()),
        ..CompanyUpdate::default()
    };

    // What the cloud answers, asked directly with the admin's session.
    let client = CloudClient::new(cloud.base_url()).unwrap();
    let token = Sensitive::new(keys.session_tokens().pop().expect("a session token"));
    let mut from_cloud = Vec::new();
    for (what, user_id, update, code) in &cases {
        let answer = client.update_user(&token, user_id, update).await;
        let (cloud_code, words) = refusal(answer.expect_err(what));
        assert_eq!(cloud_code, *code, "the cloud's code for {what}");
        from_cloud.push(words);
    }
    let company_answer = refusal(
        client
            .update_company(&token, &blank_company)
            .await
            .expect_err("a blank company name"),
    );

    // The same edits on the desktop with the cloud gone.
    cloud.stop().await;
    for ((what, user_id, update, code), cloud_words) in cases.iter().zip(&from_cloud) {
        let (local_code, local_words) =
            refusal(core.update_user(user_id, update).await.expect_err(what));
        assert_eq!(
            (local_code.as_str(), local_words.as_str()),
            (*code, cloud_words.as_str()),
            "offline, {what} is refused with the cloud's code and words"
        );
    }
    assert_eq!(
        refusal(core.update_company(&blank_company).await.unwrap_err()),
        company_answer,
        "a blank company name too"
    );
    assert_no_edit_queued(&core).await;
}

/// The Company Profile's policy fields: an in-range change reaches the cloud;
/// each out-of-range one is refused by the cloud and, offline, by the desktop
/// with the same code and words, and never queued.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn company_policies_out_of_range_are_refused_alike_and_in_range_ones_saved() {
    let mut cloud = TestCloud::start().await;
    let dir = tempfile::tempdir().unwrap();
    let (core, keys) = admin_core(&cloud, dir.path()).await;
    let offline = |allowed, max_hours| CompanyUpdate {
        offline_policy: Some(OfflinePolicy { allowed, max_hours }),
        ..CompanyUpdate::default()
    };
    let sessions = |idle_lock_minutes, max_session_hours| CompanyUpdate {
        session_policy: Some(SessionPolicy {
            idle_lock_minutes,
            max_session_hours,
            trusted_computer_days: 0,
        }),
        ..CompanyUpdate::default()
    };

    let good = CompanyUpdate {
        offline_policy: Some(OfflinePolicy {
            allowed: true,
            max_hours: 168,
        }),
        session_policy: Some(SessionPolicy {
            idle_lock_minutes: 5,
            max_session_hours: 24,
            trusted_computer_days: 30,
        }),
        ..CompanyUpdate::default()
    };
    let saved = core.update_company(&good).await.unwrap();
    let client = CloudClient::new(cloud.base_url()).unwrap();
    let token = Sensitive::new(keys.session_tokens().pop().expect("a session token"));
    let on_cloud = client.company(&token).await.unwrap();
    assert_eq!(
        (on_cloud.offline_policy, on_cloud.session_policy),
        (saved.offline_policy, saved.session_policy),
        "the cloud stored the policies"
    );
    assert_eq!(on_cloud.session_policy, good.session_policy.unwrap());

    let bad = [
        offline(true, 0),
        offline(true, 169),
        sessions(4, 12),
        sessions(61, 12),
        sessions(30, 0),
        sessions(30, 25),
    ];
    let mut from_cloud = Vec::new();
    for update in &bad {
        let answer = client.update_company(&token, update).await;
        let (code, words) = refusal(answer.expect_err("out of range"));
        assert_eq!(code, codes::VALIDATION, "{update:?}: {words}");
        from_cloud.push(words);
    }
    cloud.stop().await;
    for (update, cloud_words) in bad.iter().zip(&from_cloud) {
        let (code, words) = refusal(core.update_company(update).await.unwrap_err());
        assert_eq!(
            (code.as_str(), words.as_str()),
            (codes::VALIDATION, cloud_words.as_str()),
            "offline, {update:?} is refused with the cloud's code and words"
        );
    }
    assert_no_edit_queued(&core).await;
}

async fn assert_no_edit_queued(core: &AppCore) {
    assert!(
        core.pending_edit_keys().await.unwrap().is_empty(),
        "a refused edit must never reach the outbox (it would come back as a notice)"
    );
    let status = core.sync_status().await;
    assert_eq!(status.pending_edits, 0, "{status:?}");
}
