//! The OCI distribution API over the host's `registry` interface. The host
//! adds authentication and resolves paths against the registry's URL; every
//! HTTP answer comes back as a response, and an `Err` means no answer.

use crate::manifest::{self, Descriptor, Document, Kind, Manifest};
use crate::status::{envelope, status_error};
use ferry_sdk::errors::{context, error, internal, invalid, not_found, rejected};
use ferry_sdk::registry::{Request, Response};
use ferry_sdk::{Algorithm, Digest};
use ferry_sdk::{ErrorKind, Host, Role, WitError};
use std::collections::HashSet;

/// The value of header `name` (case-insensitive).
pub fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.trim())
}

/// The path of the `rel="next"` link of a paginated listing, if any.
/// Absolute URLs are reduced to their path and query.
pub fn next_link(headers: &[(String, String)]) -> Option<String> {
    for (k, v) in headers {
        if !k.eq_ignore_ascii_case("link") {
            continue;
        }
        for link in v.split(',') {
            let mut parts = link.split(';');
            let target = parts.next()?.trim();
            let is_next = parts.any(|p| {
                let p = p.trim().replace(' ', "");
                p == "rel=\"next\"" || p == "rel=next"
            });
            if !is_next {
                continue;
            }
            let url = target.strip_prefix('<')?.strip_suffix('>')?;
            let path = match url.find("://") {
                Some(i) => {
                    let rest = &url[i + 3..];
                    rest.find('/').map_or("/", |j| &rest[j..])
                }
                None => url,
            };
            if path.is_empty() {
                return None;
            }
            return Some(if path.starts_with('/') {
                path.to_owned()
            } else {
                format!("/{path}")
            });
        }
    }
    None
}

/// Checks a repository name against the distribution grammar (lowercase
/// alphanumeric components separated by `.`, `_`, `__`, `-`), so it is safe in a path.
pub fn check_repository(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 255
        && name.split('/').all(|c| {
            !c.is_empty()
                && c.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
                && c.as_bytes()[0].is_ascii_alphanumeric()
                && c.as_bytes()[c.len() - 1].is_ascii_alphanumeric()
        });
    if ok {
        Ok(())
    } else {
        Err(format!("{name:?} is not a valid repository name"))
    }
}

/// Checks a tag: `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
pub fn check_tag(tag: &str) -> Result<(), String> {
    let b = tag.as_bytes();
    let ok = !b.is_empty()
        && b.len() <= 128
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || b"_.-".contains(c));
    if ok {
        Ok(())
    } else {
        Err(format!("{tag:?} is not a valid tag"))
    }
}

/// Whether a reference is a digest rather than a tag.
pub fn is_digest(reference: &str) -> bool {
    reference.contains(':')
}

/// A manifest as the registry served it.
#[derive(Debug, Clone)]
pub struct Fetched {
    /// `sha256:<hex>` of the body, computed by the host.
    pub digest: String,
    /// The `Content-Type` it was served with.
    pub content_type: String,
    pub body: Vec<u8>,
}

impl Fetched {
    /// Parses it; a malformed manifest is an `invalid` error naming it.
    pub fn parse(&self, repository: &str, reference: &str) -> Result<Manifest, WitError> {
        Manifest::parse(&self.body, &self.content_type).map_err(|e| {
            invalid(format!(
                "manifest {repository}@{reference} ({}): {e}",
                self.digest
            ))
        })
    }
}

/// A manifest to `PUT`: see [`Registry::put_manifests`].
#[derive(Debug, Clone)]
pub struct ManifestPut<'a> {
    /// Its tag or digest.
    pub reference: &'a str,
    pub media_type: &'a str,
    pub body: Vec<u8>,
    /// The digest the registry must store it as, when known.
    pub expected_digest: Option<&'a str>,
}

/// What a `HEAD` of a manifest says.
#[derive(Debug, Clone)]
pub struct Head {
    /// From `Docker-Content-Digest` (or the body, when the registry omits it).
    pub digest: String,
    pub media_type: Option<String>,
}

/// Where referrers were found.
#[derive(Debug, Clone)]
pub struct Referrers {
    /// Whether the registry serves the referrers API (else the fallback tag was read).
    pub api: bool,
    pub descriptors: Vec<Descriptor>,
}

/// What a manifest `DELETE` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Deleted {
    Done,
    /// It was not there (any more).
    Absent,
    /// The registry does not delete by tag; what it said.
    Unsupported(String),
}

/// What [`Registry::put_blob`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlobPut {
    /// The repository had it already.
    Present,
    Uploaded,
}

