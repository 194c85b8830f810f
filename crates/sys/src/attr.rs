//! `#[repr(C)]` prefixes of `union bpf_attr` and the info structs, defined once. The kernel
//! zero-extends shorter attrs and rejects non-zero bytes it does not know, so each struct
//! ends where the fields this crate uses end. Padding is always a named field so every byte
//! is initialized.

/// `BPF_MAP_CREATE`.
#[repr(C)]
#[derive(Default)]
pub(crate) struct MapCreateAttr {
    pub map_type: u32,
    pub key_size: u32,
    pub value_size: u32,
    pub max_entries: u32,
    pub map_flags: u32,
    pub inner_map_fd: u32,
    pub numa_node: u32,
    pub map_name: [u8; 16],
    pub map_ifindex: u32,
    pub btf_fd: u32,
    pub btf_key_type_id: u32,
    pub btf_value_type_id: u32,
}

/// Map element commands (lookup, update, delete, get-next-key).
#[repr(C)]
#[derive(Default)]
pub(crate) struct MapElemAttr {
    pub map_fd: u32,
    pub _pad: u32,
    pub key: u64,
    /// `value`, or `next_key` for get-next-key.
    pub value: u64,
    pub flags: u64,
}

/// `BPF_MAP_LOOKUP_BATCH`.
#[repr(C)]
#[derive(Default)]
pub(crate) struct MapBatchAttr {
    pub in_batch: u64,
    pub out_batch: u64,
    pub keys: u64,
    pub values: u64,
    pub count: u32,
    pub map_fd: u32,
    pub elem_flags: u64,
    pub flags: u64,
}

/// `BPF_OBJ_PIN` / `BPF_OBJ_GET`.
#[repr(C)]
#[derive(Default)]
pub(crate) struct ObjAttr {
    pub pathname: u64,
    pub bpf_fd: u32,
    pub file_flags: u32,
}

/// `BPF_OBJ_GET_INFO_BY_FD`.
#[repr(C)]
#[derive(Default)]
pub(crate) struct InfoAttr {
    pub bpf_fd: u32,
    pub info_len: u32,
    pub info: u64,
}

/// `BPF_*_GET_FD_BY_ID` and `BPF_*_GET_NEXT_ID`.
#[repr(C)]
#[derive(Default)]
pub(crate) struct IdAttr {
    /// `start_id` for get-next-id, the id for get-fd-by-id.
    pub id: u32,
    pub next_id: u32,
    pub open_flags: u32,
}

/// The head of `struct bpf_map_info`.
#[repr(C)]
#[derive(Default, Debug, Clone, Copy)]
pub(crate) struct MapInfo {
    pub map_type: u32,
    pub id: u32,
    pub key_size: u32,
    pub value_size: u32,
    pub max_entries: u32,
    pub map_flags: u32,
    pub name: [u8; 16],
}

/// `struct bpf_prog_info` up to `run_cnt` (kernel 5.1+ layout).
#[repr(C)]
#[derive(Default, Debug, Clone, Copy)]
pub(crate) struct ProgInfo {
    pub prog_type: u32,
    pub id: u32,
    pub tag: [u8; 8],
    pub jited_prog_len: u32,
    pub xlated_prog_len: u32,
    pub jited_prog_insns: u64,
    pub xlated_prog_insns: u64,
    pub load_time: u64,
    pub created_by_uid: u32,
    pub nr_map_ids: u32,
    pub map_ids: u64,
    pub name: [u8; 16],
    pub ifindex: u32,
    pub gpl_compatible_and_pad: u32,
    pub netns_dev: u64,
    pub netns_ino: u64,
    pub nr_jited_ksyms: u32,
    pub nr_jited_func_lens: u32,
    pub jited_ksyms: u64,
    pub jited_func_lens: u64,
    pub btf_id: u32,
    pub func_info_rec_size: u32,
    pub func_info: u64,
    pub nr_func_info: u32,
    pub nr_line_info: u32,
    pub line_info: u64,
    pub jited_line_info: u64,
    pub nr_jited_line_info: u32,
    pub line_info_rec_size: u32,
    pub jited_line_info_rec_size: u32,
    pub nr_prog_tags: u32,
    pub prog_tags: u64,
    pub run_time_ns: u64,
    pub run_cnt: u64,
    pub recursion_misses: u64,
    pub verified_insns: u32,
    pub attach_btf_obj_id: u32,
    pub attach_btf_id: u32,
    pub _pad: u32,
}

/// The head of `struct bpf_link_info`.
#[repr(C)]
#[derive(Default, Debug, Clone, Copy)]
pub(crate) struct LinkInfo {
    pub link_type: u32,
    pub id: u32,
    pub prog_id: u32,
    pub _pad: u32,
}

