import Foundation

/// The formats `stoqsim export` writes.
public enum ExportFormat: String, CaseIterable {
    /// RFC 4180: comma-separated, a header row, fields with a comma, quote,
    /// CR or LF quoted (quotes doubled), lines ending in LF; null is empty.
    case csv
    /// One JSON object per line.
    case jsonl
}

/// A clear, user-facing export failure (a missing or malformed trace names
/// the file and line).
public struct ExportError: Error, CustomStringConvertible {
    public var description: String
    /// The input was at fault (exit 2), not the machine (exit 1).
    public var badInput: Bool
    public init(_ description: String, badInput: Bool = false) {
        self.description = description
        self.badInput = badInput
    }
}

/// One output file, written through stdio's buffer so a record costs a few
/// `memcpy`s, not a system call.
final class ExportFile {
    let path: String
    private let handle: UnsafeMutablePointer<FILE>

    init(path: String) throws {
        guard let h = fopen(path, "w") else {
            throw ExportError("cannot write \(path): \(String(cString: strerror(errno)))")
        }
        self.path = path
        handle = h
    }

    deinit { fclose(handle) }

    func write(_ bytes: UnsafeBufferPointer<UInt8>) {
        if let base = bytes.baseAddress, bytes.count > 0 { fwrite(base, 1, bytes.count, handle) }
    }

    func write(_ s: String) {
        var s = s
        s.withUTF8 { write($0) }
    }

    func write(byte: UInt8) { fputc(Int32(byte), handle) }

    /// Flushes and reports a write error (a full disk) instead of losing rows.
    func close() throws {
        guard fflush(handle) == 0, ferror(handle) == 0 else {
            throw ExportError("cannot write \(path): \(String(cString: strerror(errno)))")
        }
    }
}

/// CSV cell encoding (RFC 4180).
enum CSV {
    /// A field quoted when it holds a comma, quote, CR or LF, with quotes doubled.
    static func field(_ s: String) -> String {
        guard s.utf8.contains(where: { $0 == 0x2c || $0 == 0x22 || $0 == 0x0a || $0 == 0x0d }) else { return s }
        return "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    static func row(_ fields: [String]) -> String { fields.map(field).joined(separator: ",") + "\n" }
}

/// A file name part from a record kind or table name: letters, digits, `_`,
/// `-` and `.` kept, anything else `_`, so no name leaves the directory.
func exportFileName(_ name: String) -> String {
    let safe = String(name.unicodeScalars.map { c -> Character in
        c.isASCII && (CharacterSet.alphanumerics.contains(c) || c == "_" || c == "-" || c == ".") ? Character(c) : "_"
    })
    return safe.isEmpty || safe.hasPrefix(".") ? "_" + safe : safe
}
