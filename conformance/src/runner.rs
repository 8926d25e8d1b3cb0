//! Runs checks against a target and reports: a table of procedures × pass/fail, the
//! failures in full, and optionally JUnit XML.

use crate::checks::{self, Check, Ctx, InDokploy};
use crate::client::{recording, Recorded, Transport};
use crate::live::LiveRun;
use crate::target::Target;
use specs::Profile;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Passed,
    Failed(String),
    Skipped(String),
}

#[derive(Debug, Clone)]
pub struct CheckResult {
    pub procedure: &'static str,
    pub outcome: &'static str,
    pub transport: Transport,
    pub verdict: Verdict,
    pub took: Duration,
}

#[derive(Debug, Clone, Default)]
pub struct Report {
    pub target: String,
    /// Whether the target answered as a cloud-mode instance.
    pub cloud: bool,
    /// Whose behaviour was expected.
    pub profile: Profile,
    pub results: Vec<CheckResult>,
}

impl Report {
    pub fn passed(&self) -> usize {
        self.count(|v| matches!(v, Verdict::Passed))
    }
    pub fn failed(&self) -> usize {
        self.count(|v| matches!(v, Verdict::Failed(_)))
    }
    pub fn skipped(&self) -> usize {
        self.count(|v| matches!(v, Verdict::Skipped(_)))
    }
    fn count(&self, f: impl Fn(&Verdict) -> bool) -> usize {
        self.results.iter().filter(|r| f(&r.verdict)).count()
    }

    /// The failures, one paragraph each.
    pub fn failures(&self) -> Vec<String> {
        self.results
            .iter()
            .filter_map(|r| match &r.verdict {
                Verdict::Failed(why) => {
                    Some(format!("{}\n  {}", r.name(), why.replace('\n', "\n  ")))
                }
                _ => None,
            })
            .collect()
    }

    /// The table of procedures × pass/fail/skip, failures after it.
    pub fn render(&self) -> String {
        let mut by_procedure: BTreeMap<&str, (usize, usize, usize)> = BTreeMap::new();
        let order: Vec<&str> = self.results.iter().map(|r| r.procedure).collect();
        for r in &self.results {
            let entry = by_procedure.entry(r.procedure).or_default();
            match r.verdict {
                Verdict::Passed => entry.0 += 1,
                Verdict::Failed(_) => entry.1 += 1,
                Verdict::Skipped(_) => entry.2 += 1,
            }
        }
        let mut out = format!(
            "conformance of {} (profile {})\n\n{:<30} {:>6} {:>6} {:>7}\n",
            self.target, self.profile, "procedure", "pass", "fail", "skip"
        );
        let mut seen = Vec::new();
        for procedure in order {
            if seen.contains(&procedure) {
                continue;
            }
            seen.push(procedure);
            let (p, f, s) = by_procedure[procedure];
            let mark = if f > 0 { "  FAIL" } else { "" };
            let _ = writeln!(out, "{procedure:<30} {p:>6} {f:>6} {s:>7}{mark}");
        }
        for failure in self.failures() {
            let _ = write!(out, "\nFAILED {failure}\n");
        }
        for r in &self.results {
            if let Verdict::Skipped(why) = &r.verdict {
                let _ = writeln!(out, "skipped {}: {why}", r.name());
            }
        }
        let _ = writeln!(
            out,
            "\n{} passed, {} failed, {} skipped",
            self.passed(),
            self.failed(),
            self.skipped()
        );
        out
    }

