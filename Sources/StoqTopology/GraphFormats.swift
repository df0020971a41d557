import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif

/// A published network graph as read from its file: points of presence with
/// coordinates, and the links between them. Every element keeps where it was
/// written, so mapping errors name the file, line and element.
public struct ImportedGraph: Sendable {
    public struct Node: Sendable {
        public var id: String
        public var label: String?
        public var latitude: Double?
        public var longitude: Double?
        public var location: SourceLocation
    }
    public struct Edge: Sendable {
        public var source: String
        public var target: String
        /// Bits per second, where the file gives it (the Zoo's LinkSpeedRaw).
        public var capacity: Double?
        /// Kilometres of fibre, where the file gives it (topohub's `dist`).
        public var distanceKilometers: Double?
        public var location: SourceLocation
    }
    public var name: String?
    public var nodes: [Node] = []
    public var edges: [Edge] = []

    public enum Format: String, CaseIterable, Sendable {
        case gml, graphml, json

        /// From the file name's extension.
        public init?(path: String) {
            switch (path as NSString).pathExtension.lowercased() {
            case "gml": self = .gml
            case "graphml", "xml": self = .graphml
            case "json": self = .json
            default: return nil
            }
        }
    }

    /// Reads `path` in `format` (by default from its extension). Throws a
    /// located `TopologyDiagnostic`.
    public static func read(path: String, format: Format? = nil) throws -> ImportedGraph {
        let start = SourceLocation(file: path, line: 1, column: 1)
        guard let format = format ?? Format(path: path) else {
            throw TopologyDiagnostic(at: start, "cannot tell the graph format of '\(excerpt(path))' from its extension",
                                     hint: "name it .gml, .graphml or .json, or give the format (--format gml|graphml|json)")
        }
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw TopologyDiagnostic(at: start, "cannot read graph file: \(error.localizedDescription)")
        }
        guard data.count <= TopologyLimits.standard.fileBytes else {
            throw TopologyDiagnostic(at: start, "the graph file is \(data.count) bytes, more than \(TopologyLimits.standard.fileBytes)")
        }
        switch format {
        case .gml: return try GMLGraphReader.read(Array(data), file: path)
        case .graphml: return try GraphMLReader.read(data, file: path)
        case .json: return try NodeLinkJSONReader.read(data, file: path)
        }
    }
}

// MARK: GML

/// A GML value (Himsolt's grammar as the Topology Zoo and networkx write it):
/// `key value` pairs where a value is a number, a "string" or a `[ … ]` list
/// of further pairs; `#` starts a comment line.
indirect enum GMLValue {
    case number(Double, SourceLocation)
    case string(String, SourceLocation)
    case list([(key: String, value: GMLValue)], SourceLocation)

    var location: SourceLocation {
        switch self {
        case .number(_, let l), .string(_, let l), .list(_, let l): return l
        }
    }
}

struct GMLParser {
    private let bytes: [UInt8]
    private let file: String
    private var i = 0, line = 1, column = 1

    /// Nesting a graph file needs is three (graph, node, attribute list); the
    /// limit keeps a hostile file off the recursion's stack.
    static let maximumDepth = 64

    init(_ bytes: [UInt8], file: String) {
        self.bytes = bytes
        self.file = file
    }

    static func parse(_ bytes: [UInt8], file: String) throws -> [(key: String, value: GMLValue)] {
        var p = GMLParser(bytes, file: file)
        let pairs = try p.pairs(depth: 0)
        p.skipSpace()
        guard p.i == p.bytes.count else { throw p.error("unexpected ']' with no list open") }
        return pairs
    }

    private var here: SourceLocation { SourceLocation(file: file, line: line, column: column) }

    private func error(_ message: String, at location: SourceLocation? = nil) -> TopologyDiagnostic {
        TopologyDiagnostic(at: location ?? here, "GML: \(message)",
                           hint: "GML is 'key value' pairs; values are numbers, \"strings\" or [ lists ]")
    }

    private mutating func advance() {
        if bytes[i] == UInt8(ascii: "\n") { line += 1; column = 1 } else if bytes[i] & 0xC0 != 0x80 { column += 1 }
        i += 1
    }

