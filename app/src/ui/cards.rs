//! The pipeline drawn live: one card per candidate, the greedy run, every strategy's pick, a
//! chart of the verifier's scores, and the timings.

use cotnpot_pipeline::Stage;
use cotnpot_pipeline::runner::PotOutcome;
use cotnpot_pipeline::strategy::HEADLINE_STRATEGY;
use leptos::prelude::*;

use super::state::{AppState, CandidateView};

const STAGES: [(Stage, &str); 6] = [
    (Stage::Sample, "sample N solutions and the greedy one"),
    (Stage::Translate, "write programs"),
    (Stage::Run, "run Python"),
    (Stage::Filter, "CoTnPoT filter"),
    (Stage::Score, "verifier"),
    (Stage::Judge, "judge"),
];

const STRATEGY_LABELS: [(&str, &str); 9] = [
    ("greedy", "Greedy"),
    ("majority", "Majority vote"),
    ("verifier", "Verifier best-of-N"),
    ("cotnpot_majority", "CoTnPoT + majority"),
    ("cotnpot_verifier", "CoTnPoT + verifier"),
    ("weighted", "Verifier-weighted vote"),
    ("joint_vote", "Joint CoT + PoT vote"),
    ("cotnpot_weighted", "CoTnPoT + weighted vote"),
    ("joint_weighted", "Joint vote, verifier-weighted"),
];

/// Why the headline shows [`HEADLINE_STRATEGY`]'s answer; the figures are `cotnpot report
/// --recompute` on the committed records (`BENCHMARKS.md`, "Every strategy on the dev slices").
const HEADLINE_WHY: &str = "The solutions whose program agrees with them (for code: passes the \
visible test) vote, each weighted by the model's confidence in it; when none agrees, every \
solution's answer and every program's result count as one vote. This was the most accurate pick \
we measured with Qwen2.5-Coder-0.5B: 46% of 100 GSM8K dev problems (majority vote 35%, greedy \
28%) and 49% of 85 MBPP dev problems (majority vote 32%, greedy 31%); BENCHMARKS.md.";

#[component]
pub fn RunPanel() -> impl IntoView {
    let state = expect_context::<AppState>();
    let has_run = move || state.run.with(|r| r.problem.is_some());
    view! {
        <Show when=has_run>
            <section class="panel run" data-testid="run">
                <h2>"Solutions"</h2>
                <Stages/>
                <Timings/>
                <div class="cards">
                    <For each=move || 0..state.run.with(|r| r.candidates.len()) key=|i| *i let:i>
                        <Card index=i/>
                    </For>
                    <GreedyCard/>
                </div>
                <Headline/>
                <Strategies/>
                <ScoreChart/>
            </section>
        </Show>
    }
}

#[component]
fn Stages() -> impl IntoView {
    let state = expect_context::<AppState>();
    let current = move || state.run.with(|r| (r.stage, r.running, r.stopped, r.record.is_some()));
    view! {
        <ol class="stages" data-testid="stages">
            {STAGES.iter().enumerate().map(|(i, (_, label))| {
                let class = move || {
                    let (now, running, stopped, done) = current();
                    let at = now.and_then(|s| STAGES.iter().position(|(x, _)| *x == s));
                    match at {
                        _ if done => "done",
                        Some(a) if a == i && running => "active",
                        Some(a) if a == i && stopped => "stopped",
                        Some(a) if a > i => "done",
                        _ => "",
                    }
                };
                view! { <li class=class>{*label}</li> }
            }).collect_view()}
            <li class="state" data-testid="run-state">{move || {
                let (_, running, stopped, done) = current();
                if done { "finished" } else if stopped { "stopped" } else if running { "running" } else { "failed" }
            }}</li>
        </ol>
    }
}

#[component]
fn Timings() -> impl IntoView {
    let state = expect_context::<AppState>();
    move || {
        state.run.with(|r| {
            let mut parts = Vec::new();
            if let Some(t) = r.first_token {
                parts.push(format!("first token after {t:.2} s"));
            }
            if let Some(rate) = r.sample_tokens_per_second() {
                parts.push(format!("sampling {rate:.3} tokens/s over {} sequences", r.candidates.len()));
            }
            if let Some(t) = r.stop_confirmed {
                parts.push(format!("the engine stopped {t:.1} s after Stop (at the end of its decode step)"));
            }
            if let Some(record) = &r.record {
                let t = &record.timings;
                parts.push(format!(
                    "stages: sample (N + greedy) {:.1} s · programs {:.1} s · Python {:.1} s · filter {:.1} s · verifier {:.1} s · total {:.1} s",
                    t.sample, t.pot, t.run, t.filter, t.score, record.seconds
                ));
            }
            view! { <p class="timings" data-testid="timings">{parts.join(" · ")}</p> }
        })
    }
}

