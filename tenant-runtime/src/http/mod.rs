//! The runtime's HTTP surface: one module per area, each exposing `router()` with its
//! OpenAPI description; [`api_router`] merges them under `/api/v1` and serves the
//! document at `/api/v1/openapi.json` with interactive docs at `/api/v1/docs`.

mod availability;
mod bookings;
pub mod catalogue;
mod customers;
pub mod db_errors;
mod extract;
mod locations;
pub mod ops;
mod pages;
mod salon;
mod staff;
pub mod validate;

use axum::Router;
use utoipa::{
    Modify, OpenApi,
    openapi::security::{Http, HttpAuthScheme, SecurityScheme},
};
use utoipa_axum::router::OpenApiRouter;
use utoipa_swagger_ui::SwaggerUi;

pub use extract::{ApiJson, ApiQuery};

use crate::{AppState, error::ApiError};

#[derive(OpenApi)]
#[openapi(
    info(title = "InStudio salon API", description = "A salon's catalogue, staff, schedules, availability and bookings. Served on the salon's own host."),
    modifiers(&BearerAuth),
    tags(
        (name = "salon", description = "Profile and locations"),
        (name = "catalogue", description = "Service categories and services"),
        (name = "staff", description = "Staff, schedules, exceptions and holidays"),
        (name = "customers", description = "Registered and guest customers"),
        (name = "bookings", description = "Availability and bookings"),
    )
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let scheme = SecurityScheme::Http(
            Http::builder()
                .scheme(HttpAuthScheme::Bearer)
                .bearer_format("JWT")
                .build(),
        );
        openapi
            .components
            .get_or_insert_with(Default::default)
            .add_security_scheme("bearer", scheme);
    }
}

/// Every operation can be refused for the salon's plan rate: 429 with `Retry-After`.
struct RateLimited;

impl Modify for RateLimited {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{
            ContentBuilder, Ref, ResponseBuilder, header::HeaderBuilder, schema::Type,
        };
        let response = ResponseBuilder::new()
            .description("Too many requests for the salon's plan; retry after the given seconds")
            .header(
                "Retry-After",
                HeaderBuilder::new()
                    .schema(Some(
                        utoipa::openapi::ObjectBuilder::new().schema_type(Type::Integer),
                    ))
                    .build(),
            )
            .content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("ErrorBody")))
                    .build(),
            )
            .build();
        for item in openapi.paths.paths.values_mut() {
            for op in [
                &mut item.get,
                &mut item.post,
                &mut item.put,
                &mut item.patch,
                &mut item.delete,
            ]
            .into_iter()
            .flatten()
            {
                op.responses
                    .responses
                    .insert("429".into(), response.clone().into());
            }
        }
    }
}

/// The API's OpenAPI document (paths relative to the server root).
pub fn openapi() -> utoipa::openapi::OpenApi {
    documented(api()).1
}

/// Splits the API into its router and its document, with what applies to every
/// operation (rate limiting) added once all routes are in.
fn documented(api: OpenApiRouter<AppState>) -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let (router, mut doc) = api.split_for_parts();
    RateLimited.modify(&mut doc);
    (router, doc)
}

fn api() -> OpenApiRouter<AppState> {
    let v1 = OpenApiRouter::new()
        .merge(salon::router())
        .merge(locations::router())
        .merge(catalogue::router())
        .merge(staff::router())
        .merge(customers::router())
        .merge(availability::router())
        .merge(bookings::router());
    OpenApiRouter::with_openapi(ApiDoc::openapi()).nest("/api/v1", v1)
}

/// Every tenant-scoped route. The routing middleware is layered on by the application,
/// so each of these runs for exactly one routed tenant.
pub fn api_router() -> Router<AppState> {
    let (router, doc) = documented(api());
    router
        .merge(pages::router())
        .merge(SwaggerUi::new("/api/v1/docs").url("/api/v1/openapi.json", doc))
        .fallback(|| async { ApiError::NotFound("route") })
}
