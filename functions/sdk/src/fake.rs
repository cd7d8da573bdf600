//! A scripted host for native unit tests of a function's logic: it answers
//! registry requests from a script, copies blobs and posts notifications
//! without a network, and records everything the function asked.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;

use sha2::{Digest, Sha256};

use crate::host::{Host, Level};
use crate::registry::{Request, Response};
use crate::transfer::{Action, Options, Outcome};
use crate::{Artifact, Descriptor, Endpoint, Operation, Policy, Role, StageInput, WitError};

impl Response {
    /// An answer with `status`, no headers and an empty body.
    pub fn new(status: u16) -> Self {
        Response {
            status,
            headers: Vec::new(),
            body: Vec::new(),
            digest: sha256(&[]),
        }
    }

    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// The body, with its digest computed as the host does.
    pub fn with_body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self.digest = sha256(&self.body);
        self
    }
}

/// `sha256:<hex>` of `bytes`.
pub fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{:x}", Sha256::digest(bytes))
}

/// One `copy_blobs` call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobCopy {
    pub source_repository: String,
    pub target_repository: String,
    /// The blobs, each with the URLs to fetch it from, if any.
    pub blobs: Vec<Descriptor>,
    pub opts: Options,
}

/// One `notify_post` call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Post {
    pub url: String,
    pub content_type: String,
    pub body: Vec<u8>,
}

/// The answers scripted for one request.
struct Script {
    role: Role,
    method: String,
    path: String,
    /// Given in order, before `last`.
    first: VecDeque<Result<Response, WitError>>,
    /// Given for every further request.
    last: Result<Response, WitError>,
}

/// A host whose answers a test scripts. A registry request nothing is
/// scripted for answers 404; a blob copy succeeds (`uploaded`, its size in
/// bytes) unless scripted otherwise; a notification answers 200.
#[derive(Default)]
pub struct FakeHost {
    scripts: RefCell<Vec<Script>>,
    sent: RefCell<Vec<(Role, Request)>>,
    /// How many of `sent` each host call sent at once.
    rounds: RefCell<Vec<usize>>,
    blob_answers: RefCell<Vec<(String, Result<Outcome, WitError>)>>,
    copies: RefCell<Vec<BlobCopy>>,
    post_answer: RefCell<Option<Result<u16, WitError>>>,
    posts: RefCell<Vec<Post>>,
    logs: RefCell<Vec<(Level, String)>>,
    progress: Cell<u64>,
    now_ms: Cell<u64>,
}

impl FakeHost {
    pub fn new() -> Self {
        Self::default()
    }

    /// Answers `method path` at `role` with `response`. Answers scripted for
    /// the same request are given in order, the last one repeatedly.
    pub fn answer(&self, role: Role, method: &str, path: &str, response: Response) -> &Self {
        self.script(role, method, path, Ok(response))
    }

    /// Fails `method path` at `role` with `error` (no answer was had).
    pub fn fail(&self, role: Role, method: &str, path: &str, error: WitError) -> &Self {
        self.script(role, method, path, Err(error))
    }

    fn script(
        &self,
        role: Role,
        method: &str,
        path: &str,
        answer: Result<Response, WitError>,
    ) -> &Self {
        let mut scripts = self.scripts.borrow_mut();
        match scripts
            .iter_mut()
            .find(|s| s.role == role && s.method == method && s.path == path)
        {
            Some(s) => {
                let previous = std::mem::replace(&mut s.last, answer);
                s.first.push_back(previous);
            }
            None => scripts.push(Script {
                role,
                method: method.to_owned(),
                path: path.to_owned(),
                first: VecDeque::new(),
                last: answer,
            }),
        }
        self
    }

    /// Answers the copy of blob `digest` with `answer`.
    pub fn blob_answer(&self, digest: &str, answer: Result<Outcome, WitError>) -> &Self {
        self.blob_answers
            .borrow_mut()
            .push((digest.to_owned(), answer));
        self
    }

    /// Answers notifications with `answer`.
    pub fn post_answer(&self, answer: Result<u16, WitError>) -> &Self {
        *self.post_answer.borrow_mut() = Some(answer);
        self
    }

    pub fn set_now_ms(&self, ms: u64) {
        self.now_ms.set(ms);
    }

    /// The requests sent, in order, as `role METHOD path`.
    pub fn requests(&self) -> Vec<String> {
        self.sent
            .borrow()
            .iter()
            .map(|(role, r)| format!("{} {} {}", role.name(), r.method, r.path))
            .collect()
    }

    /// The requests sent, as `role METHOD path`, grouped by the host call
    /// that sent them at once (`send`: one; `send-all`, `send-each`: all).
    pub fn rounds(&self) -> Vec<Vec<String>> {
        let mut requests = self.requests().into_iter();
        self.rounds
            .borrow()
            .iter()
            .map(|n| requests.by_ref().take(*n).collect())
            .collect()
    }

