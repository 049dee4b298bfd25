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
    booking: &'static str,
}

fn words(locale: &str) -> Words {
    match locale {
        "es" => Words {
            locations: "Nuestros centros",
            contact: "Contacto",
            none: "Todavía no hay centros publicados.",
            booking: "Reserva online muy pronto.",
        },
        _ => Words {
            locations: "Our locations",
            contact: "Contact",
            none: "No locations published yet.",
            booking: "Online booking opens soon.",
        },
    }
}

async fn home(mut tx: TenantTx) -> ApiResult<Html<String>> {
    let salon = super::salon::load(&mut tx).await?;
    let locations = super::locations::load_active(&mut tx).await?;
    tx.commit().await?;
    Ok(Html(render(&salon, &locations)))
}

fn render(salon: &Salon, locations: &[Location]) -> String {
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
 footer {{ text-align: center; color: #777; padding: 1rem; font-size: .9rem; }}
</style>
</head>
<body>
<header>{logo}<h1>{name}</h1><p>{booking}</p></header>
<main>
<section><h2>{loc_title}</h2><ul>{items}</ul></section>
<section><h2>{contact_title}</h2><p>{contact}</p></section>
</main>
<footer>InStudio</footer>
</body>
</html>"#,
        lang = esc(&salon.locale),
        name = esc(&salon.name),
        color = esc(color),
        booking = w.booking,
        loc_title = w.locations,
        contact_title = w.contact,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_everything_it_prints() {
        assert_eq!(
            esc(r#"<b>"x" & 'y'</b>"#),
            "&lt;b&gt;&quot;x&quot; &amp; &#39;y&#39;&lt;/b&gt;"
        );
    }
}
