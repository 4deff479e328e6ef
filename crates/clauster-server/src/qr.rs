//! The instance QR code (http-api.md §5.2): `GET /api/instances/{instance_id}/qr`.

use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use clauster_wire::Instance;
use qrcode::render::{Renderer, svg};
use qrcode::{EcLevel, QrCode};

use crate::error::ApiError;
use crate::state::AppState;

/// QR geometry of http-api.md §5.2.
const QR_MODULE_PX: u32 = 4;
const QR_QUIET_ZONE_MODULES: u32 = 2;

/// `GET /api/instances/{instance_id}/qr`: an SVG of the instance's link.
pub async fn qr(
    State(state): State<AppState>,
    UrlPath(reference): UrlPath<String>,
) -> Result<Response, ApiError> {
    let instance = state.engine().get(&reference).await?;
    let link = qr_link(&instance)
        .ok_or_else(|| ApiError::new(StatusCode::CONFLICT, "no session URL available yet"))?;
    let svg = qr_svg(link)?;
    let mut response = svg.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("image/svg+xml"),
    );
    Ok(response)
}

/// `session_url`, else `url`; an empty value counts as absent.
fn qr_link(instance: &Instance) -> Option<&str> {
    [&instance.session_url, &instance.url]
        .into_iter()
        .filter_map(Option::as_deref)
        .find(|link| !link.is_empty())
}

/// Error correction M, 4 px modules, a 2-module quiet zone, `#000` on `#fff`.
pub(crate) fn qr_svg(link: &str) -> Result<String, ApiError> {
    let code = QrCode::with_error_correction_level(link.as_bytes(), EcLevel::M).map_err(|err| {
        ApiError::internal(format!("cannot encode the session URL as a QR code: {err}"))
    })?;
    let colors = code.to_colors();
    Ok(
        Renderer::<svg::Color<'_>>::new(&colors, code.width(), QR_QUIET_ZONE_MODULES)
            .module_dimensions(QR_MODULE_PX, QR_MODULE_PX)
            .dark_color(svg::Color("#000"))
            .light_color(svg::Color("#fff"))
            .build(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::status_routes::tests::instance;

    #[test]
    fn the_qr_link_prefers_the_session_url() {
        let mut i = instance("running");
        assert_eq!(qr_link(&i), None);
        i.url = Some("https://claude.ai/code?environment=env_1".into());
        assert_eq!(
            qr_link(&i),
            Some("https://claude.ai/code?environment=env_1")
        );
        i.session_url = Some(String::new());
        assert_eq!(
            qr_link(&i),
            Some("https://claude.ai/code?environment=env_1")
        );
        i.session_url = Some("https://claude.ai/code/session_1?from=cli".into());
        assert_eq!(
            qr_link(&i),
            Some("https://claude.ai/code/session_1?from=cli")
        );
    }

    #[test]
    fn the_qr_svg_has_the_spec_geometry() {
        let link = "https://claude.ai/code/session_1?from=cli";
        let svg = qr_svg(link).expect("encodes");
        let code = QrCode::with_error_correction_level(link, EcLevel::M).expect("encodes");
        let side = (u32::try_from(code.width()).expect("small") + 2 * QR_QUIET_ZONE_MODULES)
            * QR_MODULE_PX;
        assert!(svg.contains("<svg"), "{svg}");
        assert!(
            svg.contains(&format!(r#"width="{side}" height="{side}""#)),
            "{svg}"
        );
        assert!(svg.contains(r##"fill="#fff""##), "{svg}");
        assert!(svg.contains(r##"fill="#000""##), "{svg}");
        assert!(svg.ends_with("</svg>"), "{svg}");
    }
}
