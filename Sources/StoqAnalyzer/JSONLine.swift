import Foundation

/// Builds one JSON object with fields in the order they are added. Trace files
/// must be byte-identical across runs with the same seed, so no dictionary (whose
/// order is random per process) ever decides the output order.
public struct JSONLine {
    private var text = "{"
    private var first = true

    public init() {}

    private mutating func key(_ k: String) {
        if !first { text += "," }
        first = false
        text += "\""
        text += k
        text += "\":"
    }

    public mutating func add(_ k: String, _ v: String) {
        key(k)
        JSONLine.appendQuoted(v, to: &text)
    }

    public mutating func add(_ k: String, _ v: Int64) { key(k); text += String(v) }
    public mutating func add(_ k: String, _ v: Int) { key(k); text += String(v) }
    public mutating func add(_ k: String, _ v: UInt64) { key(k); text += String(v) }
    public mutating func add(_ k: String, _ v: Bool) { key(k); text += v ? "true" : "false" }

    /// Doubles are printed with a fixed number of significant digits so the
    /// text does not depend on the platform's shortest-representation printing.
    public mutating func add(_ k: String, _ v: Double, digits: Int = 9) {
        key(k)
        text += v.isFinite ? String(format: "%.\(digits)g", v) : "null"
    }

    public mutating func add(_ k: String, _ values: [String]) {
        key(k)
        text += "["
        for (i, v) in values.enumerated() {
            if i > 0 { text += "," }
            JSONLine.appendQuoted(v, to: &text)
        }
        text += "]"
    }

    public mutating func addNull(_ k: String) { key(k); text += "null" }

    /// Embeds an already-built object.
    public mutating func add(_ k: String, object: JSONLine) { key(k); text += object.string }

    public var string: String { text + "}" }

    static func appendQuoted(_ s: String, to out: inout String) {
        out += "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where u.value < 0x20: out += String(format: "\\u%04x", u.value)
            default: out.unicodeScalars.append(u)
            }
        }
        out += "\""
    }
}
