//! The syntax tree produced by the parser. Every node carries the [`Span`] of its source text.

pub use crate::span::Span;

/// A whole script: its probes in source order, and the top-level items current bpftrace
/// allows before them.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Program {
    /// Probe blocks in source order.
    pub probes: Vec<Probe>,
    /// `config = { key = value; ... }` entries, in order.
    pub config: Vec<ConfigItem>,
    /// `let @name = hash(N);` map declarations.
    pub map_decls: Vec<MapDeclItem>,
    /// `macro name(params) { ... }` definitions (expanded before analysis).
    pub macros: Vec<Macro>,
    /// C `struct`, `union` and `enum` definitions written in the script.
    pub c_types: Vec<CTypeDef>,
    /// The whole source.
    pub span: Span,
}

/// One `key = value` of a top-level `config = { ... }` block.
#[derive(Clone, Debug, PartialEq)]
pub struct ConfigItem {
    /// The option's name as written (`max_strlen`, `BPFTRACE_MAX_STRLEN`, ...).
    pub key: Ident,
    /// Its value: an integer, a string, or a bare word (`raw`, `true`).
    pub value: ConfigValue,
    /// `key = value`.
    pub span: Span,
}

/// The value of a config option.
#[derive(Clone, Debug, PartialEq)]
pub enum ConfigValue {
    /// `16`, `0x10`.
    Int(u64),
    /// `"text"`.
    Str(String),
    /// `raw`, `true`, `false`, `error`.
    Word(String),
}

/// `let @name = KIND(N);` at the top level: a map with a declared kind and size.
#[derive(Clone, Debug, PartialEq)]
pub struct MapDeclItem {
    /// The map, `@` excluded.
    pub map: Ident,
    /// `hash`, `lruhash`, `percpuhash`, `percpulruhash`, `percpuarray`.
    pub kind: Ident,
    /// The size argument, if given.
    pub size: Option<Expr>,
    /// The whole declaration.
    pub span: Span,
}

/// `macro name(a, $b, @c) { stmts; value }`.
#[derive(Clone, Debug, PartialEq)]
pub struct Macro {
    /// The macro's name.
    pub name: Ident,
    /// Parameters: a bare name (an expression, substituted where it is used), `$name` (a
    /// variable of the caller) or `@name` (a map of the caller).
    pub params: Vec<MacroParam>,
    /// The body's statements, the value excluded.
    pub body: Vec<Stmt>,
    /// The final expression written without `;`: the macro's value.
    pub value: Option<Expr>,
    /// A block expression `{ stmts; value }` made into a macro by the parser: its
    /// variables are the enclosing probe's (no renaming).
    pub inline_block: bool,
    /// The whole definition.
    pub span: Span,
}

/// Which C type a definition makes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CTag {
    /// `struct`
    Struct,
    /// `union`
    Union,
    /// `enum`
    Enum,
}

/// `struct Name { members };`, `union Name { ... }` or `enum Name { A, B = 2 }`.
#[derive(Clone, Debug, PartialEq)]
pub struct CTypeDef {
    /// struct, union or enum.
    pub tag: CTag,
    /// The type's name.
    pub name: Ident,
    /// Members of a struct or union.
    pub members: Vec<CMember>,
    /// Enumerators of an enum, with their values when written.
    pub enumerators: Vec<(Ident, Option<i64>)>,
    /// The whole definition.
    pub span: Span,
}

/// One member of a C struct or union: `unsigned int *name[4][2] : 3`.
#[derive(Clone, Debug, PartialEq)]
pub struct CMember {
    /// The base type as written, qualifiers dropped: `unsigned int`, `struct Bar`, `u32`.
    pub base: String,
    /// Number of `*`.
    pub pointer: u32,
    /// The member's name.
    pub name: Ident,
    /// Array dimensions, outermost first.
    pub dims: Vec<u32>,
    /// Bit-field width.
    pub bits: Option<u32>,
}

/// A macro parameter.
#[derive(Clone, Debug, PartialEq)]
pub enum MacroParam {
    /// `x`: any expression.
    Expr(Ident),
    /// `$x`: a variable.
    Var(Ident),
    /// `@x`: a map.
    Map(Ident),
}

