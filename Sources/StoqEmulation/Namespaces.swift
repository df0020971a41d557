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

    /// What `cleanupLeftovers` did.
    public struct CleanupReport {
        public var removed: [String] = []
        public var skippedLive: [String] = []
        public var failed: [String] = []
        public var killedProcesses = 0
    }

    /// Removes `stoq-*` namespaces (and kills processes still inside them).
    /// Namespaces of a live stoqsim process are skipped unless `includeLive`.
    public static func cleanupLeftovers(prefix: String = namePrefix, includeLive: Bool = false) -> CleanupReport {
        var report = CleanupReport()
        var doomed: [String] = []
        for name in list(prefix: prefix) {
            if !includeLive, let pid = ownerPID(of: name), pid != getpid(), kill(pid, 0) == 0 || errno == EPERM {
                report.skippedLive.append(name)
            } else {
                doomed.append(name)
            }
        }
        report.killedProcesses = killProcesses(inNamespacesAt: doomed.map(path(of:)))
        for name in doomed {
            if remove(name) { report.removed.append(name) } else { report.failed.append(name) }
        }
        return report
    }

    /// SIGKILLs every process whose network namespace is one of those pinned
    /// at `paths` (what `ip netns pids` finds), so the namespaces can go.
    /// One pass over /proc for all of them.
    static func killProcesses(inNamespacesAt paths: [String]) -> Int {
        var inodes = Set<UInt64>()
        for p in paths {
            var st = stat()
            if stat(p, &st) == 0 { inodes.insert(UInt64(st.st_ino)) }
        }
        guard !inodes.isEmpty else { return 0 }
        var killed = 0
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
            guard let pid = pid_t(entry), pid != getpid() else { continue }
            var ns = stat()
            // All namespace files live on the one nsfs device: the inode identifies the namespace.
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
