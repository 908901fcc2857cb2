//! `secureclose-crash-harness`: the desktop core without a window, for the
//! SIGKILL test (tests/tests/e2e/sync_crash.rs). It makes edits and syncs in
//! a loop and reports on stdout, one flushed line per event, so whatever the
//! test reads before the kill is true:
//!
//! ```text
//! READY                      core open and signed in
//! TRY <token>                about to call update_user (display name = token)
//! ACK <token>                update_user returned Ok: core promised the edit
//! ERR <token> <code>         update_user returned an error
//! SYNC <pending>             sync_now returned, <pending> edits still waiting
//! DONE <pending>             `--finish`: synced until the outbox was empty (or gave up)
//! ```
//!
//! Arguments: `--data-dir DIR --cloud-url URL --email E --password P
//! --seed N --generation G [--finish]`. Tokens are `g<G>-<n>`, unique per run
//! because the test passes a new generation after every restart. The keychain
//! is a file in DIR ([`FileKeyStore`]) so the cache key and session survive the kill.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use secureclose_core::{AppCore, CoreConfig, CoreError};
use secureclose_protocol::{Role, UserUpdate};
use secureclose_tests::file_keystore::FileKeyStore;

struct Args {
    data_dir: PathBuf,
    cloud_url: String,
    email: String,
    password: String,
    seed: u64,
    generation: u64,
    finish: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut it = std::env::args().skip(1);
    let (mut data_dir, mut cloud_url, mut email, mut password) = (None, None, None, None);
    let (mut seed, mut generation, mut finish) = (0, 0, false);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--data-dir" => data_dir = Some(PathBuf::from(value()?)),
            "--cloud-url" => cloud_url = Some(value()?),
            "--email" => email = Some(value()?),
            "--password" => password = Some(value()?),
            "--seed" => seed = value()?.parse().map_err(|e| format!("--seed: {e}"))?,
            "--generation" => {
                generation = value()?.parse().map_err(|e| format!("--generation: {e}"))?
            }
            "--finish" => finish = true,
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(Args {
        data_dir: data_dir.ok_or("--data-dir is required")?,
        cloud_url: cloud_url.ok_or("--cloud-url is required")?,
        email: email.ok_or("--email is required")?,
        password: password.ok_or("--password is required")?,
        seed,
        generation,
        finish,
    })
}

/// One flushed line: the test may SIGKILL us right after it.
fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    // A closed stdout means the test is gone; nothing left to report to.
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args = match parse_args() {
        Ok(args) => args,
        Err(e) => {
            eprintln!("secureclose-crash-harness: {e}");
            std::process::exit(2);
        }
    };
    if let Err(e) = run(args).await {
        eprintln!("secureclose-crash-harness: {} ({e})", e.code());
        std::process::exit(1);
    }
}

async fn run(args: Args) -> Result<(), CoreError> {
    let keys = Arc::new(FileKeyStore::new(&args.data_dir.join("keys.json")));
    let core = AppCore::open(CoreConfig {
        data_dir: args.data_dir.clone(),
        cloud_url: args.cloud_url.clone(),
        key_store: keys,
        policy: secureclose_core::PolicySource::None,
        // The test drives the sync with sync_now; the timer only adds noise.
        sync_interval: Duration::from_secs(3600),
    })
    .await?;
    let me = match core.session().await? {
        Some(session) => session.user,
        None => {
            core.login(&args.email, &args.password).await?;
            // Sign-in stores only this user; the first sync brings the rest.
            core.sync_now().await?;
            core.session().await?.ok_or(CoreError::NotSignedIn)?.user
        }
    };
    say("READY");

    if args.finish {
        let mut pending = u32::MAX;
        for _ in 0..50 {
            pending = core.sync_now().await?.pending_edits;
            if pending == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        say(&format!("DONE {pending}"));
        return Ok(());
    }

    let mut rng = StdRng::seed_from_u64(args.seed ^ args.generation.wrapping_mul(0x9E37_79B9));
    let others: Vec<String> = core
        .list_users("", 0, 200)
        .await?
        .users
        .into_iter()
        .filter(|u| u.id != me.id && u.role == Role::User)
        .map(|u| u.id)
        .collect();
    if others.is_empty() {
        return Err(CoreError::NotSignedIn);
    }
    for n in 0u64.. {
        let token = format!("g{}-{n}", args.generation);
        let user_id = &others[rng.gen_range(0..others.len())];
        let update = UserUpdate {
            display_name: Some(token.clone()),
            ..UserUpdate::default()
        };
        say(&format!("TRY {token}"));
        match core.update_user(user_id, &update).await {
            Ok(_) => say(&format!("ACK {token}")),
            Err(e) => say(&format!("ERR {token} {}", e.code())),
        }
        if rng.gen_bool(0.3) {
            match core.sync_now().await {
                Ok(status) => say(&format!("SYNC {}", status.pending_edits)),
                Err(e) => say(&format!("SYNC-ERR {}", e.code())),
            }
        }
    }
    Ok(())
}
