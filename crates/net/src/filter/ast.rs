//! The syntax tree of a filter expression, after qualifiers were resolved.
//!
//! Every primitive carries `shift`: the bytes that `vlan` primitives earlier in the text added
//! to the link-layer type and network-header offsets. libpcap applies that shift to whatever
//! follows a `vlan` in the expression, across `and`, `or` and `not` alike, and so does kestrel.

/// A byte range in the expression text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Span {
    /// First byte.
    pub start: usize,
    /// One past the last byte.
    pub end: usize,
}

/// A boolean filter expression.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expr {
    /// Both hold (evaluated left to right, short-circuit).
    And(Box<Expr>, Box<Expr>),
    /// Either holds.
    Or(Box<Expr>, Box<Expr>),
    /// Negation.
    Not(Box<Expr>),
    /// A primitive such as `tcp port 80`.
    Prim(Prim, Span),
    /// An arithmetic comparison such as `ip[8] < 5`.
    Rel(Arith, RelOp, Arith, Span),
}

/// Comparison operators (unsigned 32-bit, as in classic BPF).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RelOp {
    /// `=` / `==`
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
}

/// Arithmetic operators (32-bit unsigned).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArOp {
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
    /// `&`
    And,
    /// `|`
    Or,
    /// `^`
    Xor,
    /// `<<`
    Shl,
    /// `>>`
    Shr,
}

/// An arithmetic expression.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Arith {
    /// A constant.
    Num(u32),
    /// The packet's length on the wire (`len`).
    Len,
    /// `proto[idx:size]`.
    Load {
        /// Header the index is relative to.
        proto: Proto,
        /// VLAN shift in bytes.
        shift: u32,
        /// Byte index.
        idx: Box<Arith>,
        /// 1, 2 or 4 bytes, read in network byte order.
        size: u8,
    },
    /// A binary operation.
    Bin(ArOp, Box<Arith>, Box<Arith>),
    /// Unary minus.
    Neg(Box<Arith>),
}

/// Protocol qualifiers kestrel supports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Proto {
    /// `ether` / `link`
    Ether,
    /// `ip`
    Ip,
    /// `ip6`
    Ip6,
    /// `arp`
    Arp,
    /// `rarp`
    Rarp,
    /// `tcp`
    Tcp,
    /// `udp`
    Udp,
    /// `icmp`
    Icmp,
    /// `icmp6`
    Icmp6,
    /// `sctp`
    Sctp,
    /// `igmp`
    Igmp,
}

impl Proto {
    /// The keyword.
    pub fn name(self) -> &'static str {
        match self {
            Proto::Ether => "ether",
            Proto::Ip => "ip",
            Proto::Ip6 => "ip6",
            Proto::Arp => "arp",
            Proto::Rarp => "rarp",
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
            Proto::Icmp => "icmp",
            Proto::Icmp6 => "icmp6",
            Proto::Sctp => "sctp",
            Proto::Igmp => "igmp",
        }
    }

    /// IP protocol number of a transport protocol.
    pub fn ip_proto(self) -> Option<u8> {
        Some(match self {
            Proto::Tcp => 6,
            Proto::Udp => 17,
            Proto::Icmp => 1,
            Proto::Icmp6 => 58,
            Proto::Sctp => 132,
            Proto::Igmp => 2,
            _ => return None,
        })
    }
}

/// Direction qualifiers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dir {
    /// `src`
    Src,
    /// `dst`
    Dst,
    /// `src or dst` (the default)
    SrcOrDst,
    /// `src and dst`
    SrcAndDst,
}

/// An IP network (a host is a full-length network).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Net {
    /// IPv4 address and mask (host order).
    V4 {
        /// Address.
        addr: u32,
        /// Mask (not necessarily contiguous: `mask` accepts any).
        mask: u32,
    },
    /// IPv6 address and prefix length.
    V6 {
        /// Address.
        addr: [u8; 16],
        /// Prefix length 0..=128.
        prefix: u8,
    },
}

/// A primitive with its qualifiers resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Prim {
    /// A bare protocol: `ip`, `tcp`, `arp`, ...
    Proto(Proto, u32),
    /// `[ip|ip6|arp|rarp] [dir] host|net ADDR`.
    Net {
        /// Protocol qualifier, if any.
        proto: Option<Proto>,
        /// Direction.
        dir: Dir,
        /// Network.
        net: Net,
        /// VLAN shift.
        shift: u32,
    },
    /// `ether [dir] host MAC`.
    EtherHost(Dir, [u8; 6]),
    /// `[tcp|udp|sctp] [dir] port N` / `portrange A-B`.
    Port {
        /// Protocol qualifier, if any.
        proto: Option<Proto>,
        /// Direction.
        dir: Dir,
        /// First port.
        lo: u16,
        /// Last port.
        hi: u16,
        /// VLAN shift.
        shift: u32,
    },
    /// `[ip|ip6] proto N` (N above 255 is accepted, as by libpcap, and never matches).
    IpProto(Option<Proto>, u32, u32),
    /// `ether proto N`.
    EtherProto(u16, u32),
    /// `vlan [ID]`.
    Vlan(Option<u16>, u32),
    /// `[ether] broadcast`.
    EtherBroadcast,
    /// `[ether|ip|ip6] multicast`.
    Multicast(Proto, u32),
    /// `less N` (`len <= N`) / `greater N` (`len >= N`).
    Len(RelOp, u32),
}