    private mutating func skipSpace() {
        while i < bytes.count {
            let b = bytes[i]
            if b == UInt8(ascii: "#") {
                while i < bytes.count, bytes[i] != UInt8(ascii: "\n") { advance() }
            } else if b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0D {
                advance()
            } else {
                return
            }
        }
    }

    /// Pairs until the end of input or a closing bracket (left for the caller).
    private mutating func pairs(depth: Int) throws -> [(key: String, value: GMLValue)] {
        var out: [(key: String, value: GMLValue)] = []
        while true {
            skipSpace()
            guard i < bytes.count, bytes[i] != UInt8(ascii: "]") else { return out }
            let keyAt = here
            let key = try self.key()
            skipSpace()
            guard i < bytes.count else { throw error("key '\(excerpt(key))' has no value", at: keyAt) }
            out.append((key, try value(depth: depth)))
        }
    }

    private mutating func key() throws -> String {
        let start = i
        func isKeyByte(_ b: UInt8, first: Bool) -> Bool {
            (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == UInt8(ascii: "_") || (!first && b >= 0x30 && b <= 0x39)
        }
        guard i < bytes.count, isKeyByte(bytes[i], first: true) else {
            throw error("expected a key (letters, digits, _), found '\(Self.describe(bytes[i]))'")
        }
        while i < bytes.count, isKeyByte(bytes[i], first: false) { advance() }
        return String(decoding: bytes[start..<i], as: UTF8.self)
    }

    private mutating func value(depth: Int) throws -> GMLValue {
        let at = here
        switch bytes[i] {
        case UInt8(ascii: "["):
            guard depth < Self.maximumDepth else { throw error("lists nested deeper than \(Self.maximumDepth) levels") }
            advance()
            let inner = try pairs(depth: depth + 1)
            guard i < bytes.count else { throw error("the list opened here is never closed with ']'", at: at) }
            advance()
            return .list(inner, at)
        case UInt8(ascii: "\""):
            advance()
            let start = i
            while i < bytes.count, bytes[i] != UInt8(ascii: "\"") { advance() }
            guard i < bytes.count else { throw error("the string opened here is never closed with '\"'", at: at) }
            let text = String(decoding: bytes[start..<i], as: UTF8.self)
            advance()
            return .string(Self.decodeEntities(text), at)
        default:
            let start = i
            while i < bytes.count, !" \t\r\n[]\"#".utf8.contains(bytes[i]) { advance() }
            let text = String(decoding: bytes[start..<i], as: UTF8.self)
            guard let v = Double(text), v.isFinite else {
                throw error("expected a number, a \"string\" or a [ list ], found '\(excerpt(text))'", at: at)
            }
            return .number(v, at)
        }
    }

    /// networkx escapes `&`, `"` and non-ASCII as HTML character references.
    static func decodeEntities(_ s: String) -> String {
        guard s.contains("&") else { return s }
        var out = "", rest = Substring(s)
        while let amp = rest.firstIndex(of: "&") {
            out += rest[..<amp]
            let after = rest[amp...]
            guard let semi = after.firstIndex(of: ";"), after.distance(from: amp, to: semi) <= 10 else { out += "&"; rest = after.dropFirst(); continue }
            let name = after[after.index(after: amp)..<semi]
            let named = ["amp": "&", "quot": "\"", "lt": "<", "gt": ">", "apos": "'"]
            if let v = named[String(name)] {
                out += v
            } else if name.hasPrefix("#x"), let n = UInt32(name.dropFirst(2), radix: 16), let u = Unicode.Scalar(n) {
                out.unicodeScalars.append(u)
            } else if name.hasPrefix("#"), let n = UInt32(name.dropFirst()), let u = Unicode.Scalar(n) {
                out.unicodeScalars.append(u)
            } else {
                out += after[...semi]
            }
            rest = after[after.index(after: semi)...]
        }
        return out + rest
    }

    static func describe(_ b: UInt8) -> String {
        b >= 0x20 && b < 0x7F ? String(UnicodeScalar(b)) : String(format: "0x%02X", b)
    }
}

/// The Zoo's GML: `graph [ node [ id 0 label "X" Latitude … Longitude … ] edge [ source 0 target 1 LinkSpeedRaw … ] ]`.
enum GMLGraphReader {
    static func read(_ bytes: [UInt8], file: String) throws -> ImportedGraph {
        let top = try GMLParser.parse(bytes, file: file)
        guard let graph = top.first(where: { $0.key == "graph" }), case .list(let items, _) = graph.value else {
            throw TopologyDiagnostic(at: SourceLocation(file: file, line: 1, column: 1), "GML: no 'graph [ … ]' in the file")
        }
        var g = ImportedGraph()
        func text(_ v: GMLValue?) -> String? {
            switch v {
            case .string(let s, _)?: return s
            case .number(let n, _)?: return n == n.rounded() && abs(n) < 1e15 ? String(Int64(n)) : String(n)
            default: return nil
            }
        }
        func number(_ v: GMLValue?) -> Double? {
            switch v {
            case .number(let n, _)?: return n
            case .string(let s, _)?: return Double(s)
            default: return nil
            }
        }
        for (key, value) in items {
            guard key == "node" || key == "edge" else {
                if key == "label" || key == "Network" { g.name = g.name ?? text(value) }
                continue
            }
            guard case .list(let fields, let at) = value else {
                throw TopologyDiagnostic(at: value.location, "GML: '\(key)' must be a [ list ] of fields")
            }
            func field(_ name: String) -> GMLValue? { fields.first { $0.key == name }?.value }
            if key == "node" {
                guard let id = text(field("id")) else { throw TopologyDiagnostic(at: at, "GML: a node without an 'id'") }
                g.nodes.append(.init(id: id, label: text(field("label")), latitude: number(field("Latitude")),
                                     longitude: number(field("Longitude")), location: at))
            } else {
                guard let s = text(field("source")), let t = text(field("target")) else {
                    throw TopologyDiagnostic(at: at, "GML: an edge needs 'source' and 'target'")
                }
                g.edges.append(.init(source: s, target: t, capacity: number(field("LinkSpeedRaw")),
                                     distanceKilometers: number(field("dist")), location: at))
            }
        }
        return g
    }
}

// MARK: GraphML

/// GraphML as the Zoo ships it: `<key id="d29" for="node" attr.name="Latitude"/>`
/// declarations, then `<node id>` and `<edge source target>` with `<data key>` children.
final class GraphMLReader: NSObject, XMLParserDelegate {
    private let file: String
    private var parser: XMLParser?
    private var keyNames: [String: String] = [:]           // key id → attribute name
    private var graph = ImportedGraph()
    private var element: (kind: String, attributes: [String: String], data: [String: String], at: SourceLocation)?
    private var dataKey: String?
    private var text = ""
    private var failure: TopologyDiagnostic?

