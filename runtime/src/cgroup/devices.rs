//! Device access on pure cgroup v2, where there is no `devices` controller: the kernel asks an eBPF
//! program of type `BPF_PROG_TYPE_CGROUP_DEVICE` attached to the cgroup (as runc and crun do). We
//! build that program from the same allow-list the v1 controller takes (`c 1:3 rwm`, `c *:* m`,
//! `b 8:* r`, `a`): the default list plus the container's `devices:`, everything else denied.
//!
//! The program is a straight line of rule blocks, each a few compares that jump to the next block on a
//! mismatch and return 1 (allow) at its end; after the last block it returns 0 (deny). Its input is
//! `struct bpf_cgroup_dev_ctx { u32 access_type; u32 major; u32 minor; }`, with the device type in the
//! low 16 bits of `access_type` and the requested access (mknod, read, write bits) in the high ones.
//! The request is allowed when its access bits are all in the rule's. Generating it here (no clang,
//! no libbpf) keeps the runtime pure Rust; the syscalls are in [`crate::sys::bpf`].

use std::fs;
use std::os::fd::AsFd;
use std::path::Path;

use crate::sys::bpf::{self, Instruction};

/// `BPF_DEVCG_DEV_BLOCK` and `BPF_DEVCG_DEV_CHAR`.
const DEV_BLOCK: i32 = 1;
const DEV_CHAR: i32 = 2;
/// `BPF_DEVCG_ACC_MKNOD`, `_READ`, `_WRITE`.
const ACC_MKNOD: i32 = 1;
const ACC_READ: i32 = 2;
const ACC_WRITE: i32 = 4;
const ACC_ALL: i32 = ACC_MKNOD | ACC_READ | ACC_WRITE;

/// One allow rule in the v1 `devices.allow` syntax.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    /// `BPF_DEVCG_DEV_*`, or `None` for any type (`a`).
    kind: Option<i32>,
    major: Option<u32>,
    minor: Option<u32>,
    /// `BPF_DEVCG_ACC_*` bits.
    access: i32,
}

impl Rule {
    /// Parses `a`, or `<c|b|a> <major|*>:<minor|*> [rwm]` (access defaults to `rwm`).
    pub fn parse(text: &str) -> Result<Rule, String> {
        let invalid = || format!("invalid device rule {text:?}");
        let mut words = text.split_whitespace();
        let kind = match words.next() {
            Some("a") => None,
            Some("c") => Some(DEV_CHAR),
            Some("b") => Some(DEV_BLOCK),
            _ => return Err(invalid()),
        };
        let Some(numbers) = words.next() else {
            return match kind {
                None => Ok(Rule {
                    kind: None,
                    major: None,
                    minor: None,
                    access: ACC_ALL,
                }),
                Some(_) => Err(invalid()),
            };
        };
        let number = |word: &str| match word {
            "*" => Ok(None),
            digits => digits.parse::<u32>().map(Some).map_err(|_| invalid()),
        };
        let (major, minor) = numbers.split_once(':').ok_or_else(invalid)?;
        let (major, minor) = (number(major)?, number(minor)?);
        let mut access = 0;
        for letter in words.next().unwrap_or("rwm").chars() {
            access |= match letter {
                'r' => ACC_READ,
                'w' => ACC_WRITE,
                'm' => ACC_MKNOD,
                _ => return Err(invalid()),
            };
        }
        if words.next().is_some() || access == 0 {
            return Err(invalid());
        }
        Ok(Rule {
            kind,
            major,
            minor,
            access,
        })
    }
}

/// Registers: r1 the context on entry; r2 type, r3 access, r4 major, r5 minor; r0 the verdict and
/// scratch.
const R0: u8 = 0;
const R1: u8 = 1;
const R2: u8 = 2;
const R3: u8 = 3;
const R4: u8 = 4;
const R5: u8 = 5;

fn insn(code: u8, dst: u8, src: u8, offset: i16, immediate: i32) -> Instruction {
    Instruction {
        code,
        registers: (src << 4) | dst,
        offset,
        immediate,
    }
}

