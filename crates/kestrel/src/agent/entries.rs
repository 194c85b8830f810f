//! Script entries: each `[[script]]` compiled, loaded and attached on its own, so one that
//! fails (syntax, verifier, attach, a mapping that does not fit its maps) is logged and
//! reported while the others run. Failed entries are tried again on every reload.

use kestrel_kernel::KernelFacts;
use kestrel_runtime::{LoadOptions, OutputFormat, Session};

use super::config::ScriptConfig;
use super::metrics::{check_against, MetricState};

/// Where an entry failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// The script has errors, or a metric mapping does not fit its maps.
    Compile,
    /// Creating maps or loading programs (verifier, permissions).
    Load,
    /// Attaching a probe or running BEGIN.
    Attach,
}

impl Stage {
    /// The `stage` label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Compile => "compile",
            Stage::Load => "load",
            Stage::Attach => "attach",
        }
    }
}

/// A running or failed script.
pub enum State {
    /// Loaded and attached.
    Running {
        /// The live script.
        session: Box<Session>,
        /// Probes attached.
        attached: usize,
    },
    /// Not running.
    Failed {
        /// Where it failed.
        stage: Stage,
        /// Why, in one line.
        error: String,
    },
}

/// One `[[script]]` and its state.
pub struct Entry {
    /// Its config, compared on reload to keep unchanged entries.
    pub cfg: ScriptConfig,
    /// Running or failed.
    pub state: State,
    /// Its metrics' state (caps, decoder errors).
    pub metrics: Vec<MetricState>,
}

impl Entry {
    /// Whether it runs.
    pub fn running(&self) -> bool {
        matches!(self.state, State::Running { .. })
    }
}

/// Compiles, loads and attaches `cfg`; never fails as a whole (a failure is the state).
/// Events BEGIN printed go to `out`.
pub fn start(
    cfg: &ScriptConfig,
    kernel: &(dyn KernelFacts + Sync),
    out: &mut dyn std::io::Write,
) -> Entry {
    let metrics = cfg.metrics.iter().cloned().map(MetricState::new).collect();
    let state = match try_start(cfg, kernel, out) {
        Ok((session, attached)) => {
            eprintln!(
                "kestrel agent: script {}: {attached} probe(s) attached",
                cfg.name
            );
            State::Running {
                session: Box::new(session),
                attached,
            }
        }
        Err((stage, error)) => {
            eprintln!(
                "kestrel agent: script {} failed to {}: {error}",
                cfg.name,
                stage.as_str()
            );
            State::Failed { stage, error }
        }
    };
    Entry {
        cfg: cfg.clone(),
        state,
        metrics,
    }
}

fn try_start(
    cfg: &ScriptConfig,
    kernel: &(dyn KernelFacts + Sync),
    out: &mut dyn std::io::Write,
) -> Result<(Session, usize), (Stage, String)> {
    let compiled = crate::compile::compile(
        &cfg.origin,
        &cfg.source,
        kernel,
        &kestrel_lang::Options::default(),
    )
    .map_err(|e| (Stage::Compile, format!("{e:#}")))?
    .ok_or_else(|| {
        (
            Stage::Compile,
            "the script has errors (shown above)".to_string(),
        )
    })?;
    let object = compiled.object;
    check_against(&object, &cfg.metrics).map_err(|e| (Stage::Compile, e))?;
    let options = LoadOptions {
        format: OutputFormat::Text,
        verbose_verifier: false,
        child_pid: None,
    };
    let mut session = Session::load(object.clone(), &options).map_err(|e| {
        crate::run::report(&e, &object, &cfg.origin, &cfg.source);
        (Stage::Load, e.to_string())
    })?;
    let attached = session.attach().map_err(|e| {
        crate::run::report(&e, &object, &cfg.origin, &cfg.source);
        (Stage::Attach, e.to_string())
    })?;
    session
        .run_begin(out)
        .map_err(|e| (Stage::Attach, format!("BEGIN: {e}")))?;
    Ok((session, attached))
}

/// The new set of entries for `scripts`: an entry whose config did not change and that
/// runs is moved over as it is (its maps, and so its counters, survive); every other one
/// is started anew, failed ones included. Nothing in `old` is detached here: the caller
/// drops what is left of `old` after the swap.
pub fn rebuild(
    old: &mut Vec<Entry>,
    scripts: &[ScriptConfig],
    kernel: &(dyn KernelFacts + Sync),
    out: &mut dyn std::io::Write,
) -> Vec<Entry> {
    let mut new = Vec::with_capacity(scripts.len());
    for cfg in scripts {
        let same = old.iter().position(|e| e.running() && e.cfg == *cfg);
        match same {
            Some(i) => new.push(old.swap_remove(i)),
            None => new.push(start(cfg, kernel, out)),
        }
    }
    new
}
