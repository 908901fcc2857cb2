//! Security review, finding 1: someone at the sign-in screen points the app at
//! their own server. A fake loopback "cloud" signs the real admin in with
//! any password and refuses pushes, so an edit (Tom Becker made an admin)
//! waits in that admin's outbox; the address is switched back and the real
//! admin signs in. Nothing of the fake's may reach the real cloud, and the
//! real admin's offline verifier must stay their real password.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use secureclose_core::client::CloudClient;
use secureclose_core::views::LoginOutcome;
use secureclose_protocol::sync::ChangesPage;
use secureclose_protocol::{codes, Company, LoginResponse, Role, SessionGrant, User, UserUpdate};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::core_sync::{cached, cloud_users, open_quiet, sign_in};
use crate::support::{MemoryKeyStore, TestCloud};

/// What the fake cloud saw.
#[derive(Default)]
struct Seen {
    passwords: Vec<String>,
    pushes: usize,
}

/// A hostile server on loopback: `/login` signs in as `user` whatever the
/// password, the changes feed serves `users`, pushes are refused (503).
struct FakeCloud {
    url: String,
    seen: Arc<Mutex<Seen>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeCloud {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeCloud {
    async fn start(user: User, company: Company, users: Vec<User>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Seen::default()));
        let state = (user, company, users, seen.clone());
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let state = state.clone();
                tokio::spawn(async move {
                    let _ = serve(stream, &state.0, &state.1, &state.2, &state.3).await;
                });
            }
        });
        Self { url, seen, task }
    }
}

async fn serve(
    mut stream: TcpStream,
    user: &User,
    company: &Company,
    users: &[User],
    seen: &Mutex<Seen>,
) -> std::io::Result<()> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let (head_end, length) = loop {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let length = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            break (end + 4, length);
        }
    };
    while buf.len() < head_end + length {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let body = &buf[head_end..];
    let mut first = head.lines().next().unwrap_or("").split_whitespace();
    let (method, path) = (first.next().unwrap_or(""), first.next().unwrap_or(""));
    let (status, json) = match (method, path.split('?').next().unwrap_or("")) {
        ("GET", "/api/v1/health") => (
            "200 OK",
            serde_json::json!({"status": "ok", "version": "0", "database": "fake"}),
        ),
        ("POST", "/api/v1/login") | ("POST", "/api/v1/login/resume") => {
            let request: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
            if let Some(password) = request["password"].as_str() {
                seen.lock().unwrap().passwords.push(password.to_owned());
            }
            let response = LoginResponse::SignedIn {
                session: SessionGrant {
                    token: "fake-session-token".into(),
                    expires_at: secureclose_core::cache::now_millis() + 3_600_000,
                    device_token: Some("fake-device-token".into()),
                    recovery: None,
                    trusted_computer: None,
                    offline_app: None,
                },
                user: user.clone(),
                company: company.clone(),
            };
            ("200 OK", serde_json::to_value(response).unwrap())
        }
        ("GET", "/api/v1/sync/changes") => {
            let first_page = path.contains("since=0&");
            let page = ChangesPage {
                company: first_page.then(|| company.clone()),
                users: if first_page {
                    users.to_vec()
                } else {
                    Vec::new()
                },
                removed_user_ids: Vec::new(),
                cursor: 1,
                has_more: false,
            };
            ("200 OK", serde_json::to_value(page).unwrap())
        }
        ("POST", "/api/v1/sync/push") => {
            seen.lock().unwrap().pushes += 1;
            (
                "503 Service Unavailable",
                serde_json::json!({"code": "server_busy", "message": "Busy."}),
            )
        }
        ("POST", "/api/v1/logout") => ("200 OK", serde_json::json!({})),
        _ => (
            "404 Not Found",
            serde_json::json!({"code": "not_found", "message": "Not here."}),
        ),
    };
    let body = json.to_string();
    let answer = format!(
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
         connection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(answer.as_bytes()).await?;
    stream.shutdown().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_server_cannot_queue_edits_or_set_passwords_for_the_real_cloud() {
    let mut cloud = TestCloud::start().await;
    let admin_email = cloud.seed.admin_email.clone();
    let admin_password = cloud.seed.admin_password.clone();
    // What the attacker copies: the admin's and the company's real rows.
    let real = CloudClient::new(cloud.base_url()).unwrap();
    let LoginResponse::SignedIn {
        session,
        user: admin,
        company,
    } = real
        .login(&admin_email, &admin_password, None)
        .await
        .unwrap()
    else {
        panic!("the demo admin signs in with a password alone");
    };
    let token = secureclose_core::Sensitive::new(session.token);
    let users = real.users(&token).await.unwrap().users;
    let fake = FakeCloud::start(admin.clone(), company.clone(), users).await;

    // The shared computer: the real admin has signed in here before.
    let dir = tempfile::tempdir().unwrap();
    let keys = Arc::new(MemoryKeyStore::default());
    let core = open_quiet(dir.path(), cloud.base_url(), keys.clone()).await;
    sign_in(&core, &admin_email, &admin_password).await;
    let tom = cached(&core, "tom").await;
    assert_eq!(tom.role, Role::User, "set-up: Tom is not an admin");
    core.logout().await.unwrap();

    // The attacker: Server settings → the fake; "signs in" as the admin.
    core.set_cloud_url(&fake.url).await.unwrap();
    sign_in(&core, &admin_email, "any password at all").await;
    let shown = core
        .update_user(
            &tom.id,
            &UserUpdate {
                role: Some(Role::Admin),
                ..UserUpdate::default()
            },
        )
        .await
        .expect("the fake refuses the push: the edit is queued");
    assert_eq!(shown.role, Role::Admin, "shown optimistically");
    assert_eq!(core.sync_status().await.pending_edits, 1);
    assert!(
        fake.seen.lock().unwrap().pushes > 0,
        "set-up: pushes refused"
    );

    // Switched back; the real admin signs in with the real password.
    core.set_cloud_url(cloud.base_url()).await.unwrap();
    sign_in(&core, &admin_email, &admin_password).await;
    let status = core.sync_now().await.unwrap();
    assert_eq!(
        status.pending_edits, 0,
        "no edit queued against another cloud waits here: {status:?}"
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    let tom_now = cloud_users(cloud.base_url(), &keys)
        .await
        .into_iter()
        .find(|u| u.id == tom.id)
        .unwrap();
    assert_eq!(
        tom_now.role,
        Role::User,
        "the edit queued against the fake server must never reach the real cloud"
    );
    assert_eq!(cached(&core, "tom").await.role, Role::User);

    // Offline, the real cloud's verifier is the real password, not the fake's.
    core.logout().await.unwrap();
    cloud.stop().await;
    let err = core
        .login(&admin_email, "any password at all")
        .await
        .unwrap_err();
    assert_eq!(
        err.code(),
        codes::INVALID_CREDENTIALS,
        "the fake server's password must not open the real cloud's cache: {err:?}"
    );
    match core.login(&admin_email, &admin_password).await {
        Ok(LoginOutcome::SignedIn { session, .. }) => assert!(session.offline_sign_in),
        other => panic!("the real password still signs in offline: {other:?}"),
    }
    core.logout().await.unwrap();

    // A mistaken change loses nothing: back on the fake address, its own
    // cache still holds its own queued edit (which never left it).
    core.set_cloud_url(&fake.url).await.unwrap();
    sign_in(&core, &admin_email, "any password at all").await;
    assert_eq!(core.sync_status().await.pending_edits, 1);
    core.logout().await.unwrap();
}
