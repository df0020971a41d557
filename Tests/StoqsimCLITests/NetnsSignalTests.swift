import Foundation
import XCTest

/// `stoqsim run --backend netns` as a user runs it, signalled and killed:
/// nothing is left behind by a signal at any moment, an interrupted run's
/// summary says so, and what a SIGKILLed run left is removed by the next run
/// and by `stoqsim netns cleanup`, never a live run's.
final class NetnsSignalTests: XCTestCase {
    private var directory = ""
    /// Children and their namespaces, removed even when a test fails.
    private var children: [ChildStoqsim] = []
    private var strayPIDs: [pid_t] = []

    override func setUpWithError() throws {
        let check = try ChildStoqsim(["netns", "check"])
        if check.finish() != 0 { throw XCTSkip(check.stderr.trimmingCharacters(in: .whitespacesAndNewlines)) }
        directory = NSTemporaryDirectory() + "stoqsim-netns-signal-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    override func tearDown() {
        for c in children where c.process.isRunning { kill(c.pid, SIGKILL) }
        for c in children { c.finish() }
        for pid in strayPIDs { kill(pid, SIGKILL) }
        var left: [String] = []
        for c in children {
            for name in namespaces(of: c.pid) {
                left.append(name)
                _ = try? ChildProcessRunner.run("/usr/sbin/ip", ["netns", "delete", name])
            }
        }
        XCTAssertEqual(left, [], "namespaces left behind")
        try? FileManager.default.removeItem(atPath: directory)
    }

    private func start(_ args: [String]) throws -> ChildStoqsim {
        let c = try ChildStoqsim(args)
        children.append(c)
        return c
    }

