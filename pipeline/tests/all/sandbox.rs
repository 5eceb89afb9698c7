//! The native runner contains every hostile program and reports it as a typed outcome.

use std::time::{Duration, Instant};

use cotnpot_pipeline::answer::Answer;
use cotnpot_pipeline::compare::sympy_program;
use cotnpot_pipeline::runner::{PotOutcome, PythonRunner};
use cotnpot_pipeline::sandbox::{BubblewrapRunner, SandboxLimits};

fn runner() -> BubblewrapRunner {
    BubblewrapRunner::with_limits(SandboxLimits { timeout: Duration::from_secs(3), ..SandboxLimits::default() })
}

fn run(program: &str) -> PotOutcome {
    pollster::block_on(runner().run(program))
}

fn error_of(outcome: &PotOutcome) -> &str {
    match outcome {
        PotOutcome::Error { error, .. } => error,
        other => panic!("expected an error, got {other:?}"),
    }
}

#[test]
fn a_program_prints_its_answer_and_exceptions_are_typed() {
    let ok = run("x = 6 * 7\nprint('working')\nprint(x)\n");
    assert_eq!(ok.result(), Some("42"), "{ok:?}");
    assert!(error_of(&run("print(1)\n1 / 0\n")).starts_with("ZeroDivisionError"));
    assert!(error_of(&run("def f(:\n")).contains("SyntaxError"));
    let scratch = run("open('note.txt', 'w').write('hi')\nprint(open('note.txt').read())\n");
    assert_eq!(scratch.result(), Some("hi"), "the scratch directory is writable: {scratch:?}");
}

#[test]
fn an_endless_loop_times_out_and_the_next_program_runs() {
    let start = Instant::now();
    let outcome = run("print('started', flush=True)\nwhile True:\n    pass\n");
    assert!(matches!(&outcome, PotOutcome::Timeout { stdout } if stdout.contains("started")), "{outcome:?}");
    assert!(start.elapsed() < Duration::from_secs(6), "killed promptly: {:?}", start.elapsed());
    assert_eq!(run("print(2 + 2)").result(), Some("4"));
}

#[test]
fn a_fork_bomb_is_contained() {
    // Its own uids, so that programs of tests running beside it are not counted.
    let runner = BubblewrapRunner { uid_base: 61000, ..runner() };
    let start = Instant::now();
    let outcome = pollster::block_on(runner.run("import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n"));
    assert!(!outcome.finished(), "{outcome:?}");
    assert!(start.elapsed() < Duration::from_secs(8), "{:?}", start.elapsed());
    // Killing the sandbox killed every process it forked.
    let mut leftovers = sandbox_processes(61000);
    for _ in 0..20 {
        if leftovers.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
        leftovers = sandbox_processes(61000);
    }
    assert!(leftovers.is_empty(), "processes left running: {leftovers:?}");
    assert_eq!(run("print('alive')").result(), Some("alive"));
}

/// Processes running as the sandbox's uids (only meaningful when the tests run as root).
fn sandbox_processes(uid_base: u32) -> Vec<String> {
    let uids: Vec<String> = (uid_base..uid_base + 8).map(|u| u.to_string()).collect();
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(status) = std::fs::read_to_string(entry.path().join("status")) else { continue };
        let uid = status.lines().find(|l| l.starts_with("Uid:")).and_then(|l| l.split_whitespace().nth(1)).unwrap_or("");
        if uids.iter().any(|u| u == uid) {
            found.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    found
}

#[test]
fn a_4_gb_allocation_fails_inside() {
    let outcome = run("x = bytearray(4 * 1024 ** 3)\nprint('allocated')\n");
    assert!(error_of(&outcome).contains("MemoryError"), "{outcome:?}");
}

#[test]
fn a_100_mb_print_is_cut_off() {
    let start = Instant::now();
    let outcome = run("print('x' * 100_000_000)\n");
    assert!(matches!(outcome, PotOutcome::OutputTooLarge { .. }), "{outcome:?}");
    let outcome = run("while True:\n    print('spam' * 1000)\n");
    assert!(matches!(outcome, PotOutcome::OutputTooLarge { .. }), "{outcome:?}");
    assert!(start.elapsed() < Duration::from_secs(8));
}

#[test]
fn files_outside_the_scratch_directory_cannot_be_written_or_deleted() {
    // A canary inside /usr, which the sandbox sees read-only (writable here only as root).
    let canary_dir = std::path::PathBuf::from(format!("/usr/local/cotnpot-canary-{}", std::process::id()));
    let can_plant = std::fs::create_dir_all(&canary_dir).is_ok();
    if can_plant {
        std::fs::write(canary_dir.join("keep.txt"), "canary").unwrap();
    }
    let dir = canary_dir.display();
    let program = [
        "import os".to_string(),
        "results = []".to_string(),
        format!("for attempt in [lambda: os.remove('{dir}/keep.txt'), lambda: open('{dir}/new.txt', 'w').write('x'),"),
        "        lambda: open('/usr/escape.txt', 'w').write('x'), lambda: os.mkdir('/home/escape')]:".to_string(),
        "    try:".to_string(),
        "        attempt()".to_string(),
        "        results.append('done')".to_string(),
        "    except OSError as e:".to_string(),
        "        results.append(type(e).__name__)".to_string(),
        "print(results)".to_string(),
    ]
    .join("\n");
    let outcome = run(&program);
    let printed = outcome.result().unwrap_or_else(|| panic!("{outcome:?}")).to_string();
    if can_plant {
        let survived = std::fs::read_to_string(canary_dir.join("keep.txt")).ok();
        let created = canary_dir.join("new.txt").exists();
        std::fs::remove_dir_all(&canary_dir).unwrap();
        assert_eq!(survived.as_deref(), Some("canary"));
        assert!(!created);
    }
    assert!(!printed.contains("done"), "every attempt must fail: {printed}");
    assert!(!std::path::Path::new("/usr/escape.txt").exists() && !std::path::Path::new("/home/escape").exists());
}

#[test]
fn no_network_and_no_inherited_environment() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    listener.set_nonblocking(true).unwrap();
    let outcome = run(&format!("import socket\ns = socket.create_connection(('127.0.0.1', {port}), timeout=2)\nprint('connected')\n"));
    assert!(error_of(&outcome).contains("Error"), "{outcome:?}");
    assert!(listener.accept().is_err(), "the host's listener saw no connection");

    let env = run("import os\nprint(sorted(os.environ))\n");
    let printed = env.result().unwrap();
    assert!(!printed.contains("CARGO"), "the test runner's environment leaked: {printed}");
}

