//! Kernel helper function ids (`enum bpf_func_id` in `include/uapi/linux/bpf.h`).
//!
//! The numbering is part of the kernel ABI and frozen: ids 0..=211 below match the kernel's
//! `___BPF_FUNC_MAPPER` list (checked against the BTF of a 6.18 kernel). Newer functionality is
//! exposed as kfuncs, which are called by BTF id instead.

/// `bpf_unspec` (helper id 0).
pub const UNSPEC: i32 = 0;
/// `bpf_map_lookup_elem` (helper id 1).
pub const MAP_LOOKUP_ELEM: i32 = 1;
/// `bpf_map_update_elem` (helper id 2).
pub const MAP_UPDATE_ELEM: i32 = 2;
/// `bpf_map_delete_elem` (helper id 3).
pub const MAP_DELETE_ELEM: i32 = 3;
/// `bpf_probe_read` (helper id 4).
pub const PROBE_READ: i32 = 4;
/// `bpf_ktime_get_ns` (helper id 5).
pub const KTIME_GET_NS: i32 = 5;
/// `bpf_trace_printk` (helper id 6).
pub const TRACE_PRINTK: i32 = 6;
/// `bpf_get_prandom_u32` (helper id 7).
pub const GET_PRANDOM_U32: i32 = 7;
/// `bpf_get_smp_processor_id` (helper id 8).
pub const GET_SMP_PROCESSOR_ID: i32 = 8;
/// `bpf_skb_store_bytes` (helper id 9).
pub const SKB_STORE_BYTES: i32 = 9;
/// `bpf_l3_csum_replace` (helper id 10).
pub const L3_CSUM_REPLACE: i32 = 10;
/// `bpf_l4_csum_replace` (helper id 11).
pub const L4_CSUM_REPLACE: i32 = 11;
/// `bpf_tail_call` (helper id 12).
pub const TAIL_CALL: i32 = 12;
/// `bpf_clone_redirect` (helper id 13).
pub const CLONE_REDIRECT: i32 = 13;
/// `bpf_get_current_pid_tgid` (helper id 14).
pub const GET_CURRENT_PID_TGID: i32 = 14;
/// `bpf_get_current_uid_gid` (helper id 15).
pub const GET_CURRENT_UID_GID: i32 = 15;
/// `bpf_get_current_comm` (helper id 16).
pub const GET_CURRENT_COMM: i32 = 16;
/// `bpf_get_cgroup_classid` (helper id 17).
pub const GET_CGROUP_CLASSID: i32 = 17;
/// `bpf_skb_vlan_push` (helper id 18).
pub const SKB_VLAN_PUSH: i32 = 18;
/// `bpf_skb_vlan_pop` (helper id 19).
pub const SKB_VLAN_POP: i32 = 19;
/// `bpf_skb_get_tunnel_key` (helper id 20).
pub const SKB_GET_TUNNEL_KEY: i32 = 20;
/// `bpf_skb_set_tunnel_key` (helper id 21).
pub const SKB_SET_TUNNEL_KEY: i32 = 21;
/// `bpf_perf_event_read` (helper id 22).
pub const PERF_EVENT_READ: i32 = 22;
/// `bpf_redirect` (helper id 23).
pub const REDIRECT: i32 = 23;
/// `bpf_get_route_realm` (helper id 24).
pub const GET_ROUTE_REALM: i32 = 24;
/// `bpf_perf_event_output` (helper id 25).
pub const PERF_EVENT_OUTPUT: i32 = 25;
/// `bpf_skb_load_bytes` (helper id 26).
pub const SKB_LOAD_BYTES: i32 = 26;
/// `bpf_get_stackid` (helper id 27).
pub const GET_STACKID: i32 = 27;
/// `bpf_csum_diff` (helper id 28).
pub const CSUM_DIFF: i32 = 28;
/// `bpf_skb_get_tunnel_opt` (helper id 29).
pub const SKB_GET_TUNNEL_OPT: i32 = 29;
/// `bpf_skb_set_tunnel_opt` (helper id 30).
pub const SKB_SET_TUNNEL_OPT: i32 = 30;
/// `bpf_skb_change_proto` (helper id 31).
pub const SKB_CHANGE_PROTO: i32 = 31;
/// `bpf_skb_change_type` (helper id 32).
pub const SKB_CHANGE_TYPE: i32 = 32;
/// `bpf_skb_under_cgroup` (helper id 33).
pub const SKB_UNDER_CGROUP: i32 = 33;
/// `bpf_get_hash_recalc` (helper id 34).
pub const GET_HASH_RECALC: i32 = 34;
/// `bpf_get_current_task` (helper id 35).
pub const GET_CURRENT_TASK: i32 = 35;
/// `bpf_probe_write_user` (helper id 36).
pub const PROBE_WRITE_USER: i32 = 36;
/// `bpf_current_task_under_cgroup` (helper id 37).
pub const CURRENT_TASK_UNDER_CGROUP: i32 = 37;
/// `bpf_skb_change_tail` (helper id 38).
pub const SKB_CHANGE_TAIL: i32 = 38;
/// `bpf_skb_pull_data` (helper id 39).
pub const SKB_PULL_DATA: i32 = 39;
/// `bpf_csum_update` (helper id 40).
pub const CSUM_UPDATE: i32 = 40;
/// `bpf_set_hash_invalid` (helper id 41).
pub const SET_HASH_INVALID: i32 = 41;
/// `bpf_get_numa_node_id` (helper id 42).
pub const GET_NUMA_NODE_ID: i32 = 42;
/// `bpf_skb_change_head` (helper id 43).
pub const SKB_CHANGE_HEAD: i32 = 43;
/// `bpf_xdp_adjust_head` (helper id 44).
pub const XDP_ADJUST_HEAD: i32 = 44;
/// `bpf_probe_read_str` (helper id 45).
pub const PROBE_READ_STR: i32 = 45;
/// `bpf_get_socket_cookie` (helper id 46).
pub const GET_SOCKET_COOKIE: i32 = 46;
/// `bpf_get_socket_uid` (helper id 47).
pub const GET_SOCKET_UID: i32 = 47;
/// `bpf_set_hash` (helper id 48).
pub const SET_HASH: i32 = 48;
/// `bpf_setsockopt` (helper id 49).
pub const SETSOCKOPT: i32 = 49;
/// `bpf_skb_adjust_room` (helper id 50).
pub const SKB_ADJUST_ROOM: i32 = 50;
/// `bpf_redirect_map` (helper id 51).
pub const REDIRECT_MAP: i32 = 51;
/// `bpf_sk_redirect_map` (helper id 52).
pub const SK_REDIRECT_MAP: i32 = 52;
/// `bpf_sock_map_update` (helper id 53).
pub const SOCK_MAP_UPDATE: i32 = 53;
/// `bpf_xdp_adjust_meta` (helper id 54).
pub const XDP_ADJUST_META: i32 = 54;
/// `bpf_perf_event_read_value` (helper id 55).
pub const PERF_EVENT_READ_VALUE: i32 = 55;
/// `bpf_perf_prog_read_value` (helper id 56).
pub const PERF_PROG_READ_VALUE: i32 = 56;
/// `bpf_getsockopt` (helper id 57).
pub const GETSOCKOPT: i32 = 57;
/// `bpf_override_return` (helper id 58).
pub const OVERRIDE_RETURN: i32 = 58;
/// `bpf_sock_ops_cb_flags_set` (helper id 59).
pub const SOCK_OPS_CB_FLAGS_SET: i32 = 59;
/// `bpf_msg_redirect_map` (helper id 60).
pub const MSG_REDIRECT_MAP: i32 = 60;
/// `bpf_msg_apply_bytes` (helper id 61).
pub const MSG_APPLY_BYTES: i32 = 61;
/// `bpf_msg_cork_bytes` (helper id 62).
pub const MSG_CORK_BYTES: i32 = 62;
/// `bpf_msg_pull_data` (helper id 63).
pub const MSG_PULL_DATA: i32 = 63;
/// `bpf_bind` (helper id 64).
pub const BIND: i32 = 64;
/// `bpf_xdp_adjust_tail` (helper id 65).
pub const XDP_ADJUST_TAIL: i32 = 65;
/// `bpf_skb_get_xfrm_state` (helper id 66).
pub const SKB_GET_XFRM_STATE: i32 = 66;
/// `bpf_get_stack` (helper id 67).
pub const GET_STACK: i32 = 67;
/// `bpf_skb_load_bytes_relative` (helper id 68).
pub const SKB_LOAD_BYTES_RELATIVE: i32 = 68;
/// `bpf_fib_lookup` (helper id 69).
pub const FIB_LOOKUP: i32 = 69;
/// `bpf_sock_hash_update` (helper id 70).
pub const SOCK_HASH_UPDATE: i32 = 70;
/// `bpf_msg_redirect_hash` (helper id 71).
pub const MSG_REDIRECT_HASH: i32 = 71;
/// `bpf_sk_redirect_hash` (helper id 72).
pub const SK_REDIRECT_HASH: i32 = 72;
/// `bpf_lwt_push_encap` (helper id 73).
pub const LWT_PUSH_ENCAP: i32 = 73;
/// `bpf_lwt_seg6_store_bytes` (helper id 74).
pub const LWT_SEG6_STORE_BYTES: i32 = 74;
/// `bpf_lwt_seg6_adjust_srh` (helper id 75).
pub const LWT_SEG6_ADJUST_SRH: i32 = 75;
/// `bpf_lwt_seg6_action` (helper id 76).
pub const LWT_SEG6_ACTION: i32 = 76;
/// `bpf_rc_repeat` (helper id 77).
pub const RC_REPEAT: i32 = 77;
/// `bpf_rc_keydown` (helper id 78).
pub const RC_KEYDOWN: i32 = 78;
/// `bpf_skb_cgroup_id` (helper id 79).
pub const SKB_CGROUP_ID: i32 = 79;
/// `bpf_get_current_cgroup_id` (helper id 80).
pub const GET_CURRENT_CGROUP_ID: i32 = 80;
/// `bpf_get_local_storage` (helper id 81).
pub const GET_LOCAL_STORAGE: i32 = 81;
/// `bpf_sk_select_reuseport` (helper id 82).
pub const SK_SELECT_REUSEPORT: i32 = 82;
/// `bpf_skb_ancestor_cgroup_id` (helper id 83).
pub const SKB_ANCESTOR_CGROUP_ID: i32 = 83;
/// `bpf_sk_lookup_tcp` (helper id 84).
pub const SK_LOOKUP_TCP: i32 = 84;
/// `bpf_sk_lookup_udp` (helper id 85).
pub const SK_LOOKUP_UDP: i32 = 85;
/// `bpf_sk_release` (helper id 86).
pub const SK_RELEASE: i32 = 86;
/// `bpf_map_push_elem` (helper id 87).
pub const MAP_PUSH_ELEM: i32 = 87;
/// `bpf_map_pop_elem` (helper id 88).
pub const MAP_POP_ELEM: i32 = 88;
/// `bpf_map_peek_elem` (helper id 89).
pub const MAP_PEEK_ELEM: i32 = 89;
/// `bpf_msg_push_data` (helper id 90).
pub const MSG_PUSH_DATA: i32 = 90;
/// `bpf_msg_pop_data` (helper id 91).
pub const MSG_POP_DATA: i32 = 91;
/// `bpf_rc_pointer_rel` (helper id 92).
pub const RC_POINTER_REL: i32 = 92;
/// `bpf_spin_lock` (helper id 93).
pub const SPIN_LOCK: i32 = 93;
/// `bpf_spin_unlock` (helper id 94).
pub const SPIN_UNLOCK: i32 = 94;
/// `bpf_sk_fullsock` (helper id 95).
pub const SK_FULLSOCK: i32 = 95;
/// `bpf_tcp_sock` (helper id 96).
pub const TCP_SOCK: i32 = 96;
/// `bpf_skb_ecn_set_ce` (helper id 97).
pub const SKB_ECN_SET_CE: i32 = 97;
/// `bpf_get_listener_sock` (helper id 98).
pub const GET_LISTENER_SOCK: i32 = 98;
/// `bpf_skc_lookup_tcp` (helper id 99).
pub const SKC_LOOKUP_TCP: i32 = 99;
/// `bpf_tcp_check_syncookie` (helper id 100).
pub const TCP_CHECK_SYNCOOKIE: i32 = 100;
/// `bpf_sysctl_get_name` (helper id 101).
pub const SYSCTL_GET_NAME: i32 = 101;
/// `bpf_sysctl_get_current_value` (helper id 102).
pub const SYSCTL_GET_CURRENT_VALUE: i32 = 102;
/// `bpf_sysctl_get_new_value` (helper id 103).
pub const SYSCTL_GET_NEW_VALUE: i32 = 103;
/// `bpf_sysctl_set_new_value` (helper id 104).
pub const SYSCTL_SET_NEW_VALUE: i32 = 104;
/// `bpf_strtol` (helper id 105).
pub const STRTOL: i32 = 105;
/// `bpf_strtoul` (helper id 106).
pub const STRTOUL: i32 = 106;
/// `bpf_sk_storage_get` (helper id 107).
pub const SK_STORAGE_GET: i32 = 107;
/// `bpf_sk_storage_delete` (helper id 108).
pub const SK_STORAGE_DELETE: i32 = 108;
/// `bpf_send_signal` (helper id 109).
pub const SEND_SIGNAL: i32 = 109;
/// `bpf_tcp_gen_syncookie` (helper id 110).
pub const TCP_GEN_SYNCOOKIE: i32 = 110;
/// `bpf_skb_output` (helper id 111).
pub const SKB_OUTPUT: i32 = 111;
/// `bpf_probe_read_user` (helper id 112).
pub const PROBE_READ_USER: i32 = 112;
/// `bpf_probe_read_kernel` (helper id 113).
pub const PROBE_READ_KERNEL: i32 = 113;
/// `bpf_probe_read_user_str` (helper id 114).
pub const PROBE_READ_USER_STR: i32 = 114;
/// `bpf_probe_read_kernel_str` (helper id 115).
pub const PROBE_READ_KERNEL_STR: i32 = 115;
/// `bpf_tcp_send_ack` (helper id 116).
pub const TCP_SEND_ACK: i32 = 116;
/// `bpf_send_signal_thread` (helper id 117).
pub const SEND_SIGNAL_THREAD: i32 = 117;
/// `bpf_jiffies64` (helper id 118).
pub const JIFFIES64: i32 = 118;
/// `bpf_read_branch_records` (helper id 119).
pub const READ_BRANCH_RECORDS: i32 = 119;
/// `bpf_get_ns_current_pid_tgid` (helper id 120).
pub const GET_NS_CURRENT_PID_TGID: i32 = 120;
/// `bpf_xdp_output` (helper id 121).
pub const XDP_OUTPUT: i32 = 121;
/// `bpf_get_netns_cookie` (helper id 122).
pub const GET_NETNS_COOKIE: i32 = 122;
/// `bpf_get_current_ancestor_cgroup_id` (helper id 123).
pub const GET_CURRENT_ANCESTOR_CGROUP_ID: i32 = 123;
/// `bpf_sk_assign` (helper id 124).
pub const SK_ASSIGN: i32 = 124;
/// `bpf_ktime_get_boot_ns` (helper id 125).
pub const KTIME_GET_BOOT_NS: i32 = 125;
/// `bpf_seq_printf` (helper id 126).
pub const SEQ_PRINTF: i32 = 126;
/// `bpf_seq_write` (helper id 127).
pub const SEQ_WRITE: i32 = 127;
/// `bpf_sk_cgroup_id` (helper id 128).
pub const SK_CGROUP_ID: i32 = 128;
/// `bpf_sk_ancestor_cgroup_id` (helper id 129).
pub const SK_ANCESTOR_CGROUP_ID: i32 = 129;
/// `bpf_ringbuf_output` (helper id 130).
pub const RINGBUF_OUTPUT: i32 = 130;
/// `bpf_ringbuf_reserve` (helper id 131).
pub const RINGBUF_RESERVE: i32 = 131;
/// `bpf_ringbuf_submit` (helper id 132).
pub const RINGBUF_SUBMIT: i32 = 132;
/// `bpf_ringbuf_discard` (helper id 133).
pub const RINGBUF_DISCARD: i32 = 133;
/// `bpf_ringbuf_query` (helper id 134).
pub const RINGBUF_QUERY: i32 = 134;
/// `bpf_csum_level` (helper id 135).
pub const CSUM_LEVEL: i32 = 135;
/// `bpf_skc_to_tcp6_sock` (helper id 136).
pub const SKC_TO_TCP6_SOCK: i32 = 136;
/// `bpf_skc_to_tcp_sock` (helper id 137).
pub const SKC_TO_TCP_SOCK: i32 = 137;
/// `bpf_skc_to_tcp_timewait_sock` (helper id 138).
pub const SKC_TO_TCP_TIMEWAIT_SOCK: i32 = 138;
/// `bpf_skc_to_tcp_request_sock` (helper id 139).
pub const SKC_TO_TCP_REQUEST_SOCK: i32 = 139;
/// `bpf_skc_to_udp6_sock` (helper id 140).
pub const SKC_TO_UDP6_SOCK: i32 = 140;
/// `bpf_get_task_stack` (helper id 141).
pub const GET_TASK_STACK: i32 = 141;
/// `bpf_load_hdr_opt` (helper id 142).
pub const LOAD_HDR_OPT: i32 = 142;
/// `bpf_store_hdr_opt` (helper id 143).
pub const STORE_HDR_OPT: i32 = 143;
/// `bpf_reserve_hdr_opt` (helper id 144).
pub const RESERVE_HDR_OPT: i32 = 144;
/// `bpf_inode_storage_get` (helper id 145).
pub const INODE_STORAGE_GET: i32 = 145;
/// `bpf_inode_storage_delete` (helper id 146).
pub const INODE_STORAGE_DELETE: i32 = 146;
/// `bpf_d_path` (helper id 147).
pub const D_PATH: i32 = 147;
/// `bpf_copy_from_user` (helper id 148).
pub const COPY_FROM_USER: i32 = 148;
/// `bpf_snprintf_btf` (helper id 149).
pub const SNPRINTF_BTF: i32 = 149;
/// `bpf_seq_printf_btf` (helper id 150).
pub const SEQ_PRINTF_BTF: i32 = 150;
/// `bpf_skb_cgroup_classid` (helper id 151).
pub const SKB_CGROUP_CLASSID: i32 = 151;
/// `bpf_redirect_neigh` (helper id 152).
pub const REDIRECT_NEIGH: i32 = 152;
/// `bpf_per_cpu_ptr` (helper id 153).
pub const PER_CPU_PTR: i32 = 153;
/// `bpf_this_cpu_ptr` (helper id 154).
pub const THIS_CPU_PTR: i32 = 154;
/// `bpf_redirect_peer` (helper id 155).
pub const REDIRECT_PEER: i32 = 155;
/// `bpf_task_storage_get` (helper id 156).
pub const TASK_STORAGE_GET: i32 = 156;
/// `bpf_task_storage_delete` (helper id 157).
pub const TASK_STORAGE_DELETE: i32 = 157;
/// `bpf_get_current_task_btf` (helper id 158).
pub const GET_CURRENT_TASK_BTF: i32 = 158;
/// `bpf_bprm_opts_set` (helper id 159).
pub const BPRM_OPTS_SET: i32 = 159;
/// `bpf_ktime_get_coarse_ns` (helper id 160).
pub const KTIME_GET_COARSE_NS: i32 = 160;
/// `bpf_ima_inode_hash` (helper id 161).
pub const IMA_INODE_HASH: i32 = 161;
/// `bpf_sock_from_file` (helper id 162).
pub const SOCK_FROM_FILE: i32 = 162;
/// `bpf_check_mtu` (helper id 163).
pub const CHECK_MTU: i32 = 163;
/// `bpf_for_each_map_elem` (helper id 164).
pub const FOR_EACH_MAP_ELEM: i32 = 164;
/// `bpf_snprintf` (helper id 165).
pub const SNPRINTF: i32 = 165;
/// `bpf_sys_bpf` (helper id 166).
pub const SYS_BPF: i32 = 166;
/// `bpf_btf_find_by_name_kind` (helper id 167).
pub const BTF_FIND_BY_NAME_KIND: i32 = 167;
/// `bpf_sys_close` (helper id 168).
pub const SYS_CLOSE: i32 = 168;
/// `bpf_timer_init` (helper id 169).
pub const TIMER_INIT: i32 = 169;
/// `bpf_timer_set_callback` (helper id 170).
pub const TIMER_SET_CALLBACK: i32 = 170;
/// `bpf_timer_start` (helper id 171).
pub const TIMER_START: i32 = 171;
/// `bpf_timer_cancel` (helper id 172).
pub const TIMER_CANCEL: i32 = 172;
/// `bpf_get_func_ip` (helper id 173).
pub const GET_FUNC_IP: i32 = 173;
/// `bpf_get_attach_cookie` (helper id 174).
pub const GET_ATTACH_COOKIE: i32 = 174;
/// `bpf_task_pt_regs` (helper id 175).
pub const TASK_PT_REGS: i32 = 175;
/// `bpf_get_branch_snapshot` (helper id 176).
pub const GET_BRANCH_SNAPSHOT: i32 = 176;
/// `bpf_trace_vprintk` (helper id 177).
pub const TRACE_VPRINTK: i32 = 177;
/// `bpf_skc_to_unix_sock` (helper id 178).
pub const SKC_TO_UNIX_SOCK: i32 = 178;
/// `bpf_kallsyms_lookup_name` (helper id 179).
pub const KALLSYMS_LOOKUP_NAME: i32 = 179;
/// `bpf_find_vma` (helper id 180).
pub const FIND_VMA: i32 = 180;
/// `bpf_loop` (helper id 181).
pub const LOOP: i32 = 181;
/// `bpf_strncmp` (helper id 182).
pub const STRNCMP: i32 = 182;
/// `bpf_get_func_arg` (helper id 183).
pub const GET_FUNC_ARG: i32 = 183;
/// `bpf_get_func_ret` (helper id 184).
pub const GET_FUNC_RET: i32 = 184;
/// `bpf_get_func_arg_cnt` (helper id 185).
pub const GET_FUNC_ARG_CNT: i32 = 185;
/// `bpf_get_retval` (helper id 186).
pub const GET_RETVAL: i32 = 186;
/// `bpf_set_retval` (helper id 187).
pub const SET_RETVAL: i32 = 187;
/// `bpf_xdp_get_buff_len` (helper id 188).
pub const XDP_GET_BUFF_LEN: i32 = 188;
/// `bpf_xdp_load_bytes` (helper id 189).
pub const XDP_LOAD_BYTES: i32 = 189;
/// `bpf_xdp_store_bytes` (helper id 190).
pub const XDP_STORE_BYTES: i32 = 190;
/// `bpf_copy_from_user_task` (helper id 191).
pub const COPY_FROM_USER_TASK: i32 = 191;
/// `bpf_skb_set_tstamp` (helper id 192).
pub const SKB_SET_TSTAMP: i32 = 192;
/// `bpf_ima_file_hash` (helper id 193).
pub const IMA_FILE_HASH: i32 = 193;
/// `bpf_kptr_xchg` (helper id 194).
pub const KPTR_XCHG: i32 = 194;
/// `bpf_map_lookup_percpu_elem` (helper id 195).
pub const MAP_LOOKUP_PERCPU_ELEM: i32 = 195;
/// `bpf_skc_to_mptcp_sock` (helper id 196).
pub const SKC_TO_MPTCP_SOCK: i32 = 196;
/// `bpf_dynptr_from_mem` (helper id 197).
pub const DYNPTR_FROM_MEM: i32 = 197;
/// `bpf_ringbuf_reserve_dynptr` (helper id 198).
pub const RINGBUF_RESERVE_DYNPTR: i32 = 198;
/// `bpf_ringbuf_submit_dynptr` (helper id 199).
pub const RINGBUF_SUBMIT_DYNPTR: i32 = 199;
/// `bpf_ringbuf_discard_dynptr` (helper id 200).
pub const RINGBUF_DISCARD_DYNPTR: i32 = 200;
/// `bpf_dynptr_read` (helper id 201).
pub const DYNPTR_READ: i32 = 201;
/// `bpf_dynptr_write` (helper id 202).
pub const DYNPTR_WRITE: i32 = 202;
/// `bpf_dynptr_data` (helper id 203).
pub const DYNPTR_DATA: i32 = 203;
/// `bpf_tcp_raw_gen_syncookie_ipv4` (helper id 204).
pub const TCP_RAW_GEN_SYNCOOKIE_IPV4: i32 = 204;
/// `bpf_tcp_raw_gen_syncookie_ipv6` (helper id 205).
pub const TCP_RAW_GEN_SYNCOOKIE_IPV6: i32 = 205;
/// `bpf_tcp_raw_check_syncookie_ipv4` (helper id 206).
pub const TCP_RAW_CHECK_SYNCOOKIE_IPV4: i32 = 206;
/// `bpf_tcp_raw_check_syncookie_ipv6` (helper id 207).
pub const TCP_RAW_CHECK_SYNCOOKIE_IPV6: i32 = 207;
/// `bpf_ktime_get_tai_ns` (helper id 208).
pub const KTIME_GET_TAI_NS: i32 = 208;
/// `bpf_user_ringbuf_drain` (helper id 209).
pub const USER_RINGBUF_DRAIN: i32 = 209;
/// `bpf_cgrp_storage_get` (helper id 210).
pub const CGRP_STORAGE_GET: i32 = 210;
/// `bpf_cgrp_storage_delete` (helper id 211).
pub const CGRP_STORAGE_DELETE: i32 = 211;