/// `spec, spec /predicate/ { body }`.
#[derive(Clone, Debug, PartialEq)]
pub struct Probe {
    /// One or more attach points sharing this body.
    pub specs: Vec<ProbeSpec>,
    /// Optional `/expr/` filter.
    pub predicate: Option<Expr>,
    /// The action block.
    pub body: Block,
    /// From the first spec to the closing brace.
    pub span: Span,
}

/// One attach point as written, e.g. `tracepoint:syscalls:sys_enter_open*` or `BEGIN`.
#[derive(Clone, Debug, PartialEq)]
pub struct ProbeSpec {
    /// The text as written.
    pub raw: String,
    /// `raw` split on `:` (a path segment starting with `/` is kept whole), e.g.
    /// `["tracepoint", "syscalls", "sys_enter_open*"]`, `["BEGIN"]`, `["interval", "s", "1"]`.
    pub parts: Vec<String>,
    /// Where `raw` is.
    pub span: Span,
}

/// `{ stmt; stmt; ... }`.
#[derive(Clone, Debug, PartialEq)]
pub struct Block {
    /// Statements in order.
    pub stmts: Vec<Stmt>,
    /// From `{` to `}`.
    pub span: Span,
}

/// A statement.
#[derive(Clone, Debug, PartialEq)]
pub struct Stmt {
    /// What kind of statement.
    pub kind: StmtKind,
    /// Its source text (without the trailing `;`).
    pub span: Span,
}

/// Statement kinds.
#[derive(Clone, Debug, PartialEq)]
pub enum StmtKind {
    /// An expression evaluated for its effect: `printf(...)`, `exit()`, `@x++`, `count()`...
    Expr(Expr),
    /// `@map[keys] op= value` (`op` is [`AssignOp::Assign`] for plain `=`).
    AssignMap {
        /// The map element assigned.
        map: MapRef,
        /// `=`, `+=`, ...
        op: AssignOp,
        /// Right-hand side.
        value: Expr,
    },
    /// `$var op= value`.
    AssignVar {
        /// The variable assigned.
        var: Ident,
        /// `=`, `+=`, ...
        op: AssignOp,
        /// Right-hand side.
        value: Expr,
    },
    /// `if (cond) { then } else { ... }`; `else if` is an else block holding one `If`.
    If {
        /// Condition.
        cond: Expr,
        /// Taken when `cond` is non-zero.
        then: Block,
        /// Optional else branch.
        otherwise: Option<Block>,
    },
    /// `while (cond) { body }`.
    While {
        /// Loop condition.
        cond: Expr,
        /// Loop body.
        body: Block,
    },
    /// `unroll (N) { body }`.
    Unroll {
        /// Repetition count (an expression so the parser need not evaluate it).
        count: Expr,
        /// Body repeated `count` times.
        body: Block,
    },
    /// `for ($k : @map) { body }`.
    For {
        /// Loop variable.
        var: Ident,
        /// Map iterated.
        map: MapRef,
        /// Loop body.
        body: Block,
    },
    /// `break`.
    Break,
    /// `continue`.
    Continue,
    /// `return` (ends the probe).
    Return,
    /// A nested `{ ... }` block.
    Block(Block),
}

/// Assignment operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AssignOp {
    /// `=`
    Assign,
    /// `+=`
    Add,
    /// `-=`
    Sub,
    /// `*=`
    Mul,
    /// `/=`
    Div,
    /// `%=`
    Mod,
    /// `&=`
    BitAnd,
    /// `|=`
    BitOr,
    /// `^=`
    BitXor,
    /// `<<=`
    Shl,
    /// `>>=`
    Shr,
}

/// A name with its span (`$x` is stored as `x`).
#[derive(Clone, Debug, PartialEq)]
pub struct Ident {
    /// The name without sigil.
    pub name: String,
    /// Where it is written (sigil included).
    pub span: Span,
}

/// `@name[key, ...]` or `@name`; the anonymous map `@` has an empty name.
#[derive(Clone, Debug, PartialEq)]
pub struct MapRef {
    /// Name without `@`.
    pub name: String,
    /// Key expressions; empty for a scalar map.
    pub keys: Vec<Expr>,
    /// Where the map reference is written (keys included).
    pub span: Span,
}

