//! Counterexamples in words and as a Mermaid sequence diagram.

use serde::Serialize;

/// One arrow of a step: who sends what to whom.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Arrow {
    pub from: String,
    pub to: String,
    pub label: String,
}

/// One action of a run, in plain words, with the messages it moved.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Step {
    /// Who acts ("P1", "Server").
    pub actor: String,
    /// What happened, a sentence without the number ("server drops the Welcome to P2").
    pub words: String,
    pub arrows: Vec<Arrow>,
    /// What it changed, one clause each ("P1 uses K2 for epoch 2 ...", "P0 can unwrap K2").
    pub effects: Vec<String>,
}

impl Step {
    pub fn new(actor: impl Into<String>, words: impl Into<String>) -> Step {
        Step {
            actor: actor.into(),
            words: words.into(),
            arrows: Vec::new(),
            effects: Vec::new(),
        }
    }

    #[must_use]
    pub fn arrow(
        mut self,
        from: impl Into<String>,
        to: impl Into<String>,
        label: impl Into<String>,
    ) -> Step {
        self.arrows.push(Arrow {
            from: from.into(),
            to: to.into(),
            label: label.into(),
        });
        self
    }
}

/// A run from the initial state, and what is wrong (or shown) at its end.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Trace {
    pub steps: Vec<Step>,
    /// The final state in words: who holds what.
    pub final_state: String,
}

impl Trace {
    /// Each step numbered, with what it changed: "3. server drops the Welcome to P2".
    pub fn numbered_steps(&self) -> Vec<String> {
        self.steps
            .iter()
            .enumerate()
            .map(|(i, s)| {
                if s.effects.is_empty() {
                    format!("{}. {}", i + 1, s.words)
                } else {
                    format!("{}. {}: {}", i + 1, s.words, s.effects.join("; "))
                }
            })
            .collect()
    }

    /// The numbered steps, one per line, then the final state.
    pub fn to_words(&self) -> String {
        let mut out = String::new();
        for line in self.numbered_steps() {
            out.push_str(&line);
            out.push('\n');
        }
        out.push_str(&format!("   then: {}\n", self.final_state));
        out
    }

    /// The same run as a Mermaid `sequenceDiagram`.
    pub fn to_mermaid(&self) -> String {
        let mut actors: Vec<String> = Vec::new();
        let mut see = |a: &str| {
            if !actors.iter().any(|x| x == a) {
                actors.push(a.to_string());
            }
        };
        see("Server");
        for s in &self.steps {
            see(&s.actor);
            for a in &s.arrows {
                see(&a.from);
                see(&a.to);
            }
        }
        actors.sort_by_key(|a| (a != "Server", a.clone()));
        let mut out = String::from("sequenceDiagram\n");
        for a in &actors {
            out.push_str(&format!("    participant {a}\n"));
        }
        for (i, s) in self.steps.iter().enumerate() {
            if s.arrows.is_empty() {
                out.push_str(&format!(
                    "    Note over {}: {}. {}\n",
                    s.actor,
                    i + 1,
                    mermaid_text(&s.words)
                ));
            }
            for a in &s.arrows {
                out.push_str(&format!(
                    "    {}->>{}: {}. {}\n",
                    a.from,
                    a.to,
                    i + 1,
                    mermaid_text(&a.label)
                ));
            }
            if !s.effects.is_empty() {
                // Effects land where the step's messages do (or on its actor).
                let at = s.arrows.last().map_or(s.actor.as_str(), |a| a.to.as_str());
                let at = if at == "Server" { s.actor.as_str() } else { at };
                out.push_str(&format!(
                    "    Note over {at}: {}\n",
                    mermaid_text(&s.effects.join(", "))
                ));
            }
        }
        out.push_str(&format!(
            "    Note over Server: {}\n",
            mermaid_text(&self.final_state)
        ));
        out
    }
}

/// Mermaid ends a message at `;` and a line at `#`; keep labels to plain text.
fn mermaid_text(s: &str) -> String {
    s.replace(';', ",").replace('#', "no. ")
}