/// The path and query of an upload `Location` (an absolute URL or a path),
/// which is all `send` takes.
pub fn location_path(location: &str) -> String {
    let path = match location.find("://") {
        Some(i) => {
            let rest = &location[i + 3..];
            rest.find(['/', '?']).map_or("/", |j| &rest[j..])
        }
        None => location,
    };
    if path.starts_with('/') {
        path.to_owned()
    } else {
        format!("/{path}")
    }
}

/// One of the policy's registries, reached through the run's host.
#[derive(Clone, Copy)]
pub struct Registry<'h> {
    pub role: Role,
    host: &'h dyn Host,
}

fn request(
    method: &str,
    path: String,
    headers: Vec<(String, String)>,
    body: Option<Vec<u8>>,
) -> Request {
    Request {
        method: method.to_owned(),
        path,
        headers,
        body,
    }
}

fn manifest_request(method: &str, repository: &str, reference: &str) -> Request {
    request(
        method,
        format!("/v2/{repository}/manifests/{reference}"),
        vec![("Accept".into(), manifest::ACCEPT.into())],
        None,
    )
}

/// A manifest `HEAD` the host must send to the registry, not answer from
/// what it knows of the target (its existence cache).
fn fresh_head(repository: &str, reference: &str) -> Request {
    let mut req = manifest_request("HEAD", repository, reference);
    req.headers
        .push(("Cache-Control".into(), "no-cache".into()));
    req
}

/// Per registry, per repository asked: its tags, or why not.
pub type Listings = Vec<Vec<Result<Vec<String>, WitError>>>;

fn catalog_path(page_size: u64) -> String {
    format!("/v2/_catalog?n={page_size}")
}

fn ping_request() -> Request {
    request("GET", "/v2/".into(), vec![], None)
}

impl<'h> Registry<'h> {
    pub fn source(host: &'h dyn Host) -> Self {
        Registry {
            role: Role::Source,
            host,
        }
    }

    pub fn target(host: &'h dyn Host) -> Self {
        Registry {
            role: Role::Target,
            host,
        }
    }

