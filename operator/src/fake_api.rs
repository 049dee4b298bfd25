//! A small in-memory Kubernetes API server behind `tower_test::mock::pair`, for the
//! reconcile scenarios: it stores objects, answers get/list (with label selectors),
//! create, replace (with resourceVersion conflicts), server-side apply, JSON and merge
//! patches, delete (finalizers respected) and discovery, logs every call, and fails a
//! chosen call on demand.

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::{Arc, Mutex},
};

use http::{Method, Request, Response, StatusCode};
use kube::{Client, client::Body};
use serde_json::{Value, json};

type Key = (String, String, Option<String>, String);

/// One request the client made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    pub method: Method,
    pub path: String,
    pub query: String,
}

impl Call {
    pub fn is_write(&self) -> bool {
        self.method != Method::GET
    }
}

impl std::fmt::Display for Call {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.method, self.path)
    }
}

#[derive(Default)]
struct State {
    objects: BTreeMap<Key, Value>,
    log: Vec<Call>,
    failures: Vec<(Method, String, u16)>,
    groups: BTreeSet<String>,
    version: u64,
}

#[derive(Clone, Default)]
pub struct FakeApi {
    state: Arc<Mutex<State>>,
}

fn prefix_of(api_version: &str) -> String {
    match api_version.contains('/') {
        true => format!("/apis/{api_version}"),
        false => format!("/api/{api_version}"),
    }
}

fn status(code: u16, reason: &str, message: &str) -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
           "message": message, "reason": reason, "code": code})
}

fn matches_selector(object: &Value, selector: &str) -> bool {
    selector.split(',').filter(|s| !s.is_empty()).all(|term| {
        let (k, v) = term.split_once('=').unwrap_or((term, ""));
        object["metadata"]["labels"][k].as_str() == Some(v)
    })
}

