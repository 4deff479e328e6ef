//! `GET /metrics` (http-api.md §9), `GET /api/metrics` and
//! `GET /api/projects/{name}/metrics` (data.md §4).

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use clauster_core::config::UsageMode;
use clauster_core::names::ProjectName;
use clauster_wire::{Metrics, ProjectMetrics};
use sha2::{Digest as _, Sha256};

use super::prometheus::{Scrape, render};
use crate::error::ApiError;
use crate::projects::projects_blocking;
use crate::state::AppState;

/// The metrics API (data.md §4) and the Prometheus scrape (http-api.md §9).
pub fn router() -> axum::Router<AppState> {
    use axum::routing::get;
    axum::Router::new()
        .route("/api/metrics", get(api_metrics))
        .route("/api/projects/{name}/metrics", get(project_metrics))
        .route("/metrics", get(prometheus))
}

const TEXT_FORMAT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// `GET /api/metrics`: the cache keyed by instance id; `{}` when metrics are off.
pub async fn api_metrics(State(state): State<AppState>) -> Response {
    Json(state.metrics().current()).into_response()
}

/// `GET /api/projects/{name}/metrics`: sums over the project's running bridges.
pub async fn project_metrics(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let name =
        ProjectName::new(&name).map_err(|err| ApiError::invalid(err.to_string(), Some("name")))?;
    let cache = state.metrics().current();
    let instances = if cache.is_empty() {
        Vec::new()
    } else {
        state.engine().list().await?
    };
    let mine: Vec<&Metrics> = instances
        .iter()
        .filter(|i| i.project == name.as_str())
        .filter_map(|i| cache.get(&i.instance_id))
        .collect();
    Ok(Json(sum(&mine)).into_response())
}

fn sum(bridges: &[&Metrics]) -> ProjectMetrics {
    let Some(first) = bridges.first() else {
        return ProjectMetrics::Idle { running: false };
    };
    let disk = |pick: fn(&Metrics) -> Option<u64>| {
        bridges
            .iter()
            .map(|m| pick(m))
            .try_fold(0_u64, |acc, v| v.map(|v| acc + v))
    };
    ProjectMetrics::Running {
        running: true,
        procs: bridges.iter().map(|m| m.procs).sum(),
        cpu_percent: (bridges.iter().map(|m| m.cpu_percent).sum::<f64>() * 10.0).round() / 10.0,
        cpu_normalized: first.cpu_normalized,
        rss_bytes: bridges.iter().map(|m| m.rss_bytes).sum(),
        disk_read_bps: disk(|m| m.disk_read_bps),
        disk_write_bps: disk(|m| m.disk_write_bps),
        bridges: bridges.len() as u64,
    }
}

/// `GET /metrics`: 404 unless `observability.prometheus_enabled`; with
/// `observability.metrics_token_hash` set, a scrape must present that bearer token.
pub async fn prometheus(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let config = state.config();
    if !config.observability.prometheus_enabled {
        return Err(ApiError::not_found("metrics endpoint is disabled"));
    }
    if let Some(expected) = &config.observability.metrics_token_hash {
        check_token(&headers, expected.expose())?;
    }
    let instances = state.engine().list().await?;
    let projects = projects_blocking(state.clone()).await?;
    let cache = state.metrics().current();
    let mut scrape = Scrape {
        version: state.version().to_owned(),
        projects: projects.len() as u64,
        crashes: state.metrics().crashes(),
        ..Scrape::default()
    };
    for instance in &instances {
        *scrape.bridges.entry(instance.status.clone()).or_default() += 1;
        if let Some(m) = cache.get(&instance.instance_id) {
            *scrape
                .cpu_percent
                .entry(instance.project.clone())
                .or_default() += m.cpu_percent;
            *scrape
                .rss_bytes
                .entry(instance.project.clone())
                .or_default() += m.rss_bytes;
        }
    }
    for value in scrape.cpu_percent.values_mut() {
        *value = (*value * 10.0).round() / 10.0;
    }
    if config.usage.mode == UsageMode::Cost {
        scrape.cost_usd = Some(
            state
                .usage()
                .published()
                .into_iter()
                .map(|(project, usage)| (project, usage.cost_usd))
                .collect::<BTreeMap<_, _>>(),
        );
    }
    let mut response = render(&scrape).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(TEXT_FORMAT));
    Ok(response)
}

/// `Authorization: Bearer <token>` (scheme case-insensitive, a non-empty credential without
/// spaces) whose SHA-256 in lowercase hex equals `expected`, compared in constant time.
fn check_token(headers: &HeaderMap, expected: &str) -> Result<(), ApiError> {
    let unauthorized = |detail: &str| ApiError::new(StatusCode::UNAUTHORIZED, detail);
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Err(unauthorized(
            "authentication required: send Authorization: Bearer <metrics token>",
        ));
    };
    let value = value.to_str().unwrap_or_default();
    let token = match value.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token,
        _ => {
            return Err(unauthorized(
                "the Authorization header must be Bearer <token>",
            ));
        }
    };
    if token.is_empty() || token.contains(' ') {
        return Err(unauthorized(
            "the Authorization header must be Bearer <token>",
        ));
    }
    let actual = format!("{:x}", Sha256::digest(token.as_bytes()));
    if !constant_time_eq(actual.as_bytes(), expected.as_bytes()) {
        return Err(unauthorized(
            "invalid metrics token; use the token whose hash is observability.metrics_token_hash",
        ));
    }
    Ok(())
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0_u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(cpu: f64, rss: u64, disk: Option<u64>) -> Metrics {
        Metrics {
            running: true,
            procs: 2,
            cpu_percent: cpu,
            cpu_normalized: false,
            rss_bytes: rss,
            disk_read_bps: disk,
            disk_write_bps: disk,
        }
    }

    #[test]
    fn project_sums() {
        assert_eq!(sum(&[]), ProjectMetrics::Idle { running: false });
        let (a, b) = (m(1.15, 10, Some(5)), m(2.0, 20, Some(7)));
        let ProjectMetrics::Running {
            procs,
            cpu_percent,
            rss_bytes,
            disk_read_bps,
            bridges,
            ..
        } = sum(&[&a, &b])
        else {
            panic!("running expected");
        };
        assert_eq!(
            (procs, rss_bytes, disk_read_bps, bridges),
            (4, 30, Some(12), 2)
        );
        assert!((cpu_percent - 3.2).abs() < 1e-9, "{cpu_percent}");
        // One bridge without disk counters makes the project's rate unknown.
        let c = m(0.0, 1, None);
        let ProjectMetrics::Running { disk_read_bps, .. } = sum(&[&a, &c]) else {
            panic!("running expected");
        };
        assert_eq!(disk_read_bps, None);
    }

    #[test]
    fn token_rules() {
        let hash = format!("{:x}", Sha256::digest(b"s3cret"));
        let with = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::AUTHORIZATION, HeaderValue::from_str(v).unwrap());
            h
        };
        assert!(check_token(&with("Bearer s3cret"), &hash).is_ok());
        assert!(check_token(&with("bearer s3cret"), &hash).is_ok());
        for bad in [
            "Bearer wrong",
            "Basic s3cret",
            "Bearer ",
            "Bearer s3 cret",
            "s3cret",
        ] {
            let err = check_token(&with(bad), &hash).unwrap_err();
            assert_eq!(
                err.into_response().status(),
                StatusCode::UNAUTHORIZED,
                "{bad}"
            );
        }
        let err = check_token(&HeaderMap::new(), &hash).unwrap_err();
        assert!(err.detail().contains("authentication required"));
    }
}
