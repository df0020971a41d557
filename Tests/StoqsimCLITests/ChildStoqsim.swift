import Foundation
import XCTest

/// The built `stoqsim` binary.
func stoqsimBinary() throws -> URL { try StoqsimProcess.binary(near: ChildStoqsim.self) }

/// A `stoqsim` child process whose stdout and stderr are collected as they
/// come, so a test can wait for a line, signal it and read what it said.
final class ChildStoqsim: @unchecked Sendable {
    let process = Process()
    private let lock = NSLock()
    private var out = ""
    private var err = ""
    private var openPipes = 2
    private let closed = DispatchSemaphore(value: 0)

    var stdout: String { lock.lock(); defer { lock.unlock() }; return out }
    var stderr: String { lock.lock(); defer { lock.unlock() }; return err }
    var pid: pid_t { process.processIdentifier }

    init(_ args: [String], directory: URL? = nil) throws {
        process.executableURL = try stoqsimBinary()
        process.arguments = args
        if let directory { process.currentDirectoryURL = directory }
        let o = Pipe(), e = Pipe()
        process.standardOutput = o
        process.standardError = e
        collect(o) { self.out += $0 }
        collect(e) { self.err += $0 }
        try process.run()
    }

    private func collect(_ pipe: Pipe, into append: @escaping (String) -> Void) {
        pipe.fileHandleForReading.readabilityHandler = { [unowned self] handle in
            let data = handle.availableData
            lock.lock()
            append(String(decoding: data, as: UTF8.self))
            if data.isEmpty { openPipes -= 1 }
            let done = data.isEmpty && openPipes == 0
            lock.unlock()
            if data.isEmpty { handle.readabilityHandler = nil }
            if done { closed.signal() }
        }
    }

    /// Polls until `condition` holds or the child exits; the limit is a
    /// safety net for a hung child, not a timing check.
    @discardableResult
    func wait(until condition: () -> Bool, limit: TimeInterval = 120) -> Bool {
        let deadline = Date().addingTimeInterval(limit)
        while !condition() {
            if !process.isRunning || Date() > deadline { return condition() }
            usleep(2_000)
        }
        return true
    }

    func signal(_ sig: Int32) { if process.isRunning { kill(pid, sig) } }

    /// Waits for the exit (SIGKILL after `limit` seconds, a safety net) and
    /// for both pipes to reach EOF; returns the exit status.
    @discardableResult
    func finish(limit: TimeInterval = 120) -> Int32 {
        if let finished { return finished }
        if !wait(until: { !process.isRunning }, limit: limit) { kill(pid, SIGKILL) }
        process.waitUntilExit()
        _ = closed.wait(timeout: .now() + 30)
        finished = process.terminationStatus
        return process.terminationStatus
    }
    private var finished: Int32?
}