/// `dst = *(u32 *)(src + offset)`.
fn load_word(dst: u8, src: u8, offset: i16) -> Instruction {
    insn(0x61, dst, src, offset, 0)
}
/// `dst &= imm` (32-bit).
fn and_imm(dst: u8, immediate: i32) -> Instruction {
    insn(0x54, dst, 0, 0, immediate)
}
/// `dst >>= imm` (32-bit).
fn shift_right(dst: u8, immediate: i32) -> Instruction {
    insn(0x74, dst, 0, 0, immediate)
}
/// `dst = src` (32-bit).
fn move_reg(dst: u8, src: u8) -> Instruction {
    insn(0xbc, dst, src, 0, 0)
}
/// `dst = imm` (64-bit).
fn move_imm(dst: u8, immediate: i32) -> Instruction {
    insn(0xb7, dst, 0, 0, immediate)
}
/// `if dst != imm goto +offset`.
fn jump_not_imm(dst: u8, immediate: i32, offset: i16) -> Instruction {
    insn(0x55, dst, 0, offset, immediate)
}
/// `if dst != src goto +offset`.
fn jump_not_reg(dst: u8, src: u8, offset: i16) -> Instruction {
    insn(0x5d, dst, src, offset, 0)
}
fn exit() -> Instruction {
    insn(0x95, 0, 0, 0, 0)
}

/// The program that allows exactly what `rules` allow.
pub fn program(rules: &[Rule]) -> Vec<Instruction> {
    let mut code = vec![
        load_word(R2, R1, 0),
        and_imm(R2, 0xffff),
        load_word(R3, R1, 0),
        shift_right(R3, 16),
        load_word(R4, R1, 4),
        load_word(R5, R1, 8),
    ];
    for rule in rules {
        // The checks, each a jump to the block's end on a mismatch (offsets fixed below).
        let mut checks: Vec<Vec<Instruction>> = Vec::new();
        if let Some(kind) = rule.kind {
            checks.push(vec![jump_not_imm(R2, kind, 0)]);
        }
        if rule.access != ACC_ALL {
            // Allowed when (requested & allowed) == requested.
            checks.push(vec![
                move_reg(R0, R3),
                and_imm(R0, rule.access),
                jump_not_reg(R0, R3, 0),
            ]);
        }
        if let Some(major) = rule.major {
            checks.push(vec![jump_not_imm(R4, major as i32, 0)]);
        }
        if let Some(minor) = rule.minor {
            checks.push(vec![jump_not_imm(R5, minor as i32, 0)]);
        }
        let mut block: Vec<Instruction> = checks.into_iter().flatten().collect();
        block.push(move_imm(R0, 1));
        block.push(exit());
        let length = block.len();
        for (index, instruction) in block.iter_mut().enumerate() {
            if matches!(instruction.code, 0x55 | 0x5d) {
                // To the first instruction after the block.
                instruction.offset = (length - index - 1) as i16;
            }
        }
        code.extend(block);
    }
    code.push(move_imm(R0, 0));
    code.push(exit());
    code
}