    private init(file: String) { self.file = file }

    static func read(_ data: Data, file: String) throws -> ImportedGraph {
        let reader = GraphMLReader(file: file)
        let parser = XMLParser(data: data)
        parser.shouldResolveExternalEntities = false     // no XXE: a graph file reads nothing else
        reader.parser = parser
        parser.delegate = reader
        let ok = parser.parse()
        if let f = reader.failure { throw f }
        guard ok else {
            throw TopologyDiagnostic(at: SourceLocation(file: file, line: max(1, parser.lineNumber), column: max(1, parser.columnNumber)),
                                     "GraphML: \(parser.parserError.map { "\($0.localizedDescription)" } ?? "not well-formed XML")")
        }
        return reader.graph
    }

    private var here: SourceLocation {
        SourceLocation(file: file, line: max(1, parser?.lineNumber ?? 1), column: max(1, parser?.columnNumber ?? 1))
    }

    func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?,
                attributes: [String: String]) {
        switch name {
        case "key":
            if let id = attributes["id"], let attr = attributes["attr.name"] { keyNames[id] = attr }
        case "node", "edge":
            element = (name, attributes, [:], here)
        case "data":
            dataKey = attributes["key"]
            text = ""
        default:
            break
        }
    }

    func parser(_ parser: XMLParser, foundCharacters string: String) {
        if dataKey != nil { text += string }
    }