    /// Namespaces named with `pid`, as `ip netns list` shows them.
    private func namespaces(of pid: pid_t) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: "/run/netns")) ?? []).filter { $0.hasPrefix("stoq-\(pid)-") }.sorted()
    }

    /// Two nodes for `duration`, a probe every 50 ms, and `extra` workloads.
    private func topology(duration: String = "60s", extra: String = "") throws -> String {
        let path = directory + "/line-\(UUID().uuidString).yaml"
        try """
        name: signals
        duration: \(duration)
        sites:
          - {name: fra, city: Frankfurt}
          - {name: par, city: Paris}
        nodes:
          - {name: a, site: fra, role: edge}
          - {name: b, site: par, role: edge}
        links:
          - {from: a, to: b, tier: 1gbps, latency: 5ms}
        workloads:
          - {kind: probe, from: a, to: b, interval: 50ms}
        \(extra)
        """.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    private func run(_ file: String, out: String) throws -> ChildStoqsim {
        try start(["run", file, "--backend", "netns", "--quiet", "--no-realtime-priority", "--out", directory + "/" + out])
    }

    /// Waits until the run has made its namespaces and written their map.
    private func waitUntilRunning(_ c: ChildStoqsim, out: String) -> Bool {
        c.wait(until: { FileManager.default.fileExists(atPath: directory + "/" + out + "/namespaces.tsv") })
    }

    /// SIGINT as soon as the run's first namespace appears (the availability
    /// check's: it once existed before the handlers did and leaked), and at a
    /// spread of moments during start-up: the process ends (killed before
    /// its handlers exist, or stopping cleanly) and leaves no namespace.
    func testSignalAtStartLeavesNoNamespace() throws {
        let file = try topology()
        var outcomes: [String] = []
        for attempt in 0..<16 {
            let c = try run(file, out: "start-\(attempt)")
            if attempt < 4 {
                // Poll tightly: the check's namespace lives for a millisecond or so.
                let deadline = Date().addingTimeInterval(60)
                while namespaces(of: c.pid).isEmpty && c.process.isRunning && Date() < deadline { usleep(50) }
            } else {
                usleep(UInt32(attempt - 4) * 15_000)
            }
            c.signal(SIGINT)
            let status = c.finish()
            let how = c.process.terminationReason == .uncaughtSignal ? "killed by signal \(status)" : "exit \(status)"
            outcomes.append(how)
            XCTAssertEqual(namespaces(of: c.pid), [], "attempt \(attempt) (\(how)) left namespaces:\n\(c.stderr)")
            XCTAssertFalse(c.stderr.contains("Fatal error"), c.stderr)
            if c.process.terminationReason == .exit {
                XCTAssertEqual(status, 130, "a run stopped by SIGINT exits 130, in set-up too: attempt \(attempt): \(how)\n\(c.stderr)")
            }
        }
        print("outcomes of SIGINT at start: \(outcomes)")
    }

    /// SIGINT in the middle of a run: exit 130, a summary that says the run
    /// is not complete and why, the same warning printed, nothing left.
    func testInterruptedRunSummarySaysWhy() throws {
        let c = try run(try topology(), out: "interrupted")
        XCTAssertTrue(waitUntilRunning(c, out: "interrupted"), c.stderr)
        usleep(300_000)   // some probes, so the run is well under way
        c.signal(SIGINT)
        XCTAssertEqual(c.finish(), 130, c.stderr)
        let data = try Data(contentsOf: URL(fileURLWithPath: directory + "/interrupted/summary.json"))
        let summary = try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        XCTAssertEqual(summary["complete"] as? Bool, false)
        let reason = try XCTUnwrap(summary["incompleteReason"] as? String)
        XCTAssertTrue(reason.hasPrefix("interrupted by SIGINT at ") && reason.hasSuffix("s simulated"), reason)
        XCTAssertTrue(c.stdout.contains("WARNING: incomplete run: \(reason)"), c.stdout)
        XCTAssertTrue(c.stdout.contains("interrupted by SIGINT: the run stopped early; namespaces removed"), c.stdout)
        XCTAssertEqual(namespaces(of: c.pid), [])
    }

    /// A run killed with SIGKILL leaves its namespaces and a program inside
    /// one; the next run removes them (and kills the program) and says so;
    /// `netns cleanup` keeps that live run's namespaces, and once it is
    /// killed too, removes them and says so.
    func testKilledRunsAreCleanedUpByTheNextRunAndByCleanup() throws {
        let killed = try run(try topology(extra: "  - {kind: exec, name: nap, node: a, command: [sleep, '100'], timeout: 100s}"),
                             out: "killed")
        XCTAssertTrue(waitUntilRunning(killed, out: "killed"), killed.stderr)
        var program: pid_t?
        XCTAssertTrue(killed.wait(until: { program = childPID(of: killed.pid, named: "sleep"); return program != nil }))
        if let program { strayPIDs.append(program) }
        kill(killed.pid, SIGKILL)
        killed.finish()
        let leftovers = namespaces(of: killed.pid)
        XCTAssertEqual(leftovers.count, 2, "a SIGKILLed run cannot clean up: \(leftovers)")

        let next = try run(try topology(), out: "next")
        XCTAssertTrue(waitUntilRunning(next, out: "next"), next.stderr)
        XCTAssertTrue(next.stderr.contains("removed 2 namespaces left by run PID \(killed.pid), which is no longer running, " +
                                           "and killed 1 process still inside"), next.stderr)
        XCTAssertEqual(namespaces(of: killed.pid), [])
        if let program { XCTAssertTrue(isGone(program), "the program left inside the killed run's namespace was killed") }

        let live = namespaces(of: next.pid)
        XCTAssertEqual(live.count, 2)
        let keep = try start(["netns", "cleanup"])
        XCTAssertEqual(keep.finish(), 0, keep.stderr)
        for name in live { XCTAssertTrue(keep.stdout.contains("kept \(name) (its run is still going"), keep.stdout) }
        XCTAssertEqual(namespaces(of: next.pid), live, "a live run's namespaces are never removed")
        XCTAssertTrue(next.process.isRunning)

        kill(next.pid, SIGKILL)
        next.finish()
        let cleanup = try start(["netns", "cleanup"])
        XCTAssertEqual(cleanup.finish(), 0, cleanup.stderr)
        XCTAssertTrue(cleanup.stderr.contains("removed 2 namespaces left by run PID \(next.pid), which is no longer running"),
                      cleanup.stderr)
        for name in live { XCTAssertTrue(cleanup.stdout.contains("removed \(name)"), cleanup.stdout) }
        XCTAssertEqual(namespaces(of: next.pid), [])
    }
}

/// The pid of a child of `parent` running `name`, from /proc.
private func childPID(of parent: pid_t, named name: String) -> pid_t? {
    for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
        guard let pid = pid_t(entry), let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { continue }
        // "PID (comm) STATE PPID …"
        let comm = stat[stat.index(after: stat.firstIndex(of: "(")!)..<close]
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        if comm == name, fields.count > 1, pid_t(fields[1]) == parent { return pid }
    }
    return nil
}

/// Gone, or a zombie waiting for whoever inherited it.
private func isGone(_ pid: pid_t) -> Bool {
    guard kill(pid, 0) == 0, let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
          let close = stat.lastIndex(of: ")") else { return true }
    return stat[stat.index(after: close)...].trimmingCharacters(in: .whitespaces).hasPrefix("Z")
}

/// Runs a program to its end (for `ip netns delete` in tear-down).
enum ChildProcessRunner {
    static func run(_ path: String, _ args: [String]) throws -> Int32 {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: path)
        p.arguments = args
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        p.waitUntilExit()
        return p.terminationStatus
    }
}
