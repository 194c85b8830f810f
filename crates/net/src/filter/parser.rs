//! Recursive-descent parser for tcpdump's pcap-filter grammar.
//!
//! Precedence as in pcap-filter(7): `not` binds tightest; `and` and `or` have EQUAL precedence
//! and associate left to right (`a or b and c` is `(a or b) and c`). A bare value after `and`
//! / `or` reuses the qualifiers of the primitive before it (`port 80 or 443`,
//! `host 10.0.0.1 and not 10.0.0.2`), as libpcap does. Arithmetic precedence, lowest first:
//! `|`, `&`, `<< >>`, `+ -`, `* /`, unary `-`; `%` and `^` have none in libpcap's grammar
//! (bison shifts), so they take the operand just before them and everything after them.

use super::ast::{ArOp, Arith, Dir, Expr, Net, Prim, Proto, RelOp, Span};
use super::lexer::{lex, Tok, Token};
use super::FilterError;

/// Qualifiers of a primitive, remembered for bare values that follow it.
#[derive(Clone, Copy, Debug, Default)]
struct Quals {
    proto: Option<Proto>,
    dir: Option<Dir>,
    kind: Option<Kind>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Host,
    Net,
    Port,
    Portrange,
    /// `[ip|ip6|ether] proto N`: a bare number after it is another protocol.
    Proto,
}

/// Keywords libpcap knows that kestrel does not implement: a clear error, never a guess.
const UNSUPPORTED: &[&str] = &[
    "gateway",
    "inbound",
    "outbound",
    "ifname",
    "on",
    "rnr",
    "rulenum",
    "reason",
    "rset",
    "srnr",
    "subrulenum",
    "action",
    "mpls",
    "pppoed",
    "pppoes",
    "geneve",
    "vxlan",
    "llc",
    "decnet",
    "iso",
    "esis",
    "es-is",
    "isis",
    "is-is",
    "clnp",
    "stp",
    "ipx",
    "netbeui",
    "atalk",
    "aarp",
    "lat",
    "mopdl",
    "moprc",
    "sca",
    "fddi",
    "tr",
    "wlan",
    "radio",
    "type",
    "subtype",
    "dir",
    "ra",
    "ta",
    "addr1",
    "addr2",
    "addr3",
    "addr4",
    "protochain",
    "pim",
    "vrrp",
    "carp",
    "igrp",
    "ah",
    "esp",
    "atm",
    "lane",
    "oamf4",
    "oamf4ec",
    "oamf4sc",
    "oam",
    "metac",
    "bcc",
    "sc",
    "ilmic",
    "connectmsg",
    "metaconnect",
    "fisu",
    "lssu",
    "msu",
    "hfisu",
    "hlssu",
    "hmsu",
    "sio",
    "opc",
    "dpc",
    "sls",
    "hsio",
    "hopc",
    "hdpc",
    "hsls",
    "l1",
    "l2",
    "iih",
    "lsp",
    "snp",
    "csnp",
    "psnp",
    "vpi",
    "vci",
    "hdlc",
    "slip",
    "ppp",
];

/// Parses `src`. An empty expression matches every packet, as in tcpdump.
pub fn parse(src: &str) -> Result<Expr, FilterError> {
    let toks = lex(src)?;
    if toks.is_empty() {
        return Ok(Expr::Prim(
            Prim::Len(RelOp::Ge, 0),
            Span { start: 0, end: 0 },
        ));
    }
    let mut p = Parser {
        toks,
        pos: 0,
        shift: 0,
        end: src.len(),
        depth: 0,
        terms: 0,
    };
    let (e, _) = p.expr(None)?;
    if let Some(t) = p.toks.get(p.pos) {
        return Err(FilterError::new(
            t.start,
            format!("unexpected {}", describe(&t.tok)),
        ));
    }
    Ok(e)
}

struct Parser {
    toks: Vec<Token>,
    pos: usize,
    shift: u32,
    end: usize,
    /// Current nesting of parentheses, `not` and unary minus.
    depth: usize,
    /// Primitives and relations so far.
    terms: usize,
}

/// Deepest nesting accepted: keeps recursion (here and in code generation) far from the
/// thread's stack limit on hostile input.
const MAX_DEPTH: usize = 100;
/// Most primitives in one expression: the program must stay within eBPF's jump range.
const MAX_TERMS: usize = 1000;

fn describe(t: &Tok) -> String {
    match t {
        Tok::Word(w) => format!("'{w}'"),
        Tok::Escaped(w) => format!("'\\{w}'"),
        Tok::V6(a) => format!("address '{a}'"),
        Tok::Mac(_) => "a MAC address".to_string(),
        Tok::Sym(s) => format!("'{s}'"),
    }
}

/// Reads a number as libpcap does: `0x` hex, leading-`0` octal, else decimal.
pub fn parse_num(w: &str) -> Option<u32> {
    if let Some(h) = w.strip_prefix("0x").or_else(|| w.strip_prefix("0X")) {
        u32::from_str_radix(h, 16).ok()
    } else if w.len() > 1 && w.starts_with('0') {
        u32::from_str_radix(&w[1..], 8).ok()
    } else if w.bytes().all(|b| b.is_ascii_digit()) && !w.is_empty() {
        w.parse().ok()
    } else {
        None
    }
}

