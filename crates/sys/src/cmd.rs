//! bpf(2) command numbers (`enum bpf_cmd`), defined once.

/// A bpf(2) command.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u32)]
#[allow(missing_docs)]
pub enum Cmd {
    MapCreate = 0,
    MapLookupElem = 1,
    MapUpdateElem = 2,
    MapDeleteElem = 3,
    MapGetNextKey = 4,
    ProgLoad = 5,
    ObjPin = 6,
    ObjGet = 7,
    ProgAttach = 8,
    ProgDetach = 9,
    ProgTestRun = 10,
    ProgGetNextId = 11,
    MapGetNextId = 12,
    ProgGetFdById = 13,
    MapGetFdById = 14,
    ObjGetInfoByFd = 15,
    ProgQuery = 16,
    RawTracepointOpen = 17,
    BtfLoad = 18,
    MapLookupBatch = 24,
    LinkCreate = 28,
    LinkUpdate = 29,
    LinkGetFdById = 30,
    LinkGetNextId = 31,
    EnableStats = 32,
    LinkDetach = 34,
}

impl Cmd {
    /// The kernel's name for the command, as errors show it.
    pub fn name(self) -> &'static str {
        match self {
            Cmd::MapCreate => "BPF_MAP_CREATE",
            Cmd::MapLookupElem => "BPF_MAP_LOOKUP_ELEM",
            Cmd::MapUpdateElem => "BPF_MAP_UPDATE_ELEM",
            Cmd::MapDeleteElem => "BPF_MAP_DELETE_ELEM",
            Cmd::MapGetNextKey => "BPF_MAP_GET_NEXT_KEY",
            Cmd::ProgLoad => "BPF_PROG_LOAD",
            Cmd::ObjPin => "BPF_OBJ_PIN",
            Cmd::ObjGet => "BPF_OBJ_GET",
            Cmd::ProgAttach => "BPF_PROG_ATTACH",
            Cmd::ProgDetach => "BPF_PROG_DETACH",
            Cmd::ProgTestRun => "BPF_PROG_TEST_RUN",
            Cmd::ProgGetNextId => "BPF_PROG_GET_NEXT_ID",
            Cmd::MapGetNextId => "BPF_MAP_GET_NEXT_ID",
            Cmd::ProgGetFdById => "BPF_PROG_GET_FD_BY_ID",
            Cmd::MapGetFdById => "BPF_MAP_GET_FD_BY_ID",
            Cmd::ObjGetInfoByFd => "BPF_OBJ_GET_INFO_BY_FD",
            Cmd::ProgQuery => "BPF_PROG_QUERY",
            Cmd::RawTracepointOpen => "BPF_RAW_TRACEPOINT_OPEN",
            Cmd::BtfLoad => "BPF_BTF_LOAD",
            Cmd::MapLookupBatch => "BPF_MAP_LOOKUP_BATCH",
            Cmd::LinkCreate => "BPF_LINK_CREATE",
            Cmd::LinkUpdate => "BPF_LINK_UPDATE",
            Cmd::LinkGetFdById => "BPF_LINK_GET_FD_BY_ID",
            Cmd::LinkGetNextId => "BPF_LINK_GET_NEXT_ID",
            Cmd::EnableStats => "BPF_ENABLE_STATS",
            Cmd::LinkDetach => "BPF_LINK_DETACH",
        }
    }
}

impl std::fmt::Display for Cmd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
