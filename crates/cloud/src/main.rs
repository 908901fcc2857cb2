//! `secureclose-cloud`: serve the API, seed demo data, or print the OpenAPI document.

use std::net::SocketAddr;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use secureclose_cloud::clock::{Clock as _, SystemClock};
use secureclose_cloud::config::{default_database_url, DEFAULT_BIND};
use secureclose_cloud::db;
use secureclose_cloud::service::{accounts, releases};
use secureclose_cloud::sms::{SmsConfig, TwilioConfig, TWILIO_DEFAULT_BASE_URL};
use secureclose_cloud::{
    openapi_document, outbox, seed_demo, start, unlock_user, CloudConfig, CloudError,
};
use secureclose_protocol::UserStatus;
use tracing_subscriber::EnvFilter;

#[derive(Parser)]
#[command(
    name = "secureclose-cloud",
    version,
    about = "The SecureClose cloud service"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Args)]
struct DatabaseArg {
    /// sqlite://PATH?mode=rwc or postgres://USER@HOST:PORT/DB (default: SQLite file in the data dir)
    #[arg(long, env = "SECURECLOSE_DATABASE_URL")]
    database_url: Option<String>,
}

impl DatabaseArg {
    fn url(self) -> String {
        self.database_url.unwrap_or_else(default_database_url)
    }
}

#[derive(Subcommand)]
enum Command {
    /// Serve the HTTP API until Ctrl-C or SIGTERM.
    Serve {
        #[command(flatten)]
        database: DatabaseArg,
        #[arg(long, env = "SECURECLOSE_BIND", default_value = DEFAULT_BIND)]
        bind: SocketAddr,
        /// Development mode: verbose logs, the SMS outbox and its endpoint
        /// (which shows every code to anyone who can connect: loopback binds only).
        #[arg(long)]
        dev: bool,
        #[command(flatten)]
        sms: SmsArgs,
        /// Encrypts authenticator-app secrets: 32 random bytes, base64
        /// (`openssl rand -base64 32`). Required without --dev.
        #[arg(long, env = "SECURECLOSE_TOTP_KEY", hide_env_values = true)]
        totp_key: Option<String>,
    },
    /// Print the development SMS outbox, newest first.
    Outbox {
        #[command(flatten)]
        database: DatabaseArg,
        /// Only messages to this number (E.164).
        #[arg(long)]
        to: Option<String>,
    },
    /// Create or refresh the demo companies and print fresh demo credentials.
    SeedDemo {
        #[command(flatten)]
        database: DatabaseArg,
    },
    /// Print the OpenAPI document of the HTTP API.
    Openapi,
    /// Desktop releases offered to the app's updater.
    #[command(subcommand)]
    Release(ReleaseCommand),
    /// Operator actions on one account.
    #[command(subcommand)]
    User(UserCommand),
    /// Onboarding dealerships: companies and their DMS integration.
    #[command(subcommand)]
    Company(CompanyCommand),
}