/// Named constants usable in arithmetic (pcap-filter(7)).
pub fn named_const(w: &str) -> Option<u32> {
    Some(match w {
        "tcpflags" => 13,
        "tcp-fin" => 0x01,
        "tcp-syn" => 0x02,
        "tcp-rst" => 0x04,
        "tcp-push" => 0x08,
        "tcp-ack" => 0x10,
        "tcp-urg" => 0x20,
        "tcp-ece" => 0x40,
        "tcp-cwr" => 0x80,
        "icmptype" => 0,
        "icmpcode" => 1,
        "icmp-echoreply" => 0,
        "icmp-unreach" => 3,
        "icmp-sourcequench" => 4,
        "icmp-redirect" => 5,
        "icmp-echo" => 8,
        "icmp-routeradvert" => 9,
        "icmp-routersolicit" => 10,
        "icmp-timxceed" => 11,
        "icmp-paramprob" => 12,
        "icmp-tstamp" => 13,
        "icmp-tstampreply" => 14,
        "icmp-ireq" => 15,
        "icmp-ireqreply" => 16,
        "icmp-maskreq" => 17,
        "icmp-maskreply" => 18,
        "icmp6type" => 0,
        "icmp6code" => 1,
        "icmp6-destinationunreach" => 1,
        "icmp6-packettoobig" => 2,
        "icmp6-timeexceeded" => 3,
        "icmp6-parameterproblem" => 4,
        "icmp6-echo" => 128,
        "icmp6-echoreply" => 129,
        "icmp6-multicastlistenerquery" => 130,
        "icmp6-multicastlistenerreportv1" => 131,
        "icmp6-multicastlistenerdone" => 132,
        "icmp6-routersolicit" => 133,
        "icmp6-routeradvert" => 134,
        "icmp6-neighborsolicit" => 135,
        "icmp6-neighboradvert" => 136,
        "icmp6-redirect" => 137,
        "icmp6-routerrenum" => 138,
        "icmp6-nodeinformationquery" => 139,
        "icmp6-nodeinformationresponse" => 140,
        "icmp6-ineighbordiscoverysolicit" => 141,
        "icmp6-ineighbordiscoveryadvert" => 142,
        "icmp6-multicastlistenerreportv2" => 143,
        "icmp6-homeagentdiscoveryrequest" => 144,
        "icmp6-homeagentdiscoveryreply" => 145,
        "icmp6-mobileprefixsolicit" => 146,
        "icmp6-mobileprefixadvert" => 147,
        "icmp6-certpathsolicit" => 148,
        "icmp6-certpathadvert" => 149,
        "icmp6-multicastrouteradvert" => 151,
        "icmp6-multicastroutersolicit" => 152,
        "icmp6-multicastrouterterm" => 153,
        _ => return None,
    })
}

fn proto_word(w: &str) -> Option<Proto> {
    Some(match w {
        "ether" | "link" => Proto::Ether,
        "ip" => Proto::Ip,
        "ip6" => Proto::Ip6,
        "arp" => Proto::Arp,
        "rarp" => Proto::Rarp,
        "tcp" => Proto::Tcp,
        "udp" => Proto::Udp,
        "icmp" => Proto::Icmp,
        "icmp6" => Proto::Icmp6,
        "sctp" => Proto::Sctp,
        "igmp" => Proto::Igmp,
        _ => return None,
    })
}

fn ip_proto_name(w: &str) -> Option<u8> {
    Some(match w {
        "icmp" => 1,
        "igmp" => 2,
        "tcp" => 6,
        "udp" => 17,
        "icmp6" => 58,
        "sctp" => 132,
        _ => return None,
    })
}

fn ether_proto_name(w: &str) -> Option<u16> {
    Some(match w {
        "ip" => 0x0800,
        "ip6" => 0x86dd,
        "arp" => 0x0806,
        "rarp" => 0x8035,
        _ => return None,
    })
}

