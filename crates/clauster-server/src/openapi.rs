//! `/openapi.json` and `/docs` when `api.openapi_enabled` (issue 18 §5, http-api.md §3.3):
//! the OpenAPI 3.1 document of the JSON API, built with `utoipa` from the wire types'
//! schemas (clauster-wire's `openapi` feature), and a plain HTML page listing its paths — no
//! script, nothing loaded from elsewhere. Both are gated like any API route (`auth::gate`).

use std::fmt::Write as _;

use axum::Json;
use axum::response::{Html, IntoResponse, Response};
use clauster_wire as wire;
use utoipa::ToSchema;
use utoipa::openapi::path::{
    HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn, PathItem,
};
use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Schema, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{
    ComponentsBuilder, ContentBuilder, InfoBuilder, OpenApi, OpenApiBuilder, PathsBuilder, Ref,
    RefOr, Required, ResponseBuilder,
};

/// What a route answers with on success.
#[derive(Clone, Copy)]
enum Answer {
    /// One value of a wire type: the function registers its schema and returns its name.
    One(Typed),
    /// A JSON array of a wire type.
    List(Typed),
    /// A JSON object whose shape http-api.md gives.
    Object,
    /// Prometheus text.
    Text,
}

type Typed = fn(&mut Vec<(String, RefOr<Schema>)>) -> String;

/// Registers `T`'s schema and those it refers to; its component name.
fn typed<T: ToSchema>(schemas: &mut Vec<(String, RefOr<Schema>)>) -> String {
    T::schemas(schemas);
    schemas.push((T::name().into_owned(), T::schema()));
    T::name().into_owned()
}

/// One route of the document.
struct Route {
    method: HttpMethod,
    path: &'static str,
    status: &'static str,
    summary: &'static str,
    answer: Answer,
}

const fn route(
    method: HttpMethod,
    path: &'static str,
    status: &'static str,
    summary: &'static str,
    answer: Answer,
) -> Route {
    Route {
        method,
        path,
        status,
        summary,
        answer,
    }
}

