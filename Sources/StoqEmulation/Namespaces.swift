#if os(Linux)
import CStoqEmulation
import Foundation
import Glibc

/// Network namespaces named `stoq-<pid>-<run>-<n>` and pinned under
/// /run/netns (where `ip netns` finds them), so a crashed run's leftovers can
/// be told from a live run's by the pid, and removed by `stoqsim netns cleanup`.
public enum Namespaces {
    public static let directory = "/run/netns"
    public static let namePrefix = "stoq-"

    nonisolated(unsafe) private static var runCounter = 0

    /// A fresh prefix for one run of this process: `stoq-<pid>-<k>`.
    public static func makeRunPrefix() -> String {
        runCounter += 1
        return "\(namePrefix)\(getpid())-\(runCounter)"
    }

    /// The pid in a `stoq-<pid>-…` name.
    static func ownerPID(of name: String) -> pid_t? {
        let parts = name.dropFirst(namePrefix.count).split(separator: "-")
        return parts.first.flatMap { pid_t($0) }
    }

    public static func path(of name: String) -> String { directory + "/" + name }

    /// Names under /run/netns starting with `prefix`.
    public static func list(prefix: String = namePrefix) -> [String] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return entries.filter { $0.hasPrefix(prefix) }.sorted()
    }

    /// nil when the backend can run here, else why not (for the error
    /// message and for tests to skip with). Creates and removes one namespace.
    public static func unavailableReason() -> String? {
        if geteuid() != 0 { return "it needs root (CAP_SYS_ADMIN and CAP_NET_ADMIN) to create namespaces and TUN devices; run as root" }
        if access("/dev/net/tun", R_OK | W_OK) != 0 { return "/dev/net/tun is missing or not accessible (load the tun module: modprobe tun)" }
        do {
            let home = try HomeNamespace()
            let name = makeRunPrefix() + "-check"
            try create(name, home: home)
            remove(name)
            return nil
        } catch {
            return "creating a network namespace failed (\(error)); containers need CAP_SYS_ADMIN and a writable \(directory)"
        }
    }

    static func create(_ name: String, home: HomeNamespace) throws {
        if mkdir(directory, 0o755) != 0 && errno != EEXIST {
            throw EmulationError.system(operation: "mkdir \(directory)", namespace: nil, errno: errno)
        }
        if cstoq_emu_netns_create(path(of: name), home.fd) != 0 {
            throw EmulationError.system(operation: "creating the namespace", namespace: name, errno: errno)
        }
    }

    /// Unpins `name`; the namespace itself goes once nothing uses it any more.
    @discardableResult
    static func remove(_ name: String) -> Bool { cstoq_emu_netns_remove(path(of: name)) == 0 }

    /// What `cleanupLeftovers` did, per run whose namespaces it removed.
    public struct CleanupReport {
        public enum Owner: Equatable {
            /// No process has the PID any more: the run was killed or crashed.
            case gone
            /// The PID now belongs to another program (named), which does not hold the namespaces.
            case reused(String)
            /// The run is still going (removed only with `includeLive`).
            case running
            /// The name has no PID.
            case unknown
        }
        public struct Run {
            public var pid: pid_t?
            public var owner: Owner
            public var removed: [String] = []
            public var failed: [String] = []
            public var killedProcesses = 0
        }
        public var runs: [Run] = []
        /// Namespaces of live runs, left alone.
        public var skippedLive: [String] = []

        public var removed: [String] { runs.flatMap(\.removed) }
        public var failed: [String] { runs.flatMap(\.failed) }
        public var killedProcesses: Int { runs.reduce(0) { $0 + $1.killedProcesses } }

        /// One line per run, e.g. "removed 12 namespaces left by run PID 1234, which is no longer running".
        public var messages: [String] {
            runs.filter { !$0.removed.isEmpty }.map { run in
                let count = "\(run.removed.count) namespace\(run.removed.count == 1 ? "" : "s")"
                let pid = run.pid.map { "PID \($0)" } ?? "?"
                var line: String
                switch run.owner {
                case .gone: line = "removed \(count) left by run \(pid), which is no longer running"
                case .reused(let program):
                    line = "removed \(count) left by run \(pid), which is no longer running (\(pid) now belongs to \(program))"
                case .running: line = "removed \(count) of run \(pid), which is still running"
                case .unknown: line = "removed \(count) with no owner PID in the name"
                }
                if run.killedProcesses > 0 {
                    line += ", and killed \(run.killedProcesses) process\(run.killedProcesses == 1 ? "" : "es") still inside"
                }
                return line
            }
        }
    }

    /// Removes `stoq-*` namespaces of runs that are over (and kills processes
    /// still inside them; their TUN devices went with the run's descriptors).
    /// A run is over when its PID (in the name) is gone, or now belongs to
    /// a program that neither is stoqsim (nor its test runner) nor holds one
    /// of the namespaces open — the PID was reused. Namespaces of live runs,
    /// this process's included, are kept unless `includeLive`.
    public static func cleanupLeftovers(prefix: String = namePrefix, includeLive: Bool = false) -> CleanupReport {
        var report = CleanupReport()
        var byOwner: [pid_t?: [String]] = [:]
        for name in list(prefix: prefix) { byOwner[ownerPID(of: name), default: []].append(name) }
        for pid in byOwner.keys.sorted(by: { ($0 ?? -1) < ($1 ?? -1) }) {
            let names = byOwner[pid]!
            let state = pid.map { owner(pid: $0, of: names) } ?? CleanupReport.Owner.unknown
            if state == .running && !includeLive {
                report.skippedLive += names
                continue
            }
            var run = CleanupReport.Run(pid: pid, owner: state)
            run.killedProcesses = killProcesses(inNamespacesAt: names.map(path(of:)))
            for name in names {
                if remove(name) { run.removed.append(name) } else { run.failed.append(name) }
            }
            report.runs.append(run)
        }
        return report
    }

    /// Whether the run with `pid` that made `names` still runs (see `cleanupLeftovers`).
    static func owner(pid: pid_t, of names: [String]) -> CleanupReport.Owner {
        if pid == getpid() { return .running }
        guard kill(pid, 0) == 0 || errno == EPERM else { return .gone }
        // /proc/PID/stat: "PID (comm) S …"; a zombie (Z) was killed and waits only to be reaped.
        let status = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)) ?? ""
        if let close = status.lastIndex(of: ")"), status[close...].dropFirst().trimmingCharacters(in: .whitespaces).first == "Z" {
            return .gone
        }
        // The name is cut to 15 bytes: "stoqsim" and "stoqsimPackageTests.xctest" both start so.
        // Unreadable (it exited just now): keep its namespaces for the next cleanup.
        let program = ((try? String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8)) ?? "")
            .trimmingCharacters(in: .whitespacesAndNewlines)
        if program.isEmpty || program.hasPrefix("stoqsim") { return .running }
        // Another program embedding the backend holds its namespaces open for the whole run.
        let inodes = namespaceInodes(names.map(path(of:)))
        for fd in (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd")) ?? [] {
            var st = stat()
            if stat("/proc/\(pid)/fd/\(fd)", &st) == 0, inodes.contains(UInt64(st.st_ino)) { return .running }
        }
        return .reused(program)
    }

    /// The namespaces pinned at `paths`, by nsfs inode (all namespace files
    /// live on the one nsfs device, so the inode identifies the namespace).
    static func namespaceInodes(_ paths: [String]) -> Set<UInt64> {
        var inodes = Set<UInt64>()
        for p in paths {
            var st = stat()
            if stat(p, &st) == 0 { inodes.insert(UInt64(st.st_ino)) }
        }
        return inodes
    }

    /// SIGKILLs every process whose network namespace is one of those pinned
    /// at `paths` (what `ip netns pids` finds), so the namespaces can go.
    /// One pass over /proc for all of them.
    static func killProcesses(inNamespacesAt paths: [String]) -> Int {
        let inodes = namespaceInodes(paths)
        guard !inodes.isEmpty else { return 0 }
        var killed = 0
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
            guard let pid = pid_t(entry), pid != getpid() else { continue }
            var ns = stat()
            if stat("/proc/\(entry)/ns/net", &ns) == 0, inodes.contains(UInt64(ns.st_ino)) {
                if kill(pid, SIGKILL) == 0 { killed += 1 }
            }
        }
        return killed
    }
}

/// The calling thread's network namespace when the run started: the place to
/// return to after opening something inside a node's namespace.
final class HomeNamespace {
    let fd: Int32

    init() throws {
        fd = cstoq_emu_current_netns()
        if fd < 0 { throw EmulationError.system(operation: "opening /proc/thread-self/ns/net", namespace: nil, errno: errno) }
    }

    deinit { close(fd) }

    /// Runs `body` with the calling thread in the namespace open at `target`,
    /// then returns home. Sockets, TUN devices and children created in `body`
    /// stay in that namespace.
    func within<T>(_ target: Int32, name: String, _ body: () throws -> T) throws -> T {
        if cstoq_emu_setns(target) != 0 { throw EmulationError.system(operation: "setns", namespace: name, errno: errno) }
        defer {
            // Failing to return would silently put every later socket in the wrong namespace.
            if cstoq_emu_setns(fd) != 0 { fatalError("netns: cannot return to the original network namespace (errno \(errno))") }
        }
        return try body()
    }
}
#endif
