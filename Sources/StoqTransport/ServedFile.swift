#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Opens the file a client asked for under a served directory, and never one
/// outside it. The one place both file servers resolve request paths
/// (`RawFileServer` and `HTTP3FileHandler`, so `stoqsim node serve` and the
/// `serve` workload's `files:`).
public enum ServedFile {
    public enum Refusal: Error, Equatable, CustomStringConvertible {
        /// Not "/…", empty, or with a `.`, `..` or NUL component (400).
        case badPath
        /// A symbolic link on the way leads outside the root (403).
        case outsideRoot
        /// Nothing there, a symbolic link loop, or the root itself is missing (404).
        case notFound
        /// A directory, device or FIFO (404).
        case notAFile

        public var description: String {
            switch self {
            case .badPath: return "bad path: it must start with / and have no '.', '..' or NUL components"
            case .outsideRoot: return "forbidden: the path leads outside the served directory (through a symbolic link)"
            case .notFound: return "not found"
            case .notAFile: return "not found: not a regular file"
            }
        }
    }

    /// Opens (read-only, close-on-exec) the regular file that `requestPath`
    /// ("/a/b.txt") names under `root`. Symbolic links are followed only
    /// while they stay under the root's real path: the resolved path is
    /// checked before opening, and the opened descriptor's own path is checked
    /// after, so a directory swapped for a link in between is caught too.
    public static func open(_ requestPath: Substring, under root: String) -> Result<Int32, Refusal> {
        let parts = requestPath.split(separator: "/", omittingEmptySubsequences: true)
        guard requestPath.hasPrefix("/"), !parts.isEmpty,
              !parts.contains(where: { $0 == ".." || $0 == "." || $0.contains("\0") }) else { return .failure(.badPath) }
        guard let realRoot = realPath(root), let real = realPath(realRoot + "/" + parts.joined(separator: "/")) else {
            return .failure(.notFound)   // ENOENT, ENOTDIR, ELOOP
        }
        guard isWithin(real, realRoot) else { return .failure(.outsideRoot) }
        // O_NONBLOCK: opening a FIFO must not hang the server; O_NOFOLLOW: the last component was no link a moment ago.
        let fd = openFile(real, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else { return .failure(errno == ELOOP ? .outsideRoot : .notFound) }
        guard isWithin(openedPath(fd) ?? real, realRoot) else {
            close(fd)
            return .failure(.outsideRoot)
        }
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else {
            close(fd)
            return .failure(.notAFile)
        }
        _ = fcntl(fd, F_SETFL, 0)   // blocking reads again (a regular file never blocks anyway)
        return .success(fd)
    }

    private static func openFile(_ path: String, _ flags: Int32) -> Int32 {
        #if canImport(Glibc)
        return Glibc.open(path, flags)
        #else
        return Darwin.open(path, flags)
        #endif
    }

    static func realPath(_ path: String) -> String? {
        guard let p = realpath(path, nil) else { return nil }
        defer { free(p) }
        return String(cString: p)
    }

    static func isWithin(_ path: String, _ root: String) -> Bool {
        path == root || path.hasPrefix(root.hasSuffix("/") ? root : root + "/")
    }

    /// Where an open descriptor really is (Linux: /proc/self/fd); nil elsewhere.
    private static func openedPath(_ fd: Int32) -> String? {
        #if os(Linux)
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let n = readlink("/proc/self/fd/\(fd)", &buffer, buffer.count - 1)
        guard n > 0 else { return nil }
        buffer[n] = 0
        return String(cString: buffer)
        #else
        return nil
        #endif
    }

    /// The whole content of an open regular file, or nil on a read error.
    public static func readAll(_ fd: Int32) -> [UInt8]? {
        var st = stat()
        guard fstat(fd, &st) == 0 else { return nil }
        var out = [UInt8](repeating: 0, count: Int(st.st_size))
        var done = 0
        while done < out.count {
            let n = out.withUnsafeMutableBytes { read(fd, $0.baseAddress! + done, $0.count - done) }
            if n < 0 { if errno == EINTR { continue }; return nil }
            if n == 0 { break }
            done += n
        }
        out.removeLast(out.count - done)
        return out
    }
}
