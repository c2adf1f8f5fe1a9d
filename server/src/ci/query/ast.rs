//! The parsed form of a query.

#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    Compare(Comparison),
    /// Related to a CI of `class` (or, for `software`, has a package) matching the inner filter.
    Related {
        class: String,
        filter: Option<Box<Expr>>,
        position: usize,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    pub field: String,
    pub op: Op,
    pub value: Value,
    /// Where the comparison starts in the query text, for error messages.
    pub position: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Contains,
}

impl Op {
    pub fn is_ordering(self) -> bool {
        matches!(self, Op::Lt | Op::Le | Op::Gt | Op::Ge)
    }

    pub fn sql(self) -> &'static str {
        match self {
            Op::Eq => "=",
            Op::Ne => "<>",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::Contains => "LIKE",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A number, already scaled by its unit (`8GB` is 8 × 1024³).
    Number(f64),
    /// A percentage (`10%`).
    Percent(f64),
    Bool(bool),
    Text(String),
}

impl Expr {
    /// Whether any comparison (outside relation filters) names `field`.
    pub fn mentions(&self, field: &str) -> bool {
        match self {
            Expr::And(a, b) | Expr::Or(a, b) => a.mentions(field) || b.mentions(field),
            Expr::Not(e) => e.mentions(field),
            Expr::Compare(c) => c.field == field,
            Expr::Related { .. } => false,
        }
    }
}