/// Helper names indexed by id; the kernel prints these in disassembly.
const NAMES: [&str; 212] = [
    "bpf_unspec",
    "bpf_map_lookup_elem",
    "bpf_map_update_elem",
    "bpf_map_delete_elem",
    "bpf_probe_read",
    "bpf_ktime_get_ns",
    "bpf_trace_printk",
    "bpf_get_prandom_u32",
    "bpf_get_smp_processor_id",
    "bpf_skb_store_bytes",
    "bpf_l3_csum_replace",
    "bpf_l4_csum_replace",
    "bpf_tail_call",
    "bpf_clone_redirect",
    "bpf_get_current_pid_tgid",
    "bpf_get_current_uid_gid",
    "bpf_get_current_comm",
    "bpf_get_cgroup_classid",
    "bpf_skb_vlan_push",
    "bpf_skb_vlan_pop",
    "bpf_skb_get_tunnel_key",
    "bpf_skb_set_tunnel_key",
    "bpf_perf_event_read",
    "bpf_redirect",
    "bpf_get_route_realm",
    "bpf_perf_event_output",
    "bpf_skb_load_bytes",
    "bpf_get_stackid",
    "bpf_csum_diff",
    "bpf_skb_get_tunnel_opt",
    "bpf_skb_set_tunnel_opt",
    "bpf_skb_change_proto",
    "bpf_skb_change_type",
    "bpf_skb_under_cgroup",
    "bpf_get_hash_recalc",
    "bpf_get_current_task",
    "bpf_probe_write_user",
    "bpf_current_task_under_cgroup",
    "bpf_skb_change_tail",
    "bpf_skb_pull_data",
    "bpf_csum_update",
    "bpf_set_hash_invalid",
    "bpf_get_numa_node_id",
    "bpf_skb_change_head",
    "bpf_xdp_adjust_head",
    "bpf_probe_read_str",
    "bpf_get_socket_cookie",
    "bpf_get_socket_uid",
    "bpf_set_hash",
    "bpf_setsockopt",
    "bpf_skb_adjust_room",
    "bpf_redirect_map",
    "bpf_sk_redirect_map",
    "bpf_sock_map_update",
    "bpf_xdp_adjust_meta",
    "bpf_perf_event_read_value",
    "bpf_perf_prog_read_value",
    "bpf_getsockopt",
    "bpf_override_return",
    "bpf_sock_ops_cb_flags_set",
    "bpf_msg_redirect_map",
    "bpf_msg_apply_bytes",
    "bpf_msg_cork_bytes",
    "bpf_msg_pull_data",
    "bpf_bind",
    "bpf_xdp_adjust_tail",
    "bpf_skb_get_xfrm_state",
    "bpf_get_stack",
    "bpf_skb_load_bytes_relative",
    "bpf_fib_lookup",
    "bpf_sock_hash_update",
    "bpf_msg_redirect_hash",
    "bpf_sk_redirect_hash",
    "bpf_lwt_push_encap",
    "bpf_lwt_seg6_store_bytes",
    "bpf_lwt_seg6_adjust_srh",
    "bpf_lwt_seg6_action",
    "bpf_rc_repeat",
    "bpf_rc_keydown",
    "bpf_skb_cgroup_id",
    "bpf_get_current_cgroup_id",
    "bpf_get_local_storage",
    "bpf_sk_select_reuseport",
    "bpf_skb_ancestor_cgroup_id",
    "bpf_sk_lookup_tcp",
    "bpf_sk_lookup_udp",
    "bpf_sk_release",
    "bpf_map_push_elem",
    "bpf_map_pop_elem",
    "bpf_map_peek_elem",
    "bpf_msg_push_data",
    "bpf_msg_pop_data",
    "bpf_rc_pointer_rel",
    "bpf_spin_lock",
    "bpf_spin_unlock",
    "bpf_sk_fullsock",
    "bpf_tcp_sock",
    "bpf_skb_ecn_set_ce",
    "bpf_get_listener_sock",
    "bpf_skc_lookup_tcp",
    "bpf_tcp_check_syncookie",
    "bpf_sysctl_get_name",
    "bpf_sysctl_get_current_value",
    "bpf_sysctl_get_new_value",
    "bpf_sysctl_set_new_value",
    "bpf_strtol",
    "bpf_strtoul",
    "bpf_sk_storage_get",
    "bpf_sk_storage_delete",
    "bpf_send_signal",
    "bpf_tcp_gen_syncookie",
    "bpf_skb_output",
    "bpf_probe_read_user",
    "bpf_probe_read_kernel",
    "bpf_probe_read_user_str",
    "bpf_probe_read_kernel_str",
    "bpf_tcp_send_ack",
    "bpf_send_signal_thread",
    "bpf_jiffies64",
    "bpf_read_branch_records",
    "bpf_get_ns_current_pid_tgid",
    "bpf_xdp_output",
    "bpf_get_netns_cookie",
    "bpf_get_current_ancestor_cgroup_id",
    "bpf_sk_assign",
    "bpf_ktime_get_boot_ns",
    "bpf_seq_printf",
    "bpf_seq_write",
    "bpf_sk_cgroup_id",
    "bpf_sk_ancestor_cgroup_id",
    "bpf_ringbuf_output",
    "bpf_ringbuf_reserve",
    "bpf_ringbuf_submit",
    "bpf_ringbuf_discard",
    "bpf_ringbuf_query",
    "bpf_csum_level",
    "bpf_skc_to_tcp6_sock",
    "bpf_skc_to_tcp_sock",
    "bpf_skc_to_tcp_timewait_sock",
    "bpf_skc_to_tcp_request_sock",
    "bpf_skc_to_udp6_sock",
    "bpf_get_task_stack",
    "bpf_load_hdr_opt",
    "bpf_store_hdr_opt",
    "bpf_reserve_hdr_opt",
    "bpf_inode_storage_get",
    "bpf_inode_storage_delete",
    "bpf_d_path",
    "bpf_copy_from_user",
    "bpf_snprintf_btf",
    "bpf_seq_printf_btf",
    "bpf_skb_cgroup_classid",
    "bpf_redirect_neigh",
    "bpf_per_cpu_ptr",
    "bpf_this_cpu_ptr",
    "bpf_redirect_peer",
    "bpf_task_storage_get",
    "bpf_task_storage_delete",
    "bpf_get_current_task_btf",
    "bpf_bprm_opts_set",
    "bpf_ktime_get_coarse_ns",
    "bpf_ima_inode_hash",
    "bpf_sock_from_file",
    "bpf_check_mtu",
    "bpf_for_each_map_elem",
    "bpf_snprintf",
    "bpf_sys_bpf",
    "bpf_btf_find_by_name_kind",
    "bpf_sys_close",
    "bpf_timer_init",
    "bpf_timer_set_callback",
    "bpf_timer_start",
    "bpf_timer_cancel",
    "bpf_get_func_ip",
    "bpf_get_attach_cookie",
    "bpf_task_pt_regs",
    "bpf_get_branch_snapshot",
    "bpf_trace_vprintk",
    "bpf_skc_to_unix_sock",
    "bpf_kallsyms_lookup_name",
    "bpf_find_vma",
    "bpf_loop",
    "bpf_strncmp",
    "bpf_get_func_arg",
    "bpf_get_func_ret",
    "bpf_get_func_arg_cnt",
    "bpf_get_retval",
    "bpf_set_retval",
    "bpf_xdp_get_buff_len",
    "bpf_xdp_load_bytes",
    "bpf_xdp_store_bytes",
    "bpf_copy_from_user_task",
    "bpf_skb_set_tstamp",
    "bpf_ima_file_hash",
    "bpf_kptr_xchg",
    "bpf_map_lookup_percpu_elem",
    "bpf_skc_to_mptcp_sock",
    "bpf_dynptr_from_mem",
    "bpf_ringbuf_reserve_dynptr",
    "bpf_ringbuf_submit_dynptr",
    "bpf_ringbuf_discard_dynptr",
    "bpf_dynptr_read",
    "bpf_dynptr_write",
    "bpf_dynptr_data",
    "bpf_tcp_raw_gen_syncookie_ipv4",
    "bpf_tcp_raw_gen_syncookie_ipv6",
    "bpf_tcp_raw_check_syncookie_ipv4",
    "bpf_tcp_raw_check_syncookie_ipv6",
    "bpf_ktime_get_tai_ns",
    "bpf_user_ringbuf_drain",
    "bpf_cgrp_storage_get",
    "bpf_cgrp_storage_delete",
];