pub fn outcome_view(outcome: &PotOutcome) -> (String, &'static str, String) {
    match outcome {
        PotOutcome::Finished { stdout } => ("finished".into(), "ok", stdout.clone()),
        PotOutcome::Error { stdout, error } => (format!("error: {error}"), "error", stdout.clone()),
        PotOutcome::Timeout { stdout } => ("timed out".into(), "timeout", stdout.clone()),
        PotOutcome::OutputTooLarge { limit_bytes } => (format!("printed more than {limit_bytes} bytes"), "error", String::new()),
        PotOutcome::Unavailable { reason } => (format!("could not run: {reason}"), "error", String::new()),
    }
}

#[component]
fn Card(index: usize) -> impl IntoView {
    let state = expect_context::<AppState>();
    let cand = move || state.run.with(|r| r.candidates.get(index).cloned().unwrap_or_default());
    let winner = move || state.run.with(|r| r.record.as_ref().and_then(|rec| rec.picked_candidate.get(HEADLINE_STRATEGY).copied().flatten()) == Some(index));
    let correct = move || state.run.with(|r| r.record.as_ref().and_then(|rec| rec.candidates.get(index).and_then(|c| c.correct)));
    view! {
        <article class="card" data-testid="candidate" class:dropped=move || cand().kept == Some(false) class:winner=winner>
            <header>
                <span>{format!("#{}", index + 1)}</span>
                <span class="tokens">{move || format!("{} tokens", cand().tokens)}</span>
                {move || correct().map(|ok| view! { <span class=if ok { "mark right" } else { "mark wrong" }>{if ok { "✓ correct" } else { "✗ wrong" }}</span> })}
            </header>
            <pre class="cot">{move || cand().text}</pre>
            <CardDetails cand=Signal::derive(cand)/>
        </article>
    }
}

#[component]
fn CardDetails(cand: Signal<CandidateView>) -> impl IntoView {
    view! {
        <dl>
            {move || cand.get().answer.map(|a| view! { <dt>"answer"</dt><dd class="answer" data-testid="answer">{a.unwrap_or_else(|| "none found".into())}</dd> })}
            {move || cand.get().code.map(|c| view! { <dt>"program"</dt><dd><pre class="code" data-testid="code">{c.unwrap_or_else(|| "no program in the reply".into())}</pre></dd> })}
            {move || cand.get().outcome.map(|o| {
                let (summary, class, stdout) = outcome_view(&o);
                view! {
                    <dt>"Python"</dt>
                    <dd class=format!("outcome {class}") data-testid="outcome" data-kind=class>
                        <span>{summary}</span>
                        <pre class="stdout" data-testid="stdout">{stdout}</pre>
                    </dd>
                }
            })}
            {move || cand.get().kept.map(|k| view! { <dt>"filter"</dt><dd data-testid="verdict" class=if k { "kept" } else { "struck" }>{if k { "kept: CoT and PoT agree" } else { "dropped: CoT and PoT disagree" }}</dd> })}
            {move || cand.get().score.map(|s| view! { <dt>"verifier"</dt><dd data-testid="score">{s.map(|s| format!("{s:.3} mean log-prob")).unwrap_or_else(|| "not scored".into())}</dd> })}
        </dl>
    }
}

#[component]
fn GreedyCard() -> impl IntoView {
    let state = expect_context::<AppState>();
    let text = move || state.run.with(|r| r.greedy.clone());
    let answer = move || state.run.with(|r| r.record.as_ref().map(|rec| rec.greedy.answer.clone().unwrap_or_else(|| "none found".into())));
    view! {
        <article class="card greedy" data-testid="greedy">
            <header><span>"greedy (temperature 0)"</span></header>
            <pre class="cot">{text}</pre>
            {move || answer().map(|a| view! { <dl><dt>"answer"</dt><dd class="answer">{a}</dd></dl> })}
        </article>
    }
}