/// The JSON API's routes (http-api.md §3–§10); pages, assets and WebSockets are not in it.
#[allow(clippy::too_many_lines)] // the table: one entry per route
fn routes() -> Vec<Route> {
    use Answer::{List, Object, One, Text};
    use HttpMethod::{Delete, Get, Post, Put};
    let project = List(typed::<wire::Project>);
    let instances = List(typed::<wire::Instance>);
    let instance = One(typed::<wire::Instance>);
    let spawn = One(typed::<wire::SpawnOutcome>);
    let mut table = vec![
        route(
            Get,
            "/healthz",
            "200",
            "Health and readiness",
            One(typed::<wire::Health>),
        ),
        route(
            Get,
            "/api/login-status",
            "200",
            "The claude login state",
            Object,
        ),
        route(
            Post,
            "/api/reauth",
            "200",
            "Step-up re-authentication",
            Object,
        ),
        route(Get, "/api/doctor", "200", "The doctor's checks", Object),
        route(
            Get,
            "/api/state",
            "200",
            "Everything the dashboard shows",
            Object,
        ),
        route(Get, "/api/projects", "200", "The projects", project),
        route(
            Post,
            "/api/projects",
            "201",
            "Create a project",
            One(typed::<wire::Project>),
        ),
        route(
            Get,
            "/api/projects/sortmeta",
            "200",
            "Sort keys per project",
            Object,
        ),
        route(
            Get,
            "/api/projects/preflight",
            "200",
            "Readiness checks of every project",
            Object,
        ),
        route(
            Get,
            "/api/projects/{name}/preflight",
            "200",
            "Readiness checks of a project",
            Object,
        ),
        route(
            Post,
            "/api/projects/{name}/trust",
            "200",
            "Trust a project's directory",
            Object,
        ),
        route(
            Post,
            "/api/projects/trust-all",
            "200",
            "Trust every project",
            Object,
        ),
        route(
            Get,
            "/api/projects/{name}/usage",
            "200",
            "Usage of a project",
            Object,
        ),
        route(
            Get,
            "/api/projects/{name}/usage/daily",
            "200",
            "Daily usage of a project",
            Object,
        ),
        route(
            Get,
            "/api/projects/{name}/claude-md",
            "200",
            "A project's CLAUDE.md",
            Object,
        ),
        route(
            Put,
            "/api/projects/{name}/claude-md",
            "200",
            "Write a project's CLAUDE.md",
            Object,
        ),
        route(
            Get,
            "/api/projects/{name}/transcripts",
            "200",
            "A project's conversations",
            Object,
        ),
        route(
            Get,
            "/api/projects/{name}/metrics",
            "200",
            "A project's bridge metrics",
            Object,
        ),
        route(
            Post,
            "/api/projects/{name}/adopt",
            "201",
            "Adopt an unmanaged bridge",
            instance,
        ),
        route(
            Post,
            "/api/projects/clone",
            "202",
            "Clone a repository",
            Object,
        ),
        route(
            Get,
            "/api/projects/clone/active",
            "200",
            "Clones in progress",
            Object,
        ),
        route(
            Post,
            "/api/projects/clone/{job_id}/cancel",
            "200",
            "Cancel a clone",
            Object,
        ),
        route(Get, "/api/instances", "200", "Every instance", instances),
        route(Post, "/api/instances", "201", "Start a bridge", spawn),
        route(Get, "/api/instances/{id}", "200", "One instance", instance),
        route(
            Delete,
            "/api/instances/{id}",
            "200",
            "Stop a bridge",
            instance,
        ),
        route(
            Post,
            "/api/instances/{id}/resume",
            "200",
            "Resume a bridge",
            spawn,
        ),
        route(
            Post,
            "/api/instances/{id}/forget",
            "200",
            "Forget a stopped instance",
            One(typed::<wire::Forgotten>),
        ),
        route(
            Get,
            "/api/sessions",
            "200",
            "External sessions by project",
            Object,
        ),
        route(
            Get,
            "/api/sessions/tracked",
            "200",
            "Sessions of managed bridges",
            Object,
        ),
        route(
            Get,
            "/api/sessions/adoptable",
            "200",
            "Projects with an adoptable bridge",
            Object,
        ),
        route(Get, "/api/agents", "200", "Background agents", Object),
        route(
            Post,
            "/api/agents",
            "201",
            "Dispatch a background agent",
            Object,
        ),
        route(
            Delete,
            "/api/agents/{job_id}",
            "200",
            "Stop a background agent",
            Object,
        ),
        route(
            Post,
            "/api/agents/{job_id}/resume",
            "201",
            "Resume a background agent",
            Object,
        ),
        route(Get, "/api/metrics", "200", "Bridge metrics", Object),
        route(
            Get,
            "/api/environments/ghosts",
            "200",
            "Ghost environments",
            Object,
        ),
        route(
            Post,
            "/api/environments/reap",
            "200",
            "Reap ghost environments",
            Object,
        ),
        route(Get, "/metrics", "200", "Prometheus metrics", Text),
    ];
    // The routes of the later features, all answering JSON objects (http-api.md §3–§5).
    let objects = [
        (Get, "/api/readiness", "200", "The host's readiness checks"),
        (
            Post,
            "/api/readiness/recheck",
            "200",
            "Run the readiness checks again",
        ),
        (
            Post,
            "/api/login-shepherd/start",
            "200",
            "Start signing claude in",
        ),
        (
            Post,
            "/api/login-shepherd/code",
            "200",
            "Type the sign-in code",
        ),
        (
            Post,
            "/api/login-shepherd/status",
            "200",
            "The sign-in's outcome",
        ),
        (
            Get,
            "/api/login-shepherd/state",
            "200",
            "Whether a sign-in is open",
        ),
        (
            Post,
            "/api/login-shepherd/cancel",
            "200",
            "Cancel the sign-in",
        ),
        (Post, "/api/login-shepherd/logout", "200", "Sign claude out"),
        (Get, "/api/config", "200", "The editable settings"),
        (Put, "/api/config", "200", "Save settings"),
        (Get, "/api/config/advanced", "200", "The advanced settings"),
        (Put, "/api/config/advanced", "200", "Save advanced settings"),
        (
            Get,
            "/api/config-write/status",
            "200",
            "Claude Code's configuration surfaces",
        ),
        (
            Get,
            "/api/projects/{name}/policy",
            "200",
            "A project's restart policy",
        ),
        (
            Put,
            "/api/projects/{name}/policy",
            "200",
            "Change a project's restart policy",
        ),
        (
            Post,
            "/api/kept/start",
            "200",
            "Bring up every kept project",
        ),
        (
            Get,
            "/api/notifications/deliveries",
            "200",
            "The last 100 deliveries",
        ),
        (
            Post,
            "/api/notifications/test",
            "202",
            "Send a test notification",
        ),
        (
            Get,
            "/api/projects/{name}/notifications",
            "200",
            "A project's mute",
        ),
        (
            Put,
            "/api/projects/{name}/notifications",
            "200",
            "Mute or unmute a project",
        ),
        (
            Get,
            "/api/push/vapid-public-key",
            "200",
            "The Web Push public key",
        ),
        (Get, "/api/push/subscriptions", "200", "The push devices"),
        (
            Post,
            "/api/push/subscriptions",
            "201",
            "Subscribe this device",
        ),
        (
            Delete,
            "/api/push/subscriptions/{id}",
            "200",
            "Revoke a device",
        ),
    ];
    table.extend(
        objects
            .into_iter()
            .map(|(method, path, status, summary)| route(method, path, status, summary, Object)),
    );
    // The 13 `/api/v1` aliases (http-api.md §10).
    let v1 = [
        (Get, "/api/v1/projects", "200", project),
        (Get, "/api/v1/instances", "200", instances),
        (Post, "/api/v1/instances", "201", spawn),
        (Get, "/api/v1/instances/{id}", "200", instance),
        (Delete, "/api/v1/instances/{id}", "200", instance),
        (Post, "/api/v1/instances/{id}/resume", "200", spawn),
        (Get, "/api/v1/sessions", "200", Object),
        (Get, "/api/v1/sessions/tracked", "200", Object),
        (Get, "/api/v1/sessions/adoptable", "200", Object),
        (Get, "/api/v1/agents", "200", Object),
        (Post, "/api/v1/agents", "201", Object),
        (Delete, "/api/v1/agents/{job_id}", "200", Object),
        (Post, "/api/v1/agents/{job_id}/resume", "201", Object),
    ];
    table.extend(v1.into_iter().map(|(method, path, status, answer)| {
        route(method, path, status, "The versioned alias", answer)
    }));
    table
}