impl FakeApi {
    /// A client talking to a fresh fake API server.
    pub fn start() -> (Client, FakeApi) {
        let (service, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
        let api = FakeApi::default();
        let server = api.clone();
        tokio::spawn(async move {
            while let Some((request, respond)) = handle.next_request().await {
                let (code, body) = server.handle(request).await;
                let response = Response::builder()
                    .status(code)
                    .header("content-type", "application/json")
                    .body(Body::from(serde_json::to_vec(&body).unwrap()))
                    .unwrap();
                respond.send_response(response);
            }
        });
        (Client::new(service, "default"), api)
    }

    /// Serves a group/version in discovery (e.g. CloudNativePG's `postgresql.cnpg.io/v1`).
    pub fn serve_group(&self, group_version: &str) {
        self.state
            .lock()
            .unwrap()
            .groups
            .insert(group_version.into());
    }

    /// Stores an object as if it had been created.
    pub fn insert(&self, plural: &str, mut object: Value) {
        let mut s = self.state.lock().unwrap();
        s.version += 1;
        let prefix = prefix_of(object["apiVersion"].as_str().unwrap());
        let ns = object["metadata"]["namespace"].as_str().map(str::to_owned);
        let name = object["metadata"]["name"].as_str().unwrap().to_owned();
        object["metadata"]["resourceVersion"] = json!(s.version.to_string());
        s.objects.insert((prefix, plural.into(), ns, name), object);
    }

    pub fn get(
        &self,
        api_version: &str,
        plural: &str,
        ns: Option<&str>,
        name: &str,
    ) -> Option<Value> {
        let key = (
            prefix_of(api_version),
            plural.into(),
            ns.map(str::to_owned),
            name.into(),
        );
        self.state.lock().unwrap().objects.get(&key).cloned()
    }

    /// Changes an object's status as a controller of the cluster would.
    pub fn set_status(
        &self,
        api_version: &str,
        plural: &str,
        ns: Option<&str>,
        name: &str,
        status: Value,
    ) {
        let key = (
            prefix_of(api_version),
            plural.into(),
            ns.map(str::to_owned),
            name.into(),
        );
        let mut s = self.state.lock().unwrap();
        s.version += 1;
        let version = s.version;
        let object = s
            .objects
            .get_mut(&key)
            .expect("object to set the status of");
        object["status"] = status;
        object["metadata"]["resourceVersion"] = json!(version.to_string());
    }

    /// Every object of a resource, e.g. `("apps/v1", "deployments")`.
    pub fn list(&self, api_version: &str, plural: &str) -> Vec<Value> {
        let prefix = prefix_of(api_version);
        self.state
            .lock()
            .unwrap()
            .objects
            .iter()
            .filter(|((p, pl, _, _), _)| *p == prefix && pl == plural)
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// The reasons of the Events recorded, in order.
    pub fn event_reasons(&self) -> Vec<String> {
        let mut events = self.list("events.k8s.io/v1", "events");
        events.sort_by_key(|e| e["eventTime"].as_str().unwrap_or_default().to_owned());
        events
            .iter()
            .map(|e| e["reason"].as_str().unwrap_or_default().to_owned())
            .collect()
    }

    pub fn calls(&self) -> Vec<Call> {
        self.state.lock().unwrap().log.clone()
    }

    pub fn writes(&self) -> Vec<Call> {
        self.calls().into_iter().filter(Call::is_write).collect()
    }

    pub fn clear_calls(&self) {
        self.state.lock().unwrap().log.clear();
    }

    /// The next `method` call whose path contains `path` fails with `code`.
    pub fn fail_once(&self, method: Method, path: &str, code: u16) {
        self.state
            .lock()
            .unwrap()
            .failures
            .push((method, path.into(), code));
    }

    async fn handle(&self, request: Request<Body>) -> (StatusCode, Value) {
        let (parts, body) = request.into_parts();
        let bytes = body.collect_bytes().await.unwrap();
        let path = parts.uri.path().to_owned();
        let query = parts.uri.query().unwrap_or_default().to_owned();
        let content_type = parts
            .headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let mut s = self.state.lock().unwrap();
        s.log.push(Call {
            method: parts.method.clone(),
            path: path.clone(),
            query: query.clone(),
        });
        if let Some(i) = s
            .failures
            .iter()
            .position(|(m, p, _)| *m == parts.method && path.contains(p.as_str()))
        {
            let (_, _, code) = s.failures.remove(i);
            return (
                StatusCode::from_u16(code).unwrap(),
                status(code, "InternalError", "injected failure"),
            );
        }
        let body: Value = match bytes.is_empty() {
            true => Value::Null,
            false => serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        };
        let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let (prefix, rest) = match segments.first() {
            Some(&"api") => (format!("/api/{}", segments[1]), &segments[2..]),
            Some(&"apis") if segments.len() >= 3 => (
                format!("/apis/{}/{}", segments[1], segments[2]),
                &segments[3..],
            ),
            _ => {
                return (
                    StatusCode::NOT_FOUND,
                    status(404, "NotFound", "no such path"),
                );
            }
        };
        if rest.is_empty() {
            return discovery(&s, &prefix);
        }
        let (ns, plural, name, sub) = if rest[0] == "namespaces" && rest.len() >= 3 {
            (
                Some(rest[1].to_owned()),
                rest[2],
                rest.get(3).copied(),
                rest.get(4).copied(),
            )
        } else {
            (None, rest[0], rest.get(1).copied(), rest.get(2).copied())
        };
        let params: BTreeMap<String, String> = url::form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect();
        let Some(name) = name else {
            return match parts.method {
                Method::GET => list(
                    &s,
                    &prefix,
                    plural,
                    ns.as_deref(),
                    params.get("labelSelector"),
                ),
                Method::POST => create(&mut s, (prefix, plural.into(), ns, String::new()), body),
                _ => (
                    StatusCode::METHOD_NOT_ALLOWED,
                    status(405, "MethodNotAllowed", ""),
                ),
            };
        };
        let key = (prefix, plural.to_owned(), ns, name.to_owned());
        match parts.method {
            Method::GET => match s.objects.get(&key) {
                Some(o) => (StatusCode::OK, o.clone()),
                None => (StatusCode::NOT_FOUND, status(404, "NotFound", "not found")),
            },
            Method::PUT => replace(&mut s, key, body),
            Method::PATCH => patch(&mut s, key, body, &content_type, sub == Some("status")),
            Method::DELETE => delete(&mut s, key),
            _ => (
                StatusCode::METHOD_NOT_ALLOWED,
                status(405, "MethodNotAllowed", ""),
            ),
        }
    }
}

fn discovery(s: &State, prefix: &str) -> (StatusCode, Value) {
    let gv = prefix.trim_start_matches("/apis/");
    if !s.groups.contains(gv) {
        return (
            StatusCode::NOT_FOUND,
            status(404, "NotFound", "group not served"),
        );
    }
    (
        StatusCode::OK,
        json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv,
               "resources": [{"name": "clusters", "singularName": "cluster", "namespaced": true,
                              "kind": "Cluster", "verbs": ["get", "list", "watch", "patch", "delete"]}]}),
    )
}

