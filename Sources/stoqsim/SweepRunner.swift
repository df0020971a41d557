import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Runs a sweep's runs, each as its own `stoqsim run` process, `jobs` at a
/// time: a crash or timeout of one is recorded and the others go on.
final class SweepRunner {
    struct Job {
        var index: Int
        var directory: String
        var arguments: [String]
    }

    /// How one run ended (also written as the run's run-status.json).
    struct Outcome: Codable, Equatable {
        /// `ok`, `failed` (non-zero exit), `crashed` (killed by a signal), `timeout`, `not started`.
        var status: String
        var exitCode: Int32?
        var signal: Int32?
        var wallSeconds: Double
    }

    /// `stoqsim run` for a run directory holding its resolved topology.
    static func runArguments(_ directory: String) -> [String] {
        ["run", (directory as NSString).appendingPathComponent(SweepPlan.topologyFile), "--out", directory, "--quiet"]
    }

    static let statusFile = "run-status.json"
    static let logFile = "run.log"

    private let binary: String
    private let jobs: Int
    private let timeout: Double
    private let lock = NSLock()
    private var next = 0
    private var running = 0
    private var done = 0
    private var failed = 0
    private var outcomes: [Int: Outcome] = [:]
    private var queue: [Job] = []
    private let start = Date()
    /// Runs skipped by --resume count as done but not towards the time estimate.
    private let alreadyDone: Int
    private let total: Int

    init(binary: String, jobs: Int, timeoutSeconds: Double, total: Int, alreadyDone: Int) {
        self.binary = binary
        self.jobs = max(jobs, 1)
        timeout = timeoutSeconds
        self.total = total
        self.alreadyDone = alreadyDone
        done = alreadyDone
    }

    /// Runs `jobs` and returns each one's outcome by index.
    func run(_ work: [Job], progress: Bool) -> [Int: Outcome] {
        queue = work
        let group = DispatchGroup()
        for _ in 0..<min(jobs, work.count) {
            group.enter()
            Thread.detachNewThread { [self] in
                while let job = take() {
                    let outcome = execute(job)
                    try? Self.write(outcome, directory: job.directory)
                    finish(job, outcome)
                }
                group.leave()
            }
        }
        // One line for the whole sweep: rewritten in place on a terminal, every 10 s otherwise.
        let tty = isatty(2) == 1
        var lastPrinted = Date.distantPast
        while group.wait(timeout: .now() + .milliseconds(tty ? 500 : 1000)) == .timedOut {
            guard progress, tty || Date().timeIntervalSince(lastPrinted) >= 10 else { continue }
            lastPrinted = Date()
            printProgress(final: false, tty: tty)
        }
        if progress { printProgress(final: true, tty: tty) }
        return outcomes
    }

    private func take() -> Job? {
        lock.lock(); defer { lock.unlock() }
        guard next < queue.count else { return nil }
        next += 1
        running += 1
        return queue[next - 1]
    }

    private func finish(_ job: Job, _ outcome: Outcome) {
        lock.lock(); defer { lock.unlock() }
        running -= 1
        done += 1
        if outcome.status != "ok" { failed += 1 }
        outcomes[job.index] = outcome
    }

    private func printProgress(final: Bool, tty: Bool) {
        lock.lock()
        let (d, r, f) = (done, running, failed)
        lock.unlock()
        let elapsed = Date().timeIntervalSince(start)
        var line = "sweep: \(d)/\(total) done, \(r) running, \(f) failed, \(Self.clock(elapsed)) elapsed"
        let finishedHere = d - alreadyDone
        if !final, finishedHere > 0, d < total {
            line += ", ~\(Self.clock(elapsed / Double(finishedHere) * Double(total - d))) remaining"
        }
        if tty {
            FileHandle.standardError.write(Data(("\r\u{1B}[K" + line + (final ? "\n" : "")).utf8))
        } else {
            printError(line)
        }
    }

    static func clock(_ seconds: Double) -> String {
        let s = Int(seconds.rounded())
        return s >= 3600 ? String(format: "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60) : String(format: "%d:%02d", s / 60, s % 60)
    }

    static func write(_ outcome: Outcome, directory: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(outcome).write(to: URL(fileURLWithPath: (directory as NSString).appendingPathComponent(statusFile)))
    }

    static func readOutcome(directory: String) -> Outcome? {
        let path = (directory as NSString).appendingPathComponent(statusFile)
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        return try? JSONDecoder().decode(Outcome.self, from: data)
    }

    /// Spawns the run with stdout and stderr in its run.log, polls for its
    /// exit, and past the timeout sends SIGTERM (a run then writes what it
    /// has), then SIGKILL five seconds later.
    private func execute(_ job: Job) -> Outcome {
        let began = Date()
        let log = (job.directory as NSString).appendingPathComponent(Self.logFile)
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, log, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        let argv = ([binary] + job.arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, binary, &actions, nil, argv, environ)
        guard rc == 0 else {
            let message = "stoqsim sweep: cannot start \(binary): \(String(cString: strerror(rc)))\n"
            _ = FileManager.default.createFile(atPath: log, contents: Data(message.utf8))
            return Outcome(status: "failed", exitCode: nil, signal: nil, wallSeconds: 0)
        }
        var status: Int32 = 0
        var timedOut = false
        var killAt: Date?
        while true {
            let r = waitpid(pid, &status, WNOHANG)
            if r == pid { break }
            if r < 0 && errno != EINTR { break }
            let now = Date()
            if !timedOut, now.timeIntervalSince(began) > timeout {
                timedOut = true
                kill(pid, SIGTERM)
                killAt = now.addingTimeInterval(5)
            } else if let k = killAt, now > k {
                kill(pid, SIGKILL)
                killAt = nil
            }
            usleep(20_000)
        }
        let wall = Date().timeIntervalSince(began)
        let exited = status & 0x7f == 0
        let code: Int32? = exited ? (status >> 8) & 0xff : nil
        let signal: Int32? = exited ? nil : status & 0x7f
        let state = timedOut ? "timeout" : (code == 0 ? "ok" : (signal != nil ? "crashed" : "failed"))
        return Outcome(status: state, exitCode: code, signal: signal, wallSeconds: wall)
    }
}
