use super::*;

/// Builds little BTF blobs by hand: each `add_*` appends one type and returns its id.
#[derive(Default)]
struct Builder {
    types: Vec<u8>,
    strings: Vec<u8>,
    next_id: u32,
    big_endian: bool,
}

impl Builder {
    fn new() -> Self {
        Builder {
            strings: vec![0],
            next_id: 1,
            ..Default::default()
        }
    }

    fn word(&self, v: u32) -> [u8; 4] {
        if self.big_endian {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    }

    fn str(&mut self, s: &str) -> u32 {
        if s.is_empty() {
            return 0;
        }
        let off = self.strings.len() as u32;
        self.strings.extend_from_slice(s.as_bytes());
        self.strings.push(0);
        off
    }

    fn words(&mut self, ws: &[u32]) {
        for &w in ws {
            let b = self.word(w);
            self.types.extend_from_slice(&b);
        }
    }

    fn add(
        &mut self,
        name: &str,
        kind: u32,
        vlen: u32,
        kind_flag: bool,
        size_or_type: u32,
        extra: &[u32],
    ) -> TypeId {
        let name_off = self.str(name);
        let info = (u32::from(kind_flag) << 31) | (kind << 24) | vlen;
        self.words(&[name_off, info, size_or_type]);
        self.words(extra);
        let id = TypeId(self.next_id);
        self.next_id += 1;
        id
    }

    fn int(&mut self, name: &str, size: u32, signed: bool, is_char: bool) -> TypeId {
        let enc = (u32::from(signed) | (u32::from(is_char) << 1)) << 24 | (size * 8);
        self.add(name, 1, 0, false, size, &[enc])
    }

    fn members(
        &mut self,
        kind: u32,
        name: &str,
        size: u32,
        members: &[(&str, TypeId, u32, u32)],
    ) -> TypeId {
        let bitfields = members.iter().any(|m| m.3 != 0);
        let mut extra = Vec::new();
        for &(n, t, off, bits) in members {
            extra.push(self.str(n));
            extra.push(t.0);
            extra.push(if bitfields { (bits << 24) | off } else { off });
        }
        self.add(name, kind, members.len() as u32, bitfields, size, &extra)
    }

    fn finish(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&if self.big_endian {
            0xeb9fu16.to_be_bytes()
        } else {
            0xeb9fu16.to_le_bytes()
        });
        out.extend_from_slice(&[1, 0]);
        let tl = self.types.len() as u32;
        let sl = self.strings.len() as u32;
        for w in [24, 0, tl, tl, sl] {
            out.extend_from_slice(&self.word(w));
        }
        out.extend_from_slice(&self.types);
        out.extend_from_slice(&self.strings);
        out
    }
}

/// Ids of the sample types, in the order `sample` adds them.
struct Sample {
    int: TypeId,
    char_: TypeId,
    task: TypeId,
    ptr_task: TypeId,
    arr: TypeId,
    pid_t: TypeId,
    const_char: TypeId,
    ptr_const_char: TypeId,
    proto: TypeId,
    func: TypeId,
    e: TypeId,
    e64: TypeId,
    fwd: TypeId,
    var: TypeId,
    sec: TypeId,
    float: TypeId,
    decl_tag: TypeId,
    type_tag: TypeId,
    volatile: TypeId,
    restrict: TypeId,
    matrix: TypeId,
    fn_ptr: TypeId,
}