    /// JUnit XML, one test case per check.
    pub fn junit(&self) -> String {
        let escape = |s: &str| {
            s.replace('&', "&amp;")
                .replace('<', "&lt;")
                .replace('>', "&gt;")
                .replace('"', "&quot;")
        };
        let mut xml = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuite name=\"conformance\" tests=\"{}\" failures=\"{}\" skipped=\"{}\">\n",
            self.results.len(),
            self.failed(),
            self.skipped()
        );
        for r in &self.results {
            let _ = write!(
                xml,
                "  <testcase classname=\"{}\" name=\"{}\" time=\"{:.3}\"",
                escape(r.procedure),
                escape(&r.name()),
                r.took.as_secs_f64()
            );
            match &r.verdict {
                Verdict::Passed => xml.push_str("/>\n"),
                Verdict::Failed(why) => {
                    let _ = writeln!(
                        xml,
                        "><failure message=\"check failed\">{}</failure></testcase>",
                        escape(why)
                    );
                }
                Verdict::Skipped(why) => {
                    let _ = writeln!(xml, "><skipped message=\"{}\"/></testcase>", escape(why));
                }
            }
        }
        xml.push_str("</testsuite>\n");
        xml
    }
}

impl CheckResult {
    /// `procedure / outcome`, and `[tRPC]` for a run over tRPC.
    pub fn name(&self) -> String {
        match self.transport {
            Transport::Rest => format!("{} / {}", self.procedure, self.outcome),
            Transport::Trpc => format!("{} / {} [tRPC]", self.procedure, self.outcome),
        }
    }
}

/// How many of a failed check's last requests its report shows.
const EXCHANGES_SHOWN: usize = 3;

/// A failure's reason, then the last requests that led to it, as `curl` commands
/// with what came back: enough to reproduce it by hand.
fn with_exchanges(why: String, exchanges: &[String]) -> String {
    if exchanges.is_empty() {
        return why;
    }
    let last = &exchanges[exchanges.len().saturating_sub(EXCHANGES_SHOWN)..];
    format!(
        "{why}\n\nthe last {} of its {} requests, as curl:\n{}",
        last.len(),
        exchanges.len(),
        last.join("\n")
    )
}

/// A check's verdict from its outcome and what it sent: an answer that does not
/// fit the OpenAPI document fails the check, whatever else it found.
fn judged(outcome: Result<(), String>, recorded: Recorded) -> Verdict {
    let why = match (outcome, recorded.mismatches.is_empty()) {
        (Ok(()), true) => return Verdict::Passed,
        (Ok(()), false) => String::new(),
        (Err(why), _) => why,
    };
    let mut why = why;
    if !recorded.mismatches.is_empty() {
        if !why.is_empty() {
            why.push('\n');
        }
        why.push_str(&format!(
            "{} answer(s) do not fit specs/openapi.yaml:\n{}",
            recorded.mismatches.len(),
            recorded.mismatches.join("\n")
        ));
    }
    Verdict::Failed(with_exchanges(why, &recorded.exchanges))
}

/// A check's verdict once the live instance was tidied after it: a failed tidy-up
/// fails the check, as it left the instance changed.
fn tidied(verdict: Verdict, tidy: Result<(), String>) -> Verdict {
    match (verdict, tidy) {
        (verdict, Ok(())) => verdict,
        (Verdict::Failed(why), Err(problem)) => Verdict::Failed(format!("{why}\n{problem}")),
        (_, Err(problem)) => Verdict::Failed(problem),
    }
}

/// What a run knows of its target that decides which checks it can run.
struct Situation {
    cloud: bool,
    can_move_clock: bool,
    reads_emails: bool,
    /// A live instance, given its admin (`crate::live`).
    live: bool,
    profile: Profile,
}

