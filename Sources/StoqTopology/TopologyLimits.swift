/// How large a topology may get before it is refused with a located error
/// instead of exhausting memory or time. The defaults fit every bundled and
/// generated topology many times over; a file raises the model limits with a
/// top-level `limits:` mapping, and `--limit KEY=N` on the command line raises
/// any of them (the YAML ones only there: they apply before the file is read).
/// Documented in docs/topology-format.md, "Limits".
public struct TopologyLimits: Sendable, Equatable {
    /// Size of the topology file itself.
    public var fileBytes = 64 << 20
    /// Nesting of YAML collections (a topology needs about six).
    public var yamlDepth = 64
    /// YAML values after expanding aliases (an alias bomb is tiny on disk).
    public var yamlValues = 4_000_000
    /// Bytes in one site, node or workload name.
    public var nameBytes = 255
    /// Nodes after `count` is stamped out.
    public var nodes = 100_000
    /// Links, after uplinks of stamped nodes and backbone meshes are expanded.
    public var links = 1_000_000
    /// Entries under `workloads:`.
    public var workloads = 10_000
    /// (from, to) pairs one workload selects.
    public var pairs = 1_000_000
    /// Bytes of content one publish workload generates and holds in memory
    /// (objects × size, or its pool of shared blocks).
    public var contentBytes = 16 << 30

    /// Keys given on the command line: a file's `limits:` does not override them.
    public private(set) var setOnCommandLine: Set<String> = []

    public init() {}

    public static let standard = TopologyLimits()

    /// The keys of `--limit KEY=N` and of the `limits:` mapping, with their fields.
    public static let fields: [(key: String, path: WritableKeyPath<TopologyLimits, Int>)] = [
        ("file-bytes", \.fileBytes), ("yaml-depth", \.yamlDepth), ("yaml-values", \.yamlValues),
        ("name-bytes", \.nameBytes), ("nodes", \.nodes), ("links", \.links), ("workloads", \.workloads), ("pairs", \.pairs),
        ("content-bytes", \.contentBytes),
    ]
    public static var keys: [String] { fields.map(\.key) }
    /// The keys a topology file may raise: the others apply before it is read.
    public static let fileKeys = ["name-bytes", "nodes", "links", "workloads", "pairs", "content-bytes"]

    public subscript(key: String) -> Int? {
        get { Self.fields.first { $0.key == key }.map { self[keyPath: $0.path] } }
        set {
            guard let newValue, let field = Self.fields.first(where: { $0.key == key }) else { return }
            self[keyPath: field.path] = newValue
        }
    }

    public struct BadAssignment: Error, CustomStringConvertible {
        public var description: String
    }

    /// Applies `KEY=N` (from `--limit`); N takes `_` separators.
    public mutating func apply(_ assignment: String) throws {
        let parts = assignment.split(separator: "=", maxSplits: 1).map(String.init)
        guard parts.count == 2, self[parts[0]] != nil else {
            throw BadAssignment(description: "--limit takes KEY=N with KEY one of \(Self.keys.joined(separator: ", ")); got '\(excerpt(assignment))'")
        }
        guard let n = Int(parts[1].replacingOccurrences(of: "_", with: "")), n >= 1 else {
            throw BadAssignment(description: "--limit \(parts[0]) needs a whole number ≥ 1; got '\(excerpt(parts[1]))'")
        }
        self[parts[0]] = n
        setOnCommandLine.insert(parts[0])
    }
}
