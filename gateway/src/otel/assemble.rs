//! Spans into runs. Spans arrive when they end, children before parents,
//! in batches whose boundaries the exporter picks; this puts them back
//! together: each agent's work in a trace is one run (started at its first
//! span, ended by its `invoke_agent` span), a step is a model or tool call,
//! and an agent invoked under another agent's span is that agent's sub-agent.
//!
//! A span that names no agent belongs to the nearest ancestor that does, so
//! it waits (bounded) until that ancestor is known; nothing is ever claimed
//! for an agent its spans did not name. Pure: time comes in as an argument.

use super::spans::{AgentRef, SpanFact, Work};
use lru::LruCache;
use protocol::EventKind;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::num::NonZeroUsize;

/// One thing the office is told: an event of an agent's run.
#[derive(Clone, Debug, PartialEq)]
pub struct Happening {
    pub agent: AgentRef,
    /// The agent whose work invoked this one, when there is one.
    pub parent: Option<AgentRef>,
    pub kind: EventKind,
    pub run: String,
    pub ts_ms: i64,
    pub data: Map<String, Value>,
    /// The event's idempotency key: the same span twice is one event.
    pub key: String,
}

/// How long spans wait for what they need.
#[derive(Clone, Copy, Debug)]
pub struct Patience {
    /// An `invoke_agent` span whose parent chain is not known yet waits this
    /// long for it (to learn whose sub-agent it is), then counts as top-level.
    pub link_ms: i64,
    /// A span that names no agent waits this long for an ancestor that does.
    pub hold_ms: i64,
    /// The most spans that wait at once (the oldest go first).
    pub max_held: usize,
}

impl Default for Patience {
    fn default() -> Self {
        Patience {
            link_ms: 5_000,
            hold_ms: 120_000,
            max_held: 20_000,
        }
    }
}

/// What the assembler knows of a span it saw (or inferred).
#[derive(Clone, Debug)]
struct Known {
    parent: Option<String>,
    owner: Option<AgentRef>,
    /// Seen itself, rather than inferred from a child.
    seen: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Started,
    Ended,
}

struct Held<T> {
    span: SpanFact,
    since_ms: i64,
    /// Who sent it: what it becomes is told on their behalf.
    from: T,
}

/// Span ids remembered (a few hundred bytes each).
const INDEX: usize = 100_000;
/// Runs remembered.
const RUNS: usize = 20_000;
/// The longest parent chain walked.
const DEPTH: usize = 64;

pub struct Assembler<T> {
    index: LruCache<String, Known>,
    runs: LruCache<String, Phase>,
    held: Vec<Held<T>>,
    patience: Patience,
    /// Spans dropped because no agent ever claimed them.
    pub unattributed: u64,
}

enum Parentage {
    Known(Option<AgentRef>),
    Unknown,
}

impl<T: Clone> Assembler<T> {
    pub fn new(patience: Patience) -> Assembler<T> {
        Assembler {
            index: LruCache::new(NonZeroUsize::new(INDEX).expect("non-zero")),
            runs: LruCache::new(NonZeroUsize::new(RUNS).expect("non-zero")),
            held: Vec::new(),
            patience,
            unattributed: 0,
        }
    }

    /// Spans waiting for an ancestor.
    pub fn held(&self) -> usize {
        self.held.len()
    }

    /// Takes one export's spans, sent by `from`; answers what the office is
    /// told now, each with who sent the span it came from.
    pub fn take(&mut self, spans: Vec<SpanFact>, from: T, now_ms: i64) -> Vec<(Happening, T)> {
        for span in &spans {
            self.learn(span);
        }
        let agent_starts: HashMap<String, i64> = spans
            .iter()
            .filter(|s| s.work == Work::Agent)
            .filter_map(|s| Some((run_id(&s.trace, s.agent.as_ref())?, s.start_ms)))
            .collect();
        let mut waiting: Vec<Held<T>> = std::mem::take(&mut self.held);
        waiting.extend(
            spans
                .into_iter()
                .filter(|s| s.work != Work::Link)
                .map(|span| Held {
                    span,
                    since_ms: now_ms,
                    from: from.clone(),
                }),
        );
        waiting.sort_by_key(|h| (h.span.end_ms, h.span.work == Work::Agent));
        let mut told = Vec::new();
        for held in waiting {
            self.place(held, now_ms, &agent_starts, &mut told);
        }
        let overflow = self.held.len().saturating_sub(self.patience.max_held);
        if overflow > 0 {
            self.held.drain(..overflow);
            self.unattributed += overflow as u64;
        }
        told
    }