/// Loads the program for `rules` and attaches it to the cgroup2 directory `dir`.
pub fn restrict(dir: &Path, rules: &[Rule]) -> Result<(), super::Error> {
    let error = |message: String| super::Error::Devices {
        path: dir.to_owned(),
        message,
    };
    let program = program(rules);
    let loaded = bpf::load_device_program("rcompose_dev", &program)
        .map_err(|e| error(format!("load the device filter: {e}")))?;
    let cgroup = fs::File::open(dir).map_err(|e| error(format!("open the cgroup: {e}")))?;
    bpf::attach_device_program(cgroup.as_fd(), loaded.as_fd())
        .map_err(|e| error(format!("attach the device filter: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs the generated program on a request, as the kernel would (enough of an interpreter for
    /// the instructions `program` emits).
    fn run(code: &[Instruction], kind: i32, access: i32, major: u32, minor: u32) -> u64 {
        let context = [((access as u32) << 16) | kind as u32, major, minor];
        let mut registers = [0u64; 11];
        let mut pc = 0usize;
        loop {
            let i = code[pc];
            let (dst, src) = ((i.registers & 0xf) as usize, (i.registers >> 4) as usize);
            pc += 1;
            match i.code {
                0x61 => {
                    assert_eq!(src, 1, "loads only from the context");
                    registers[dst] = context[i.offset as usize / 4] as u64;
                }
                0x54 => registers[dst] = (registers[dst] as u32 & i.immediate as u32) as u64,
                0x74 => registers[dst] = ((registers[dst] as u32) >> i.immediate) as u64,
                0xbc => registers[dst] = registers[src] as u32 as u64,
                0xb7 => registers[dst] = i.immediate as i64 as u64,
                0x55 if registers[dst] != i.immediate as i64 as u64 => {
                    pc += i.offset as usize;
                }
                0x5d if registers[dst] != registers[src] => pc += i.offset as usize,
                0x55 | 0x5d => {}
                0x95 => return registers[0],
                other => panic!("unexpected opcode {other:#x}"),
            }
        }
    }

    fn rules(texts: &[&str]) -> Vec<Rule> {
        texts.iter().map(|t| Rule::parse(t).unwrap()).collect()
    }

    #[test]
    fn parses_the_v1_syntax() {
        assert_eq!(
            Rule::parse("c 136:* rwm").unwrap(),
            Rule {
                kind: Some(DEV_CHAR),
                major: Some(136),
                minor: None,
                access: ACC_ALL
            }
        );
        assert_eq!(Rule::parse("b *:* m").unwrap().access, ACC_MKNOD);
        assert_eq!(Rule::parse("a").unwrap().kind, None);
        assert_eq!(Rule::parse("c 1:3").unwrap().access, ACC_ALL);
        for bad in [
            "",
            "x 1:3 r",
            "c 1 r",
            "c 1:3 rx",
            "c a:3 r",
            "c 1:3 r extra",
            "c",
        ] {
            assert!(Rule::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn the_default_list_allows_what_docker_allows() {
        let code = program(&rules(&super::super::DEFAULT_DEVICE_RULES));
        let rw = ACC_READ | ACC_WRITE;
        // /dev/null, /dev/urandom, a pts, /dev/net/tun: read and write.
        assert_eq!(run(&code, DEV_CHAR, rw, 1, 3), 1);
        assert_eq!(run(&code, DEV_CHAR, ACC_READ, 1, 9), 1);
        assert_eq!(run(&code, DEV_CHAR, rw, 136, 7), 1);
        assert_eq!(run(&code, DEV_CHAR, rw, 10, 200), 1);
        // mknod of anything, but not opening it.
        assert_eq!(run(&code, DEV_BLOCK, ACC_MKNOD, 8, 0), 1);
        assert_eq!(run(&code, DEV_BLOCK, ACC_READ, 8, 0), 0);
        assert_eq!(run(&code, DEV_CHAR, ACC_MKNOD | ACC_READ, 1, 1), 0);
        // /dev/mem, /dev/kmsg: no.
        assert_eq!(run(&code, DEV_CHAR, ACC_READ, 1, 1), 0);
        assert_eq!(run(&code, DEV_CHAR, ACC_WRITE, 1, 11), 0);
    }

    #[test]
    fn a_rule_limits_access_and_numbers() {
        let code = program(&rules(&["c 1:11 r", "b 7:* rw"]));
        assert_eq!(run(&code, DEV_CHAR, ACC_READ, 1, 11), 1);
        assert_eq!(run(&code, DEV_CHAR, ACC_WRITE, 1, 11), 0);
        assert_eq!(run(&code, DEV_CHAR, ACC_READ | ACC_WRITE, 1, 11), 0);
        assert_eq!(run(&code, DEV_BLOCK, ACC_READ, 1, 11), 0);
        assert_eq!(run(&code, DEV_BLOCK, ACC_READ | ACC_WRITE, 7, 42), 1);
        assert_eq!(run(&code, DEV_BLOCK, ACC_MKNOD, 7, 42), 0);
        assert_eq!(run(&code, DEV_CHAR, ACC_READ, 7, 42), 0);
        // No rules: nothing; `a`: everything.
        assert_eq!(run(&program(&[]), DEV_CHAR, ACC_READ, 1, 3), 0);
        assert_eq!(run(&program(&rules(&["a"])), DEV_BLOCK, ACC_ALL, 8, 1), 1);
    }
}