/// The answer the page stands behind: the strategy with the best measured accuracy.
#[component]
fn Headline() -> impl IntoView {
    let state = expect_context::<AppState>();
    move || {
        state.run.with(|r| r.record.clone()).map(|record| {
            let strategy = HEADLINE_STRATEGY;
            let label = STRATEGY_LABELS.iter().find(|(key, _)| *key == strategy).map_or(strategy, |(_, label)| *label);
            let answer = record.picks.get(strategy).cloned().flatten().unwrap_or_else(|| "no answer found".into());
            let program = answer.contains('\n');
            let judged = record.correct.get(strategy).map(|ok| if *ok { " ✓" } else { " ✗" }).unwrap_or_default();
            view! {
                <div class="headline" data-testid="headline" data-strategy=strategy>
                    <p class="answer">"Answer: "<strong data-testid="headline-answer" class:program=program>{answer}</strong>{judged}</p>
                    <p class="why">{format!("Picked by “{label}”. ")}{HEADLINE_WHY}</p>
                </div>
            }
        })
    }
}

#[component]
fn Strategies() -> impl IntoView {
    let state = expect_context::<AppState>();
    move || {
        state.run.with(|r| r.record.clone()).map(|record| {
            let rows = STRATEGY_LABELS
                .iter()
                .map(|(key, label)| {
                    let pick = record.picks.get(*key).cloned().flatten().unwrap_or_else(|| "—".into());
                    let cand = record.picked_candidate.get(*key).copied().flatten().map(|c| format!("#{}", c + 1)).unwrap_or_default();
                    let judged = match record.correct.get(*key) {
                        Some(true) => "✓",
                        Some(false) => "✗",
                        None => "",
                    };
                    view! { <tr data-testid="strategy" data-strategy=*key><td>{*label}</td><td class="pick">{pick}</td><td>{cand}</td><td>{judged}</td></tr> }
                })
                .collect_view();
            let gold = record.gold.clone().map(|g| view! { <p class="gold">"Gold answer: "<code>{g}</code></p> });
            let emptied = record.filter_emptied.then(|| view! { <p class="note">"The filter kept no candidate, so CoTnPoT + majority and CoTnPoT + verifier fell back to the verifier over all candidates, and CoTnPoT + weighted vote to the joint vote."</p> });
            view! {
                <div class="strategies" data-testid="strategies">
                    <h3>"Every strategy's answer"</h3>
                    <table><thead><tr><th>"strategy"</th><th>"answer"</th><th>"candidate"</th><th>"correct"</th></tr></thead><tbody>{rows}</tbody></table>
                    {gold}
                    {emptied}
                </div>
            }
        })
    }
}

/// Bars of each candidate's verifier score (mean log-prob; higher is better), struck-through
/// candidates in grey.
#[component]
fn ScoreChart() -> impl IntoView {
    let state = expect_context::<AppState>();
    move || {
        let scores: Vec<(usize, f64, bool)> =
            state.run.with(|r| r.candidates.iter().enumerate().filter_map(|(i, c)| Some((i, c.score.flatten()?, c.kept != Some(false)))).collect());
        if scores.is_empty() {
            return None;
        }
        let lo = scores.iter().map(|s| s.1).fold(f64::INFINITY, f64::min);
        let hi = scores.iter().map(|s| s.1).fold(f64::NEG_INFINITY, f64::max);
        let span = (hi - lo).max(1e-9);
        let bar = 28.0;
        let height = scores.len() as f64 * bar + 10.0;
        let bars = scores
            .into_iter()
            .enumerate()
            .map(|(row, (cand, score, kept))| {
                let width = 40.0 + 320.0 * (score - lo) / span;
                let y = 5.0 + row as f64 * bar;
                view! {
                    <g>
                        <text x="0" y=y + 18.0>{format!("#{}", cand + 1)}</text>
                        <rect x="40" y=y width=width height=bar - 6.0 class=if kept { "kept" } else { "struck" }></rect>
                        <text x=width + 46.0 y=y + 18.0>{format!("{score:.3}")}</text>
                    </g>
                }
            })
            .collect_view();
        Some(view! {
            <figure class="chart" data-testid="chart">
                <svg viewBox=format!("0 0 460 {height}") width="460" height=height>{bars}</svg>
                <figcaption>"Verifier scores (mean log-probability of the solution's tokens); grey: dropped by the filter."</figcaption>
            </figure>
        })
    }
}