    /// Releases what waited too long (call now and then).
    pub fn tick(&mut self, now_ms: i64) -> Vec<(Happening, T)> {
        let mut told = Vec::new();
        let agent_starts = HashMap::new();
        for held in std::mem::take(&mut self.held) {
            self.place(held, now_ms, &agent_starts, &mut told);
        }
        told
    }

    fn learn(&mut self, span: &SpanFact) {
        let owner = span.agent.clone();
        self.index.put(
            span.id.clone(),
            Known {
                parent: span.parent.clone(),
                owner: owner.clone(),
                seen: true,
            },
        );
        // A model or tool call that names its agent is most likely that
        // agent's child: its parent is taken to be the agent's until that
        // parent's own span says otherwise.
        if span.work != Work::Agent
            && let (Some(owner), Some(parent)) = (owner, &span.parent)
            && !self.index.peek(parent).is_some_and(|k| k.seen)
        {
            self.index.put(
                parent.clone(),
                Known {
                    parent: None,
                    owner: Some(owner),
                    seen: false,
                },
            );
        }
    }

    /// The nearest agent at or above `span_id`.
    fn owner_from(&self, span_id: Option<&String>) -> Option<AgentRef> {
        let mut at = span_id?.clone();
        for _ in 0..DEPTH {
            let known = self.index.peek(&at)?;
            if let Some(owner) = &known.owner {
                return Some(owner.clone());
            }
            at = known.parent.clone()?;
        }
        None
    }

    fn parentage(&self, span: &SpanFact, agent: &AgentRef) -> Parentage {
        let Some(parent) = &span.parent else {
            return Parentage::Known(None);
        };
        match self.owner_from(Some(parent)) {
            Some(owner) if owner.key == agent.key => Parentage::Known(None),
            Some(owner) => Parentage::Known(Some(owner)),
            None if self
                .index
                .peek(parent)
                .is_some_and(|k| k.seen && k.parent.is_none()) =>
            {
                // The chain reached a root that names no agent: top-level.
                Parentage::Known(None)
            }
            None => Parentage::Unknown,
        }
    }

    fn place(
        &mut self,
        held: Held<T>,
        now_ms: i64,
        agent_starts: &HashMap<String, i64>,
        told: &mut Vec<(Happening, T)>,
    ) {
        let waited = now_ms - held.since_ms;
        let span = &held.span;
        if span.work == Work::Agent {
            let Some(agent) = span.agent.clone() else {
                // An invoke_agent span that names no agent: a link only.
                return;
            };
            let parent = match self.parentage(span, &agent) {
                Parentage::Known(parent) => parent,
                Parentage::Unknown if waited < self.patience.link_ms => {
                    self.held.push(held);
                    return;
                }
                Parentage::Unknown => None,
            };
            self.agent_ended(&held.span, agent, parent, &held.from, told);
            return;
        }
        // A span may name its agent by name alone while the agent's own span
        // gives an id too: the ancestor it names is the same agent.
        let above = self.owner_from(span.parent.as_ref());
        let owner = match (span.agent.clone(), above) {
            (Some(named), Some(above)) if above.name == named.name => Some(above),
            (Some(named), _) => Some(named),
            (None, above) => above,
        };
        match owner {
            Some(owner) => self.step(&held.span, owner, agent_starts, &held.from, told),
            None if waited < self.patience.hold_ms => self.held.push(held),
            None => self.unattributed += 1,
        }
    }

