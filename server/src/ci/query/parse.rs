//! Lexer and recursive-descent parser. Errors carry the character position and what was
//! expected there.

use super::ast::{Comparison, Expr, Op, Value};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("query error at position {position}: {message}")]
pub struct QueryError {
    /// 0-based character offset into the query.
    pub position: usize,
    pub message: String,
}

const MAX_LENGTH: usize = 4000;
const MAX_DEPTH: usize = 32;

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Word(String),
    Quoted(String),
    Op(Op),
    Open,
    Close,
}

#[derive(Debug, Clone)]
struct Lexeme {
    token: Token,
    position: usize,
}

fn err<T>(position: usize, message: impl Into<String>) -> Result<T, QueryError> {
    Err(QueryError {
        position,
        message: message.into(),
    })
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '.' | '-' | ':' | '/' | '%' | '*' | '+' | '@')
}

fn lex(input: &str) -> Result<Vec<Lexeme>, QueryError> {
    let chars: Vec<char> = input.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let start = i;
        match c {
            c if c.is_whitespace() => i += 1,
            '(' => {
                out.push(Lexeme {
                    token: Token::Open,
                    position: start,
                });
                i += 1;
            }
            ')' => {
                out.push(Lexeme {
                    token: Token::Close,
                    position: start,
                });
                i += 1;
            }
            '"' | '\'' => {
                let quote = c;
                i += 1;
                let mut text = String::new();
                loop {
                    match chars.get(i) {
                        None => return err(start, "unterminated string: expected a closing quote"),
                        Some('\\') if chars.get(i + 1).is_some() => {
                            text.push(chars[i + 1]);
                            i += 2;
                        }
                        Some(&q) if q == quote => {
                            i += 1;
                            break;
                        }
                        Some(&other) => {
                            text.push(other);
                            i += 1;
                        }
                    }
                }
                out.push(Lexeme {
                    token: Token::Quoted(text),
                    position: start,
                });
            }
            '=' | '!' | '<' | '>' | '~' => {
                let next = chars.get(i + 1).copied();
                let (op, width) = match (c, next) {
                    ('!', Some('=')) => (Op::Ne, 2),
                    ('<', Some('=')) => (Op::Le, 2),
                    ('>', Some('=')) => (Op::Ge, 2),
                    ('=', Some('=')) => (Op::Eq, 2),
                    ('=', _) => (Op::Eq, 1),
                    ('<', _) => (Op::Lt, 1),
                    ('>', _) => (Op::Gt, 1),
                    ('~', _) => (Op::Contains, 1),
                    _ => return err(start, "expected an operator (= != < <= > >= ~)"),
                };
                out.push(Lexeme {
                    token: Token::Op(op),
                    position: start,
                });
                i += width;
            }
            c if is_word_char(c) => {
                let mut word = String::new();
                while let Some(&w) = chars.get(i).filter(|w| is_word_char(**w)) {
                    word.push(w);
                    i += 1;
                }
                out.push(Lexeme {
                    token: Token::Word(word),
                    position: start,
                });
            }
            other => return err(start, format!("unexpected character {other:?}")),
        }
    }
    Ok(out)
}

struct Parser {
    tokens: Vec<Lexeme>,
    at: usize,
    end: usize,
    depth: usize,
}

fn keyword(lexeme: Option<&Lexeme>, word: &str) -> bool {
    matches!(lexeme, Some(Lexeme { token: Token::Word(w), .. }) if w.eq_ignore_ascii_case(word))
}

/// Parse a query; an empty query is an error (list without `q` instead).
pub fn parse(input: &str) -> Result<Expr, QueryError> {
    if input.chars().count() > MAX_LENGTH {
        return err(
            MAX_LENGTH,
            format!("query is longer than {MAX_LENGTH} characters"),
        );
    }
    let tokens = lex(input)?;
    let end = input.chars().count();
    let mut parser = Parser {
        tokens,
        at: 0,
        end,
        depth: 0,
    };
    if parser.tokens.is_empty() {
        return err(0, "expected a filter such as `class = computer`");
    }
    let expr = parser.or()?;
    if let Some(extra) = parser.peek() {
        return err(
            extra.position,
            "expected `and`, `or` or the end of the query",
        );
    }
    Ok(expr)
}

impl Parser {
    fn peek(&self) -> Option<&Lexeme> {
        self.tokens.get(self.at)
    }

    fn position(&self) -> usize {
        self.peek().map(|l| l.position).unwrap_or(self.end)
    }

    fn next(&mut self) -> Option<Lexeme> {
        let lexeme = self.tokens.get(self.at).cloned();
        self.at += 1;
        lexeme
    }