/// `BPF_PROG_LOAD`, up to `attach_prog_fd`.
#[repr(C)]
#[derive(Default)]
pub(crate) struct ProgLoadAttr {
    pub prog_type: u32,
    pub insn_cnt: u32,
    pub insns: u64,
    pub license: u64,
    pub log_level: u32,
    pub log_size: u32,
    pub log_buf: u64,
    pub kern_version: u32,
    pub prog_flags: u32,
    pub prog_name: [u8; 16],
    pub prog_ifindex: u32,
    pub expected_attach_type: u32,
    pub prog_btf_fd: u32,
    pub func_info_rec_size: u32,
    pub func_info: u64,
    pub func_info_cnt: u32,
    pub line_info_rec_size: u32,
    pub line_info: u64,
    pub line_info_cnt: u32,
    pub attach_btf_id: u32,
    pub attach_prog_fd: u32,
    pub _pad: u32,
}

/// `BPF_PROG_TEST_RUN` (kernel 5.10+ layout).
#[repr(C)]
#[derive(Default)]
pub(crate) struct TestRunAttr {
    pub prog_fd: u32,
    pub retval: u32,
    pub data_size_in: u32,
    pub data_size_out: u32,
    pub data_in: u64,
    pub data_out: u64,
    pub repeat: u32,
    pub duration: u32,
    pub ctx_size_in: u32,
    pub ctx_size_out: u32,
    pub ctx_in: u64,
    pub ctx_out: u64,
    pub flags: u32,
    pub cpu: u32,
    pub batch_size: u32,
    pub _pad: u32,
}

/// `BPF_LINK_CREATE`: the fixed head plus the first union member (a cookie for perf-event
/// links, `target_btf_id` for tracing, the relative object for tcx).
#[repr(C)]
#[derive(Default)]
pub(crate) struct LinkCreateAttr {
    pub prog_fd: u32,
    /// Target fd (cgroup, perf event) or ifindex.
    pub target: u32,
    pub attach_type: u32,
    pub flags: u32,
    /// `target_btf_id`, or tcx `relative_fd`/`relative_id`; for perf events the low half of
    /// `bpf_cookie`.
    pub arg0: u32,
    pub arg1: u32,
    /// tcx `expected_revision`.
    pub arg2: u64,
}

/// `BPF_LINK_UPDATE` and `BPF_LINK_DETACH`.
#[repr(C)]
#[derive(Default)]
pub(crate) struct LinkUpdateAttr {
    pub link_fd: u32,
    pub new_prog_fd: u32,
    pub flags: u32,
    pub old_prog_fd: u32,
}

/// `BPF_PROG_ATTACH` / `BPF_PROG_DETACH` (legacy attachment, e.g. to a sockmap).
#[repr(C)]
#[derive(Default)]
pub(crate) struct ProgAttachAttr {
    pub target_fd: u32,
    pub attach_bpf_fd: u32,
    pub attach_type: u32,
    pub attach_flags: u32,
    pub replace_bpf_fd: u32,
}

/// `BPF_RAW_TRACEPOINT_OPEN`.
#[repr(C)]
#[derive(Default)]
pub(crate) struct RawTpAttr {
    pub name: u64,
    pub prog_fd: u32,
    pub _pad: u32,
}

/// `BPF_BTF_LOAD`.
#[repr(C)]
#[derive(Default)]
pub(crate) struct BtfLoadAttr {
    pub btf: u64,
    pub btf_log_buf: u64,
    pub btf_size: u32,
    pub btf_log_size: u32,
    pub btf_log_level: u32,
    pub _pad: u32,
}

/// `BPF_ENABLE_STATS`.
#[repr(C)]
#[derive(Default)]
pub(crate) struct EnableStatsAttr {
    pub kind: u32,
}

/// The first 112 bytes of `struct perf_event_attr` (PERF_ATTR_SIZE_VER5).
#[repr(C)]
#[derive(Default)]
pub(crate) struct PerfEventAttr {
    pub kind: u32,
    pub size: u32,
    pub config: u64,
    /// `sample_period` or `sample_freq`.
    pub sample: u64,
    pub sample_type: u64,
    pub read_format: u64,
    pub flags: u64,
    pub wakeup_events: u32,
    pub bp_type: u32,
    /// `uprobe_path` / `kprobe_func` / `config1`.
    pub config1: u64,
    /// `probe_offset` / `config2`.
    pub config2: u64,
    pub branch_sample_type: u64,
    pub sample_regs_user: u64,
    pub sample_stack_user: u32,
    pub clockid: i32,
    pub sample_regs_intr: u64,
}

/// `sizeof` the [`PerfEventAttr`] prefix above.
pub(crate) const PERF_ATTR_SIZE: u32 = 112;