/// An expression.
#[derive(Clone, Debug, PartialEq)]
pub struct Expr {
    /// What kind of expression.
    pub kind: ExprKind,
    /// Its source text.
    pub span: Span,
}

/// Expression kinds.
#[derive(Clone, Debug, PartialEq)]
pub enum ExprKind {
    /// Integer literal (decimal, `0x` hex, `0` octal, `0b` binary, `1_000`, `1e3`); negative
    /// literals are `Unary(Neg, Int)`.
    Int(u64),
    /// String literal with escapes (`\n \t \\ \" \xNN \NNN`) already decoded.
    Str(String),
    /// A builtin variable: `pid`, `tid`, `comm`, `nsecs`, `args`, `arg0`, `retval`, ...
    Builtin(String),
    /// A scratch variable `$name`.
    Var(String),
    /// A positional parameter `$1`, `$2`, ...
    Positional(u32),
    /// `$#`, the number of positional parameters.
    PositionalCount,
    /// A map element or scalar map.
    Map(MapRef),
    /// `name(args...)`.
    Call {
        /// Function name.
        name: Ident,
        /// Arguments.
        args: Vec<Expr>,
    },
    /// `lhs op rhs`.
    Binary {
        /// Operator.
        op: BinOp,
        /// Left operand.
        lhs: Box<Expr>,
        /// Right operand.
        rhs: Box<Expr>,
    },
    /// `op expr`.
    Unary {
        /// Operator.
        op: UnOp,
        /// Operand.
        expr: Box<Expr>,
    },
    /// `x++`, `++x`, `x--`, `--x` on a variable or map element.
    IncDec {
        /// The variable or map element changed.
        target: Box<Expr>,
        /// `++` when true, `--` when false.
        increment: bool,
        /// Prefix form (value after the change) when true.
        prefix: bool,
    },
    /// `cond ? then : otherwise`.
    Ternary {
        /// Condition.
        cond: Box<Expr>,
        /// Value when true.
        then: Box<Expr>,
        /// Value when false.
        otherwise: Box<Expr>,
    },
    /// `expr->field` (`arrow`) or `expr.field`.
    Field {
        /// The struct or pointer.
        expr: Box<Expr>,
        /// Member name.
        field: Ident,
        /// Written with `->`.
        arrow: bool,
    },
    /// `expr[index]`.
    Index {
        /// The array or pointer.
        expr: Box<Expr>,
        /// The index.
        index: Box<Expr>,
    },
    /// `(a, b, ...)` with two or more elements.
    Tuple(Vec<Expr>),
    /// `(type) expr`, e.g. `(uint8)$x`, `(struct task_struct *)curtask`.
    Cast {
        /// The target type as written, e.g. `uint8`, `struct task_struct *`.
        ty: TypeName,
        /// Value converted.
        expr: Box<Expr>,
    },
    /// `sizeof(type)` (an expression operand is parsed as `Call`).
    SizeofType(TypeName),
    /// `offsetof(struct T, member)` or `offsetof(struct T, a.b)`: a member's byte offset.
    Offsetof {
        /// The struct or union.
        ty: TypeName,
        /// The member path (nested members separated by `.`).
        fields: Vec<Ident>,
    },
}

/// A type as written in a cast or `sizeof`.
#[derive(Clone, Debug, PartialEq)]
pub struct TypeName {
    /// Base name, e.g. `uint64`, `int`, `struct task_struct`.
    pub base: String,
    /// Number of `*` after it.
    pub pointer_depth: u32,
    /// Where it is written.
    pub span: Span,
}

/// Binary operators, loosest to tightest binding: `||`, `&&`, `|`, `^`, `&`, `== !=`,
/// `< <= > >=`, `<< >>`, `+ -`, `* / %`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinOp {
    /// `||`
    LogOr,
    /// `&&`
    LogAnd,
    /// `|`
    BitOr,
    /// `^`
    BitXor,
    /// `&`
    BitAnd,
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `<<`
    Shl,
    /// `>>`
    Shr,
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`
    Div,
    /// `%`
    Mod,
}

/// Unary operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnOp {
    /// `-x`
    Neg,
    /// `!x`
    Not,
    /// `~x`
    BitNot,
    /// `*x`
    Deref,
    /// `&x`
    AddrOf,
}
