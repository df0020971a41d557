import ArgumentParser
import Foundation
import StoqDedup

struct DedupBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dedup",
        abstract: "FastCDC chunking, SHA-256, and both together, on seeded random data, one core.")

    @Option(help: "Input size in MiB (generated before timing).") var mebibytes: Int = 256
    @Option(help: "Seed for the input data.") var seed: UInt64 = 1
    @Option(name: .customLong("repeat"), help: "Repetitions; the median (by CPU time) is reported.") var repetitions: Int = 3

    func run() throws {
        guard mebibytes > 0, repetitions > 0 else { throw ValidationError("--mebibytes and --repeat must be positive") }
        #if DEBUG
        printError("warning: this is a debug build; measure with 'swift run -c release stoqsim bench dedup'")
        #endif
        let data = DedupBenchmarks.makeData(bytes: mebibytes << 20, seed: seed)
        let cases: [() -> ThroughputResult] = [
            { DedupBenchmarks.chunking(data, parameters: .default) },
            { DedupBenchmarks.chunking(data, parameters: .small) },
            { DedupBenchmarks.chunking(data, parameters: .large) },
            { DedupBenchmarks.sha256(data) },
            { DedupBenchmarks.sha256(data, portable: true) },
            { DedupBenchmarks.chunkAndHash(data, parameters: .default) },
        ]
        try reportMedians(cases, repetitions: repetitions, rank: \.cpuSeconds, verified: \.verified)
    }
}

/// FastCDC against the `pyfastcdc` package (Cython, FastCDC 2020) on the same
/// file, and the whole `stoqsim chunk --format json` process against the bare
/// chunker. pyfastcdc goes into a throw-away venv; without network or Python
/// the benchmark says so and measures the rest.
struct ChunkerBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chunker",
        abstract: "FastCDC (4/64/1024 KiB, normalization 2) side by side with pyfastcdc, and the chunk command end to end.")

    @Option(help: "Input size in MiB (seeded random data, written to a temporary file; the default keeps each measurement above ≈ 0.2 s, where this VM's speed changes less, and needs ≈ 3 GiB of memory).") var mebibytes: Int = 1024
    @Option(name: .customLong("repeat"), help: "Repetitions (rounds that alternate FastCDC and pyfastcdc); the median (by wall time) is reported.")
    var repetitions: Int = 5
    @Flag(help: "Skip pyfastcdc (no venv, no network).") var noPython = false

    func run() throws {
        guard mebibytes > 0, repetitions > 0 else { throw ValidationError("--mebibytes and --repeat must be positive") }
        #if DEBUG
        printError("warning: this is a debug build; measure with 'swift run -c release stoqsim bench chunker'")
        #endif
        let dir = NSTemporaryDirectory() + "stoqsim-bench-chunker-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let file = dir + "/data.bin"
        let data = DedupBenchmarks.makeData(bytes: mebibytes << 20, seed: 1)
        try Data(data).write(to: URL(fileURLWithPath: file))

        let python = noPython ? nil : PyFastCDC.install(in: dir)
        var results: [ThroughputResult] = []
        func median(_ runs: [ThroughputResult]) -> ThroughputResult { runs.sorted { $0.wallSeconds < $1.wallSeconds }[runs.count / 2] }
        // Rounds alternate our chunker and pyfastcdc, so a drift in the VM's
        // speed (large here: pyfastcdc alone varies 1.5–2.7 GB/s minutes
        // apart) reaches both; the ratios are taken round by round.
        let cores = FastCDC.defaultThreads
        var serialRuns: [ThroughputResult] = [], parallelRuns: [ThroughputResult] = [], pyRuns: [ThroughputResult] = []
        var failed = false
        var pythonFailed = python == nil
        for _ in 0..<repetitions {
            serialRuns.append(DedupBenchmarks.chunking(data, parameters: .default, threads: 1))
            parallelRuns.append(DedupBenchmarks.chunking(data, parameters: .default, threads: cores))
            guard let python, !pythonFailed else { continue }
            do {
                pyRuns.append(try python.measure(file: file))
            } catch {
                printError("pyfastcdc did not run: \(error)")
                pythonFailed = true
                failed = true
            }
        }
        let serial = median(serialRuns), parallel = median(parallelRuns)
        results += [serial, parallel]
        let sha = median((0..<repetitions).map { _ in DedupBenchmarks.sha256(data) })
        let both = median((0..<repetitions).map { _ in DedupBenchmarks.chunkAndHash(data, parameters: .default, threads: cores) })
        results += [sha, both]
        // The commands alternate too: boundaries only, with ids, and on an
        // empty file for the process's fixed cost (start, parse, exit).
        let empty = dir + "/empty.bin"
        guard FileManager.default.createFile(atPath: empty, contents: Data()) else { throw ValidationError("cannot create \(empty)") }
        var bareCommands: [ThroughputResult] = [], commands: [ThroughputResult] = [], startups: [ThroughputResult] = []
        for _ in 0..<repetitions {
            bareCommands.append(try DedupBenchmarks.chunkCommand(file: file, bytes: data.count, ids: false))
            commands.append(try DedupBenchmarks.chunkCommand(file: file, bytes: data.count))
            startups.append(try DedupBenchmarks.chunkCommand(file: empty, bytes: 0, ids: false))
        }
        let bareCommand = median(bareCommands), command = median(commands), startup = median(startups)
        results += [bareCommand, command]
        for r in results { print("\(r)  (median of \(repetitions))") }

        func ratio(_ a: Double, _ b: Double) -> String { String(format: "%.2f×", a / b) }
        print("stoqsim chunk --format json --no-ids vs bare chunker (all cores): \(ratio(bareCommand.wallSeconds, parallel.wallSeconds)) the time (goal ≤ 1.5×); "
              + String(format: "of which %.0f ms is the process's fixed cost (an empty file), so per byte ", startup.wallSeconds * 1000)
              + "\(ratio(bareCommand.wallSeconds - startup.wallSeconds, parallel.wallSeconds)) (what mapping the file and writing JSON add)")
        print("stoqsim chunk --format json (with ids) vs chunking + SHA-256 in memory (all cores): \(ratio(command.wallSeconds, both.wallSeconds)) the time "
              + "(goal ≤ 1.5×; every byte is SHA-256-hashed, so against the bare chunker it is \(ratio(command.wallSeconds, parallel.wallSeconds)))")
        print("chunking + SHA-256 per chunk (all cores) vs SHA-256 alone (one core): \(ratio(both.wallSeconds, sha.wallSeconds)) the time"
              + " (≤ 1.0×: limited by SHA-256, not by the chunker)")
        failed = failed || results.contains { !$0.verified } || startups.contains { !$0.verified }
        if !pyRuns.isEmpty, pyRuns.count == repetitions {
            let py = median(pyRuns)
            print("\(py)  (median of \(repetitions), one per round)")
            func perRound(_ ours: [ThroughputResult], cpu: Bool = false) -> String {
                let r = zip(ours, pyRuns).map { cpu ? $0.megabytesPerCPUSecond / $1.megabytesPerCPUSecond : $1.wallSeconds / $0.wallSeconds }
                return String(format: "%.2f× (median of rounds; ", r.sorted()[r.count / 2])
                    + r.map { String(format: "%.2f", $0) }.joined(separator: ", ") + ")"
            }
            print("FastCDC vs pyfastcdc, rounds alternating, wall: \(perRound(parallelRuns)) on all cores (goal ≥ 1.5×), "
                  + "\(perRound(serialRuns)) on one; CPU on one core: \(perRound(serialRuns, cpu: true))")
        }
        if failed {
            printError("a benchmark's own check failed: the figures above are not valid")
            throw ExitCode.failure
        }
    }
}