    fn or(&mut self) -> Result<Expr, QueryError> {
        let mut left = self.and()?;
        while keyword(self.peek(), "or") {
            self.at += 1;
            let right = self.and()?;
            left = Expr::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr, QueryError> {
        let mut left = self.not()?;
        while keyword(self.peek(), "and") {
            self.at += 1;
            let right = self.not()?;
            left = Expr::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn not(&mut self) -> Result<Expr, QueryError> {
        if keyword(self.peek(), "not") {
            self.at += 1;
            return Ok(Expr::Not(Box::new(self.nested(Parser::not)?)));
        }
        self.primary()
    }

    fn nested(
        &mut self,
        inner: fn(&mut Parser) -> Result<Expr, QueryError>,
    ) -> Result<Expr, QueryError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return err(
                self.position(),
                format!("query nests deeper than {MAX_DEPTH} levels"),
            );
        }
        let result = inner(self);
        self.depth -= 1;
        result
    }

    fn close(&mut self, opened_at: usize) -> Result<(), QueryError> {
        match self.next() {
            Some(Lexeme {
                token: Token::Close,
                ..
            }) => Ok(()),
            Some(other) => err(
                other.position,
                format!("expected `)` to close the `(` at position {opened_at}"),
            ),
            None => err(
                self.end,
                format!("expected `)` to close the `(` at position {opened_at}"),
            ),
        }
    }

    fn primary(&mut self) -> Result<Expr, QueryError> {
        let Some(lexeme) = self.next() else {
            return err(
                self.end,
                "expected a filter (FIELD OP VALUE, CLASS(…), `not` or `(`)",
            );
        };
        match lexeme.token {
            Token::Open => {
                let expr = self.nested(Parser::or)?;
                self.close(lexeme.position)?;
                Ok(expr)
            }
            Token::Word(word) if ["and", "or"].iter().any(|k| word.eq_ignore_ascii_case(k)) => err(
                lexeme.position,
                format!("expected a filter before `{word}`"),
            ),
            Token::Word(field) => {
                if matches!(
                    self.peek(),
                    Some(Lexeme {
                        token: Token::Open,
                        ..
                    })
                ) {
                    let open = self.next().map(|l| l.position).unwrap_or(lexeme.position);
                    if matches!(
                        self.peek(),
                        Some(Lexeme {
                            token: Token::Close,
                            ..
                        })
                    ) {
                        self.at += 1;
                        return Ok(Expr::Related {
                            class: field.to_ascii_lowercase(),
                            filter: None,
                            position: lexeme.position,
                        });
                    }
                    let inner = self.nested(Parser::or)?;
                    self.close(open)?;
                    return Ok(Expr::Related {
                        class: field.to_ascii_lowercase(),
                        filter: Some(Box::new(inner)),
                        position: lexeme.position,
                    });
                }
                self.comparison(field, lexeme.position)
            }
            Token::Quoted(_) => err(lexeme.position, "expected a field name, not a quoted value"),
            Token::Op(_) => err(lexeme.position, "expected a field name before the operator"),
            Token::Close => err(lexeme.position, "expected a filter, found `)`"),
        }
    }

    fn comparison(&mut self, field: String, position: usize) -> Result<Expr, QueryError> {
        if !field.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            || field.starts_with(|c: char| c.is_ascii_digit())
        {
            return err(
                position,
                format!("expected a field name (letters, digits, '_'), found {field:?}"),
            );
        }
        let op = match self.next() {
            Some(Lexeme {
                token: Token::Op(op),
                ..
            }) => op,
            Some(other) => {
                return err(
                    other.position,
                    format!("expected an operator (= != < <= > >= ~) after `{field}`"),
                )
            }
            None => {
                return err(
                    self.end,
                    format!("expected an operator (= != < <= > >= ~) after `{field}`"),
                )
            }
        };
        let value = match self.next() {
            Some(Lexeme {
                token: Token::Quoted(text),
                ..
            }) => Value::Text(text),
            Some(Lexeme {
                token: Token::Word(word),
                position,
            }) => word_value(&word, position)?,
            Some(other) => {
                return err(
                    other.position,
                    "expected a value (number, size, percentage or text)",
                )
            }
            None => {
                return err(
                    self.end,
                    format!("expected a value after `{}`", op_text(op)),
                )
            }
        };
        Ok(Expr::Compare(Comparison {
            field: field.to_ascii_lowercase(),
            op,
            value,
            position,
        }))
    }
}

fn op_text(op: Op) -> &'static str {
    match op {
        Op::Contains => "~",
        Op::Ne => "!=",
        other => other.sql(),
    }
}

/// Binary multiples: memory and disk sizes are quoted that way by the tools MSPs use.
const UNITS: &[(&str, f64)] = &[
    ("b", 1.0),
    ("kb", 1024.0),
    ("kib", 1024.0),
    ("mb", 1_048_576.0),
    ("mib", 1_048_576.0),
    ("gb", 1_073_741_824.0),
    ("gib", 1_073_741_824.0),
    ("tb", 1_099_511_627_776.0),
    ("tib", 1_099_511_627_776.0),
];

fn word_value(word: &str, position: usize) -> Result<Value, QueryError> {
    if word.eq_ignore_ascii_case("true") || word.eq_ignore_ascii_case("false") {
        return Ok(Value::Bool(word.eq_ignore_ascii_case("true")));
    }
    let split = word
        .char_indices()
        .find(|(_, c)| !(c.is_ascii_digit() || *c == '.' || *c == '-' || *c == '+'))
        .map(|(i, _)| i)
        .unwrap_or(word.len());
    let (number, unit) = word.split_at(split);
    // "3.0.7" is a version, not a number: keep it as text.
    let Ok(n) = number.parse::<f64>() else {
        return Ok(Value::Text(word.to_string()));
    };
    if unit.is_empty() {
        return Ok(Value::Number(n));
    }
    if unit == "%" {
        return Ok(Value::Percent(n));
    }
    match UNITS.iter().find(|(u, _)| unit.eq_ignore_ascii_case(u)) {
        Some((_, factor)) => Ok(Value::Number(n * factor)),
        // Not a known unit: a text such as "7zip" or "3rc1".
        None if unit.chars().next().is_some_and(char::is_alphabetic) && number.is_empty() => {
            Ok(Value::Text(word.to_string()))
        }
        None => {
            if unit.chars().all(|c| c.is_ascii_alphabetic()) && unit.len() <= 3 {
                err(
                    position,
                    format!("unknown unit {unit:?}: use B, KB, MB, GB, TB (binary) or %"),
                )
            } else {
                Ok(Value::Text(word.to_string()))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmp(field: &str, op: Op, value: Value, position: usize) -> Expr {
        Expr::Compare(Comparison {
            field: field.into(),
            op,
            value,
            position,
        })
    }

    #[test]
    fn precedence_units_and_relations() {
        let q = parse("class = computer and memory < 8GB or not cores >= 4").expect("parses");
        assert_eq!(
            q,
            Expr::Or(
                Box::new(Expr::And(
                    Box::new(cmp("class", Op::Eq, Value::Text("computer".into()), 0)),
                    Box::new(cmp(
                        "memory",
                        Op::Lt,
                        Value::Number(8.0 * 1_073_741_824.0),
                        21
                    )),
                )),
                Box::new(Expr::Not(Box::new(cmp(
                    "cores",
                    Op::Ge,
                    Value::Number(4.0),
                    41
                )))),
            )
        );
        let q = parse("software(name = openssl and version < 3.0.7)").expect("parses");
        let Expr::Related {
            class,
            filter: Some(inner),
            ..
        } = q
        else {
            panic!("relation expected")
        };
        assert_eq!(class, "software");
        assert!(matches!(*inner, Expr::And(..)));
        assert_eq!(
            parse("free < 10%").expect("parses"),
            cmp("free", Op::Lt, Value::Percent(10.0), 0)
        );
        assert_eq!(
            parse("name ~ 'web*'").expect("parses"),
            cmp("name", Op::Contains, Value::Text("web*".into()), 0)
        );
        assert_eq!(
            parse("reboot_required = TRUE").expect("parses"),
            cmp("reboot_required", Op::Eq, Value::Bool(true), 0)
        );
    }

    #[test]
    fn errors_say_where_and_what() {
        let e = parse("memory <").expect_err("no value");
        assert_eq!(e.position, 8);
        assert!(e.message.contains("expected a value"), "{e}");
        let e = parse("class = computer and").expect_err("dangling and");
        assert_eq!(e.position, 20);
        let e = parse("(class = computer").expect_err("unclosed");
        assert!(e.message.contains("expected `)`"), "{e}");
        let e = parse("memory 8GB").expect_err("no operator");
        assert_eq!(e.position, 7);
        assert!(e.message.contains("expected an operator"), "{e}");
        let e = parse("memory < 8XB").expect_err("bad unit");
        assert!(e.message.contains("unknown unit"), "{e}");
        let e = parse("name = \"open").expect_err("unterminated");
        assert_eq!(e.position, 7);
        assert!(parse("").is_err());
        assert!(parse(&"(".repeat(100)).is_err(), "depth limit");
        let e = parse("a = 1 b = 2").expect_err("missing and");
        assert_eq!(e.position, 6);
    }
}