fn sample(big_endian: bool) -> (Vec<u8>, Sample) {
    let mut b = Builder::new();
    b.big_endian = big_endian;
    let int = b.int("int", 4, true, false);
    let char_ = b.int("char", 1, true, true);
    let arr = b.add("", 3, 0, false, 0, &[char_.0, int.0, 16]);
    let pid_t = b.add("pid_t", 8, 0, false, int.0, &[]);
    let inner = b.members(5, "", 8, &[("pid_alias", pid_t, 0, 0), ("raw", int, 0, 0)]);
    let anon = b.members(4, "", 8, &[("flags", int, 0, 3), ("", inner, 32, 0)]);
    // task_struct refers to its own pointer type, which is added right after it.
    let task = b.members(
        4,
        "task_struct",
        40,
        &[
            ("pid", pid_t, 0, 0),
            ("comm", arr, 32, 0),
            ("", anon, 160, 0),
            ("real_parent", TypeId(8), 256, 0),
        ],
    );
    let ptr_task = b.add("", 2, 0, false, task.0, &[]);
    let const_char = b.add("", 10, 0, false, char_.0, &[]);
    let ptr_const_char = b.add("", 2, 0, false, const_char.0, &[]);
    let p_name = b.str("p");
    let proto = b.add(
        "",
        13,
        3,
        false,
        int.0,
        &[p_name, ptr_const_char.0, 0, int.0, 0, 0],
    );
    let func = b.add("do_thing", 12, 1, false, proto.0, &[]);
    let e = {
        let (a, c) = (b.str("A"), b.str("B"));
        b.add("color", 6, 2, true, 4, &[a, 1, c, (-2i32) as u32])
    };
    let e64 = {
        let a = b.str("BIG");
        b.add("big", 19, 1, false, 8, &[a, 0x1, 0x2])
    };
    let fwd = b.add("later", 7, 0, true, 0, &[]);
    let var = b.add("jiffies", 14, 0, false, int.0, &[1]);
    let sec = b.add(".data", 15, 1, false, 4, &[var.0, 0, 4]);
    let float = b.add("double", 16, 0, false, 8, &[]);
    let decl_tag = b.add("user", 17, 0, false, task.0, &[u32::MAX]);
    let type_tag = b.add("rcu", 18, 0, false, task.0, &[]);
    let volatile = b.add("", 9, 0, false, type_tag.0, &[]);
    let restrict = b.add("", 11, 0, false, volatile.0, &[]);
    let row = b.add("", 3, 0, false, 0, &[int.0, int.0, 3]);
    let matrix = b.add("", 3, 0, false, 0, &[row.0, int.0, 2]);
    let fn_ptr = b.add("", 2, 0, false, proto.0, &[]);
    let blob = b.finish();
    let s = Sample {
        int,
        char_,
        task,
        ptr_task,
        arr,
        pid_t,
        const_char,
        ptr_const_char,
        proto,
        func,
        e,
        e64,
        fwd,
        var,
        sec,
        float,
        decl_tag,
        type_tag,
        volatile,
        restrict,
        matrix,
        fn_ptr,
    };
    (blob, s)
}

fn parsed(big_endian: bool) -> (Btf, Sample) {
    let (blob, s) = sample(big_endian);
    match Btf::parse(blob) {
        Ok(btf) => (btf, s),
        Err(e) => panic!("sample BTF did not parse: {e}"),
    }
}

#[test]
fn ids_are_as_planned() {
    let (_, s) = parsed(false);
    // The sample relies on task_struct and its pointer having these ids.
    assert_eq!(s.task, TypeId(7));
    assert_eq!(s.ptr_task, TypeId(8));
}

#[test]
fn kinds_of_every_type() {
    let (btf, s) = parsed(false);
    let expect = [
        (TypeId::VOID, BtfKind::Void),
        (s.int, BtfKind::Int),
        (s.arr, BtfKind::Array),
        (s.pid_t, BtfKind::Typedef),
        (s.task, BtfKind::Struct),
        (s.ptr_task, BtfKind::Ptr),
        (s.const_char, BtfKind::Const),
        (s.proto, BtfKind::FuncProto),
        (s.func, BtfKind::Func),
        (s.e, BtfKind::Enum),
        (s.e64, BtfKind::Enum64),
        (s.fwd, BtfKind::Fwd),
        (s.var, BtfKind::Var),
        (s.sec, BtfKind::Datasec),
        (s.float, BtfKind::Float),
        (s.decl_tag, BtfKind::DeclTag),
        (s.type_tag, BtfKind::TypeTag),
        (s.volatile, BtfKind::Volatile),
        (s.restrict, BtfKind::Restrict),
    ];
    for (id, kind) in expect {
        assert_eq!(btf.kind(id), Some(kind), "{id}");
        let decoded = btf.get(id).map(|t| t.kind());
        assert_eq!(decoded.ok(), Some(kind), "{id}");
    }
    assert_eq!(btf.kind(TypeId(btf.type_count() + 1)), None);
    assert!(btf.get(TypeId(9999)).is_err());
}