/// pyfastcdc in a venv of its own, driven by a short script that times
/// `cut_buf` over the file held in memory, as `DedupBenchmarks.chunking` does.
struct PyFastCDC {
    let python: String

    /// Installs pyfastcdc into `dir/venv`; nil (having said why) when Python or PyPI is not there.
    static func install(in dir: String) -> PyFastCDC? {
        let venv = dir + "/venv"
        printError("installing pyfastcdc into a throw-away venv (\(venv)) …")
        guard (try? run(["python3", "-m", "venv", venv]))?.status == 0 else {
            printError("pyfastcdc not measured: python3 -m venv failed (no Python 3 with venv here)")
            return nil
        }
        guard (try? run([venv + "/bin/pip", "install", "--quiet", "--disable-pip-version-check", "pyfastcdc"]))?.status == 0 else {
            printError("pyfastcdc not measured: pip could not install it (PyPI unreachable?)")
            return nil
        }
        return PyFastCDC(python: venv + "/bin/python")
    }

    static let script = """
    import sys, time, pyfastcdc
    path = sys.argv[1]
    data = open(path, 'rb').read()
    cdc = pyfastcdc.FastCDC(avg_size=64 << 10, min_size=4 << 10, max_size=1 << 20, normalized_chunking=2)
    w, c = time.perf_counter(), time.thread_time()
    n = sum(1 for _ in cdc.cut_buf(data))
    print(time.perf_counter() - w, time.thread_time() - c, n, flush=True)
    """

    /// One timed `cut_buf` over the file (the rounds repeat it).
    func measure(file: String) throws -> ThroughputResult {
        let (status, output) = try Self.run([python, "-c", Self.script, file], capture: true)
        let text = String(decoding: output, as: UTF8.self)
        let f = text.split(whereSeparator: \.isWhitespace)
        guard status == 0, f.count == 3, let wall = Double(f[0]), let cpu = Double(f[1]), let chunks = Int(f[2]) else {
            throw ValidationError("pyfastcdc script failed (exit \(status)): \(text)")
        }
        let bytes = (try FileManager.default.attributesOfItem(atPath: file)[.size] as? Int) ?? 0
        return ThroughputResult(name: "pyfastcdc 4KiB/64KiB/1MiB", bytes: bytes, wallSeconds: wall, cpuSeconds: cpu, chunks: chunks, verified: true)
    }

    /// Runs a program found in PATH; its output goes to stderr, or is returned with `capture`.
    static func run(_ arguments: [String], capture: Bool = false) throws -> (status: Int32, output: Data) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = arguments
        let pipe = Pipe()
        p.standardOutput = capture ? pipe : FileHandle.standardError
        p.standardError = FileHandle.standardError
        try p.run()
        // Read before waiting, so a full pipe cannot stall the child.
        let output = capture ? pipe.fileHandleForReading.readDataToEndOfFile() : Data()
        p.waitUntilExit()
        return (p.terminationStatus, output)
    }
}