/// The document, built once per server.
pub fn document(version: &str) -> OpenApi {
    let mut schemas = Vec::new();
    let error = typed::<wire::ErrorBody>(&mut schemas);
    let mut paths = PathsBuilder::new();
    for route in routes() {
        let content = match route.answer {
            Answer::One(typed) => Some(RefOr::from(Ref::from_schema_name(typed(&mut schemas)))),
            Answer::List(typed) => Some(RefOr::T(Schema::Array(
                ArrayBuilder::new()
                    .items(Ref::from_schema_name(typed(&mut schemas)))
                    .build(),
            ))),
            Answer::Object => Some(RefOr::T(Schema::Object(
                ObjectBuilder::new().schema_type(Type::Object).build(),
            ))),
            Answer::Text => None,
        };
        let success = match content {
            Some(schema) => ResponseBuilder::new().description(route.summary).content(
                "application/json",
                ContentBuilder::new().schema(Some(schema)).build(),
            ),
            None => ResponseBuilder::new()
                .description(route.summary)
                .content("text/plain", ContentBuilder::new().build()),
        };
        let mut operation = OperationBuilder::new()
            .summary(Some(route.summary))
            .response(route.status, success.build())
            .response(
                "default",
                ResponseBuilder::new()
                    .description("An error: `{\"detail\"}` (http-api.md §1)")
                    .content(
                        "application/json",
                        ContentBuilder::new()
                            .schema(Some(Ref::from_schema_name(error.clone())))
                            .build(),
                    )
                    .build(),
            );
        for name in route
            .path
            .split('/')
            .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
        {
            operation = operation.parameter(
                ParameterBuilder::new()
                    .name(name)
                    .parameter_in(ParameterIn::Path)
                    .required(Required::True)
                    .schema(Some(ObjectBuilder::new().schema_type(Type::String))),
            );
        }
        paths = paths.path(route.path, PathItem::new(route.method, operation));
    }
    let components = ComponentsBuilder::new()
        .schemas_from_iter(schemas)
        .security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        )
        .build();
    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("Clauster")
                .version(version)
                .build(),
        )
        .paths(paths.build())
        .components(Some(components))
        .build()
}

