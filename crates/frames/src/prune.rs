//! Partition pruning of a dataset scan, decided from the SQL before anything is read:
//! the part files whose folder values (`map=flows/host=h7`) the query's `WHERE` cannot
//! match are not handed to the scan at all, so `query -v` can name exactly the files
//! the scan may read.
//!
//! Only what is certain prunes: the conjuncts `col = 'lit'` and `col IN ('a', 'b')` on a
//! partition column, in each `SELECT` that reads the table alone (no join). When the
//! table is read anywhere else (a join, a subquery the walk does not see), every part
//! is kept.

use std::ops::ControlFlow;

use sqlparser::ast::{
    BinaryOperator, Expr, ObjectName, ObjectNamePart, Query, Select, SetExpr, TableFactor, Value,
    Visit, Visitor,
};
use sqlparser::dialect::GenericDialect;
use sqlparser::parser::Parser;

/// A literal a partition column is compared with.
#[derive(Clone, Debug, PartialEq)]
enum Lit {
    Str(String),
    Num(String),
}

impl Lit {
    /// Whether a folder value (`None`: hive's null) can equal the literal. Numbers
    /// compare as numbers (hive types `cpu=0` as an integer); a string that reads as
    /// the same number is kept too (SQL may cast either side).
    fn matches(&self, value: Option<&str>) -> bool {
        let Some(v) = value else {
            // `col = x` is never true on a null.
            return false;
        };
        let num = |s: &str| s.trim().parse::<f64>().ok();
        match self {
            Lit::Str(s) => s == v || num(s).is_some_and(|a| num(v) == Some(a)),
            Lit::Num(n) => num(n).is_some_and(|a| num(v) == Some(a)),
        }
    }

    fn sql(&self) -> String {
        match self {
            Lit::Str(s) => format!("'{}'", s.replace('\'', "''")),
            Lit::Num(n) => n.clone(),
        }
    }
}

/// One read of the table: each constrained partition column with the values it may have.
type Conjuncts = Vec<(String, Vec<Lit>)>;

/// Which partitions of one table a query can read.
#[derive(Debug)]
pub struct PartitionFilter {
    /// One entry per read of the table; `None` when some read is not understood.
    reads: Option<Vec<Conjuncts>>,
}

impl PartitionFilter {
    /// The filter of `table` (partitioned by `columns`) in `sql`. SQL that does not
    /// parse keeps every part (polars reports the error).
    pub fn of(sql: &str, table: &str, columns: &[String]) -> PartitionFilter {
        let Ok(statements) = Parser::parse_sql(&GenericDialect, sql) else {
            return PartitionFilter { reads: None };
        };
        let mut v = Reads {
            table,
            columns,
            relations: 0,
            simple: Vec::new(),
        };
        let _ = statements.visit(&mut v);
        let reads = (v.relations == v.simple.len()).then_some(v.simple);
        PartitionFilter { reads }
    }

    /// Whether a part with these folder values (column, value or hive's null) can hold
    /// rows the query reads.
    pub fn keeps(&self, values: &[(String, Option<String>)]) -> bool {
        let Some(reads) = &self.reads else {
            return true;
        };
        reads.iter().any(|conj| {
            conj.iter().all(|(col, lits)| {
                match values.iter().find(|(c, _)| c == col) {
                    Some((_, v)) => lits.iter().any(|l| l.matches(v.as_deref())),
                    // Not a folder of this part: nothing to decide on.
                    None => true,
                }
            })
        })
    }

    /// Whether some partition is excluded at all (else every part is read).
    pub fn prunes(&self) -> bool {
        self.reads
            .as_ref()
            .is_some_and(|r| !r.is_empty() && r.iter().all(|c| !c.is_empty()))
    }

    /// The filter as SQL: `map = 'flows' AND host IN ('h1', 'h2')`, reads joined by OR.
    pub fn describe(&self) -> String {
        let Some(reads) = &self.reads else {
            return "none".into();
        };
        let read = |c: &Conjuncts| -> String {
            let parts: Vec<String> = c
                .iter()
                .map(|(col, lits)| match lits.as_slice() {
                    [one] => format!("{col} = {}", one.sql()),
                    many => {
                        let l: Vec<String> = many.iter().map(Lit::sql).collect();
                        format!("{col} IN ({})", l.join(", "))
                    }
                })
                .collect();
            if parts.is_empty() {
                "none".into()
            } else {
                parts.join(" AND ")
            }
        };
        let all: Vec<String> = reads.iter().map(read).collect();
        all.join(" OR ")
    }
}

/// Counts the reads of the table, and collects the conjuncts of those it understands.
struct Reads<'a> {
    table: &'a str,
    columns: &'a [String],
    relations: usize,
    simple: Vec<Conjuncts>,
}

fn last_ident(name: &ObjectName) -> Option<&str> {
    match name.0.last()? {
        ObjectNamePart::Identifier(i) => Some(i.value.as_str()),
        ObjectNamePart::Function(_) => None,
    }
}