#[test]
fn names_sizes_and_members() {
    for big_endian in [false, true] {
        let (btf, s) = parsed(big_endian);
        assert_eq!(
            btf.find_by_name(BtfKind::Struct, "task_struct"),
            Some(s.task)
        );
        assert_eq!(btf.find_by_name(BtfKind::Typedef, "pid_t"), Some(s.pid_t));
        assert_eq!(btf.find_by_name(BtfKind::Struct, "pid_t"), None);
        assert_eq!(btf.find_by_name(BtfKind::Func, "do_thing"), Some(s.func));

        let comm = btf.struct_member(s.task, "comm");
        assert_eq!(
            comm.as_ref().map(|m| btf.type_name(m.type_id)),
            Some("char[16]".into())
        );
        assert_eq!(comm.as_ref().map(|m| m.bit_offset), Some(32));
        let pid = btf.struct_member(s.task, "pid");
        assert_eq!(pid.as_ref().map(|m| m.type_id), Some(s.pid_t));
        assert_eq!(pid.and_then(|m| btf.resolve(m.type_id)), Some(s.int));

        // Through the anonymous struct (at bit 160), then the anonymous union (at +32).
        let alias = btf.struct_member(s.task, "pid_alias");
        assert_eq!(alias.map(|m| m.bit_offset), Some(192));
        let flags = btf.struct_member(s.task, "flags");
        assert_eq!(
            flags.map(|m| (m.bit_offset, m.bitfield_size)),
            Some((160, 3))
        );
        assert_eq!(btf.struct_member(s.task, "nope"), None);
        assert_eq!(btf.struct_member(s.int, "pid"), None);
        let parent = btf.struct_member(s.task, "real_parent");
        assert_eq!(parent.map(|m| m.type_id), Some(s.ptr_task));

        assert_eq!(btf.size_of(s.task), Some(40));
        assert_eq!(btf.size_of(s.arr), Some(16));
        assert_eq!(btf.size_of(s.pid_t), Some(4));
        assert_eq!(btf.size_of(s.ptr_task), Some(8));
        assert_eq!(btf.size_of(s.matrix), Some(24));
        assert_eq!(btf.size_of(s.restrict), Some(40));
        assert_eq!(btf.size_of(s.var), Some(4));
        assert_eq!(btf.size_of(s.e64), Some(8));
        assert_eq!(btf.size_of(s.float), Some(8));
        assert_eq!(btf.size_of(s.func), None);
        assert_eq!(btf.size_of(s.fwd), None);
        assert_eq!(btf.size_of(TypeId::VOID), None);
        assert_eq!(btf.resolve(s.restrict), Some(s.task));
    }
}

#[test]
fn c_like_names() {
    let (btf, s) = parsed(false);
    let expect = [
        (TypeId::VOID, "void"),
        (s.int, "int"),
        (s.char_, "char"),
        (s.arr, "char[16]"),
        (s.pid_t, "pid_t"),
        (s.task, "struct task_struct"),
        (s.ptr_task, "struct task_struct *"),
        (s.const_char, "const char"),
        (s.ptr_const_char, "const char *"),
        (s.proto, "int (const char *, int, ...)"),
        (s.fn_ptr, "int (*)(const char *, int, ...)"),
        (s.func, "do_thing"),
        (s.e, "enum color"),
        (s.fwd, "union later"),
        (s.matrix, "int[2][3]"),
        (s.volatile, "volatile struct task_struct"),
        (TypeId(500), "<bad type #500>"),
    ];
    for (id, name) in expect {
        assert_eq!(btf.type_name(id), name, "{id}");
    }
}

#[test]
fn decoded_details() -> Result<(), KernelError> {
    let (btf, s) = parsed(false);
    match btf.get(s.e)? {
        BtfType::Enum { values, signed, .. } => {
            assert!(signed);
            assert_eq!(values[1].value, -2);
        }
        other => panic!("{other:?}"),
    }
    match btf.get(s.e64)? {
        BtfType::Enum { values, .. } => assert_eq!(values[0].value, 0x2_0000_0001),
        other => panic!("{other:?}"),
    }
    match btf.get(s.proto)? {
        BtfType::FuncProto {
            params, variadic, ..
        } => {
            assert!(variadic);
            assert_eq!(params.len(), 2);
            assert_eq!(params[0].name, "p");
        }
        other => panic!("{other:?}"),
    }
    match btf.get(s.decl_tag)? {
        BtfType::DeclTag { component_idx, .. } => assert_eq!(component_idx, -1),
        other => panic!("{other:?}"),
    }
    match btf.get(s.sec)? {
        BtfType::Datasec { vars, .. } => assert_eq!(vars[0].type_id, s.var),
        other => panic!("{other:?}"),
    }
    Ok(())
}