#[test]
fn several_programs_run_in_parallel_in_order() {
    let programs: Vec<String> = (0..10).map(|i| format!("print({i} * {i})")).collect();
    let outcomes = pollster::block_on(runner().run_all(&programs));
    let results: Vec<String> = outcomes.iter().map(|o| o.result().unwrap_or("?").to_string()).collect();
    assert_eq!(results, (0..10).map(|i| (i * i).to_string()).collect::<Vec<_>>());
}

#[test]
fn sympy_decides_symbolic_equality_through_the_runner() {
    let check = |a: &str, b: &str| run(&sympy_program(&Answer::new(a), &Answer::new(b))).result().map(str::to_string);
    assert_eq!(check("\\frac{\\sqrt{2}}{2}", "sqrt(2)/2").as_deref(), Some("True"));
    assert_eq!(check("\\left( 3, \\frac{\\pi}{2} \\right)", "(3, pi/2)").as_deref(), Some("True"));
    assert_eq!(check("2\\sqrt{3}", "sqrt(12)").as_deref(), Some("True"));
    assert_eq!(check("\\frac{1}{3}", "0.333333333333").as_deref(), Some("True"));
    assert_eq!(check("\\sqrt{3}", "sqrt(2)").as_deref(), Some("False"));
    assert_eq!(check("(1, 2)", "(1, 3)").as_deref(), Some("False"));
    assert_eq!(check("\\text{(C)}", "((").as_deref(), Some("False"), "unparseable is unequal");
}

/// The MATH-500 dev gold answers that sympy could not read before: intervals, unions, equations,
/// `\cot`, `x \in [...]`.
#[test]
fn sympy_reads_math_answers_intervals_unions_equations() {
    let check = |a: &str, b: &str| run(&sympy_program(&Answer::new(a), &Answer::new(b))).result().map(str::to_string);
    assert_eq!(check("\\left(\\frac{3}{5},\\frac{8}{3}\\right]", "(0.6, 8/3]").as_deref(), Some("True"));
    assert_eq!(check("(3,4]", "(3,4)").as_deref(), Some("False"), "open and closed ends differ");
    assert_eq!(check("(-\\infty, 0]", "(-oo, 0.0]").as_deref(), Some("True"));
    assert_eq!(check("(0,9) \\cup (9,36)", "(0, 9)\\cup(9, 6^2)").as_deref(), Some("True"));
    assert_eq!(check("(0,9) \\cup (9,36)", "(0,36)").as_deref(), Some("False"));
    assert_eq!(check("x \\in [-2,7]", "[-2, 7]").as_deref(), Some("True"));
    assert_eq!(check("5x - 7y + 11z + 4 = 0", "-10x + 14y - 22z - 8 = 0").as_deref(), Some("True"), "the same plane");
    assert_eq!(check("5x - 7y + 11z + 4 = 0", "5x - 7y + 11z = 0").as_deref(), Some("False"));
    assert_eq!(check("\\cot x", "\\frac{\\cos x}{\\sin x}").as_deref(), Some("True"));
    assert_eq!(check("(1, 2)", "[1, 2]").as_deref(), Some("False"), "a point is not an interval");
}
