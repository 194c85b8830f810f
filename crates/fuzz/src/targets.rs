//! The fuzz targets. Each takes one input and returns `Err` when a property fails; a panic
//! is caught by the runner. Properties beyond "no panic":
//!
//! - `parse`: every diagnostic has a code and a span inside the input.
//! - `sema`: the same for semantic diagnostics (and warnings).
//! - `isa`: bytes that decode also disassemble, and the text assembles back to the same
//!   instructions.
//! - `compile`: every script that passes analysis compiles without an internal error, and
//!   every program and callback passes [`kestrel_codegen::check`].

use kestrel_kernel::{FixtureKernel, KernelFacts};
use kestrel_lang::Diagnostic;

/// A fuzz target.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// Lexer and parser.
    Parse,
    /// Parser and semantic analysis against the fixture kernel.
    Sema,
    /// The isa decoder, disassembler and assembler.
    Isa,
    /// Script to checked instructions.
    Compile,
    /// Captured traffic through the L7 tracker ([`crate::l7`]).
    L7,
    /// Falco-format rules files through kestrel-guard ([`crate::guard`]).
    Rules,
}

impl Target {
    /// Every target, in the order a run visits them.
    pub const ALL: [Target; 6] = [
        Target::Parse,
        Target::Sema,
        Target::Isa,
        Target::Compile,
        Target::L7,
        Target::Rules,
    ];

    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Target::Parse => "parse",
            Target::Sema => "sema",
            Target::Isa => "isa",
            Target::Compile => "compile",
            Target::L7 => "l7",
            Target::Rules => "rules",
        }
    }

    /// The target called `name`.
    pub fn from_name(name: &str) -> Option<Target> {
        Target::ALL.into_iter().find(|t| t.name() == name)
    }
}

/// State shared by all inputs (the kernel facts are read once).
pub struct Harness {
    kernel: Box<dyn KernelFacts>,
}

impl Default for Harness {
    fn default() -> Self {
        Harness::new()
    }
}

impl Harness {
    /// A harness compiling against the built-in fixture kernel.
    pub fn new() -> Harness {
        Harness::with_kernel(Box::new(FixtureKernel::standard()))
    }

    /// A harness compiling against `kernel` (e.g. the live kernel, for load tests).
    pub fn with_kernel(kernel: Box<dyn KernelFacts>) -> Harness {
        Harness { kernel }
    }

    /// The kernel facts scripts are checked against.
    pub fn kernel(&self) -> &dyn KernelFacts {
        self.kernel.as_ref()
    }

    /// Run `target` on `input`; `Ok(true)` when the input was accepted (parsed, analysed,
    /// decoded or compiled, depending on the target).
    pub fn run(&self, target: Target, input: &[u8]) -> Result<bool, String> {
        if target == Target::Isa {
            return isa(input);
        }
        if target == Target::L7 {
            return crate::l7::run(input);
        }
        if target == Target::Rules {
            return crate::guard::run(input);
        }
        // Scripts are UTF-8 (the CLI rejects other bytes before the compiler).
        let Ok(src) = std::str::from_utf8(input) else {
            return Ok(false);
        };
        match target {
            Target::Parse => parse(src),
            Target::Sema => self.sema(src).map(|p| p.is_some()),
            _ => self.compile(src),
        }
    }

    /// Parse and analyse; `Ok(Some(program))` when the script is valid.
    pub fn sema(&self, src: &str) -> Result<Option<kestrel_lang::ir::Program>, String> {
        let ast = match kestrel_lang::parse(src) {
            Ok(a) => a,
            Err(d) => {
                well_formed(&d, src)?;
                return Ok(None);
            }
        };
        match kestrel_lang::analyze(&ast, self.kernel.as_ref()) {
            Ok(a) => {
                well_formed(&a.warnings, src)?;
                Ok(Some(a.program))
            }
            Err(d) => {
                well_formed(&d, src)?;
                Ok(None)
            }
        }
    }

    /// Compile and check the code; `Ok(true)` when the script compiled.
    pub fn compile(&self, src: &str) -> Result<bool, String> {
        self.object(src).map(|o| o.is_some())
    }

    /// Compile and check the code; `Ok(Some(object))` when the script compiled.
    pub fn object(&self, src: &str) -> Result<Option<kestrel_codegen::ObjectSpec>, String> {
        let Some(program) = self.sema(src)? else {
            return Ok(None);
        };
        match kestrel_codegen::compile(&program) {
            Ok(object) => {
                kestrel_codegen::check::check_object(&object)
                    .map_err(|(probe, e)| format!("generated code for {probe} is broken: {e}"))?;
                Ok(Some(object))
            }
            Err(e @ kestrel_codegen::CodegenError::Internal(_)) => Err(e.to_string()),
            // Clean refusals (stack or size limits) are diagnostics, not bugs.
            Err(_) => Ok(None),
        }
    }
}

fn parse(src: &str) -> Result<bool, String> {
    match kestrel_lang::parse(src) {
        Ok(_) => Ok(true),
        Err(d) => well_formed(&d, src).map(|()| false),
    }
}

/// Every diagnostic has a code, and its spans lie inside the source.
fn well_formed(diags: &[Diagnostic], src: &str) -> Result<(), String> {
    for d in diags {
        if d.code.is_none() {
            return Err(format!("diagnostic without a code: {}", d.title));
        }
        let spans = std::iter::once(&d.primary).chain(&d.secondary);
        for l in spans {
            if l.span.start > l.span.end || l.span.end as usize > src.len() {
                return Err(format!(
                    "diagnostic '{}' has span {}..{} outside the {}-byte input",
                    d.title,
                    l.span.start,
                    l.span.end,
                    src.len()
                ));
            }
        }
        // Rendering must not panic either.
        let _ = d.render("fuzz", src);
    }
    Ok(())
}

fn isa(input: &[u8]) -> Result<bool, String> {
    let usable = input.len() - input.len() % 8;
    let Ok(insns) = kestrel_isa::decode(&input[..usable]) else {
        return Ok(false);
    };
    let text = kestrel_isa::disassemble(&insns);
    match kestrel_isa::assemble(&text) {
        Ok(back) if back == insns => Ok(true),
        Ok(back) => Err(format!(
            "disassembly does not assemble back to the same code:\n{text}\nassembled:\n{}",
            kestrel_isa::disassemble(&back)
        )),
        Err(e) => Err(format!("disassembly does not assemble: {e}\n{text}")),
    }
}