fn is_keyword(w: &str) -> bool {
    matches!(
        w,
        "and"
            | "or"
            | "not"
            | "src"
            | "dst"
            | "host"
            | "net"
            | "port"
            | "portrange"
            | "proto"
            | "less"
            | "greater"
            | "len"
            | "vlan"
            | "broadcast"
            | "multicast"
            | "mask"
    ) || proto_word(w).is_some()
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos).map(|t| &t.tok)
    }

    fn peek_at(&self, n: usize) -> Option<&Tok> {
        self.toks.get(self.pos + n).map(|t| &t.tok)
    }

    fn peek_word(&self) -> Option<&str> {
        match self.peek() {
            Some(Tok::Word(w)) => Some(w.as_str()),
            _ => None,
        }
    }

    fn here(&self) -> usize {
        self.toks.get(self.pos).map_or(self.end, |t| t.start)
    }

    fn prev_end(&self) -> usize {
        self.pos
            .checked_sub(1)
            .and_then(|i| self.toks.get(i))
            .map_or(0, |t| t.end)
    }

    fn err<T>(&self, msg: impl Into<String>) -> Result<T, FilterError> {
        Err(FilterError::new(self.here(), msg))
    }

    fn found(&self) -> String {
        self.peek()
            .map_or("the end of the expression".to_string(), describe)
    }

    fn is_sym(&self, s: &str) -> bool {
        matches!(self.peek(), Some(Tok::Sym(x)) if *x == s)
    }

    fn eat_sym(&mut self, s: &str) -> bool {
        if self.is_sym(s) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expect_sym(&mut self, s: &str) -> Result<(), FilterError> {
        if self.eat_sym(s) {
            Ok(())
        } else {
            self.err(format!("expected '{s}', found {}", self.found()))
        }
    }

    fn expr(&mut self, q: Option<Quals>) -> Result<(Expr, Option<Quals>), FilterError> {
        let (mut e, mut q) = self.term(q)?;
        loop {
            let is_and = match self.peek() {
                Some(Tok::Word(w)) if w == "and" => true,
                Some(Tok::Sym("&&")) => true,
                Some(Tok::Word(w)) if w == "or" => false,
                Some(Tok::Sym("||")) => false,
                _ => break,
            };
            self.pos += 1;
            if self.peek().is_none() {
                return self.err(format!(
                    "expected a primitive after '{}'",
                    if is_and { "and" } else { "or" }
                ));
            }
            let (r, q2) = self.term(q)?;
            e = if is_and {
                Expr::And(Box::new(e), Box::new(r))
            } else {
                Expr::Or(Box::new(e), Box::new(r))
            };
            q = q2;
        }
        Ok((e, q))
    }

    fn term(&mut self, q: Option<Quals>) -> Result<(Expr, Option<Quals>), FilterError> {
        self.depth += 1;
        self.terms += 1;
        if self.depth > MAX_DEPTH {
            return self.err(format!(
                "the expression nests deeper than {MAX_DEPTH} levels"
            ));
        }
        if self.terms > MAX_TERMS {
            return self.err(format!(
                "the expression has more than {MAX_TERMS} primitives"
            ));
        }
        let r = self.term_inner(q);
        self.depth -= 1;
        r
    }

    fn term_inner(&mut self, q: Option<Quals>) -> Result<(Expr, Option<Quals>), FilterError> {
        match self.peek() {
            None => return self.err("expected a primitive, found the end of the expression"),
            Some(Tok::Word(w)) if w == "not" => {
                self.pos += 1;
                let (e, q) = self.term(q)?;
                return Ok((Expr::Not(Box::new(e)), q));
            }
            Some(Tok::Sym("!")) => {
                self.pos += 1;
                let (e, q) = self.term(q)?;
                return Ok((Expr::Not(Box::new(e)), q));
            }
            Some(Tok::Sym("(")) => {
                if let Some(rel) = self.try_relation()? {
                    return Ok((rel, None));
                }
                self.pos += 1;
                let e = match q {
                    // `host a and (b or c)`: a group of bare values (not `(6 = len)`).
                    Some(quals) if self.bare_value_ahead() && !self.relation_ahead() => {
                        self.pid(quals)?
                    }
                    // A group's first term must be a full primitive (libpcap's grammar).
                    _ => self.expr(None)?.0,
                };
                self.expect_sym(")")?;
                // As in libpcap, a bare value after a group takes the qualifiers from before
                // the group, not from inside it.
                return Ok((e, q));
            }
            Some(Tok::Sym("-")) => return Ok((self.relation()?, None)),
            Some(Tok::Word(w)) => {
                let w = w.clone();
                let indexed = matches!(self.peek_at(1), Some(Tok::Sym("[")));
                if w == "len" || named_const(&w).is_some() || (indexed && proto_word(&w).is_some())
                {
                    return Ok((self.relation()?, None));
                }
                if parse_num(&w).is_some() {
                    if let Some(rel) = self.try_relation()? {
                        return Ok((rel, None));
                    }
                }
            }
            _ => {}
        }
        self.primitive(q)
    }

    /// Whether the next tokens (after any `not`/`!`) are a bare value: no qualifier, no
    /// keyword.
    fn bare_value_ahead(&self) -> bool {
        let mut i = 0;
        loop {
            match self.peek_at(i) {
                Some(Tok::Word(w)) if w == "not" => i += 1,
                Some(Tok::Sym("!")) => i += 1,
                Some(Tok::Word(w)) => {
                    return !is_keyword(w)
                        && named_const(w).is_none()
                        && !matches!(self.peek_at(i + 1), Some(Tok::Sym("[")))
                }
                Some(Tok::V6(_) | Tok::Mac(_)) => return true,
                _ => return false,
            }
        }
    }

    /// Whether a comparison starts here (tried and rewound).
    fn relation_ahead(&mut self) -> bool {
        let save = self.pos;
        let found = matches!(self.try_relation(), Ok(Some(_)));
        self.pos = save;
        found
    }

    /// A parenthesized group that starts with a bare value may hold only bare values joined by
    /// `and`/`or`/`not` (libpcap's `pid` rule): `(10.0.0.2 or 10.0.0.3)`.
    fn pid(&mut self, q: Quals) -> Result<Expr, FilterError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return self.err(format!(
                "the expression nests deeper than {MAX_DEPTH} levels"
            ));
        }
        let mut e = self.id(q)?;
        loop {
            let is_and = match self.peek() {
                Some(Tok::Word(w)) if w == "and" => true,
                Some(Tok::Sym("&&")) => true,
                Some(Tok::Word(w)) if w == "or" => false,
                Some(Tok::Sym("||")) => false,
                _ => break,
            };
            self.pos += 1;
            let r = self.id(q)?;
            e = if is_and {
                Expr::And(Box::new(e), Box::new(r))
            } else {
                Expr::Or(Box::new(e), Box::new(r))
            };
        }
        self.depth -= 1;
        Ok(e)
    }

    /// One bare value, `not` value, or parenthesized group of them.
    fn id(&mut self, q: Quals) -> Result<Expr, FilterError> {
        self.terms += 1;
        if self.terms > MAX_TERMS {
            return self.err(format!(
                "the expression has more than {MAX_TERMS} primitives"
            ));
        }
        match self.peek() {
            Some(Tok::Word(w)) if w == "not" => {
                self.pos += 1;
                return Ok(Expr::Not(Box::new(self.id(q)?)));
            }
            Some(Tok::Sym("!")) => {
                self.pos += 1;
                return Ok(Expr::Not(Box::new(self.id(q)?)));
            }
            Some(Tok::Sym("(")) => {
                self.pos += 1;
                let e = self.pid(q)?;
                self.expect_sym(")")?;
                return Ok(e);
            }
            Some(Tok::Word(w)) if is_keyword(w) => {
                return self.err(format!(
                    "inside parentheses that start with a bare value only bare values may follow (as in tcpdump), found '{w}'"
                ))
            }
            _ => {}
        }
        let start = self.here();
        let prim = self.value(q)?;
        Ok(Expr::Prim(
            prim,
            Span {
                start,
                end: self.prev_end(),
            },
        ))
    }

    /// Parses `arith relop arith` if the tokens form one; otherwise rewinds and returns None.
    fn try_relation(&mut self) -> Result<Option<Expr>, FilterError> {
        let save = self.pos;
        let start = self.here();
        let Ok(lhs) = self.arith() else {
            self.pos = save;
            return Ok(None);
        };
        let Some(op) = self.relop() else {
            self.pos = save;
            return Ok(None);
        };
        let rhs = self.arith()?;
        let span = Span {
            start,
            end: self.prev_end(),
        };
        Ok(Some(Expr::Rel(lhs, op, rhs, span)))
    }

    fn relation(&mut self) -> Result<Expr, FilterError> {
        let start = self.here();
        let lhs = self.arith()?;
        let Some(op) = self.relop() else {
            return self.err(format!(
                "expected a comparison (=, !=, <, <=, >, >=) after the arithmetic expression, found {}",
                self.found()
            ));
        };
        let rhs = self.arith()?;
        Ok(Expr::Rel(
            lhs,
            op,
            rhs,
            Span {
                start,
                end: self.prev_end(),
            },
        ))
    }

    fn relop(&mut self) -> Option<RelOp> {
        let op = match self.peek() {
            Some(Tok::Sym("=" | "==")) => RelOp::Eq,
            Some(Tok::Sym("!=")) => RelOp::Ne,
            Some(Tok::Sym("<")) => RelOp::Lt,
            Some(Tok::Sym("<=")) => RelOp::Le,
            Some(Tok::Sym(">")) => RelOp::Gt,
            Some(Tok::Sym(">=")) => RelOp::Ge,
            _ => return None,
        };
        self.pos += 1;
        Some(op)
    }

    fn arith(&mut self) -> Result<Arith, FilterError> {
        self.binary(0)
    }

    fn binary(&mut self, level: usize) -> Result<Arith, FilterError> {
        const LEVELS: [&[(&str, ArOp)]; 5] = [
            &[("|", ArOp::Or)],
            &[("&", ArOp::And)],
            &[("<<", ArOp::Shl), (">>", ArOp::Shr)],
            &[("+", ArOp::Add), ("-", ArOp::Sub)],
            &[("*", ArOp::Mul), ("/", ArOp::Div)],
        ];
        let Some(ops) = LEVELS.get(level) else {
            return self.unary();
        };
        let mut lhs = self.binary(level + 1)?;
        'outer: loop {
            for (s, op) in ops.iter() {
                if self.eat_sym(s) {
                    let at = self.here();
                    let rhs = self.binary(level + 1)?;
                    lhs = bin(*op, lhs, rhs, at)?;
                    continue 'outer;
                }
            }
            return Ok(lhs);
        }
    }

    fn unary(&mut self) -> Result<Arith, FilterError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return self.err(format!(
                "the expression nests deeper than {MAX_DEPTH} levels"
            ));
        }
        let r = self.unary_inner();
        self.depth -= 1;
        let x = r?;
        // libpcap's grammar gives `%` and `^` no precedence, so bison always shifts: they
        // take the operand right before them and everything after them
        // (`2 * 3 % 4 + 1` is `2 * (3 % (4 + 1))`).
        for (sym, op) in [("%", ArOp::Mod), ("^", ArOp::Xor)] {
            if self.eat_sym(sym) {
                let at = self.here();
                let rhs = self.arith()?;
                return bin(op, x, rhs, at);
            }
        }
        Ok(x)
    }

    fn unary_inner(&mut self) -> Result<Arith, FilterError> {
        if self.eat_sym("-") {
            return Ok(Arith::Neg(Box::new(self.unary()?)));
        }
        if self.eat_sym("(") {
            let a = self.arith()?;
            self.expect_sym(")")?;
            return Ok(a);
        }
        let Some(w) = self.peek_word().map(str::to_string) else {
            return self.err(format!("expected a number, found {}", self.found()));
        };
        if let Some(n) = parse_num(&w) {
            self.pos += 1;
            return Ok(Arith::Num(n));
        }
        if w == "len" {
            self.pos += 1;
            return Ok(Arith::Len);
        }
        if let Some(n) = named_const(&w) {
            self.pos += 1;
            return Ok(Arith::Num(n));
        }
        if let Some(proto) = proto_word(&w) {
            if matches!(self.peek_at(1), Some(Tok::Sym("["))) {
                self.pos += 2;
                let idx = self.arith()?;
                let mut size = 1u8;
                if self.eat_sym(":") {
                    let n = self.peek_word().and_then(parse_num);
                    size = match n {
                        Some(n @ (1 | 2 | 4)) => n as u8,
                        _ => return self.err("the size in proto[index:size] must be 1, 2 or 4"),
                    };
                    self.pos += 1;
                }
                self.expect_sym("]")?;
                return Ok(Arith::Load {
                    proto,
                    shift: self.shift,
                    idx: Box::new(idx),
                    size,
                });
            }
        }
        if w.contains('-') && !w.starts_with('-') {
            return self.err(format!(
                "'{w}' is not a number or a known constant (write spaces around '-' to subtract)"
            ));
        }
        self.err(format!("'{w}' is not a number or a known constant"))
    }

    fn number(&mut self, what: &str) -> Result<u32, FilterError> {
        match self.peek_word().and_then(parse_num) {
            Some(n) => {
                self.pos += 1;
                Ok(n)
            }
            None => self.err(format!("expected {what}, found {}", self.found())),
        }
    }

    fn primitive(&mut self, q_in: Option<Quals>) -> Result<(Expr, Option<Quals>), FilterError> {
        let start = self.here();
        let done = |p: &Parser, prim: Prim, q: Option<Quals>| {
            Ok((
                Expr::Prim(
                    prim,
                    Span {
                        start,
                        end: p.prev_end(),
                    },
                ),
                q,
            ))
        };
        if let Some(w) = self.peek_word().map(str::to_string) {
            if UNSUPPORTED.contains(&w.as_str()) {
                return self.err(format!(
                    "'{w}' is not supported by kestrel's filter compiler (see docs/FILTER.md)"
                ));
            }
            match w.as_str() {
                "less" | "greater" => {
                    self.pos += 1;
                    let n = self.number("a length")?;
                    let op = if w == "less" { RelOp::Le } else { RelOp::Ge };
                    return done(self, Prim::Len(op, n), None);
                }
                "vlan" => {
                    self.pos += 1;
                    let id = match self.peek_word().and_then(parse_num) {
                        Some(n) if n > 4095 => {
                            return self.err(format!("VLAN id {n} is above 4095"));
                        }
                        Some(n) => {
                            self.pos += 1;
                            Some(n as u16)
                        }
                        None => None,
                    };
                    let shift = self.shift;
                    self.shift += 4;
                    return done(self, Prim::Vlan(id, shift), None);
                }
                "broadcast" => {
                    self.pos += 1;
                    return done(self, Prim::EtherBroadcast, None);
                }
                "multicast" => {
                    self.pos += 1;
                    return done(self, Prim::Multicast(Proto::Ether, self.shift), None);
                }
                _ => {}
            }
        }
        // Qualifiers.
        let mut quals = Quals::default();
        let mut any = false;
        if let Some(p) = self.peek_word().and_then(proto_word) {
            self.pos += 1;
            quals.proto = Some(p);
            any = true;
            match self.peek_word() {
                Some("proto") => {
                    self.pos += 1;
                    return self.proto_prim(Some(p), start);
                }
                Some("broadcast") => {
                    if p == Proto::Ether {
                        self.pos += 1;
                        return done(self, Prim::EtherBroadcast, None);
                    }
                    return self.err(format!(
                        "'{} broadcast' needs the interface's netmask and is not supported",
                        p.name()
                    ));
                }
                Some("multicast") => {
                    if matches!(p, Proto::Ether | Proto::Ip | Proto::Ip6) {
                        self.pos += 1;
                        return done(self, Prim::Multicast(p, self.shift), None);
                    }
                    return self.err(format!("'{} multicast' is not valid", p.name()));
                }
                _ => {}
            }
        } else if self.peek_word() == Some("proto") {
            self.pos += 1;
            return self.proto_prim(None, start);
        }
        if let Some(d @ ("src" | "dst")) = self.peek_word().map(str::to_string).as_deref() {
            let first = if d == "src" { Dir::Src } else { Dir::Dst };
            self.pos += 1;
            any = true;
            quals.dir = Some(first);
            // `src or dst` / `src and dst` (only when followed by the other direction).
            if let (Some(Tok::Word(c)), Some(Tok::Word(other))) = (self.peek(), self.peek_at(1)) {
                let other_ok = (other == "src" || other == "dst") && other != d;
                if other_ok && (c == "or" || c == "and") {
                    quals.dir = Some(if c == "or" {
                        Dir::SrcOrDst
                    } else {
                        Dir::SrcAndDst
                    });
                    self.pos += 2;
                }
            }
        }
        let kind = match self.peek_word() {
            Some("host") => Some(Kind::Host),
            Some("net") => Some(Kind::Net),
            Some("port") => Some(Kind::Port),
            Some("portrange") => Some(Kind::Portrange),
            _ => None,
        };
        if kind.is_some() {
            self.pos += 1;
            any = true;
            quals.kind = kind;
        }
        if let (Some(p), None, None) = (quals.proto, quals.dir, quals.kind) {
            // A bare protocol name.
            if p == Proto::Ether {
                return self.err(
                    "'ether' must be followed by host, src, dst, proto, broadcast or multicast",
                );
            }
            return done(self, Prim::Proto(p, self.shift), None);
        }
        if !any {
            match (q_in, self.peek()) {
                (Some(q), Some(Tok::Word(w))) if !is_keyword(w) => quals = q,
                (Some(q), Some(Tok::V6(_) | Tok::Mac(_))) => quals = q,
                _ => {
                    return self.err(format!(
                    "expected a filter primitive (like 'host 10.0.0.1', 'tcp port 80'), found {}",
                    self.found()
                ))
                }
            }
        }
        let prim = self.value(quals)?;
        done(self, prim, Some(quals))
    }

    /// After `[ip|ip6|ether] proto`.
    fn proto_prim(
        &mut self,
        p: Option<Proto>,
        start: usize,
    ) -> Result<(Expr, Option<Quals>), FilterError> {
        let name = match self.peek() {
            Some(Tok::Word(w) | Tok::Escaped(w)) => w.clone(),
            _ => {
                return self.err(format!(
                    "expected a protocol number, found {}",
                    self.found()
                ))
            }
        };
        let prim = match p {
            Some(Proto::Ether) => {
                let n = match parse_num(&name) {
                    Some(n) => n,
                    None => match ether_proto_name(&name) {
                        Some(n) => u32::from(n),
                        None => return self.err(format!("unknown ether protocol '{name}'")),
                    },
                };
                if !(1536..=0xffff).contains(&n) {
                    return self.err(format!(
                        "ether proto {n}: only EtherType values 1536-65535 are supported (no 802.2 LLC)"
                    ));
                }
                Prim::EtherProto(n as u16, self.shift)
            }
            None | Some(Proto::Ip) | Some(Proto::Ip6) => {
                let n = match parse_num(&name) {
                    Some(n) => n,
                    None => match ip_proto_name(&name) {
                        Some(n) => u32::from(n),
                        None => return self.err(format!("unknown IP protocol '{name}'")),
                    },
                };
                Prim::IpProto(p, n, self.shift)
            }
            Some(other) => {
                return self.err(format!(
                    "'{} proto' is not valid: use 'ip proto', 'ip6 proto' or 'ether proto'",
                    other.name()
                ))
            }
        };
        self.pos += 1;
        let quals = Quals {
            proto: p,
            dir: None,
            kind: Some(Kind::Proto),
        };
        Ok((
            Expr::Prim(
                prim,
                Span {
                    start,
                    end: self.prev_end(),
                },
            ),
            Some(quals),
        ))
    }

    /// The value of a qualified primitive.
    fn value(&mut self, q: Quals) -> Result<Prim, FilterError> {
        let dir = q.dir.unwrap_or(Dir::SrcOrDst);
        let kind = q.kind.unwrap_or(Kind::Host);
        let shift = self.shift;
        let tok = match self.peek() {
            Some(t) => t.clone(),
            None => {
                return self.err("expected an address or number, found the end of the expression")
            }
        };
        if kind == Kind::Proto {
            // A bare value continuing `ip proto 6 or 17`.
            let start = self.here();
            return match self.proto_prim(q.proto, start)? {
                (Expr::Prim(prim, _), _) => Ok(prim),
                _ => self.err("internal: protocol primitive expected"),
            };
        }
        match (kind, tok) {
            (Kind::Port | Kind::Portrange, Tok::Word(w)) => {
                let proto = match q.proto {
                    None => None,
                    Some(p @ (Proto::Tcp | Proto::Udp | Proto::Sctp)) => Some(p),
                    Some(p) => {
                        return self.err(format!(
                            "'{}' modifier applied to a port (use tcp, udp or sctp)",
                            p.name()
                        ))
                    }
                };
                // Numbers, or service names (which may imply tcp or udp, as in libpcap).
                let (lo, hi, real) = if kind == Kind::Portrange {
                    let split = w
                        .match_indices('-')
                        .map(|(i, _)| (&w[..i], &w[i + 1..]))
                        .find_map(|(a, b)| Some((self.port(a).ok()?, self.port(b).ok()?)));
                    match split {
                        Some(((a, pa), (b, pb))) => (a, b, if pa == pb { pa } else { None }),
                        // A single port is the range of one (`portrange 50-60 or 80`).
                        None if !w.contains('-') || self.port(&w).is_ok() => {
                            let (p, real) = self.port(&w)?;
                            (p, p, real)
                        }
                        None => {
                            return self.err(format!(
                                "'{w}' is not a port range like 1000-2000 (ports or service names)"
                            ))
                        }
                    }
                } else {
                    let (p, real) = self.port(&w)?;
                    (p, p, real)
                };
                let proto = match (proto, real) {
                    (None, real) => real,
                    (Some(q), Some(r)) if q != r => {
                        return self.err(format!("port '{w}' is {}", r.name()));
                    }
                    (q, _) => q,
                };
                self.pos += 1;
                let (lo, hi) = (lo.min(hi), lo.max(hi));
                Ok(Prim::Port {
                    proto,
                    dir,
                    lo,
                    hi,
                    shift,
                })
            }
            (Kind::Port | Kind::Portrange, _) => {
                self.err(format!("expected a port number, found {}", self.found()))
            }
            (Kind::Host, Tok::Mac(mac)) | (Kind::Net, Tok::Mac(mac)) => {
                if kind == Kind::Net {
                    return self.err("'net' needs an IP network, not a MAC address");
                }
                if !matches!(q.proto, None | Some(Proto::Ether)) {
                    return self.err("a MAC address needs the 'ether' qualifier");
                }
                self.pos += 1;
                Ok(Prim::EtherHost(dir, mac))
            }
            (_, Tok::V6(a)) => {
                self.check_ip_proto(q.proto, Proto::Ip6)?;
                self.pos += 1;
                let mut prefix = 128u8;
                if kind == Kind::Net && self.eat_sym("/") {
                    let n = self.number("a prefix length")?;
                    if n > 128 {
                        return self.err(format!("prefix length {n} is above 128"));
                    }
                    prefix = n as u8;
                }
                let addr = a.octets();
                let bits = u128::from_be_bytes(addr);
                let mask = if prefix == 0 {
                    0
                } else {
                    u128::MAX << (128 - u32::from(prefix))
                };
                if bits & !mask != 0 {
                    return Err(FilterError::new(
                        self.prev_end(),
                        format!("non-network bits set in {a}/{prefix}"),
                    ));
                }
                Ok(Prim::Net {
                    proto: q.proto,
                    dir,
                    net: Net::V6 { addr, prefix },
                    shift,
                })
            }
            (Kind::Host | Kind::Net, Tok::Word(w)) => {
                if q.proto == Some(Proto::Ether) {
                    return self.err("'ether host' needs a MAC address like 02:00:00:00:00:01");
                }
                // A plain number is a whole 32-bit address (`host 53` is 0.0.0.53); as a net
                // it is promoted (`net 10` is 10.0.0.0/8), as in libpcap.
                if let Some(n) = parse_num(&w).filter(|_| !w.contains('.')) {
                    self.check_ip_proto(q.proto, Proto::Ip)?;
                    self.pos += 1;
                    let (mut addr, mut mask) = (n, u32::MAX);
                    if kind == Kind::Net {
                        while addr != 0 && addr & 0xff00_0000 == 0 {
                            addr <<= 8;
                            mask <<= 8;
                        }
                    }
                    return Ok(Prim::Net {
                        proto: q.proto,
                        dir,
                        net: Net::V4 { addr, mask },
                        shift,
                    });
                }
                let parts: Option<Vec<u32>> = w.split('.').map(parse_dec_octet).collect();
                let Some(parts) = parts.filter(|p| (1..=4).contains(&p.len())) else {
                    return self.err(format!(
                        "'{w}' is not an IPv4 address (host names are not resolved: give an address)"
                    ));
                };
                self.check_ip_proto(q.proto, Proto::Ip)?;
                let at = self.here();
                self.pos += 1;
                let mut addr = 0u32;
                for (i, p) in parts.iter().enumerate() {
                    addr |= p << (24 - 8 * i);
                }
                let mut mask = if parts.len() == 4 {
                    u32::MAX
                } else {
                    u32::MAX << (32 - 8 * parts.len())
                };
                // A partial dotted host (`host 10.1`) is masked like a net, as in libpcap;
                // only nets take `/len` or `mask`.
                if kind == Kind::Net && self.eat_sym("/") {
                    let n = self.number("a prefix length")?;
                    if n > 32 {
                        return self.err(format!("prefix length {n} is above 32"));
                    }
                    mask = if n == 0 { 0 } else { u32::MAX << (32 - n) };
                } else if kind == Kind::Net && self.peek_word() == Some("mask") {
                    self.pos += 1;
                    let m = self.peek_word().map(|m| {
                        m.split('.')
                            .map(parse_dec_octet)
                            .collect::<Option<Vec<u32>>>()
                    });
                    match m {
                        Some(Some(v)) if v.len() == 4 => {
                            mask = v.iter().fold(0, |acc, o| (acc << 8) | o);
                            self.pos += 1;
                        }
                        _ => return self.err("expected a dotted netmask like 255.255.0.0"),
                    }
                }
                if addr & !mask != 0 {
                    return Err(FilterError::new(
                        at,
                        format!("non-network bits set in '{w}' for that mask"),
                    ));
                }
                Ok(Prim::Net {
                    proto: q.proto,
                    dir,
                    net: Net::V4 { addr, mask },
                    shift,
                })
            }
            _ => self.err(format!("expected an address, found {}", self.found())),
        }
    }

    /// A port number, or a service name from /etc/services with the transport it implies.
    fn port(&self, w: &str) -> Result<(u16, Option<Proto>), FilterError> {
        match parse_num(w) {
            Some(n) if n <= 65535 => Ok((n as u16, None)),
            Some(n) => self.err(format!("port {n} is above 65535")),
            None => match super::services::lookup(w) {
                Some(found) => Ok(found),
                None => self.err(format!(
                    "'{w}' is not a port number or a service name in /etc/services"
                )),
            },
        }
    }

    fn check_ip_proto(&self, p: Option<Proto>, family: Proto) -> Result<(), FilterError> {
        let ok = match family {
            Proto::Ip6 => matches!(p, None | Some(Proto::Ip6)),
            _ => matches!(p, None | Some(Proto::Ip | Proto::Arp | Proto::Rarp)),
        };
        if ok {
            return Ok(());
        }
        let p = p.map_or("?", Proto::name);
        let what = if family == Proto::Ip6 {
            "an IPv6"
        } else {
            "an IPv4"
        };
        Err(FilterError::new(
            self.here(),
            format!("'{p}' modifier cannot be applied to {what} host or net"),
        ))
    }
}