    /// Opens the run if this is its first word; false when it already ended.
    fn open(
        &mut self,
        agent: &AgentRef,
        parent: Option<&AgentRef>,
        run: &str,
        ts_ms: i64,
        from: &T,
        told: &mut Vec<(Happening, T)>,
    ) -> bool {
        match self.runs.get(run) {
            Some(Phase::Ended) => return false,
            Some(Phase::Started) => return true,
            None => {}
        }
        self.runs.put(run.to_owned(), Phase::Started);
        let message = match parent {
            Some(parent) => format!("{} started, for {}", agent.name, parent.name),
            None => format!("{} started", agent.name),
        };
        let started = Happening {
            agent: agent.clone(),
            parent: parent.cloned(),
            kind: EventKind::Started,
            run: run.to_owned(),
            ts_ms,
            data: Map::from_iter([("message".to_owned(), json!(message))]),
            key: format!("otel:{run}:started"),
        };
        told.push((started, from.clone()));
        true
    }

    fn step(
        &mut self,
        span: &SpanFact,
        owner: AgentRef,
        agent_starts: &HashMap<String, i64>,
        from: &T,
        told: &mut Vec<(Happening, T)>,
    ) {
        let run = run_id(&span.trace, Some(&owner)).expect("an owner");
        let started_at = agent_starts.get(&run).copied().unwrap_or(span.start_ms);
        if !self.open(&owner, None, &run, started_at, from, told) {
            return;
        }
        // The span id is in the event's key.
        let mut data = Map::from_iter([("message".to_owned(), json!(span.step_line()))]);
        match &span.work {
            Work::Tool { name } => {
                data.insert("tool".into(), json!(name));
            }
            Work::Model { model: Some(model) } => {
                data.insert("model".into(), json!(model));
            }
            _ => {}
        }
        if let Some(usage) = &span.usage {
            data.insert(
                "usage".into(),
                serde_json::to_value(usage).expect("usage serializes"),
            );
        }
        let step = Happening {
            agent: owner,
            parent: None,
            kind: EventKind::Step,
            run,
            ts_ms: span.end_ms,
            data,
            key: format!("otel:{}", span.id),
        };
        told.push((step, from.clone()));
    }

    fn agent_ended(
        &mut self,
        span: &SpanFact,
        agent: AgentRef,
        parent: Option<AgentRef>,
        from: &T,
        told: &mut Vec<(Happening, T)>,
    ) {
        let run = run_id(&span.trace, Some(&agent)).expect("an agent");
        if !self.open(&agent, parent.as_ref(), &run, span.start_ms, from, told) {
            return;
        }
        // A run its steps opened learns its parent here.
        if let Some((first, _)) = told
            .iter_mut()
            .find(|(h, _)| h.run == run && h.kind == EventKind::Started)
            && let Some(parent) = &parent
        {
            first.parent = Some(parent.clone());
            first.data.insert(
                "message".into(),
                json!(format!("{} started, for {}", agent.name, parent.name)),
            );
        }
        let (kind, data) = match &span.failure {
            Some(error) => (EventKind::Error, json!({ "error": error })),
            None => (
                EventKind::Done,
                json!({ "message": format!("{} finished", agent.name) }),
            ),
        };
        let Value::Object(data) = data else {
            unreachable!("an object")
        };
        self.runs.put(run.clone(), Phase::Ended);
        let end = Happening {
            agent,
            parent,
            kind,
            run,
            ts_ms: span.end_ms,
            data,
            key: format!("otel:{}:end", span.id),
        };
        told.push((end, from.clone()));
    }
}