#[test]
fn cycles_do_not_hang() {
    let mut b = Builder::new();
    // 1: const -> 2, 2: typedef -> 1; 3: ptr -> 3; 4: array of 4.
    b.add("", 10, 0, false, 2, &[]);
    b.add("loop", 8, 0, false, 1, &[]);
    b.add("", 2, 0, false, 3, &[]);
    b.add("", 3, 0, false, 0, &[4, 0, 2]);
    let s = b.members(4, "s", 4, &[("", TypeId(5), 0, 0)]);
    let btf = match Btf::parse(b.finish()) {
        Ok(btf) => btf,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(btf.resolve(TypeId(1)), None);
    assert_eq!(btf.size_of(TypeId(1)), None);
    assert_eq!(btf.size_of(TypeId(4)), None);
    // Spelling stops at the typedef name, so this cycle is harmless here.
    assert_eq!(btf.type_name(TypeId(1)), "const loop");
    assert!(btf.type_name(TypeId(3)).contains("cyclic"));
    assert!(btf.type_name(TypeId(4)).contains("cyclic"));
    assert_eq!(btf.struct_member(s, "x"), None);
}

#[test]
fn malformed_blobs_are_errors_not_panics() {
    let (good, _) = sample(false);
    // Every truncation and many single-byte corruptions must give Ok or BadBtf.
    for len in 0..good.len() {
        let r = Btf::parse(good[..len].to_vec());
        assert!(
            matches!(r, Err(KernelError::BadBtf(_))),
            "truncated to {len}: {r:?}"
        );
    }
    for i in 0..good.len() {
        for v in [0u8, 0xff, 0x13, 0x80] {
            let mut blob = good.clone();
            blob[i] = v;
            if let Ok(btf) = Btf::parse(blob) {
                // Queries on a corrupted but structurally valid blob must not panic either.
                for id in 0..=btf.type_count() + 1 {
                    let id = TypeId(id);
                    let _ = btf.get(id);
                    let _ = btf.size_of(id);
                    let _ = btf.type_name(id);
                    let _ = btf.struct_member(id, "comm");
                }
                let _ = btf.find_by_name(BtfKind::Struct, "task_struct");
            }
        }
    }
}

#[test]
fn header_errors_name_the_problem() {
    let (good, _) = sample(false);
    let mut bad_magic = good.clone();
    bad_magic[0] = 0;
    let mut bad_version = good.clone();
    bad_version[2] = 2;
    let mut bad_hdr_len = good.clone();
    bad_hdr_len[4] = 8;
    for (blob, needle) in [
        (bad_magic, "magic"),
        (bad_version, "version"),
        (bad_hdr_len, "header length"),
    ] {
        match Btf::parse(blob) {
            Err(KernelError::BadBtf(msg)) => assert!(msg.contains(needle), "{msg}"),
            other => panic!("{other:?}"),
        }
    }
}

fn require_kernel() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
        || std::env::var("KESTREL_REQUIRE_KERNEL").is_ok_and(|v| v == "1")
}

#[test]
fn real_vmlinux_btf() {
    if !std::path::Path::new(VMLINUX_BTF_PATH).exists() {
        assert!(
            !require_kernel(),
            "{VMLINUX_BTF_PATH} is missing but a kernel is required"
        );
        println!("skipped: {VMLINUX_BTF_PATH} is missing");
        return;
    }
    let start = std::time::Instant::now();
    let btf = match Btf::load_vmlinux() {
        Ok(btf) => btf,
        Err(e) => panic!("{e}"),
    };
    let loaded = start.elapsed();
    let task = btf.find_by_name(BtfKind::Struct, "task_struct");
    let found = start.elapsed();
    let Some(task) = task else {
        panic!("no struct task_struct in vmlinux BTF");
    };
    let comm = btf.struct_member(task, "comm");
    assert_eq!(
        comm.map(|m| btf.type_name(m.type_id)),
        Some("char[16]".to_string())
    );
    assert!(btf.struct_member(task, "pid").is_some());
    let parent = btf.struct_member(task, "real_parent");
    assert_eq!(
        parent.map(|m| btf.type_name(m.type_id)),
        Some("struct task_struct *".to_string())
    );
    assert!(btf.size_of(task).is_some_and(|s| s > 1000));
    println!(
        "vmlinux BTF: {} types; load {:?}, load + find task_struct {:?}",
        btf.type_count(),
        loaded,
        found
    );
}
