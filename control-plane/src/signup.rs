//! Salon signup: the owner and the tenant are created in one transaction. Free plans are
//! placed in a warm slot in that same transaction, so the salon serves as soon as the
//! response is sent; paid plans wait in `pending_payment` for billing to confirm.

use sea_orm::{ConnectionTrait, TransactionTrait};
use serde::Serialize;
use serde_json::json;
use tenancy::{Email, Hostname, PlanCode, TenantSlug, TenantStatus, Tier};
use tenant_runtime::auth::Role;
use uuid::Uuid;

use crate::{
    LocalProvisioner, NewTenant,
    billing::{Billing, Checkout, SubscriptionRequest, starts},
    catalog::{self, Actor, TenantRecord, stmt},
    config::Settings,
    error::{Error, Result},
    identity::{
        ClientInfo, IssuedTokens, KeyRing, SessionKind, User, onetime,
        password::{self, NewPassword},
        sessions,
        users::{self, NewUser},
    },
    plans,
};

/// A validated signup.
#[derive(Debug)]
pub struct Signup {
    pub owner_name: String,
    pub email: Email,
    pub password: NewPassword,
    pub salon_name: String,
    pub subdomain: TenantSlug,
    pub plan: PlanCode,
    pub locale: String,
    pub time_zone: String,
    /// The Stripe PaymentMethod paying for a paid plan.
    pub payment_method: Option<String>,
}

#[derive(Debug)]
pub struct SignedUp {
    pub tenant: TenantRecord,
    pub owner: User,
    pub tokens: IssuedTokens,
    pub checkout: Option<Checkout>,
}

/// How a subdomain stands for a new salon.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Availability {
    Available,
    Taken,
    Reserved,
    Invalid { code: &'static str, reason: String },
}

/// Whether `name` could be a new salon's subdomain.
pub async fn availability<C: ConnectionTrait>(
    conn: &C,
    base: &Hostname,
    name: &str,
) -> Result<Availability> {
    let slug = match TenantSlug::parse(name) {
        Ok(slug) => slug,
        Err(e) if e.code == "reserved" => return Ok(Availability::Reserved),
        Err(e) => {
            return Ok(Availability::Invalid {
                code: e.code,
                reason: e.message,
            });
        }
    };
    let host = Hostname::subdomain(slug.as_str(), base)?;
    let taken = conn
        .query_one_raw(stmt(
            "SELECT (EXISTS (SELECT 1 FROM platform.tenants WHERE slug = $1)
                  OR EXISTS (SELECT 1 FROM platform.tenant_domains WHERE hostname = $2)) AS taken",
            [slug.as_str().into(), host.as_str().into()],
        ))
        .await?
        .map(|r| r.try_get::<bool>("", "taken"))
        .transpose()?
        .unwrap_or(false);
    Ok(if taken {
        Availability::Taken
    } else {
        Availability::Available
    })
}

/// Creates the owner and the salon, provisions (free) or starts billing (paid), and
/// signs the owner in.
#[tracing::instrument(skip_all, fields(slug = %signup.subdomain, plan = %signup.plan))]
pub async fn signup(
    provisioner: &LocalProvisioner,
    keys: &KeyRing,
    settings: &Settings,
    billing: &dyn Billing,
    signup: Signup,
    client: &ClientInfo,
) -> Result<SignedUp> {
    let db = provisioner.db();
    let plan = plans::get(db, signup.plan).await?;
    let hash = password::hash(&signup.password).await?;
    let new = NewTenant {
        slug: signup.subdomain.clone(),
        display_name: signup.salon_name.clone(),
        plan: signup.plan,
        locale: Some(signup.locale.clone()),
        time_zone: Some(signup.time_zone.clone()),
    };
    let id = Uuid::now_v7();
    let paid = plan.is_paid();
    if paid {
        billing.available()?;
    }
    let serve_now = !paid && signup.plan.tier() == Tier::Shared;
    let tx = db.begin().await?;
    let status = if paid {
        TenantStatus::PendingPayment
    } else {
        TenantStatus::Provisioning
    };
    provisioner
        .insert_tenant(&tx, id, &new, status)
        .await
        .map_err(|e| match e {
            Error::Conflict { .. } => {
                Error::conflict("subdomain_taken", format!("{} is taken", signup.subdomain))
            }
            other => other,
        })?;
    let owner_id = users::insert(
        &tx,
        &NewUser {
            email: &signup.email,
            display_name: &signup.owner_name,
            password_hash: &hash,
            tenant_id: Some(id),
            role: Role::Owner,
            email_verified: false,
        },
    )
    .await?;
    let actor = Actor::user(owner_id, client);
    if serve_now {
        provisioner.place_shared(&tx, id, &new, &actor).await?;
    }
    let owner = users::find(&tx, owner_id)
        .await?
        .ok_or(Error::NotFound("user"))?;
    onetime::send_email_verification(&tx, settings, &owner).await?;
    let subscription = paid.then(|| SubscriptionRequest {
        tenant_id: id,
        tenant_slug: signup.subdomain.to_string(),
        plan: plan.clone(),
        owner_email: owner.email.clone(),
        payment_method: signup.payment_method.clone(),
    });
    if let Some(request) = &subscription {
        starts::record(&tx, request).await?;
    }
    catalog::audit(
        &tx,
        &actor,
        "tenant.signup",
        ("tenant", id.to_string()),
        None,
        Some(json!({ "slug": signup.subdomain, "plan": signup.plan, "owner": owner_id })),
    )
    .await?;
    tx.commit().await?;
    if serve_now {
        provisioner.slot_claimed();
    }
    let checkout = if let Some(request) = &subscription {
        // Stripe unreachable: the signup stands and the subscription is retried.
        Some(match starts::attempt(db, billing, request).await {
            Ok(checkout) => checkout,
            Err(err @ Error::PaymentProvider(_)) => Checkout::SubscriptionPending {
                message: format!(
                    "the payment provider could not be reached ({err}); \
                        the subscription is retried shortly"
                ),
            },
            Err(err) => return Err(err),
        })
    } else {
        if !serve_now {
            provisioner.provision_pending(id, &actor).await?;
        }
        None
    };
    let tokens = sessions::start(db, keys, settings, &owner, SessionKind::Bearer, client).await?;
    let tenant = catalog::find_tenant_by_id(db, id)
        .await?
        .ok_or_else(|| Error::TenantNotFound(id.to_string()))?;
    Ok(SignedUp {
        tenant,
        owner,
        tokens,
        checkout,
    })
}