    /// The requests sent, in order, whole.
    pub fn sent(&self) -> Vec<(Role, Request)> {
        self.sent.borrow().clone()
    }

    /// The blob copies asked for, in order.
    pub fn copies(&self) -> Vec<BlobCopy> {
        self.copies.borrow().clone()
    }

    /// The notifications posted, in order.
    pub fn posts(&self) -> Vec<Post> {
        self.posts.borrow().clone()
    }

    /// What was logged, in order.
    pub fn logs(&self) -> Vec<(Level, String)> {
        self.logs.borrow().clone()
    }

    /// The progress items reported, in total.
    pub fn progress_items(&self) -> u64 {
        self.progress.get()
    }

    fn respond(&self, role: Role, req: &Request) -> Result<Response, WitError> {
        self.sent.borrow_mut().push((role, req.clone()));
        let mut scripts = self.scripts.borrow_mut();
        let script = scripts
            .iter_mut()
            .find(|s| s.role == role && s.method == req.method && s.path == req.path);
        match script {
            None => Ok(Response::new(404)),
            Some(s) => s.first.pop_front().unwrap_or_else(|| s.last.clone()),
        }
    }

    fn copy(&self, copy: BlobCopy) -> Vec<Result<Outcome, WitError>> {
        let scripted = self.blob_answers.borrow();
        let answers = copy
            .blobs
            .iter()
            .map(|b| match scripted.iter().find(|(d, _)| *d == b.digest) {
                Some((_, answer)) => answer.clone(),
                None => Ok(Outcome {
                    digest: b.digest.clone(),
                    action: Action::Uploaded,
                    bytes: b.size,
                    size: b.size,
                }),
            })
            .collect();
        self.copies.borrow_mut().push(copy);
        answers
    }
}

impl Host for FakeHost {
    fn log(&self, level: Level, message: &str) {
        self.logs.borrow_mut().push((level, message.to_owned()));
    }

    fn progress(&self, items: u64) {
        self.progress.set(self.progress.get() + items);
    }

    fn now_ms(&self) -> u64 {
        self.now_ms.get()
    }

    fn send(&self, to: Role, req: &Request) -> Result<Response, WitError> {
        self.rounds.borrow_mut().push(1);
        self.respond(to, req)
    }

    fn send_all(&self, to: Role, reqs: &[Request]) -> Vec<Result<Response, WitError>> {
        self.rounds.borrow_mut().push(reqs.len());
        reqs.iter().map(|r| self.respond(to, r)).collect()
    }

    fn send_each(&self, reqs: &[(Role, Request)]) -> Vec<Result<Response, WitError>> {
        self.rounds.borrow_mut().push(reqs.len());
        reqs.iter().map(|(to, r)| self.respond(*to, r)).collect()
    }

    fn copy_blobs(
        &self,
        source_repository: &str,
        target_repository: &str,
        blobs: &[Descriptor],
        opts: &Options,
    ) -> Vec<Result<Outcome, WitError>> {
        self.copy(BlobCopy {
            source_repository: source_repository.to_owned(),
            target_repository: target_repository.to_owned(),
            blobs: blobs.to_vec(),
            opts: opts.clone(),
        })
    }

    fn notify_post(&self, url: &str, content_type: &str, body: &[u8]) -> Result<u16, WitError> {
        self.posts.borrow_mut().push(Post {
            url: url.to_owned(),
            content_type: content_type.to_owned(),
            body: body.to_vec(),
        });
        self.post_answer.borrow().clone().unwrap_or(Ok(200))
    }
}

/// A stage input for tests: `resources`, under a policy from
/// `https://source.test` to `https://target.test` with no filters, no
/// namespace and no parameters.
pub fn input(resources: Vec<Artifact>) -> StageInput {
    let endpoint = |url: &str| Endpoint {
        url: url.to_owned(),
        kind: "distribution".into(),
        insecure: false,
    };
    StageInput {
        execution_id: "1".into(),
        stage: "test".into(),
        policy: Policy {
            name: "test".into(),
            source: endpoint("https://source.test"),
            target: endpoint("https://target.test"),
            dest_namespace: String::new(),
            dest_namespace_replace_count: 0,
            filters: Vec::new(),
            override_: false,
            replicate_deletion: false,
            copy_by_chunk: false,
            chunk_size: 0,
        },
        resources,
        params: Vec::new(),
        previous: Vec::new(),
        dry_run: false,
    }
}