impl Situation {
    /// Why `check` over `transport` cannot run here, if it cannot.
    fn why_skipped(&self, check: &Check, transport: Transport) -> Option<String> {
        let (profile, needs_instance) = (self.profile, !check.stateless_in(self.profile));
        if !check.mode.applies(self.cloud) {
            let mode = if self.cloud { "cloud" } else { "self-hosted" };
            return Some(format!("not for a {mode} target"));
        }
        if check.moves_clock && !self.can_move_clock {
            return Some("the target's clock cannot be moved".into());
        }
        if let (Profile::Dokploy014, InDokploy::NotChecked(why)) = (profile, check.in_dokploy) {
            return Some(format!("not checked in the dokploy-0.14 profile: {why}"));
        }
        if let (true, Transport::Rest, Some(why)) =
            (profile.is_dokploy(), transport, check.trpc_only_in_dokploy)
        {
            return Some(format!("over tRPC only in the dokploy-0.14 profile: {why}"));
        }
        if self.cloud && needs_instance && !self.live && !self.reads_emails {
            return Some("a cloud target's admin confirms by email, and the suite cannot read this target's emails (the mock's outbox, or --spawn with {smtp_port}), nor was it given a live admin (--admin)".into());
        }
        if self.cloud && profile.is_dokploy() && needs_instance {
            return Some("Dokploy's confirmEmail is admin-only (difference 8): in cloud mode no admin can confirm its sign-up, so the checks that need one are not run in the dokploy-0.14 profile".into());
        }
        if check.needs_empty && self.live {
            return Some("needs an instance without an admin; this live one has one".into());
        }
        None
    }
}

/// Both transports: every check over REST, and over tRPC where it applies.
pub const BOTH: &[Transport] = &[Transport::Rest, Transport::Trpc];

/// Runs every check whose name contains `filter`, each on a fresh instance, over
/// both transports.
pub async fn run(target: Arc<dyn Target>, filter: Option<&str>) -> Report {
    run_over(target, filter, BOTH, Profile::Contract).await
}

/// Runs every check whose name contains `filter` over each of `transports`.
pub async fn run_over(
    target: Arc<dyn Target>,
    filter: Option<&str>,
    transports: &[Transport],
    profile: Profile,
) -> Report {
    let checks: Vec<Check> = checks::all()
        .into_iter()
        .filter(|c| filter.is_none_or(|f| c.name().contains(f)))
        .collect();
    let can_move_clock = target.advance_clock(0).await;
    let live = target
        .live_admin()
        .map(|admin| Arc::new(LiveRun::new(admin)));
    let reads_emails = target.emails().await.is_some();
    let cloud = match target.shared().await {
        Ok(addr) => crate::target::is_cloud(addr).await,
        Err(_) => false,
    };
    let mut report = Report {
        target: target.name(),
        cloud,
        profile,
        results: Vec::new(),
    };
    let runs = checks.iter().flat_map(|check| {
        transports
            .iter()
            .filter(move |t| check.only_over.is_none_or(|only| only == **t))
            .map(move |t| (check, *t))
    });
    let situation = Situation {
        cloud,
        can_move_clock,
        reads_emails,
        live: live.is_some(),
        profile,
    };
    for (check, transport) in runs {
        let started = Instant::now();
        let verdict = if let Some(why) = situation.why_skipped(check, transport) {
            Verdict::Skipped(why)
        } else {
            let instance = if check.stateless_in(profile) || live.is_some() {
                target.shared().await
            } else {
                target.fresh().await
            };
            match instance {
                Err(why) => Verdict::Skipped(why),
                Ok(addr) => {
                    let ctx = Ctx {
                        addr,
                        target: target.clone(),
                        transport,
                        live: live.clone(),
                        cloud,
                        profile,
                    };
                    // A panicking check is a failed check, not a crashed run.
                    // The document describes the contract's answers, not Dokploy's.
                    let check_document = profile == Profile::Contract;
                    let run = recording(check_document, (check.run)(ctx));
                    let verdict = match tokio::spawn(run).await {
                        Ok((outcome, recorded)) => judged(outcome, recorded),
                        Err(panic) => Verdict::Failed(format!("the check panicked: {panic}")),
                    };
                    match &live {
                        Some(live) => tidied(verdict, live.tidy(addr).await),
                        None => verdict,
                    }
                }
            }
        };
        report.results.push(CheckResult {
            procedure: check.procedure,
            outcome: check.outcome,
            transport,
            verdict,
            took: started.elapsed(),
        });
    }
    report
}