    pub fn name(&self) -> &'static str {
        self.role.name()
    }

    /// The host it is reached through (for logging along).
    pub fn host(&self) -> &'h dyn Host {
        self.host
    }

    /// Sends one request; a transport failure names the request.
    pub fn send(&self, req: Request) -> Result<Response, WitError> {
        let what = format!("{} registry: {} {}", self.name(), req.method, req.path);
        self.host.debug(&what);
        self.host
            .send(self.role, &req)
            .map_err(|e| context(e, what))
    }

    /// Sends many requests concurrently; answers in order.
    pub fn send_all(&self, reqs: Vec<Request>) -> Vec<Result<Response, WitError>> {
        Self::send_each(vec![(self, reqs)])
            .pop()
            .unwrap_or_default()
    }

    /// Several registries' requests, all sent at once; answers per batch, in order.
    pub fn send_each(
        batches: Vec<(&Registry<'_>, Vec<Request>)>,
    ) -> Vec<Vec<Result<Response, WitError>>> {
        // The registries of a run all speak through its one host.
        let Some(host) = batches
            .iter()
            .find(|(_, reqs)| !reqs.is_empty())
            .map(|(r, _)| r.host)
        else {
            return batches.iter().map(|_| Vec::new()).collect();
        };
        let flat: Vec<(Role, Request)> = batches
            .iter()
            .flat_map(|(r, reqs)| reqs.iter().map(|q| (r.role, q.clone())))
            .collect();
        let shown: Vec<String> = batches
            .iter()
            .filter(|(_, reqs)| !reqs.is_empty())
            .map(|(r, reqs)| format!("{} registry: {}", r.name(), reqs.len()))
            .collect();
        host.debug(&format!("requests at once: {}", shown.join(", ")));
        let mut answers = host.send_each(&flat).into_iter();
        batches
            .iter()
            .map(|(r, reqs)| {
                reqs.iter()
                    .map(|req| {
                        let answer = answers.next().unwrap_or_else(|| {
                            Err(internal("send-each answered too few requests"))
                        });
                        answer.map_err(|e| {
                            context(
                                e,
                                format!("{} registry: {} {}", r.name(), req.method, req.path),
                            )
                        })
                    })
                    .collect()
            })
            .collect()
    }

    fn unexpected(&self, method: &str, path: &str, resp: &Response) -> WitError {
        status_error(self.role, method, path, resp.status, &resp.body)
    }

    /// `GET /v2/`: the registry answers and accepts the credentials.
    pub fn ping(&self) -> Result<(), WitError> {
        let resp = self.send(ping_request());
        self.ping_answer(resp)
    }

    /// Pings the source and, in the same round trip, asks it for the first
    /// page of its catalog. The outer error is the ping's; the inner one is
    /// the listing's.
    pub fn ping_and_catalog(
        &self,
        page_size: u64,
    ) -> Result<Result<Vec<String>, WitError>, WitError> {
        let first = catalog_path(page_size);
        let mut answers = self
            .send_all(vec![
                ping_request(),
                request("GET", first.clone(), vec![], None),
            ])
            .into_iter();
        let missing = || Err(invalid("the host returned fewer answers than requests"));
        self.ping_answer(answers.next().unwrap_or_else(missing))?;
        Ok(answers
            .next()
            .unwrap_or_else(missing)
            .and_then(|page| self.list_from(first, Some(page), "repositories")))
    }

    fn ping_answer(&self, resp: Result<Response, WitError>) -> Result<(), WitError> {
        let resp = resp.map_err(|e| {
            context(
                e,
                format!(
                    "cannot reach the {} registry (check its URL and that it is up)",
                    self.name()
                ),
            )
        })?;
        match resp.status {
            200 => Ok(()),
            401 => Err(error(
                ErrorKind::Unauthorized,
                format!(
                    "{} registry: GET /v2/ answered 401 after authentication: the credentials are wrong or missing; check the credentials of the {} registry",
                    self.name(),
                    self.name()
                ),
                false,
            )),
            _ => Err(self.unexpected("GET", "/v2/", &resp)),
        }
    }

    /// Checks a fetched manifest against the digest asked for (when the
    /// reference is one) and against `Docker-Content-Digest`.
    fn verify(&self, repository: &str, reference: &str, resp: &Response) -> Result<(), WitError> {
        let name = self.name();
        // The host hashes bodies with sha256: other digests are not compared.
        let sha256 = |d: &str| Digest::parse(d).is_ok_and(|d| d.algorithm() == Algorithm::Sha256);
        if sha256(reference) && resp.digest != reference {
            return Err(rejected(format!(
                "{name} registry served {repository}@{reference} with a body whose digest is {}",
                resp.digest
            )));
        }
        if let Some(dcd) = header(&resp.headers, "docker-content-digest") {
            let mismatch = if sha256(dcd) {
                dcd != resp.digest
            } else {
                is_digest(reference) && dcd != reference
            };
            if mismatch {
                return Err(rejected(format!(
                    "{name} registry served {repository}:{reference} as {dcd} (Docker-Content-Digest) but its body's digest is {}",
                    resp.digest
                )));
            }
        }
        Ok(())
    }

    /// `GET` a manifest by tag or digest; `None` when the registry says 404.
    pub fn get_manifest(
        &self,
        repository: &str,
        reference: &str,
    ) -> Result<Option<Fetched>, WitError> {
        let resp = self.send(manifest_request("GET", repository, reference));
        self.get_answer(repository, reference, resp)
    }

    /// `GET` many manifests of one repository at once; answers in order.
    pub fn get_manifests(
        &self,
        repository: &str,
        references: &[&str],
    ) -> Vec<Result<Option<Fetched>, WitError>> {
        let reqs = references
            .iter()
            .map(|r| manifest_request("GET", repository, r))
            .collect();
        self.send_all(reqs)
            .into_iter()
            .zip(references)
            .map(|(resp, r)| self.get_answer(repository, r, resp))
            .collect()
    }

    fn get_answer(
        &self,
        repository: &str,
        reference: &str,
        resp: Result<Response, WitError>,
    ) -> Result<Option<Fetched>, WitError> {
        let resp = resp?;
        let path = format!("/v2/{repository}/manifests/{reference}");
        match resp.status {
            200 => {
                self.verify(repository, reference, &resp)?;
                let content_type = header(&resp.headers, "content-type")
                    .unwrap_or("")
                    .to_owned();
                Ok(Some(Fetched {
                    digest: resp.digest,
                    content_type,
                    body: resp.body,
                }))
            }
            404 => Ok(None),
            _ => Err(self.unexpected("GET", &path, &resp)),
        }
    }

    /// `GET` a manifest that must exist.
    pub fn require_manifest(&self, repository: &str, reference: &str) -> Result<Fetched, WitError> {
        self.get_manifest(repository, reference)?
            .ok_or_else(|| self.missing(repository, reference))
    }

    /// The error for a manifest that is not there.
    pub fn missing(&self, repository: &str, reference: &str) -> WitError {
        not_found(format!(
            "{} registry: manifest {repository}{}{reference} not found",
            self.name(),
            if is_digest(reference) { "@" } else { ":" }
        ))
    }

    fn head_answer(
        &self,
        repository: &str,
        reference: &str,
        resp: Result<Response, WitError>,
    ) -> Result<Option<Head>, WitError> {
        let resp = resp?;
        match resp.status {
            200 => {
                let media_type = header(&resp.headers, "content-type").map(str::to_owned);
                match header(&resp.headers, "docker-content-digest") {
                    Some(d) => Ok(Some(Head {
                        digest: d.to_owned(),
                        media_type,
                    })),
                    // Without the header, the body tells.
                    None => Ok(self.get_manifest(repository, reference)?.map(|f| Head {
                        digest: f.digest,
                        media_type,
                    })),
                }
            }
            404 => Ok(None),
            _ => Err(self.unexpected(
                "HEAD",
                &format!("/v2/{repository}/manifests/{reference}"),
                &resp,
            )),
        }
    }

    /// `HEAD` a manifest, answered by the registry itself, not the host's
    /// existence cache.
    pub fn head_manifest_fresh(
        &self,
        repository: &str,
        reference: &str,
    ) -> Result<Option<Head>, WitError> {
        let resp = self.send(fresh_head(repository, reference));
        self.head_answer(repository, reference, resp)
    }

    /// `HEAD` many manifests of one repository at once.
    pub fn head_manifests(
        &self,
        repository: &str,
        references: &[&str],
    ) -> Vec<Result<Option<Head>, WitError>> {
        let reqs = references
            .iter()
            .map(|r| manifest_request("HEAD", repository, r))
            .collect();
        self.send_all(reqs)
            .into_iter()
            .zip(references)
            .map(|(resp, r)| self.head_answer(repository, r, resp))
            .collect()
    }

    /// `HEAD` many manifests, each `(repository, reference)`, at once. With
    /// `fresh`, the registry itself answers, not the host's existence cache.
    pub fn head_many(
        &self,
        refs: &[(&str, &str)],
        fresh: bool,
    ) -> Vec<Result<Option<Head>, WitError>> {
        Self::heads_everywhere(&[(self, refs)], fresh)
            .pop()
            .unwrap_or_default()
    }

    /// Like [`Self::head_many`], for several registries at once.
    pub fn heads_everywhere(
        lists: &[(&Registry<'_>, &[(&str, &str)])],
        fresh: bool,
    ) -> Vec<Vec<Result<Option<Head>, WitError>>> {
        let batches = lists
            .iter()
            .map(|(r, refs)| {
                let reqs = refs
                    .iter()
                    .map(|(repo, reference)| {
                        if fresh {
                            fresh_head(repo, reference)
                        } else {
                            manifest_request("HEAD", repo, reference)
                        }
                    })
                    .collect();
                (*r, reqs)
            })
            .collect();
        Self::send_each(batches)
            .into_iter()
            .zip(lists)
            .map(|(answers, (r, refs))| {
                answers
                    .into_iter()
                    .zip(refs.iter())
                    .map(|(resp, (repo, reference))| r.head_answer(repo, reference, resp))
                    .collect()
            })
            .collect()
    }

    /// `PUT` a manifest by tag or digest; with `expected_digest`, the digest
    /// the registry stored it as must match.
    pub fn put_manifest(
        &self,
        repository: &str,
        reference: &str,
        media_type: &str,
        body: Vec<u8>,
        expected_digest: Option<&str>,
    ) -> Result<(), WitError> {
        let path = format!("/v2/{repository}/manifests/{reference}");
        let req = request(
            "PUT",
            path.clone(),
            vec![("Content-Type".into(), media_type.into())],
            Some(body),
        );
        let resp = self.send(req)?;
        self.stored(&path, resp, expected_digest)
    }

    /// `PUT`s manifests that do not reference one another (an index's
    /// children) all at once: one round trip for all. Answers in order.
    pub fn put_manifests(
        &self,
        repository: &str,
        puts: Vec<ManifestPut<'_>>,
    ) -> Vec<Result<(), WitError>> {
        let paths: Vec<String> = puts
            .iter()
            .map(|p| format!("/v2/{repository}/manifests/{}", p.reference))
            .collect();
        let expected: Vec<Option<&str>> = puts.iter().map(|p| p.expected_digest).collect();
        let reqs = puts
            .into_iter()
            .zip(&paths)
            .map(|(p, path)| {
                request(
                    "PUT",
                    path.clone(),
                    vec![("Content-Type".into(), p.media_type.into())],
                    Some(p.body),
                )
            })
            .collect();
        self.send_all(reqs)
            .into_iter()
            .zip(paths.iter().zip(expected))
            .map(|(answer, (path, expected))| self.stored(path, answer?, expected))
            .collect()
    }

    /// A manifest PUT's answer: stored, as the digest expected.
    fn stored(&self, path: &str, resp: Response, expected: Option<&str>) -> Result<(), WitError> {
        if !matches!(resp.status, 200 | 201) {
            return Err(self.unexpected("PUT", path, &resp));
        }
        if let (Some(d), Some(expected)) =
            (header(&resp.headers, "docker-content-digest"), expected)
            && d != expected
        {
            return Err(rejected(format!(
                "{} registry: PUT {path} stored the manifest as {d}, expected {expected}",
                self.name()
            )));
        }
        Ok(())
    }

    /// `DELETE` a manifest by tag or digest.
    pub fn delete_manifest(&self, repository: &str, reference: &str) -> Result<Deleted, WitError> {
        let path = format!("/v2/{repository}/manifests/{reference}");
        let resp = self.send(request("DELETE", path.clone(), vec![], None))?;
        match resp.status {
            200 | 202 | 204 => Ok(Deleted::Done),
            404 => Ok(Deleted::Absent),
            // Deleting by tag is optional in the distribution spec:
            // distribution 2.x answers 400 (DIGEST_INVALID), others 405.
            400 | 405 | 501 if !is_digest(reference) => {
                Ok(Deleted::Unsupported(envelope(&resp.body)))
            }
            _ => Err(self.unexpected("DELETE", &path, &resp)),
        }
    }

    /// Follows a paginated listing (`_catalog`, `tags/list`), collecting the
    /// strings under `key`.
    fn list(&self, first: String, key: &str) -> Result<Vec<String>, WitError> {
        self.list_from(first, None, key)
    }

    /// Like [`Self::list`], with the first page's answer already at hand.
    fn list_from(
        &self,
        first: String,
        mut answer: Option<Response>,
        key: &str,
    ) -> Result<Vec<String>, WitError> {
        #[derive(serde::Deserialize)]
        struct Page {
            #[serde(default)]
            repositories: Option<Vec<String>>,
            #[serde(default)]
            tags: Option<Vec<String>>,
        }
        let mut out = Vec::new();
        let mut seen = HashSet::new();
        let mut next = Some(first);
        while let Some(path) = next.take() {
            if !seen.insert(path.clone()) {
                self.host.warn(&format!(
                    "{} registry: pagination loops back to {path}; stopping",
                    self.name()
                ));
                break;
            }
            let resp = match answer.take() {
                Some(r) => r,
                None => self.send(request("GET", path.clone(), vec![], None))?,
            };
            if resp.status != 200 {
                return Err(self.unexpected("GET", &path, &resp));
            }
            let page: Page = serde_json::from_slice(&resp.body).map_err(|e| {
                invalid(format!(
                    "{} registry: GET {path}: not a valid listing: {e}",
                    self.name()
                ))
            })?;
            let items = if key == "tags" {
                page.tags
            } else {
                page.repositories
            };
            out.extend(items.unwrap_or_default());
            next = next_link(&resp.headers);
        }
        Ok(out)
    }

    /// Every repository, through `_catalog`.
    pub fn catalog(&self, page_size: u64) -> Result<Vec<String>, WitError> {
        self.list(catalog_path(page_size), "repositories")
    }

    /// Every tag of a repository.
    pub fn tags(&self, repository: &str, page_size: u64) -> Result<Vec<String>, WitError> {
        self.list(format!("/v2/{repository}/tags/list?n={page_size}"), "tags")
    }

    /// The tags of many repositories: first pages at once, then any further
    /// pages one by one. A repository that is gone answers `NotFound`.
    pub fn tags_of(
        &self,
        repositories: &[&str],
        page_size: u64,
    ) -> Vec<Result<Vec<String>, WitError>> {
        Self::tags_everywhere(&[(self, repositories)], page_size)
            .pop()
            .unwrap_or_default()
    }

    /// Like [`Self::tags_of`], for several registries at once (the source's
    /// and the target's listings together).
    pub fn tags_everywhere(lists: &[(&Registry<'_>, &[&str])], page_size: u64) -> Listings {
        Self::listings(None, lists, page_size).1
    }

    /// [`Self::tags_everywhere`], with `ping` pinged in the same round trip:
    /// a far registry's ping then costs no round trip of its own. The outer
    /// error is the ping's, as if it had gone first.
    pub fn ping_and_tags_everywhere(
        ping: &Registry<'_>,
        lists: &[(&Registry<'_>, &[&str])],
        page_size: u64,
    ) -> Result<Listings, WitError> {
        let (pinged, listings) = Self::listings(Some(ping), lists, page_size);
        pinged.map(|()| listings)
    }

    /// The tag listings, with `ping`'s ping in their first round; the
    /// ping's answer (`Ok` when there is none).
    fn listings(
        ping: Option<&Registry<'_>>,
        lists: &[(&Registry<'_>, &[&str])],
        page_size: u64,
    ) -> (Result<(), WitError>, Listings) {
        let firsts: Vec<Vec<String>> = lists
            .iter()
            .map(|(_, repos)| {
                repos
                    .iter()
                    .map(|r| format!("/v2/{r}/tags/list?n={page_size}"))
                    .collect()
            })
            .collect();
        let pings = ping.map(|r| (r, vec![ping_request()]));
        let batches = pings
            .into_iter()
            .chain(lists.iter().zip(&firsts).map(|((r, _), paths)| {
                let reqs = paths
                    .iter()
                    .map(|p| request("GET", p.clone(), vec![], None))
                    .collect();
                (*r, reqs)
            }))
            .collect();
        let mut answers = Self::send_each(batches).into_iter();
        let pinged = match ping {
            None => Ok(()),
            Some(r) => {
                let answer = answers.next().and_then(|a| a.into_iter().next());
                r.ping_answer(answer.unwrap_or_else(|| {
                    Err(invalid("the host returned fewer answers than requests"))
                }))
            }
        };
        let listings = answers
            .zip(lists)
            .zip(firsts)
            .map(|((answers, (r, _)), paths)| {
                answers
                    .into_iter()
                    .zip(paths)
                    .map(|(answer, path)| r.list_from(path, Some(answer?), "tags"))
                    .collect()
            })
            .collect();
        (pinged, listings)
    }

    /// Makes a small blob whose bytes the stage holds (a config it wrote)
    /// present in `repository`: `HEAD`, else a monolithic upload (`POST` an
    /// upload session, then `PUT` the bytes with their digest, which the
    /// registry checks). Blobs of the source go through the host's
    /// copy-blobs instead, never through the guest.
    pub fn put_blob(
        &self,
        repository: &str,
        digest: &str,
        bytes: Vec<u8>,
    ) -> Result<BlobPut, WitError> {
        let head = format!("/v2/{repository}/blobs/{digest}");
        let resp = self.send(request("HEAD", head.clone(), vec![], None))?;
        match resp.status {
            200 => return Ok(BlobPut::Present),
            404 => {}
            _ => return Err(self.unexpected("HEAD", &head, &resp)),
        }
        let start = format!("/v2/{repository}/blobs/uploads/");
        let resp = self.send(request("POST", start.clone(), vec![], None))?;
        if resp.status != 202 {
            return Err(self.unexpected("POST", &start, &resp));
        }
        let Some(location) = header(&resp.headers, "location").filter(|l| !l.is_empty()) else {
            return Err(rejected(format!(
                "{} registry: POST {start} answered 202 without a Location",
                self.name()
            )));
        };
        let location = location_path(location);
        let separator = if location.contains('?') { '&' } else { '?' };
        let put = format!("{location}{separator}digest={digest}");
        let resp = self.send(request(
            "PUT",
            put.clone(),
            vec![("Content-Type".into(), "application/octet-stream".into())],
            Some(bytes),
        ))?;
        if resp.status != 201 {
            return Err(self.unexpected("PUT", &put, &resp));
        }
        if let Some(d) = header(&resp.headers, "docker-content-digest")
            && d != digest
        {
            return Err(rejected(format!(
                "{} registry: PUT {put} stored the blob as {d}, expected {digest}",
                self.name()
            )));
        }
        Ok(BlobPut::Uploaded)
    }

    /// The referrers API: `Some(descriptors)` when the registry serves it
    /// (a 200 with an index), `None` otherwise.
    pub fn referrers_api(
        &self,
        repository: &str,
        digest: &str,
    ) -> Result<Option<Vec<Descriptor>>, WitError> {
        let mut out = Vec::new();
        let mut seen = HashSet::new();
        let mut next = Some(format!("/v2/{repository}/referrers/{digest}"));
        let mut first = true;
        while let Some(path) = next.take() {
            if !seen.insert(path.clone()) {
                break;
            }
            let req = request(
                "GET",
                path.clone(),
                vec![("Accept".into(), manifest::OCI_INDEX.into())],
                None,
            );
            let resp = self.send(req)?;
            match resp.status {
                200 => {}
                401 | 403 | 408 | 429 | 500..=599 => {
                    return Err(self.unexpected("GET", &path, &resp));
                }
                _ if first => return Ok(None),
                _ => return Err(self.unexpected("GET", &path, &resp)),
            }
            let index = serde_json::from_slice::<Document>(&resp.body)
                .ok()
                .filter(|d| {
                    d.media_type
                        .as_deref()
                        .is_none_or(|m| m == manifest::OCI_INDEX)
                })
                .and_then(|d| d.manifests);
            match index {
                Some(list) => out.extend(list),
                None if first => return Ok(None),
                None => {
                    return Err(invalid(format!(
                        "{} registry: GET {path}: not an OCI index",
                        self.name()
                    )));
                }
            }
            first = false;
            next = next_link(&resp.headers);
        }
        Ok(Some(out))
    }

    /// The referrers of `digest`: through the referrers API, else the
    /// fallback tag `sha256-<hex>` (absent: none).
    pub fn referrers(&self, repository: &str, digest: &str) -> Result<Referrers, WitError> {
        if let Some(descriptors) = self.referrers_api(repository, digest)? {
            return Ok(Referrers {
                api: true,
                descriptors,
            });
        }
        let tag = manifest::fallback_tag(digest);
        let descriptors = match self.get_manifest(repository, &tag)? {
            None => Vec::new(),
            Some(f) => {
                let m = f.parse(repository, &tag)?;
                if m.kind == Kind::Index {
                    m.doc.manifests.unwrap_or_default()
                } else {
                    self.host.warn(&format!(
                        "{} registry: {repository}:{tag} is not an index; ignoring it as a referrers tag",
                        self.name()
                    ));
                    Vec::new()
                }
            }
        };
        Ok(Referrers {
            api: false,
            descriptors,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(k: &str, v: &str) -> Vec<(String, String)> {
        vec![(k.into(), v.into())]
    }

    #[test]
    fn links() {
        assert_eq!(
            next_link(&h("Link", "</v2/_catalog?last=b&n=2>; rel=\"next\"")).as_deref(),
            Some("/v2/_catalog?last=b&n=2")
        );
        assert_eq!(
            next_link(&h(
                "link",
                "<https://r.example:5000/v2/a/tags/list?last=x&n=1>; rel=next"
            ))
            .as_deref(),
            Some("/v2/a/tags/list?last=x&n=1")
        );
        assert_eq!(
            next_link(&h(
                "Link",
                "</prev>; rel=\"prev\", </v2/x?n=1>; rel=\"next\""
            ))
            .as_deref(),
            Some("/v2/x?n=1")
        );
        assert_eq!(next_link(&h("Link", "</prev>; rel=\"prev\"")), None);
        assert_eq!(next_link(&h("Content-Type", "x")), None);
    }

    #[test]
    fn headers() {
        let hs = vec![("Docker-Content-Digest".to_owned(), " sha256:ab ".to_owned())];
        assert_eq!(header(&hs, "docker-content-digest"), Some("sha256:ab"));
        assert_eq!(header(&hs, "content-type"), None);
    }

    #[test]
    fn lists_both_registries_at_once_then_follows_pages() {
        use ferry_sdk::{ErrorKind, FakeHost};
        let host = FakeHost::new();
        let page = |body: &str| Response::new(200).with_body(body);
        host.answer(
            Role::Source,
            "GET",
            "/v2/a/tags/list?n=2",
            page(r#"{"tags":["1","2"]}"#)
                .with_header("Link", "</v2/a/tags/list?last=2&n=2>; rel=\"next\""),
        )
        .answer(
            Role::Source,
            "GET",
            "/v2/a/tags/list?last=2&n=2",
            page(r#"{"tags":["3"]}"#),
        )
        .answer(
            Role::Target,
            "GET",
            "/v2/m/a/tags/list?n=2",
            page(r#"{"tags":null}"#),
        );
        let (source, target) = (Registry::source(&host), Registry::target(&host));
        let mut lists =
            Registry::tags_everywhere(&[(&source, &["a", "gone"]), (&target, &["m/a"])], 2)
                .into_iter();
        let at_source = lists.next().unwrap();
        assert_eq!(at_source[0], Ok(vec!["1".into(), "2".into(), "3".into()]));
        let gone = at_source[1].clone().unwrap_err();
        assert_eq!(gone.kind, ErrorKind::NotFound);
        assert!(
            gone.message
                .starts_with("source registry: GET /v2/gone/tags/list?n=2 answered 404"),
            "{}",
            gone.message
        );
        assert_eq!(lists.next().unwrap(), [Ok(vec![])]);
        assert_eq!(
            host.requests(),
            [
                "source GET /v2/a/tags/list?n=2",
                "source GET /v2/gone/tags/list?n=2",
                "target GET /v2/m/a/tags/list?n=2",
                "source GET /v2/a/tags/list?last=2&n=2",
            ]
        );
    }

    #[test]
    fn puts_a_small_blob_unless_present() {
        use ferry_sdk::FakeHost;
        const D: &str = "sha256:3333333333333333333333333333333333333333333333333333333333333333";
        assert_eq!(
            location_path("https://r.test:5000/v2/a/blobs/uploads/u?s=1"),
            "/v2/a/blobs/uploads/u?s=1"
        );
        assert_eq!(
            location_path("/v2/a/blobs/uploads/u"),
            "/v2/a/blobs/uploads/u"
        );
        assert_eq!(location_path("http://r.test"), "/");

        let host = FakeHost::new();
        host.answer(
            Role::Target,
            "POST",
            "/v2/a/blobs/uploads/",
            Response::new(202)
                .with_header("Location", "http://r.test/v2/a/blobs/uploads/u?state=x"),
        )
        .answer(
            Role::Target,
            "PUT",
            &format!("/v2/a/blobs/uploads/u?state=x&digest={D}"),
            Response::new(201).with_header("Docker-Content-Digest", D),
        )
        .answer(
            Role::Target,
            "HEAD",
            &format!("/v2/b/blobs/{D}"),
            Response::new(200),
        );
        let target = Registry::target(&host);
        assert_eq!(
            target.put_blob("a", D, b"{}".to_vec()),
            Ok(BlobPut::Uploaded)
        );
        assert_eq!(
            target.put_blob("b", D, b"{}".to_vec()),
            Ok(BlobPut::Present)
        );
        assert_eq!(
            host.requests(),
            [
                format!("target HEAD /v2/a/blobs/{D}"),
                "target POST /v2/a/blobs/uploads/".to_owned(),
                format!("target PUT /v2/a/blobs/uploads/u?state=x&digest={D}"),
                format!("target HEAD /v2/b/blobs/{D}"),
            ]
        );
        let (_, put) = host.sent()[2].clone();
        assert_eq!(
            (put.headers, put.body),
            (
                vec![(
                    "Content-Type".to_owned(),
                    "application/octet-stream".to_owned()
                )],
                Some(b"{}".to_vec())
            )
        );

        // No Location, or a refused PUT: errors that say so.
        let host = FakeHost::new();
        host.answer(
            Role::Target,
            "POST",
            "/v2/a/blobs/uploads/",
            Response::new(202),
        );
        let e = Registry::target(&host)
            .put_blob("a", D, vec![])
            .unwrap_err();
        assert_eq!(
            (e.kind, e.message.as_str()),
            (
                ErrorKind::Rejected,
                "target registry: POST /v2/a/blobs/uploads/ answered 202 without a Location"
            )
        );
        let host = FakeHost::new();
        host.answer(
            Role::Target,
            "POST",
            "/v2/a/blobs/uploads/",
            Response::new(202).with_header("Location", "/v2/a/blobs/uploads/u"),
        )
        .answer(
            Role::Target,
            "PUT",
            &format!("/v2/a/blobs/uploads/u?digest={D}"),
            Response::new(400).with_body(
                r#"{"errors":[{"code":"DIGEST_INVALID","message":"digest did not match"}]}"#,
            ),
        );
        let e = Registry::target(&host)
            .put_blob("a", D, vec![])
            .unwrap_err();
        assert_eq!(
            (e.kind, e.message),
            (
                ErrorKind::Rejected,
                format!(
                    "target registry: PUT /v2/a/blobs/uploads/u?digest={D} answered 400: DIGEST_INVALID digest did not match"
                )
            )
        );
    }

    #[test]
    fn names() {
        assert!(check_repository("library/nginx").is_ok());
        assert!(check_repository("a.b/c__d/e-f").is_ok());
        assert!(check_repository("a/../b").is_err());
        assert!(check_repository("A/b").is_err());
        assert!(check_repository("a//b").is_err());
        assert!(check_repository("").is_err());
        assert!(check_tag("v1.0_rc-1").is_ok());
        assert!(check_tag(".x").is_err());
        assert!(check_tag("a/b").is_err());
        assert!(check_tag(&"a".repeat(129)).is_err());
        assert!(is_digest("sha256:00"));
        assert!(!is_digest("latest"));
    }
}
