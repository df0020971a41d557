import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif

/// Runs the built `stoqsim` binary as a user would, from the repository root.
enum StoqsimProcess {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    /// The binary sits in the build products directory, which on Linux is the
    /// test bundle's URL itself and on Darwin the bundle's parent.
    static func binary(near bundleClass: AnyClass) throws -> URL {
        let bundle = Bundle(for: bundleClass).bundleURL
        let candidates = [bundle, bundle.deletingLastPathComponent()].map { $0.appendingPathComponent("stoqsim") }
        guard let url = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0.path) }) else {
            throw XCTSkip("stoqsim binary not found in \(candidates.map(\.path))")
        }
        return url
    }

    /// How a run ended. `signal` is set when the process was killed (a crash), not exited.
    struct Outcome {
        var status: Int32
        var signal: Int32?
        var stdout: String
        var stderr: String
        /// CPU time of the process itself.
        var cpuSeconds: Double
    }

    /// Spawns the binary and waits with wait4, which reports the child's own
    /// peak memory and CPU time. stdout and stderr go through files, so a
    /// chatty run cannot fill a pipe and block.
    static func run(_ binary: URL, _ args: [String], in directory: URL = root) throws -> Outcome {
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("stoqsim-out-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        let outPath = scratch.appendingPathComponent("stdout").path, errPath = scratch.appendingPathComponent("stderr").path

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_addopen(&actions, 2, errPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)

        // The shell changes directory and execs the binary in its own process,
        // so wait4's figures are the binary's (posix_spawn's chdir action is
        // not visible to Swift here).
        let shell = ["/bin/sh", "-c", "cd \"$0\" && exec \"$@\"", directory.path, binary.path] + args
        let argv = shell.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, "/bin/sh", &actions, nil, argv, environ)
        guard rc == 0 else { throw POSIXError(POSIXErrorCode(rawValue: rc) ?? .EIO) }

        var status: Int32 = 0
        var usage = rusage()
        while wait4(pid, &status, 0, &usage) < 0 && errno == EINTR {}
        let exited = status & 0x7f == 0
        func read(_ path: String) -> String { (try? String(contentsOfFile: path, encoding: .utf8)) ?? "" }
        return Outcome(status: exited ? (status >> 8) & 0xff : -1, signal: exited ? nil : status & 0x7f,
                       stdout: read(outPath), stderr: read(errPath),
                       cpuSeconds: Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6
                           + Double(usage.ru_stime.tv_sec) + Double(usage.ru_stime.tv_usec) / 1e6)
    }

    /// Peak resident memory of the binary run with `args`, in KiB. Not from
    /// wait4 here: a child spawned by this (large) test process starts with
    /// the test process's memory high-water mark, and exec keeps it. A small
    /// python3 parent forks and execs the binary, so the figure is the
    /// binary's own.
    static func peakResidentKiB(_ binary: URL, _ args: [String]) throws -> Int {
        guard let python = ["/usr/bin/python3", "/usr/local/bin/python3"].first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            throw XCTSkip("python3 is needed to measure a child's own peak memory")
        }
        let script = """
        import os, sys
        pid = os.fork()
        if pid == 0:
            fd = os.open(os.devnull, os.O_WRONLY)
            os.dup2(fd, 1); os.dup2(fd, 2)
            os.execv(sys.argv[1], sys.argv[1:])
        _, status, usage = os.wait4(pid, 0)
        print(usage.ru_maxrss)
        """
        let r = try run(URL(fileURLWithPath: python), ["-c", script, binary.path] + args)
        guard r.status == 0, let kib = Int(r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) else {
            throw XCTSkip("could not measure peak memory: \(r.stderr)")
        }
        return kib
    }

    static func withTemporaryDirectory(_ body: (String) throws -> Void) throws {
        let dir = NSTemporaryDirectory() + "stoqsim-cli-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try body(dir)
    }
}