/// Builds `x op y`. Like libpcap, a divisor whose first computed value is the constant 0 is
/// refused at compile time ("division by zero"), even `len / (0 + 1)` or `x % ip[0]` (the
/// index 0 is computed first): tcpdump refuses those expressions, so kestrel does too.
fn bin(op: ArOp, x: Arith, y: Arith, at: usize) -> Result<Arith, FilterError> {
    fn first_is_zero(a: &Arith) -> bool {
        match a {
            Arith::Num(n) => *n == 0,
            Arith::Len => false,
            Arith::Load { idx, .. } => first_is_zero(idx),
            Arith::Bin(_, l, _) | Arith::Neg(l) => first_is_zero(l),
        }
    }
    if matches!(op, ArOp::Div | ArOp::Mod) && first_is_zero(&y) {
        let what = if op == ArOp::Div {
            "division"
        } else {
            "modulus"
        };
        return Err(FilterError::new(at, format!("{what} by zero")));
    }
    Ok(Arith::Bin(op, Box::new(x), Box::new(y)))
}

fn parse_dec_octet(s: &str) -> Option<u32> {
    if s.is_empty() || s.len() > 3 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok().filter(|n| *n <= 255)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Expr {
        match parse(s) {
            Ok(e) => e,
            Err(e) => panic!("{s}: {e}"),
        }
    }

    fn prim(e: &Expr) -> &Prim {
        match e {
            Expr::Prim(p, _) => p,
            other => panic!("not a primitive: {other:?}"),
        }
    }

    #[test]
    fn and_or_have_equal_precedence_left_to_right() {
        // a or b and c == (a or b) and c
        let e = p("tcp or udp and icmp");
        let Expr::And(l, r) = e else { panic!() };
        assert!(matches!(*l, Expr::Or(_, _)));
        assert_eq!(prim(&r), &Prim::Proto(Proto::Icmp, 0));
    }

    #[test]
    fn bare_values_inherit_qualifiers() {
        let Expr::Or(_, r) = p("tcp port 22 or 53") else {
            panic!()
        };
        assert!(matches!(
            prim(&r),
            Prim::Port {
                proto: Some(Proto::Tcp),
                lo: 53,
                hi: 53,
                ..
            }
        ));
        let Expr::And(_, r) = p("host 10.0.0.1 and not 10.0.0.2") else {
            panic!()
        };
        let Expr::Not(inner) = *r else { panic!() };
        assert!(matches!(
            prim(&inner),
            Prim::Net {
                net: Net::V4 {
                    addr: 0x0a000002,
                    ..
                },
                ..
            }
        ));
    }

    #[test]
    fn directions_and_nets() {
        assert!(matches!(
            prim(&p("src or dst port 80")),
            Prim::Port {
                dir: Dir::SrcOrDst,
                ..
            }
        ));
        assert!(matches!(
            prim(&p("src and dst net 10.1")),
            Prim::Net {
                dir: Dir::SrcAndDst,
                net: Net::V4 {
                    addr: 0x0a010000,
                    mask: 0xffff0000
                },
                ..
            }
        ));
        assert!(matches!(
            prim(&p("net 192.168.0.0 mask 255.255.0.0")),
            Prim::Net {
                net: Net::V4 {
                    mask: 0xffff0000,
                    ..
                },
                ..
            }
        ));
        assert!(parse("net 10.0.0.1/8").is_err());
    }

    #[test]
    fn vlan_shifts_what_follows() {
        let Expr::And(l, r) = p("vlan 100 and tcp") else {
            panic!()
        };
        assert_eq!(prim(&l), &Prim::Vlan(Some(100), 0));
        assert_eq!(prim(&r), &Prim::Proto(Proto::Tcp, 4));
    }

    #[test]
    fn relations_and_groups() {
        assert!(matches!(
            p("tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn"),
            Expr::Rel(..)
        ));
        assert!(matches!(p("(tcp[13] & 2) != 0"), Expr::Rel(..)));
        assert!(matches!(p("(tcp or udp)"), Expr::Or(..)));
        assert!(matches!(p("len - 14 > 5"), Expr::Rel(..)));
        assert!(matches!(p("(len > 5)"), Expr::Rel(..)));
    }

    #[test]
    fn errors_name_the_position() {
        let e = parse("tcp port 80 and gateway foo").expect_err("must fail");
        assert_eq!(e.pos, 16);
        assert!(e.message.contains("not supported"), "{e}");
        let e = parse("host example.com").expect_err("must fail");
        assert_eq!(e.pos, 5);
        assert!(parse("1.2.3.4").is_err());
        assert!(parse("tcp and").is_err());
        assert!(parse("tcp[0:3] = 1").is_err());
        assert!(parse("port 70000").is_err());
        assert!(parse("port no-such-service").is_err());
    }

    #[test]
    fn hostile_input_is_an_error_not_a_crash() {
        let deep = format!("{}tcp{}", "(".repeat(10_000), ")".repeat(10_000));
        assert!(parse(&deep).is_err());
        let nots = format!("{}tcp", "not ".repeat(10_000));
        assert!(parse(&nots).is_err());
        let minus = format!("{}1 = 1", "-".repeat(10_000));
        assert!(parse(&minus).is_err());
        let long = vec!["port 1"; 5000].join(" or ");
        assert!(parse(&long).is_err());
        let ok = vec!["port 1"; 50].join(" or ");
        assert!(crate::filter::compile_match(&ok).is_ok());
        // Every prefix of a tricky expression parses or fails cleanly.
        let s = "vlan 1 and (tcp[tcp[12]>>4:2] & 0x0f0f != 0 or ip6 net ff02::/16) && !ether host 02:00:00:00:00:01 || \\tcp";
        for i in 0..=s.len() {
            let _ = parse(&s[..i]);
        }
        for junk in [
            "ü",
            "tcp[",
            "[",
            "]",
            "(",
            ")",
            ":",
            "::",
            "0x",
            "0xfffffffff",
            "1.2.3.4.5",
            "net /",
            "\\",
        ] {
            let _ = parse(junk);
        }
    }
}
