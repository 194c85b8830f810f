//! The compiler pipeline as the CLI drives it: parse → analyze → codegen, with diagnostics
//! rendered to stderr.

use std::process::ExitCode;

use anyhow::Context;
use kestrel_codegen::ObjectSpec;
use kestrel_kernel::{FixtureKernel, KernelFacts, LiveKernel};
use kestrel_lang::diag::Severity;

use crate::diagnostics::emit;
use kestrel_lang::ir;

use crate::cli::Dump;

/// `--no-warnings`: compile-time warnings are not printed.
pub static NO_WARNINGS: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// A script compiled for loading.
pub struct Compiled {
    /// The typed program (kept for verifier error mapping and dumps).
    pub program: ir::Program,
    /// What the runtime loads.
    pub object: ObjectSpec,
    /// Whether maps are printed at exit (config `print_maps_on_exit`, default yes).
    pub print_maps_on_exit: bool,
}

/// The kernel facts to compile against: the live kernel when its tracefs can be read (mounting
/// it if needed); for `--dump` without root, the built-in fixture kernel.
pub fn kernel_facts(
    allow_fixture: bool,
    verbose: bool,
) -> anyhow::Result<Box<dyn KernelFacts + Sync>> {
    match kestrel_kernel::ensure_tracefs() {
        Ok(m) => {
            if verbose && m.newly_mounted {
                eprintln!("kestrel: mounted tracefs at {}", m.path.display());
            }
            Ok(Box::new(LiveKernel::new()))
        }
        Err(e) if allow_fixture => {
            eprintln!("kestrel: note: cannot read tracefs ({e}); compiling against built-in tracepoint formats");
            Ok(Box::new(FixtureKernel::standard()))
        }
        Err(e) => {
            Err(anyhow::Error::new(e).context("cannot read kernel tracepoints (are you root?)"))
        }
    }
}

/// Parse, check and compile `source`. Diagnostics go to stderr; `Ok(None)` means the script
/// has errors (already reported).
pub fn compile(
    name: &str,
    source: &str,
    kernel: &(dyn KernelFacts + Sync),
    options: &kestrel_lang::Options,
) -> anyhow::Result<Option<Compiled>> {
    // The compiler walks expressions recursively; a roomy stack (reserved, not touched)
    // lets 10,000-deep expressions compile instead of overflowing. Only compilation runs
    // there: BEGIN must run on the main thread, where tid == pid as in bpftrace.
    on_big_stack(|| compile_here(name, source, kernel, options))
}

/// Run `f` on a thread with [`COMPILER_STACK`] bytes of stack and wait for it.
pub fn on_big_stack<T: Send>(f: impl FnOnce() -> anyhow::Result<T> + Send) -> anyhow::Result<T> {
    std::thread::scope(|scope| {
        std::thread::Builder::new()
            .name("kestrel-compile".into())
            .stack_size(COMPILER_STACK)
            .spawn_scoped(scope, f)
            .map_err(|e| anyhow::anyhow!("cannot start the compiler thread: {e}"))?
            .join()
            .unwrap_or_else(|_| {
                Err(anyhow::anyhow!(
                    "internal compiler error (a bug in kestrel)"
                ))
            })
    })
}

/// Stack for the compiler thread.
const COMPILER_STACK: usize = 1 << 30;

fn compile_here(
    name: &str,
    source: &str,
    kernel: &(dyn KernelFacts + Sync),
    options: &kestrel_lang::Options,
) -> anyhow::Result<Option<Compiled>> {
    let ast = match kestrel_lang::parse_with(source, &options.preproc) {
        Ok(ast) => ast,
        Err(diags) => {
            emit(&diags, name, source);
            return Ok(None);
        }
    };
    // bpftrace's config block, over its BPFTRACE_* environment variables.
    let mut config = kestrel_lang::config::ScriptConfig::from_env();
    if let Err(diags) = config.apply(&ast) {
        emit(&diags, name, source);
        return Ok(None);
    }
    let mut options = options.clone();
    if let Some(n) = config.max_strlen {
        // Bounded so a string (plus a record header) always fits the 512-byte stack.
        options.str_len = n.clamp(4, 200);
    }
    if config.max_map_keys.is_some() {
        options.max_map_keys = config.max_map_keys;
    }
    let options = &options;
    let analysis = match kestrel_lang::analyze_with(&ast, kernel, options) {
        Ok(a) => a,
        Err(diags) => {
            emit(&diags, name, source);
            return Ok(None);
        }
    };
    let warnings: Vec<_> = analysis
        .warnings
        .iter()
        .filter(|d| d.severity == Severity::Warning)
        .cloned()
        .collect();
    if !NO_WARNINGS.load(std::sync::atomic::Ordering::Relaxed) {
        emit(&warnings, name, source);
    }
    // KESTREL_COUNT_MAP_FULL=1: count updates dropped by full maps in the kernel (exact
    // counts in the warning, ~10 instructions per update site); otherwise userspace only
    // notices that a map reached its size.
    let codegen_options = kestrel_codegen::CompileOptions {
        count_map_full: std::env::var("KESTREL_COUNT_MAP_FULL").is_ok_and(|v| v == "1"),
    };
    let object = kestrel_codegen::compile_with(&analysis.program, &codegen_options)
        .context("code generation failed")?;
    Ok(Some(Compiled {
        program: analysis.program,
        object,
        print_maps_on_exit: config.print_maps_on_exit.unwrap_or(true),
    }))
}

/// `--dump=WHAT`: print the compiled form without loading anything.
pub fn dump(
    name: &str,
    source: &str,
    what: Dump,
    options: &kestrel_lang::Options,
) -> anyhow::Result<ExitCode> {
    if what == Dump::Ast {
        return match kestrel_lang::parse(source) {
            Ok(ast) => {
                println!("{ast:#?}");
                Ok(ExitCode::SUCCESS)
            }
            Err(diags) => {
                emit(&diags, name, source);
                Ok(ExitCode::from(1))
            }
        };
    }
    let kernel = kernel_facts(true, false)?;
    let Some(compiled) = compile(name, source, kernel.as_ref(), options)? else {
        return Ok(ExitCode::from(1));
    };
    match what {
        Dump::Ir => println!("{:#?}", compiled.program),
        _ => {
            for (i, prog) in compiled.object.programs.iter().enumerate() {
                if i > 0 {
                    println!();
                }
                println!("{}:", prog.probe);
                print!("{}", kestrel_isa::disassemble(&prog.insns));
                for cb in compiled.object.callbacks.iter().filter(|c| c.program == i) {
                    println!(
                        "\n{} (callback of {}, loaded at insn {}):",
                        cb.name, prog.probe, cb.loaded_at
                    );
                    print!("{}", kestrel_isa::disassemble(&cb.insns));
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `--emit-obj FILE`: write the compiled object as an ELF file other loaders understand.
pub fn emit_object(
    name: &str,
    source: &str,
    path: &std::path::Path,
    options: &kestrel_lang::Options,
) -> anyhow::Result<ExitCode> {
    let kernel = kernel_facts(true, false)?;
    let Some(compiled) = compile(name, source, kernel.as_ref(), options)? else {
        return Ok(ExitCode::from(1));
    };
    let bytes =
        kestrel_codegen::elf::write_elf_with(&compiled.object, kestrel_codegen::elf::MapStyle::Btf)
            .context("cannot write the ELF object")?;
    std::fs::write(path, bytes).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(ExitCode::SUCCESS)
}
