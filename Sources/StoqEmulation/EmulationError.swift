#if os(Linux)
import Glibc
#endif

/// Why the netns backend could not do something, said for people: what
/// failed, on which node or namespace, and what to do.
public enum EmulationError: Error, CustomStringConvertible {
    /// Not root, no /dev/net/tun, or namespaces refused: the backend cannot run here.
    case unsupported(String)
    /// A system call failed while setting up or running namespace `namespace`.
    case system(operation: String, namespace: String?, errno: Int32)
    case unknownNode(String)
    /// IPv4 and IPv4-mapped addresses are refused (STOQ is IPv6-only).
    /// SIGINT or SIGTERM arrived during set-up.
    case interrupted(signal: Int32)

    public var description: String {
        switch self {
        case .unsupported(let why): return "the netns backend cannot run here: \(why)"
        case .system(let op, let ns, let e):
            #if os(Linux)
            let text = String(cString: strerror(e))
            #else
            let text = "errno"
            #endif
            return "netns: \(op)\(ns.map { " in namespace \($0)" } ?? "") failed: \(text) (errno \(e))"
        case .unknownNode(let n): return "netns: no node named '\(n)' in the topology"
        case .interrupted(let s): return "netns: interrupted by signal \(s) during set-up; everything created was removed"
        }
    }
}