impl Visitor for Reads<'_> {
    type Break = ();

    fn pre_visit_relation(&mut self, relation: &ObjectName) -> ControlFlow<()> {
        if last_ident(relation).is_some_and(|n| n.eq_ignore_ascii_case(self.table)) {
            self.relations += 1;
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_query(&mut self, query: &Query) -> ControlFlow<()> {
        self.set_expr(&query.body);
        ControlFlow::Continue(())
    }
}

impl Reads<'_> {
    /// The SELECTs of a query body (a nested query is visited as a query of its own).
    fn set_expr(&mut self, body: &SetExpr) {
        match body {
            SetExpr::Select(s) => self.select(s),
            SetExpr::SetOperation { left, right, .. } => {
                self.set_expr(left);
                self.set_expr(right);
            }
            _ => {}
        }
    }

    fn select(&mut self, s: &Select) {
        let [from] = s.from.as_slice() else {
            return;
        };
        let TableFactor::Table { name, .. } = &from.relation else {
            return;
        };
        if !from.joins.is_empty()
            || !last_ident(name).is_some_and(|n| n.eq_ignore_ascii_case(self.table))
        {
            return;
        }
        let mut conj = Conjuncts::new();
        if let Some(w) = &s.selection {
            self.conjuncts(w, &mut conj);
        }
        self.simple.push(conj);
    }

    fn conjuncts(&self, e: &Expr, out: &mut Conjuncts) {
        match e {
            Expr::Nested(inner) => self.conjuncts(inner, out),
            Expr::BinaryOp {
                left,
                op: BinaryOperator::And,
                right,
            } => {
                self.conjuncts(left, out);
                self.conjuncts(right, out);
            }
            Expr::BinaryOp {
                left,
                op: BinaryOperator::Eq,
                right,
            } => {
                let pair = match (self.column(left), literal(right)) {
                    (Some(c), Some(l)) => Some((c, l)),
                    _ => self.column(right).zip(literal(left)),
                };
                if let Some((c, l)) = pair {
                    out.push((c, vec![l]));
                }
            }
            Expr::InList {
                expr,
                list,
                negated: false,
            } => {
                let lits: Option<Vec<Lit>> = list.iter().map(literal).collect();
                if let (Some(c), Some(lits)) = (self.column(expr), lits) {
                    out.push((c, lits));
                }
            }
            _ => {}
        }
    }

    /// A partition column named by `e` (`host`, `"host"` or `e.host`).
    fn column(&self, e: &Expr) -> Option<String> {
        let name = match e {
            Expr::Identifier(i) => &i.value,
            Expr::CompoundIdentifier(parts) => &parts.last()?.value,
            Expr::Nested(inner) => return self.column(inner),
            _ => return None,
        };
        self.columns.iter().find(|c| *c == name).cloned()
    }
}

fn literal(e: &Expr) -> Option<Lit> {
    match e {
        Expr::Value(v) => match &v.value {
            Value::SingleQuotedString(s) => Some(Lit::Str(s.clone())),
            Value::Number(n, _) => Some(Lit::Num(n.to_string())),
            _ => None,
        },
        Expr::Nested(inner) => literal(inner),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vals(pairs: &[(&str, Option<&str>)]) -> Vec<(String, Option<String>)> {
        pairs
            .iter()
            .map(|(c, v)| (c.to_string(), v.map(String::from)))
            .collect()
    }

    #[test]
    fn prunes_only_what_the_where_excludes() {
        let cols = ["map".to_string(), "host".to_string()];
        let h7 = vals(&[("map", Some("flows")), ("host", Some("h7"))]);
        let h8 = vals(&[("map", Some("flows")), ("host", Some("h8"))]);
        let null = vals(&[("map", Some("flows")), ("host", None)]);
        let f = PartitionFilter::of(
            "SELECT host, count(*) FROM entries WHERE map = 'flows' AND host = 'h7' GROUP BY host",
            "entries",
            &cols,
        );
        assert!(f.prunes());
        assert!(f.keeps(&h7) && !f.keeps(&h8) && !f.keeps(&null));
        assert_eq!(f.describe(), "map = 'flows' AND host = 'h7'");
        let f = PartitionFilter::of(
            "SELECT * FROM Entries e WHERE e.host IN ('h8', 'h9') AND \"value.x\" > 3",
            "entries",
            &cols,
        );
        assert!(f.keeps(&h8) && !f.keeps(&h7));
        // An OR, a join, a second unconstrained read: everything is kept.
        for sql in [
            "SELECT * FROM entries WHERE host = 'h8' OR map = 'x'",
            "SELECT * FROM entries a JOIN entries b ON a.key_hex = b.key_hex WHERE a.host = 'h8'",
            "SELECT * FROM entries WHERE host = 'h8' UNION ALL SELECT * FROM entries",
            "SELECT * FROM findings f WHERE f.key IN (SELECT key_hex FROM entries) AND host = 'h8'",
            "not sql at all",
        ] {
            let f = PartitionFilter::of(sql, "entries", &cols);
            assert!(f.keeps(&h7) && f.keeps(&h8), "{sql}");
        }
        // Two constrained reads: the union of what they keep.
        let f = PartitionFilter::of(
            "SELECT * FROM entries WHERE host = 'h8' UNION ALL SELECT * FROM entries WHERE host = 'h7'",
            "entries",
            &cols,
        );
        assert!(f.keeps(&h7) && f.keeps(&h8) && !f.keeps(&null));
        // Numbers compare as numbers.
        let cpu = ["cpu".to_string()];
        let f = PartitionFilter::of("SELECT * FROM entries WHERE cpu = 1", "entries", &cpu);
        assert!(f.keeps(&vals(&[("cpu", Some("1"))])));
        assert!(!f.keeps(&vals(&[("cpu", Some("0"))])));
    }
}