    func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) {
        switch name {
        case "data":
            if let key = dataKey {
                let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
                if element != nil { element!.data[keyNames[key] ?? key] = trimmed } else if keyNames[key] == "label" || keyNames[key] == "Network" {
                    graph.name = graph.name ?? trimmed
                }
            }
            dataKey = nil
        case "node", "edge":
            guard let e = element else { return }
            element = nil
            if name == "node" {
                guard let id = e.attributes["id"] else { return fail(TopologyDiagnostic(at: e.at, "GraphML: a <node> without an id")) }
                graph.nodes.append(.init(id: id, label: e.data["label"], latitude: e.data["Latitude"].flatMap(Double.init),
                                         longitude: e.data["Longitude"].flatMap(Double.init), location: e.at))
            } else {
                guard let s = e.attributes["source"], let t = e.attributes["target"] else {
                    return fail(TopologyDiagnostic(at: e.at, "GraphML: an <edge> needs source and target"))
                }
                graph.edges.append(.init(source: s, target: t, capacity: e.data["LinkSpeedRaw"].flatMap(Double.init),
                                         distanceKilometers: e.data["dist"].flatMap(Double.init), location: e.at))
            }
        default:
            break
        }
    }

    /// libxml2 recovers from some malformed XML and carries on; a graph read
    /// from a broken file is not trusted, so the first error is the answer.
    func parser(_ parser: XMLParser, parseErrorOccurred parseError: Error) {
        fail(TopologyDiagnostic(at: here, "GraphML: not well-formed XML (\(parseError.localizedDescription))"))
    }

    private func fail(_ d: TopologyDiagnostic) {
        failure = failure ?? d
        parser?.abortParsing()
    }
}

// MARK: networkx node-link JSON

/// networkx's node-link JSON as the `topohub` package ships it: nodes with
/// `id`, `name` and `pos` [longitude, latitude]; `edges` (or `links`) with
/// `source`, `target` and `dist` in km. JSON has no line numbers here, so
/// errors name the element instead.
enum NodeLinkJSONReader {
    static func read(_ data: Data, file: String) throws -> ImportedGraph {
        let start = SourceLocation(file: file, line: 1, column: 1)
        let root: Any
        do { root = try JSONSerialization.jsonObject(with: data) } catch {
            throw TopologyDiagnostic(at: start, "JSON: \(error.localizedDescription)")
        }
        guard let object = root as? [String: Any], let nodes = object["nodes"] as? [[String: Any]],
              let edges = (object["edges"] ?? object["links"]) as? [[String: Any]] else {
            throw TopologyDiagnostic(at: start, "JSON: expected networkx node-link data: an object with 'nodes' and 'edges' (or 'links') lists")
        }
        func text(_ v: Any?) -> String? {
            if let s = v as? String { return s }
            if let n = v as? NSNumber { return n.stringValue }
            return nil
        }
        var g = ImportedGraph()
        g.name = (object["graph"] as? [String: Any]).flatMap { text($0["name"]) }
        for (k, n) in nodes.enumerated() {
            guard let id = text(n["id"]) else { throw TopologyDiagnostic(at: start, "JSON: node #\(k + 1) has no 'id'") }
            let pos = n["pos"] as? [Double]
            g.nodes.append(.init(id: id, label: text(n["name"]) ?? text(n["label"]),
                                 latitude: pos.flatMap { $0.count == 2 ? $0[1] : nil } ?? (n["Latitude"] as? Double),
                                 longitude: pos.flatMap { $0.count == 2 ? $0[0] : nil } ?? (n["Longitude"] as? Double),
                                 location: start))
        }
        for (k, e) in edges.enumerated() {
            guard let s = text(e["source"]), let t = text(e["target"]) else {
                throw TopologyDiagnostic(at: start, "JSON: edge #\(k + 1) needs 'source' and 'target'")
            }
            g.edges.append(.init(source: s, target: t, capacity: (e["capacity"] as? Double) ?? (e["LinkSpeedRaw"] as? Double),
                                 distanceKilometers: e["dist"] as? Double, location: start))
        }
        return g
    }
}