/// One agent's run in one trace: the same id on every gateway and every replay.
fn run_id(trace: &str, agent: Option<&AgentRef>) -> Option<String> {
    let digest = Sha256::digest(agent?.key.as_bytes());
    Some(format!("otel-{trace}-{}", hex::encode(&digest[..4])))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TRACE: &str = "0af7651916cd43dd8448eb211c80319c";

    fn agent(name: &str) -> AgentRef {
        AgentRef {
            key: format!("{name}@svc"),
            name: name.into(),
            service: "svc".into(),
        }
    }

    fn span(id: &str, parent: Option<&str>, work: Work, named: Option<&str>, end: i64) -> SpanFact {
        SpanFact {
            trace: TRACE.into(),
            id: id.into(),
            parent: parent.map(Into::into),
            start_ms: end - 10,
            end_ms: end,
            work,
            agent: named.map(agent),
            usage: None,
            failure: None,
        }
    }

    fn chat(id: &str, parent: &str, named: Option<&str>, end: i64) -> SpanFact {
        span(
            id,
            Some(parent),
            Work::Model {
                model: Some("gpt-4o-mini".into()),
            },
            named,
            end,
        )
    }

    /// planner(p) → chat(c1), tool(t) → researcher(r) → chat(c2); chat(c3).
    fn trace() -> Vec<SpanFact> {
        vec![
            chat("c1", "p", None, 10),
            chat("c2", "r", None, 20),
            span("r", Some("t"), Work::Agent, Some("researcher"), 21),
            span(
                "t",
                Some("p"),
                Work::Tool {
                    name: "web_search".into(),
                },
                None,
                22,
            ),
            chat("c3", "p", None, 30),
            span("p", None, Work::Agent, Some("planner"), 40),
        ]
    }

    fn lines(told: &[(Happening, ())]) -> Vec<String> {
        told.iter()
            .map(|(h, _)| h)
            .map(|h| {
                format!(
                    "{} {} {}",
                    h.agent.name,
                    h.kind,
                    h.data
                        .get("message")
                        .or(h.data.get("error"))
                        .and_then(Value::as_str)
                        .unwrap_or("")
                )
            })
            .collect()
    }

    #[test]
    fn one_export_of_a_whole_trace_is_two_runs_and_a_sub_agent() {
        let mut assembler = Assembler::<()>::new(Patience::default());
        let told = assembler.take(trace(), (), 0);
        assert_eq!(
            lines(&told)[..3],
            [
                "planner started planner started",
                "planner step chat gpt-4o-mini",
                "researcher started researcher started, for planner",
            ]
        );
        let started: Vec<_> = told
            .iter()
            .map(|(h, _)| h)
            .filter(|h| h.kind == EventKind::Started)
            .map(|h| {
                (
                    h.agent.name.as_str(),
                    h.parent.as_ref().map(|p| p.name.as_str()),
                    h.ts_ms,
                )
            })
            .collect();
        assert_eq!(
            started,
            [("planner", None, 30), ("researcher", Some("planner"), 11)],
            "the planner's run starts when its span did"
        );
        let kinds: Vec<_> = told
            .iter()
            .map(|(h, _)| (h.agent.name.as_str(), h.kind))
            .collect();
        assert_eq!(
            kinds,
            [
                ("planner", EventKind::Started),
                ("planner", EventKind::Step),
                ("researcher", EventKind::Started),
                ("researcher", EventKind::Step),
                ("researcher", EventKind::Done),
                ("planner", EventKind::Step),
                ("planner", EventKind::Step),
                ("planner", EventKind::Done),
            ]
        );
        assert_eq!(assembler.held(), 0);
    }

    #[test]
    fn the_same_trace_twice_tells_the_same_keys() {
        let mut first = Assembler::<()>::new(Patience::default());
        let mut second = Assembler::<()>::new(Patience::default());
        let a: Vec<_> = first
            .take(trace(), (), 0)
            .into_iter()
            .map(|h| (h.0.key, h.0.run))
            .collect();
        let b: Vec<_> = second
            .take(trace(), (), 0)
            .into_iter()
            .map(|h| (h.0.key, h.0.run))
            .collect();
        assert_eq!(a, b);
        assert!(
            first.take(trace(), (), 1).is_empty(),
            "a replay to the same assembler tells nothing new"
        );
    }

    #[test]
    fn steps_that_name_their_agent_open_its_run_before_it_ends() {
        let mut assembler = Assembler::<()>::new(Patience::default());
        let told = assembler.take(vec![chat("c1", "p", Some("planner"), 10)], (), 0);
        let kinds: Vec<_> = told.iter().map(|(h, _)| h.kind).collect();
        assert_eq!(
            kinds,
            [EventKind::Started, EventKind::Step],
            "running from its first span"
        );
        // Its tool call names nobody, but its parent is the planner's span.
        let told = assembler.take(
            vec![span(
                "t",
                Some("p"),
                Work::Tool {
                    name: "search".into(),
                },
                None,
                12,
            )],
            (),
            1,
        );
        assert_eq!(lines(&told), ["planner step search"]);
        let told = assembler.take(
            vec![span("p", None, Work::Agent, Some("planner"), 40)],
            (),
            2,
        );
        assert_eq!(lines(&told), ["planner done planner finished"]);
    }

    #[test]
    fn spans_that_name_no_agent_wait_for_one_and_are_dropped_if_none_comes() {
        let patience = Patience {
            link_ms: 100,
            hold_ms: 1_000,
            max_held: 10,
        };
        let mut assembler = Assembler::<()>::new(patience);
        assert!(
            assembler
                .take(vec![chat("c1", "p", None, 10)], (), 0)
                .is_empty()
        );
        assert_eq!(assembler.held(), 1);
        let told = assembler.take(
            vec![span("p", None, Work::Agent, Some("planner"), 40)],
            (),
            500,
        );
        assert_eq!(lines(&told).len(), 3, "started, the step, done");
        // Nobody ever claims this one.
        assert!(
            assembler
                .take(vec![chat("x", "nobody", None, 50)], (), 600)
                .is_empty()
        );
        assert!(assembler.tick(1_599).is_empty());
        assert_eq!(assembler.held(), 1);
        assert!(assembler.tick(1_601).is_empty());
        assert_eq!((assembler.held(), assembler.unattributed), (0, 1));
    }

    #[test]
    fn a_sub_agent_whose_parent_comes_later_waits_for_it_then_stands_alone() {
        let patience = Patience {
            link_ms: 100,
            hold_ms: 1_000,
            max_held: 10,
        };
        let mut assembler = Assembler::<()>::new(patience);
        let researcher = span("r", Some("t"), Work::Agent, Some("researcher"), 21);
        assert!(
            assembler.take(vec![researcher.clone()], (), 0).is_empty(),
            "waits for its parent"
        );
        let told = assembler.take(
            vec![span(
                "t",
                Some("p"),
                Work::Tool { name: "web".into() },
                Some("planner"),
                22,
            )],
            (),
            50,
        );
        let started = told
            .iter()
            .map(|(h, _)| h)
            .find(|h| h.agent.name == "researcher" && h.kind == EventKind::Started)
            .unwrap();
        assert_eq!(started.parent.as_ref().unwrap().name, "planner");
        // Another whose parent never comes stands alone after the wait.
        let mut alone = researcher;
        alone.trace = "1af7651916cd43dd8448eb211c80319c".into();
        alone.parent = Some("zz".into());
        assert!(assembler.take(vec![alone], (), 200).is_empty());
        let told = assembler.tick(301);
        assert_eq!(told.len(), 2);
        assert_eq!(told[0].0.parent, None);
    }

    #[test]
    fn a_failed_agent_span_ends_its_run_with_its_message() {
        let mut assembler = Assembler::<()>::new(Patience::default());
        let mut planner = span("p", None, Work::Agent, Some("planner"), 40);
        planner.failure = Some("quota exceeded".into());
        let told = assembler.take(vec![planner], (), 0);
        assert_eq!(told[1].0.kind, EventKind::Error);
        assert_eq!(told[1].0.data["error"], "quota exceeded");
        assert!(
            told[1]
                .0
                .run
                .starts_with("otel-0af7651916cd43dd8448eb211c80319c-")
        );
    }

    #[test]
    fn held_spans_are_bounded() {
        let patience = Patience {
            link_ms: 100,
            hold_ms: 1_000,
            max_held: 3,
        };
        let mut assembler = Assembler::<()>::new(patience);
        let orphans = (0..5)
            .map(|i| chat(&format!("c{i}"), "nobody", None, i))
            .collect();
        assembler.take(orphans, (), 0);
        assert_eq!((assembler.held(), assembler.unattributed), (3, 2));
    }
}