/// `GET /openapi.json`.
pub async fn json() -> Response {
    Json(document(env!("CARGO_PKG_VERSION"))).into_response()
}

/// `GET /docs`: the paths of the document as a plain page, with a link to the JSON.
pub async fn page(axum::extract::State(root): axum::extract::State<String>) -> Response {
    Html(render(&document(env!("CARGO_PKG_VERSION")), &root)).into_response()
}

fn render(document: &OpenApi, root: &str) -> String {
    let mut rows = String::new();
    for (path, item) in &document.paths.paths {
        let operations = [
            ("GET", &item.get),
            ("POST", &item.post),
            ("PUT", &item.put),
            ("DELETE", &item.delete),
        ];
        for (method, operation) in operations {
            if let Some(operation) = operation {
                let summary = operation.summary.as_deref().unwrap_or("");
                let _ = write!(
                    rows,
                    "<tr><td>{method}</td><td><code>{}</code></td><td>{}</td></tr>",
                    escape(path),
                    escape(summary)
                );
            }
        }
    }
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>API · Clauster</title></head><body><main><h1>Clauster API</h1>\
         <p>The OpenAPI document: <a href=\"{root}/openapi.json\">{root}/openapi.json</a>. \
         Scripts authenticate with <code>Authorization: Bearer &lt;token&gt;</code>.</p>\
         <table><thead><tr><th>Method</th><th>Path</th><th>What</th></tr></thead>\
         <tbody>{rows}</tbody></table></main></body></html>"
    )
}

use crate::http::escape_html as escape;

#[cfg(test)]
mod tests {
    use super::{document, render};

    #[test]
    fn the_document_names_every_route_and_its_wire_types() {
        let document = document("9.9.9");
        let json = serde_json::to_value(&document).unwrap();
        let paths = json["paths"].as_object().unwrap();
        for path in [
            "/api/v1/projects",
            "/api/v1/agents",
            "/api/instances/{id}/resume",
            "/api/config",
            "/api/projects/{name}/policy",
            "/api/push/subscriptions/{id}",
            "/api/login-shepherd/start",
        ] {
            assert!(paths.contains_key(path), "{path}");
        }
        assert_eq!(paths.len(), 63, "53 paths and 10 `/api/v1` aliases");
        let schemas = json["components"]["schemas"].as_object().unwrap();
        let mut names: Vec<&str> = schemas.keys().map(String::as_str).collect();
        names.sort_unstable();
        insta::assert_snapshot!(names.join(" "));
        assert_eq!(
            json["paths"]["/api/instances/{id}"]["get"]["responses"]["200"]["content"]["application/json"]
                ["schema"]["$ref"],
            "#/components/schemas/Instance"
        );
        let resume = &json["paths"]["/api/instances/{id}/resume"]["post"];
        assert_eq!(resume["parameters"][0]["name"], "id");
        assert!(resume["responses"]["200"].is_object(), "resume answers 200");
        assert_eq!(json["info"]["version"], "9.9.9");
    }

    #[test]
    fn the_docs_page_lists_the_paths_and_loads_nothing() {
        let html = render(&document("1.0.0"), "/dash");
        assert!(html.contains("<a href=\"/dash/openapi.json\">"));
        assert!(html.contains("<td>GET</td><td><code>/api/v1/projects</code></td>"));
        assert!(!html.contains("<script"));
        assert!(!html.contains("<link"));
    }
}