/// A listed artifact: `repository:tag` to copy to the same repository.
pub fn artifact(repository: &str, tag: &str) -> Artifact {
    Artifact {
        operation: Operation::Copy,
        repository: repository.to_owned(),
        target_repository: repository.to_owned(),
        tag: Some(tag.to_owned()),
        digest: None,
        media_type: None,
        manifests: Vec::new(),
        blobs: Vec::new(),
        referrers: Vec::new(),
        no_referrers: false,
        properties: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;
    use crate::errors::{error, not_found};
    use crate::transfer::UploadMode;

    fn get(path: &str) -> Request {
        Request {
            method: "GET".into(),
            path: path.into(),
            headers: vec![],
            body: None,
        }
    }

    #[test]
    fn answers_as_scripted_in_order_then_the_last_again() {
        let host = FakeHost::new();
        host.answer(
            Role::Source,
            "GET",
            "/a",
            Response::new(200).with_body("one"),
        )
        .answer(Role::Source, "GET", "/a", Response::new(500))
        .fail(Role::Target, "GET", "/a", not_found("gone"));
        let status = |r: Result<Response, WitError>| r.map(|r| r.status);
        assert_eq!(
            host.send(Role::Source, &get("/a")),
            Ok(Response {
                status: 200,
                headers: vec![],
                body: b"one".to_vec(),
                digest: "sha256:7692c3ad3540bb803c020b3aee66cd8887123234ea0c6e7143c0add73ff431ed"
                    .into(),
            })
        );
        assert_eq!(status(host.send(Role::Source, &get("/a"))), Ok(500));
        assert_eq!(status(host.send(Role::Source, &get("/a"))), Ok(500));
        assert_eq!(
            host.send_each(&[(Role::Target, get("/a")), (Role::Source, get("/b"))])
                .into_iter()
                .map(status)
                .collect::<Vec<_>>(),
            [Err(not_found("gone")), Ok(404)]
        );
        assert_eq!(
            host.send_all(Role::Target, &[get("/c")])
                .into_iter()
                .map(status)
                .collect::<Vec<_>>(),
            [Ok(404)]
        );
        assert_eq!(
            host.requests(),
            [
                "source GET /a",
                "source GET /a",
                "source GET /a",
                "target GET /a",
                "source GET /b",
                "target GET /c"
            ]
        );
    }

    #[test]
    fn copies_blobs_as_scripted_and_records_them() {
        let blob = |d: &str, size| Descriptor {
            media_type: "application/octet-stream".into(),
            digest: d.into(),
            size,
            urls: vec![],
        };
        let opts = Options {
            mode: UploadMode::Chunked,
            chunk_size: 5,
            mount_from: vec![],
        };
        let host = FakeHost::new();
        let refused = error(ErrorKind::Rejected, "too big", false);
        host.blob_answer("sha256:b", Err(refused.clone()));
        let answers = host.copy_blobs(
            "src",
            "dst",
            &[blob("sha256:a", 3), blob("sha256:b", 4)],
            &opts,
        );
        assert_eq!(
            answers,
            [
                Ok(Outcome {
                    digest: "sha256:a".into(),
                    action: Action::Uploaded,
                    bytes: 3,
                    size: 3,
                }),
                Err(refused)
            ]
        );
        let located = Descriptor {
            urls: vec!["https://cdn.test/c".into()],
            ..blob("sha256:c", 1)
        };
        host.copy_blobs("", "dst", std::slice::from_ref(&located), &opts);
        assert_eq!(
            host.copies(),
            [
                BlobCopy {
                    source_repository: "src".into(),
                    target_repository: "dst".into(),
                    blobs: vec![blob("sha256:a", 3), blob("sha256:b", 4)],
                    opts: opts.clone(),
                },
                BlobCopy {
                    source_repository: String::new(),
                    target_repository: "dst".into(),
                    blobs: vec![located],
                    opts,
                },
            ]
        );
    }

    #[test]
    fn records_logs_progress_posts_and_keeps_time() {
        let host = FakeHost::new();
        host.info("one");
        host.warn("two");
        host.debug("three");
        host.progress(2);
        host.progress(1);
        assert_eq!(host.notify_post("http://h", "text/plain", b"x"), Ok(200));
        host.post_answer(Ok(500));
        assert_eq!(host.notify_post("http://h", "text/plain", b"y"), Ok(500));
        host.set_now_ms(1234);
        assert_eq!(
            host.logs(),
            [
                (Level::Info, "one".to_owned()),
                (Level::Warn, "two".to_owned()),
                (Level::Debug, "three".to_owned())
            ]
        );
        assert_eq!(host.progress_items(), 3);
        assert_eq!(
            host.posts()
                .iter()
                .map(|p| p.body.clone())
                .collect::<Vec<_>>(),
            [b"x".to_vec(), b"y".to_vec()]
        );
        assert_eq!(host.now_ms(), 1234);
    }
}