/// One past the highest helper id this table knows (the kernel's `__BPF_FUNC_MAX_ID`).
pub const MAX_ID: i32 = NAMES.len() as i32;

/// The kernel's name for helper `id`, e.g. `"bpf_map_lookup_elem"` for 1.
pub fn helper_name(id: i32) -> Option<&'static str> {
    usize::try_from(id).ok().and_then(|i| NAMES.get(i)).copied()
}

/// The id of a helper by name, with or without the `bpf_` prefix.
pub fn helper_id(name: &str) -> Option<i32> {
    let bare = name.strip_prefix("bpf_").unwrap_or(name);
    NAMES
        .iter()
        .position(|n| n.strip_prefix("bpf_") == Some(bare))
        .and_then(|i| i32::try_from(i).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn well_known_ids() {
        assert_eq!(MAP_LOOKUP_ELEM, 1);
        assert_eq!(GET_CURRENT_PID_TGID, 14);
        assert_eq!(PERF_EVENT_OUTPUT, 25);
        assert_eq!(GET_CURRENT_TASK, 35);
        assert_eq!(GET_NUMA_NODE_ID, 42);
        assert_eq!(GET_CURRENT_CGROUP_ID, 80);
        assert_eq!(SEND_SIGNAL, 109);
        assert_eq!(PROBE_READ_KERNEL_STR, 115);
        assert_eq!(JIFFIES64, 118);
        assert_eq!(GET_NS_CURRENT_PID_TGID, 120);
        assert_eq!(KTIME_GET_BOOT_NS, 125);
        assert_eq!(RINGBUF_DISCARD, 133);
        assert_eq!(CGRP_STORAGE_DELETE, 211);
        assert_eq!(MAX_ID, 212);
    }

    #[test]
    fn names_round_trip() {
        assert_eq!(helper_name(1), Some("bpf_map_lookup_elem"));
        assert_eq!(helper_name(130), Some("bpf_ringbuf_output"));
        assert_eq!(helper_name(-1), None);
        assert_eq!(helper_name(MAX_ID), None);
        for id in 0..MAX_ID {
            let name = helper_name(id).unwrap_or_default();
            assert_eq!(helper_id(name), Some(id), "{name}");
        }
        assert_eq!(helper_id("ktime_get_ns"), Some(KTIME_GET_NS));
        assert_eq!(helper_id("no_such_helper"), None);
    }
}
