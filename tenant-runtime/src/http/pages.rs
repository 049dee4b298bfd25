//! The salon's public home page, rendered on the server in the salon's language and
//! colours from the same data the API serves.

use std::fmt::Write;

use axum::{Router, response::Html, routing::get};

use super::{locations::Location, salon::Salon};
use crate::{AppState, db::TenantTx, error::ApiResult};

pub fn router() -> Router<AppState> {
    Router::new().route("/", get(home))
}

/// Escapes text for HTML bodies and attribute values.
fn esc(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for c in raw.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

struct Words {
    locations: &'static str,
    contact: &'static str,
    none: &'static str,
    services: &'static str,
    no_services: &'static str,
}

fn words(locale: &str) -> Words {
    match locale {
        "es" => Words {
            locations: "Nuestros centros",
            contact: "Contacto",
            none: "Todavía no hay centros publicados.",
            services: "Servicios",
            no_services: "Todavía no hay servicios publicados.",
        },
        _ => Words {
            locations: "Our locations",
            contact: "Contact",
            none: "No locations published yet.",
            services: "Services",
            no_services: "No services published yet.",
        },
    }
}

async fn home(mut tx: TenantTx) -> ApiResult<Html<String>> {
    let salon = super::salon::load(&mut tx).await?;
    let locations = super::locations::load_active(&mut tx).await?;
    let services = tx
        .query_as::<Offer>(
            "SELECT s.name, s.duration_minutes, s.price_cents, s.currency,
                    COALESCE(c.name, '') AS category
             FROM services s LEFT JOIN service_categories c ON c.id = s.category_id
             WHERE s.active ORDER BY c.position NULLS LAST, c.name, s.name",
        )
        .fetch_all(tx.conn())
        .await?;
    tx.commit().await?;
    Ok(Html(render(&salon, &locations, &services)))
}

/// A service as the home page lists it.
#[derive(sqlx::FromRow)]
struct Offer {
    name: String,
    duration_minutes: i32,
    price_cents: i64,
    currency: String,
    category: String,
}

/// `3500` cents of EUR as `35,00 €` (es) or `€35.00` (en); other currencies by code.
fn price(cents: i64, currency: &str, locale: &str) -> String {
    let (units, rest) = (cents / 100, cents % 100);
    match (currency, locale) {
        ("EUR", "es") => format!("{units},{rest:02} €"),
        ("EUR", _) => format!("€{units}.{rest:02}"),
        (code, "es") => format!("{units},{rest:02} {code}"),
        (code, _) => format!("{code} {units}.{rest:02}"),
    }
}

fn render(salon: &Salon, locations: &[Location], services: &[Offer]) -> String {
    let w = words(&salon.locale);
    let color = salon.primary_color.as_deref().unwrap_or("#5b4b8a");
    let mut items = String::new();
    for l in locations {
        let _ = write!(items, "<li><strong>{}</strong>", esc(&l.name));
        if let Some(address) = &l.address {
            let _ = write!(items, "<br>{}", esc(address));
        }
        if let Some(phone) = &l.phone {
            let _ = write!(items, "<br><a href=\"tel:{0}\">{0}</a>", esc(phone));
        }
        items.push_str("</li>");
    }
    if items.is_empty() {
        let _ = write!(items, "<li>{}</li>", w.none);
    }
    let mut offers = String::new();
    let mut category = None;
    for o in services {
        if category != Some(o.category.as_str()) && !o.category.is_empty() {
            let _ = write!(offers, "<li class=\"cat\">{}</li>", esc(&o.category));
        }
        category = Some(o.category.as_str());
        let _ = write!(
            offers,
            "<li><span>{}</span><span class=\"meta\">{} min · {}</span></li>",
            esc(&o.name),
            o.duration_minutes,
            esc(&price(o.price_cents, &o.currency, &salon.locale))
        );
    }
    if offers.is_empty() {
        let _ = write!(offers, "<li>{}</li>", w.no_services);
    }
    let mut contact = String::new();
    if let Some(email) = &salon.contact_email {
        let _ = write!(contact, "<a href=\"mailto:{0}\">{0}</a><br>", esc(email));
    }
    if let Some(phone) = &salon.contact_phone {
        let _ = write!(contact, "<a href=\"tel:{0}\">{0}</a><br>", esc(phone));
    }
    if let Some(address) = &salon.address {
        let _ = write!(contact, "{}", esc(address));
    }
    let logo = salon
        .logo_url
        .as_deref()
        .map(|url| format!("<img src=\"{}\" alt=\"\" height=\"48\">", esc(url)))
        .unwrap_or_default();
    format!(
        r#"<!doctype html>
<html lang="{lang}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{name}</title>
<style>
 body {{ margin: 0; font-family: system-ui, sans-serif; color: #222; background: #faf8fb; }}
 header {{ background: {color}; color: #fff; padding: 2.5rem 1.5rem; }}
 header h1 {{ margin: .3rem 0 0; font-size: 2rem; }}
 main {{ max-width: 52rem; margin: 0 auto; padding: 1.5rem; display: grid; gap: 1.5rem;
        grid-template-columns: repeat(auto-fit, minmax(16rem, 1fr)); }}
 section {{ background: #fff; border-radius: .75rem; padding: 1.25rem; box-shadow: 0 1px 3px #0002; }}
 h2 {{ margin-top: 0; color: {color}; font-size: 1.1rem; }}
 ul {{ list-style: none; padding: 0; margin: 0; display: grid; gap: .9rem; }}
 a {{ color: {color}; }}
 .services {{ grid-column: 1 / -1; }}
 .services li {{ display: flex; justify-content: space-between; gap: 1rem; border-bottom: 1px solid #eee; padding-bottom: .4rem; }}
 .services li.cat {{ border: 0; font-weight: 600; color: {color}; padding-top: .6rem; }}
 .meta {{ color: #666; white-space: nowrap; }}
 footer {{ text-align: center; color: #777; padding: 1rem; font-size: .9rem; }}
</style>
</head>
<body>
<header>{logo}<h1>{name}</h1><p>{tagline}</p></header>
<main>
<section class="services"><h2>{services_title}</h2><ul>{offers}</ul></section>
<section><h2>{loc_title}</h2><ul>{items}</ul></section>
<section><h2>{contact_title}</h2><p>{contact}</p></section>
</main>
<footer>InStudio</footer>
</body>
</html>"#,
        lang = esc(&salon.locale),
        name = esc(&salon.name),
        color = esc(color),
        tagline = esc(salon.address.as_deref().unwrap_or_default()),
        loc_title = w.locations,
        services_title = w.services,
        contact_title = w.contact,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices_read_naturally() {
        assert_eq!(price(3500, "EUR", "es"), "35,00 €");
        assert_eq!(price(3505, "EUR", "en"), "€35.05");
        assert_eq!(price(199, "USD", "en"), "USD 1.99");
    }

    #[test]
    fn escapes_everything_it_prints() {
        assert_eq!(
            esc(r#"<b>"x" & 'y'</b>"#),
            "&lt;b&gt;&quot;x&quot; &amp; &#39;y&#39;&lt;/b&gt;"
        );
    }
}
