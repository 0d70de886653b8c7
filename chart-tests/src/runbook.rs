//! The shell commands of a Markdown runbook: every fenced code block and every inline code span,
//! with backslash continuations joined, comments dropped, and compound lines (`a && b`, `a | b`,
//! `x; y`, `eval $(cmd)`, `time cmd`) split into the simple commands they run.

/// One simple command and where the runbook has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    /// 1-based line of the README where the command (or its first continuation line) starts.
    pub line: usize,
    /// The words after shell quote removal, e.g. ["helm", "upgrade", "todo-chatbot", ...].
    pub words: Vec<String>,
}

impl Command {
    pub fn program(&self) -> &str {
        self.words.first().map_or("", String::as_str)
    }

    /// The command as a reader would type it (words joined by spaces).
    pub fn text(&self) -> String {
        self.words.join(" ")
    }

    /// The value of an option given as `-n x`, `--namespace x` or `--namespace=x`.
    pub fn option(&self, names: &[&str]) -> Option<&str> {
        let mut words = self.words.iter();
        while let Some(word) = words.next() {
            if names.contains(&word.as_str()) {
                return words.next().map(String::as_str);
            }
            if let Some((name, value)) = word.split_once('=')
                && names.contains(&name)
            {
                return Some(value);
            }
        }
        None
    }

    /// Every value of a repeatable option (`--set a=1 --set b=2`).
    pub fn options(&self, names: &[&str]) -> Vec<&str> {
        let mut found = Vec::new();
        let mut words = self.words.iter();
        while let Some(word) = words.next() {
            if names.contains(&word.as_str()) {
                if let Some(value) = words.next() {
                    found.push(value.as_str());
                }
            } else if let Some((name, value)) = word.split_once('=')
                && names.contains(&name)
            {
                found.push(value);
            }
        }
        found
    }

    /// The words that are neither options nor option values (for `options_with_values`).
    pub fn positionals(&self, options_with_values: &[&str]) -> Vec<&str> {
        let mut found = Vec::new();
        let mut words = self.words.iter().skip(1);
        while let Some(word) = words.next() {
            if options_with_values.contains(&word.as_str()) {
                words.next();
            } else if !word.starts_with('-') {
                found.push(word.as_str());
            }
        }
        found
    }
}

/// Every simple command in the Markdown text, in order.
pub fn commands(markdown: &str) -> Vec<Command> {
    let mut found = Vec::new();
    let mut in_block = false;
    let mut pending: Option<(usize, String)> = None;
    for (index, line) in markdown.lines().enumerate() {
        let number = index + 1;
        if line.trim_start().starts_with("```") {
            in_block = !in_block;
            if let Some((start, text)) = pending.take() {
                found.extend(simple_commands(start, &text));
            }
            continue;
        }
        if in_block {
            let code = strip_comment(line);
            let (start, mut text) = pending.take().unwrap_or((number, String::new()));
            match code.trim_end().strip_suffix('\\') {
                Some(continued) => {
                    text.push_str(continued);
                    text.push(' ');
                    pending = Some((start, text));
                }
                None => {
                    text.push_str(&code);
                    found.extend(simple_commands(start, &text));
                }
            }
        } else {
            // Inline code spans in prose: `kubectl logs -n todo-chatbot <pod-name>`.
            for (position, span) in line.split('`').enumerate() {
                if position % 2 == 1 {
                    found.extend(simple_commands(number, span));
                }
            }
        }
    }
    found
}

/// The line without a shell comment (a `#` at a word start, outside quotes).
fn strip_comment(line: &str) -> String {
    let mut quote = None;
    let mut previous = ' ';
    for (at, character) in line.char_indices() {
        match (quote, character) {
            (None, '"' | '\'') => quote = Some(character),
            (Some(open), _) if character == open => quote = None,
            (None, '#') if previous.is_whitespace() => return line[..at].to_owned(),
            _ => {}
        }
        previous = character;
    }
    line.to_owned()
}

/// Splits a command line at `&&`, `||`, `;`, `|` and `$(`…`)`, drops `time`/`eval` prefixes,
/// and removes shell quotes from each word.
fn simple_commands(line: usize, text: &str) -> Vec<Command> {
    let mut commands = Vec::new();
    let mut words: Vec<String> = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut quote = None;
    let finish_word = |word: &mut String, in_word: &mut bool, words: &mut Vec<String>| {
        if *in_word {
            words.push(std::mem::take(word));
            *in_word = false;
        }
    };
    let finish_command = |words: &mut Vec<String>, commands: &mut Vec<Command>| {
        let mut taken = std::mem::take(words);
        while matches!(taken.first().map(String::as_str), Some("time" | "eval" | "sudo")) {
            taken.remove(0);
        }
        if !taken.is_empty() {
            commands.push(Command { line, words: taken });
        }
    };
    let mut characters = text.chars().peekable();
    while let Some(character) = characters.next() {
        match (quote, character) {
            (Some(open), _) if character == open => quote = None,
            (Some(_), _) => word.push(character),
            (None, '"' | '\'') => {
                quote = Some(character);
                in_word = true;
            }
            (None, '$') if characters.peek() == Some(&'(') => {
                characters.next();
                finish_word(&mut word, &mut in_word, &mut words);
                finish_command(&mut words, &mut commands);
            }
            (None, ')' | ';' | '|' | '&') => {
                finish_word(&mut word, &mut in_word, &mut words);
                finish_command(&mut words, &mut commands);
            }
            (None, _) if character.is_whitespace() => finish_word(&mut word, &mut in_word, &mut words),
            (None, _) => {
                word.push(character);
                in_word = true;
            }
        }
    }
    finish_word(&mut word, &mut in_word, &mut words);
    finish_command(&mut words, &mut commands);
    commands
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(markdown: &str) -> Vec<String> {
        commands(markdown).iter().map(Command::text).collect()
    }

    #[test]
    fn blocks_join_continuations_and_drop_comments() {
        let markdown = "intro\n```bash\n# a comment\nhelm upgrade r ./chart \\\n  -n ns \\\n  --set a.b=\"x y\" \\\n  --wait\nkubectl get pods -n ns   # trailing\n```\n";
        assert_eq!(texts(markdown), ["helm upgrade r ./chart -n ns --set a.b=x y --wait", "kubectl get pods -n ns"]);
        assert_eq!(commands(markdown)[0].line, 4);
        assert_eq!(commands(markdown)[0].options(&["--set"]), ["a.b=x y"]);
        assert_eq!(commands(markdown)[1].option(&["-n", "--namespace"]), Some("ns"));
    }

    #[test]
    fn compound_lines_split_into_simple_commands() {
        let markdown = "```\neval $(minikube docker-env)\ndocker images | grep todo\ntime ./scripts/deploy.sh\na && b; c\n```\nSee `kubectl get all -n x` and `helm list`.\n";
        assert_eq!(
            texts(markdown),
            [
                "minikube docker-env",
                "docker images",
                "grep todo",
                "./scripts/deploy.sh",
                "a",
                "b",
                "c",
                "kubectl get all -n x",
                "helm list"
            ]
        );
    }

    #[test]
    fn a_hash_inside_a_word_or_quotes_is_not_a_comment() {
        assert_eq!(texts("```\necho a#b \"c # d\"\n```\n"), ["echo a#b c # d"]);
    }

    #[test]
    fn positionals_skip_options_and_their_values() {
        let command = &commands("```\nhelm rollback todo-chatbot 2 -n ns --wait\n```\n")[0];
        assert_eq!(command.positionals(&["-n"]), ["rollback", "todo-chatbot", "2"]);
    }
}