fn list(
    s: &State,
    prefix: &str,
    plural: &str,
    ns: Option<&str>,
    selector: Option<&String>,
) -> (StatusCode, Value) {
    let items: Vec<Value> = s
        .objects
        .iter()
        .filter(|((p, pl, n, _), o)| {
            p == prefix
                && pl == plural
                && (ns.is_none() || n.as_deref() == ns)
                && selector.is_none_or(|sel| matches_selector(o, sel))
        })
        .map(|(_, o)| o.clone())
        .collect();
    (
        StatusCode::OK,
        json!({"apiVersion": "v1", "kind": "List",
               "metadata": {"resourceVersion": s.version.to_string()}, "items": items}),
    )
}

fn stamp(s: &mut State, object: &mut Value, existing: Option<&Value>) {
    s.version += 1;
    let uid = existing
        .and_then(|e| e["metadata"]["uid"].as_str().map(str::to_owned))
        .unwrap_or_else(|| format!("uid-{}", s.version));
    object["metadata"]["uid"] = json!(uid);
    object["metadata"]["resourceVersion"] = json!(s.version.to_string());
    if let Some(created) = existing.map(|e| e["metadata"]["creationTimestamp"].clone()) {
        object["metadata"]["creationTimestamp"] = created;
    }
}

fn create(s: &mut State, mut key: Key, mut body: Value) -> (StatusCode, Value) {
    key.3 = body["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    if s.objects.contains_key(&key) {
        return (
            StatusCode::CONFLICT,
            status(409, "AlreadyExists", "already exists"),
        );
    }
    stamp(s, &mut body, None);
    s.objects.insert(key, body.clone());
    (StatusCode::CREATED, body)
}

fn replace(s: &mut State, key: Key, mut body: Value) -> (StatusCode, Value) {
    let Some(existing) = s.objects.get(&key).cloned() else {
        return (StatusCode::NOT_FOUND, status(404, "NotFound", "not found"));
    };
    if body["metadata"]["resourceVersion"] != existing["metadata"]["resourceVersion"] {
        return (
            StatusCode::CONFLICT,
            status(409, "Conflict", "the object has been modified"),
        );
    }
    stamp(s, &mut body, Some(&existing));
    s.objects.insert(key, body.clone());
    (StatusCode::OK, body)
}

fn patch(
    s: &mut State,
    key: Key,
    body: Value,
    content_type: &str,
    status_only: bool,
) -> (StatusCode, Value) {
    let existing = s.objects.get(&key).cloned();
    let mut next = match (content_type, existing.clone()) {
        (t, Some(mut current)) if t.starts_with("application/apply-patch") && status_only => {
            current["status"] = body["status"].clone();
            current
        }
        (t, current) if t.starts_with("application/apply-patch") => {
            let mut next = body;
            if let Some(current) = &current {
                for field in ["status"] {
                    if current.get(field).is_some() {
                        next[field] = current[field].clone();
                    }
                }
                for field in ["finalizers", "deletionTimestamp"] {
                    if current["metadata"].get(field).is_some() {
                        next["metadata"][field] = current["metadata"][field].clone();
                    }
                }
            }
            next
        }
        ("application/json-patch+json", Some(mut current)) => {
            let ops: json_patch::Patch = serde_json::from_value(body).unwrap();
            // Like the API server, a `test` for null passes on a field that is absent.
            if current["metadata"].get("finalizers").is_none() {
                current["metadata"]["finalizers"] = Value::Null;
            }
            if json_patch::patch(&mut current, &ops).is_err() {
                return (
                    StatusCode::UNPROCESSABLE_ENTITY,
                    status(422, "Invalid", "patch test failed"),
                );
            }
            current
        }
        ("application/merge-patch+json", Some(mut current)) => {
            json_patch::merge(&mut current, &body);
            current
        }
        _ => return (StatusCode::NOT_FOUND, status(404, "NotFound", "not found")),
    };
    stamp(s, &mut next, existing.as_ref());
    let finalized = next["metadata"]["deletionTimestamp"].is_string()
        && next["metadata"]["finalizers"]
            .as_array()
            .is_none_or(Vec::is_empty);
    if finalized {
        s.objects.remove(&key);
    } else {
        s.objects.insert(key, next.clone());
    }
    (StatusCode::OK, next)
}

fn delete(s: &mut State, key: Key) -> (StatusCode, Value) {
    let Some(mut object) = s.objects.get(&key).cloned() else {
        return (StatusCode::NOT_FOUND, status(404, "NotFound", "not found"));
    };
    if object["metadata"]["finalizers"]
        .as_array()
        .is_some_and(|f| !f.is_empty())
    {
        let existing = object.clone();
        object["metadata"]["deletionTimestamp"] =
            json!(k8s_openapi::jiff::Timestamp::now().to_string());
        stamp(s, &mut object, Some(&existing));
        s.objects.insert(key, object.clone());
        return (StatusCode::OK, object);
    }
    s.objects.remove(&key);
    (StatusCode::OK, object)
}