#[derive(Subcommand)]
enum CompanyCommand {
    /// Create a company and its first admin in one step; prints the admin's
    /// one-time setup code (works once, for 72 hours) for the app's
    /// "First time here? Set up your account". Audited.
    Create {
        #[command(flatten)]
        database: DatabaseArg,
        /// The dealership's name as its users see it.
        #[arg(long)]
        name: String,
        /// The DMS integration, e.g. "CDK Drive".
        #[arg(long)]
        dms_kind: String,
        /// Whether that DMS integration supports two-factor authentication.
        #[arg(long, action = clap::ArgAction::Set)]
        dms_supports_2fa: bool,
        /// The first admin's sign-in email.
        #[arg(long)]
        admin_email: String,
        /// The first admin's name.
        #[arg(long)]
        admin_name: String,
        /// The first admin's mobile phone (E.164 or a US number).
        #[arg(long)]
        admin_phone: Option<String>,
    },
    /// Every company: id, name, DMS, 2FA support, number of users, SMS guardrails.
    List {
        #[command(flatten)]
        database: DatabaseArg,
    },
    /// Change a company's DMS integration and whether it supports 2FA
    /// (the operator's call, not the dealer's). Audited.
    SetDms {
        #[command(flatten)]
        database: DatabaseArg,
        /// The company's id (see `company list`).
        #[arg(long)]
        company: String,
        #[arg(long)]
        dms_kind: String,
        #[arg(long, action = clap::ArgAction::Set)]
        dms_supports_2fa: bool,
    },
    /// Set a company's SMS guardrails against SMS pumping: the countries its
    /// texts may go to and how many it may send per UTC day (new companies:
    /// US,CA and 200). What is not given stays as it is. Audited.
    SetSms {
        #[command(flatten)]
        database: DatabaseArg,
        /// The company's id (see `company list`).
        #[arg(long)]
        company: String,
        /// Country codes, comma separated, e.g. US,CA,MX.
        #[arg(long)]
        countries: Option<String>,
        /// Texts per UTC day, 1 to 100000.
        #[arg(long)]
        daily_cap: Option<i64>,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Lift a lock (100 failed sign-ins) or a delay, e.g. when every admin of a
    /// company is locked out. Ends the user's sessions; audited.
    Unlock {
        #[command(flatten)]
        database: DatabaseArg,
        /// The account's sign-in email.
        #[arg(long)]
        email: String,
        /// The account's company (id or exact name): required when several
        /// companies have an account with this email.
        #[arg(long)]
        company: Option<String>,
    },
}

#[derive(Subcommand)]
enum ReleaseCommand {
    /// Register one signed artifact; clients on older versions are offered it at once.
    Add {
        #[command(flatten)]
        database: DatabaseArg,
        /// Semantic version of the release (1.2.3).
        #[arg(long)]
        version: String,
        /// linux, windows or darwin.
        #[arg(long)]
        target: String,
        /// x86_64, aarch64, ...
        #[arg(long)]
        arch: String,
        /// deb, rpm, appimage, nsis, msi or app (the updater artifact's bundle type).
        #[arg(long)]
        installer: String,
        /// Where clients download the artifact (https://; http:// only to loopback).
        #[arg(long)]
        url: String,
        /// The .sig file `tauri build` / `tauri signer sign` wrote next to the artifact.
        #[arg(long)]
        signature_file: std::path::PathBuf,
        /// Release notes shown in the app's update banner.
        #[arg(long, default_value = "")]
        notes: String,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum SmsChoice {
    Twilio,
    DevOutbox,
}

#[derive(clap::Args)]
struct SmsArgs {
    /// SMS gateway for second-factor codes (default: dev-outbox with --dev, else twilio).
    #[arg(long, env = "SECURECLOSE_SMS", value_enum)]
    sms: Option<SmsChoice>,
    #[arg(long, env = "SECURECLOSE_TWILIO_ACCOUNT_SID")]
    twilio_account_sid: Option<String>,
    #[arg(long, env = "SECURECLOSE_TWILIO_AUTH_TOKEN", hide_env_values = true)]
    twilio_auth_token: Option<String>,
    /// Sender number (E.164).
    #[arg(long, env = "SECURECLOSE_TWILIO_FROM")]
    twilio_from: Option<String>,
    #[arg(long, env = "SECURECLOSE_TWILIO_BASE_URL", default_value = TWILIO_DEFAULT_BASE_URL)]
    twilio_base_url: String,
}

impl SmsArgs {
    /// Production must name a real gateway; `start` refuses the outbox without --dev.
    fn config(self, dev: bool) -> Result<SmsConfig, CloudError> {
        let choice = self.sms.unwrap_or(if dev {
            SmsChoice::DevOutbox
        } else {
            SmsChoice::Twilio
        });
        match choice {
            SmsChoice::DevOutbox => Ok(SmsConfig::DevOutbox),
            SmsChoice::Twilio => {
                let missing = || {
                    CloudError::Config(
                        // No hint at --dev here: it publishes every code (finding 6).
                        "Twilio needs SECURECLOSE_TWILIO_ACCOUNT_SID, SECURECLOSE_TWILIO_AUTH_TOKEN \
                         and SECURECLOSE_TWILIO_FROM"
                            .into(),
                    )
                };
                Ok(SmsConfig::Twilio(TwilioConfig {
                    account_sid: self.twilio_account_sid.ok_or_else(missing)?,
                    auth_token: self.twilio_auth_token.ok_or_else(missing)?,
                    from: self.twilio_from.ok_or_else(missing)?,
                    base_url: self.twilio_base_url,
                }))
            }
        }
    }
}

fn init_logging(dev: bool) {
    let default = if dev {
        "secureclose_cloud=debug,tower_http=debug,info"
    } else {
        "info"
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let dev = matches!(cli.command, Command::Serve { dev: true, .. });
    init_logging(dev);
    match run(cli.command).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "secureclose-cloud failed");
            ExitCode::FAILURE
        }
    }
}

/// Writes to stdout (the output of `seed-demo` and `openapi`). A closed pipe
/// (`| head`) is the reader's choice, not a failure.
fn print_out(text: &str) -> Result<(), CloudError> {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(()),
    }
}

