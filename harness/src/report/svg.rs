//! A counterexample as a sequence diagram in inline SVG, drawn from the Mermaid subset the model
//! checker writes (`participant X`, `A->>B: text`, `Note over A: text`), so the report needs
//! no script and no network to show it.

use super::escape;

/// One line of the diagram.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Row {
    Arrow {
        from: usize,
        to: usize,
        text: String,
    },
    Note {
        over: usize,
        text: String,
    },
}

const COLUMN: usize = 170;
const MARGIN: usize = 20;
const HEAD: usize = 40;
const LINE: usize = 15;
/// Characters per line of a note, wrapped at words.
const WRAP: usize = 60;

/// The SVG, or None if `mermaid` is not a sequence diagram this reads.
pub fn sequence_diagram(mermaid: &str) -> Option<String> {
    let mut lines = mermaid.lines().map(str::trim).filter(|l| !l.is_empty());
    if lines.next()? != "sequenceDiagram" {
        return None;
    }
    let mut actors: Vec<String> = Vec::new();
    let index = |name: &str, actors: &mut Vec<String>| {
        actors.iter().position(|a| a == name).unwrap_or_else(|| {
            actors.push(name.to_string());
            actors.len() - 1
        })
    };
    let mut rows = Vec::new();
    for l in lines {
        if let Some(name) = l.strip_prefix("participant ") {
            index(name.trim(), &mut actors);
        } else if let Some(rest) = l.strip_prefix("Note over ") {
            let (who, text) = rest.split_once(':')?;
            let who = who.split(',').next()?.trim();
            rows.push(Row::Note {
                over: index(who, &mut actors),
                text: text.trim().to_string(),
            });
        } else if let Some((head, text)) = l.split_once(':') {
            let (from, to) = head.split_once("->>")?;
            rows.push(Row::Arrow {
                from: index(from.trim(), &mut actors),
                to: index(to.trim(), &mut actors),
                text: text.trim().to_string(),
            });
        } else {
            return None;
        }
    }
    Some(draw(&actors, &rows))
}

fn wrap(text: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    for word in text.split_whitespace() {
        let last = out.last_mut().expect("one line at least");
        if !last.is_empty() && last.len() + 1 + word.len() > WRAP {
            out.push(word.to_string());
        } else {
            if !last.is_empty() {
                last.push(' ');
            }
            last.push_str(word);
        }
    }
    out
}

fn draw(actors: &[String], rows: &[Row]) -> String {
    let x = |i: usize| MARGIN + COLUMN / 2 + i * COLUMN;
    let width = MARGIN * 2 + COLUMN * actors.len().max(1) + COLUMN;
    let mut body = String::new();
    let mut y = HEAD + 20;
    for row in rows {
        match row {
            Row::Arrow { from, to, text } => {
                let (x1, x2) = (x(*from), x(*to));
                let mid = x1.min(x2) + x1.abs_diff(x2) / 2;
                body += &format!(
                    "<text x=\"{mid}\" y=\"{}\" text-anchor=\"middle\" class=\"msg\">{}</text>\n",
                    y,
                    escape(text)
                );
                y += 6;
                let head = if x2 >= x1 { x2 - 8 } else { x2 + 8 };
                body += &format!(
                    "<line x1=\"{x1}\" y1=\"{y}\" x2=\"{x2}\" y2=\"{y}\" class=\"arrow\"/>\
                     <polygon points=\"{x2},{y} {head},{} {head},{}\" class=\"head\"/>\n",
                    y - 4,
                    y + 4
                );
                y += LINE + 6;
            }
            Row::Note { over, text } => {
                let lines = wrap(text);
                let h = lines.len() * LINE + 8;
                let w = (lines.iter().map(String::len).max().unwrap_or(0) * 6 + 16).max(60);
                let left = x(*over).saturating_sub(w / 2).max(2);
                body += &format!(
                    "<rect x=\"{left}\" y=\"{}\" width=\"{w}\" height=\"{h}\" class=\"note\"/>\n",
                    y - 12
                );
                for (k, l) in lines.iter().enumerate() {
                    body += &format!(
                        "<text x=\"{}\" y=\"{}\" class=\"notetext\">{}</text>\n",
                        left + 8,
                        y + k * LINE,
                        escape(l)
                    );
                }
                y += h + 8;
            }
        }
    }
    let height = y + 10;
    let mut head = String::new();
    for (i, a) in actors.iter().enumerate() {
        head += &format!(
            "<rect x=\"{}\" y=\"8\" width=\"{}\" height=\"24\" class=\"actor\"/>\
             <text x=\"{}\" y=\"25\" text-anchor=\"middle\" class=\"actortext\">{}</text>\
             <line x1=\"{}\" y1=\"32\" x2=\"{}\" y2=\"{height}\" class=\"life\"/>\n",
            x(i) - 50,
            100,
            x(i),
            escape(a),
            x(i),
            x(i)
        );
    }
    let wide = width.max(rows.iter().fold(0, |m, r| match r {
        Row::Note { over, text } => m.max(x(*over) + wrap(text)[0].len() * 3 + 60),
        Row::Arrow { .. } => m,
    }));
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"sequence\" role=\"img\" \
         width=\"{wide}\" height=\"{height}\" viewBox=\"0 0 {wide} {height}\">\n{head}{body}</svg>\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_counterexample_draws_actors_arrows_and_notes() {
        let svg = sequence_diagram(
            "sequenceDiagram\n    participant Server\n    participant P0\n    P1->>Server: 1. leave\n    Note over P1: P1 is <out>\n    Server->>P0: 2. 'P1 left'\n",
        )
        .unwrap();
        assert_eq!(svg.matches("class=\"actor\"").count(), 3);
        assert_eq!(svg.matches("class=\"arrow\"").count(), 2);
        assert_eq!(svg.matches("class=\"note\"").count(), 1);
        assert!(svg.contains("P1 is &lt;out&gt;"));
        assert!(svg.contains("&#39;P1 left&#39;"));
        assert_eq!(sequence_diagram("graph TD\nA-->B"), None);
        assert_eq!(sequence_diagram("sequenceDiagram\nnonsense"), None);
    }

    #[test]
    fn long_notes_wrap_at_words() {
        let text = "word ".repeat(40);
        let lines = wrap(&text);
        assert!(lines.len() >= 3);
        assert!(lines.iter().all(|l| l.len() <= WRAP));
    }
}