async fn run(command: Command) -> Result<(), CloudError> {
    match command {
        Command::Serve {
            database,
            bind,
            dev,
            sms,
            totp_key,
        } => {
            let mut config = CloudConfig::new(database.url(), bind);
            config.dev_mode = dev;
            config.sms = Some(sms.config(dev)?);
            config.totp_key = totp_key
                .as_deref()
                .map(secureclose_cloud::sealing::SealingKey::parse)
                .transpose()?;
            let running = start(config).await?;
            eprintln!("SecureClose cloud listening on {}", running.base_url());
            shutdown_signal().await;
            tracing::info!("shutting down");
            running.shutdown().await;
        }
        Command::SeedDemo { database } => {
            let seed = seed_demo(&database.url()).await?;
            let mut text = format!(
                "Demo company: {} ({})\nAdmin:  {}  password: {}\n",
                seed.company_name, seed.company_id, seed.admin_email, seed.admin_password
            );
            for (email, password) in &seed.users {
                text.push_str(&format!("User:   {email}  password: {password}\n"));
            }
            print_out(&text)?;
        }
        Command::Outbox { database, to } => {
            let mut text = String::new();
            for message in outbox(&database.url(), to.as_deref()).await? {
                text.push_str(&format!(
                    "{}\t{}\t{}\n",
                    message.sent_at, message.to, message.body
                ));
            }
            print_out(&text)?;
        }
        Command::User(UserCommand::Unlock {
            database,
            email,
            company,
        }) => {
            let user = unlock_user(&database.url(), &email, company.as_deref()).await?;
            let mut text = format!(
                "unlocked {}: failed sign-ins cleared, sessions ended\n",
                user.email
            );
            if user.status == UserStatus::Disabled {
                text.push_str("note: the account is disabled; an admin re-activates it\n");
            }
            print_out(&text)?;
        }
        Command::Company(command) => run_company(command).await?,
        Command::Openapi => print_out(&format!("{}\n", openapi_document()?))?,
        Command::Release(ReleaseCommand::Add {
            database,
            version,
            target,
            arch,
            installer,
            url,
            signature_file,
            notes,
        }) => {
            let signature = std::fs::read_to_string(&signature_file)?;
            let release = releases::NewRelease {
                version,
                target,
                arch,
                installer,
                url,
                signature,
                notes,
                pub_date: SystemClock.now_ms(),
            };
            let db = db::connect(&database.url(), 1).await?;
            let added = releases::add(&db, &release).await;
            db.pool.close().await;
            added?;
            print_out(&format!(
                "registered {} {}/{}/{}\n",
                release.version, release.target, release.arch, release.installer
            ))?;
        }
    }
    Ok(())
}

fn supports(on: bool) -> &'static str {
    if on {
        "supports 2FA"
    } else {
        "no 2FA"
    }
}

async fn run_company(command: CompanyCommand) -> Result<(), CloudError> {
    match command {
        CompanyCommand::Create {
            database,
            name,
            dms_kind,
            dms_supports_2fa,
            admin_email,
            admin_name,
            admin_phone,
        } => {
            let request = accounts::Onboarding {
                name,
                dms_kind,
                dms_supports_two_factor: dms_supports_2fa,
                admin_email,
                admin_name,
                admin_phone,
            };
            let db = db::connect(&database.url(), 1).await?;
            let created = accounts::create_company(&db, &request).await;
            db.pool.close().await;
            let created = created?;
            print_out(&format!(
                "Company: {} ({})\nAdmin:   {}\nSetup code: {}\n\
                 The admin opens SecureClose, chooses \"First time here? Set up your account\" \
                 and enters this code. It works once, for 72 hours \
                 (until {} ms after the Unix epoch).\n",
                created.company.name,
                created.company.id,
                created.admin.user.email,
                created.admin.setup_code,
                created.admin.setup_code_expires_at
            ))?;
        }
        CompanyCommand::List { database } => {
            let db = db::connect(&database.url(), 1).await?;
            let companies = accounts::list_companies(&db).await;
            db.pool.close().await;
            let mut text = String::new();
            for listed in companies? {
                let company = &listed.company;
                text.push_str(&format!(
                    "{}\t{}\t{} ({})\t{} users\ttexts to {}, {}/day\n",
                    company.id,
                    company.name,
                    company.dms.kind,
                    supports(company.dms.supports_two_factor),
                    listed.users,
                    listed.sms.countries_text(),
                    listed.sms.daily_cap
                ));
            }
            print_out(&text)?;
        }
        CompanyCommand::SetDms {
            database,
            company,
            dms_kind,
            dms_supports_2fa,
        } => {
            let db = db::connect(&database.url(), 1).await?;
            let updated = accounts::set_dms(&db, &company, &dms_kind, dms_supports_2fa).await;
            db.pool.close().await;
            let updated = updated?;
            print_out(&format!(
                "{}: DMS {} ({})\n",
                updated.name,
                updated.dms.kind,
                supports(updated.dms.supports_two_factor)
            ))?;
        }
        CompanyCommand::SetSms {
            database,
            company,
            countries,
            daily_cap,
        } => {
            let db = db::connect(&database.url(), 1).await?;
            let updated = accounts::set_sms(&db, &company, countries.as_deref(), daily_cap).await;
            db.pool.close().await;
            let policy = updated?;
            print_out(&format!(
                "{company}: texts to {}, at most {} a day (UTC)\n",
                policy.countries_text(),
                policy.daily_cap
            ))?;
        }
    }
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}
