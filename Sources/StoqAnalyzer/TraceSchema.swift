/// The trace schema, stated once: each record kind lists its fields, in the
/// order a line has them, in one `fields(_:)` method. The writer runs it with
/// `JSONLine` (reads each value), the reader with `TraceRecord.Fields` (writes
/// each value from the parsed line) and the docs check with `TraceFieldLister`
/// (collects the keys). All three are specialised per record kind; writing a
/// line costs no more than the hand-written `j.add` sequences did (callgrind
/// counts in the commit that made it so).
protocol TraceRecordFields {
    /// Placeholder values (the properties' defaults), overwritten field by field when a line is decoded.
    init()
    mutating func fields<Coder: TraceFieldCoder>(_ c: inout Coder) throws
}

/// What a record's `fields(_:)` runs with: each call names one field and the
/// stored value it is read from (writing) or written to (reading).
protocol TraceFieldCoder {
    /// Where the `type` key goes in the line (the reader has dispatched on it already).
    mutating func type(_ name: StaticString) throws
    mutating func field(_ key: StaticString, _ v: inout String) throws
    mutating func field(_ key: StaticString, _ v: inout Int64) throws
    mutating func field(_ key: StaticString, _ v: inout Int) throws
    mutating func field(_ key: StaticString, _ v: inout UInt64) throws
    mutating func field(_ key: StaticString, _ v: inout Bool) throws
    /// Printed with `digits` significant digits.
    mutating func field(_ key: StaticString, _ v: inout Double, digits: Int) throws
    /// Optionals are written as `null` when nil; missing or `null` read as nil.
    mutating func field(_ key: StaticString, _ v: inout Int64?) throws
    mutating func field(_ key: StaticString, _ v: inout Int?) throws
    mutating func field(_ key: StaticString, _ v: inout Double?) throws
    mutating func field(_ key: StaticString, _ v: inout String?) throws
    /// Left out of the line when nil (fields added to a record after traces without them existed).
    mutating func omittedWhenNil(_ key: StaticString, _ v: inout String?) throws
    mutating func omittedWhenNil(_ key: StaticString, _ v: inout UInt64?) throws
    /// Names written as one comma-separated string.
    mutating func field(_ key: StaticString, commaSeparated v: inout [String]) throws
    /// A JSON array of integers (a time series).
    mutating func field(_ key: StaticString, integers v: inout [Int64]) throws
    /// A link or node name under the key `node` when `isNode`, else `link`.
    mutating func linkOrNode(_ target: inout String, isNode: inout Bool) throws
    /// The run header's `schema`: written as `TraceRecord.schemaVersion`, refused when newer.
    mutating func schemaVersion() throws
}

extension TraceRecordFields {
    /// The record of a parsed line whose `type` named this kind.
    init(decoding f: TraceRecord.Fields) throws {
        self.init()
        var reader = f
        try fields(&reader)
    }
}

// MARK: Writing

extension JSONLine: TraceFieldCoder {
    mutating func type(_ name: StaticString) { add("type", constant: name) }
    mutating func field(_ key: StaticString, _ v: inout String) { add(key, v) }
    mutating func field(_ key: StaticString, _ v: inout Int64) { add(key, v) }
    mutating func field(_ key: StaticString, _ v: inout Int) { add(key, v) }
    mutating func field(_ key: StaticString, _ v: inout UInt64) { add(key, v) }
    mutating func field(_ key: StaticString, _ v: inout Bool) { add(key, v) }
    mutating func field(_ key: StaticString, _ v: inout Double, digits: Int) { add(key, v, digits: digits) }
    mutating func field(_ key: StaticString, _ v: inout Int64?) { if let v { add(key, v) } else { addNull(key) } }
    mutating func field(_ key: StaticString, _ v: inout Int?) { if let v { add(key, v) } else { addNull(key) } }
    mutating func field(_ key: StaticString, _ v: inout Double?) { if let v { add(key, v) } else { addNull(key) } }
    mutating func field(_ key: StaticString, _ v: inout String?) { if let v { add(key, v) } else { addNull(key) } }
    mutating func omittedWhenNil(_ key: StaticString, _ v: inout String?) { if let v { add(key, v) } }
    mutating func omittedWhenNil(_ key: StaticString, _ v: inout UInt64?) { if let v { add(key, v) } }
    mutating func field(_ key: StaticString, commaSeparated v: inout [String]) { add(key, v.joined(separator: ",")) }
    mutating func field(_ key: StaticString, integers v: inout [Int64]) { add(key, integers: v) }
    mutating func linkOrNode(_ target: inout String, isNode: inout Bool) { add(isNode ? "node" : "link", target) }
    mutating func schemaVersion() { add("schema", TraceRecord.schemaVersion) }
}

// MARK: Reading

extension TraceRecord.Fields: TraceFieldCoder {
    func type(_ name: StaticString) {}
    func field(_ key: StaticString, _ v: inout String) throws { v = try string(key) }
    func field(_ key: StaticString, _ v: inout Int64) throws { v = try int64(key) }
    func field(_ key: StaticString, _ v: inout Int) throws { v = try int(key) }
    func field(_ key: StaticString, _ v: inout UInt64) throws { v = try uint64(key) }
    func field(_ key: StaticString, _ v: inout Bool) throws { v = try bool(key) }
    func field(_ key: StaticString, _ v: inout Double, digits: Int) throws { v = try double(key) }
    func field(_ key: StaticString, _ v: inout Int64?) throws { v = try optionalInt64(key) }
    func field(_ key: StaticString, _ v: inout Int?) throws { v = try optionalInt64(key).map { Int($0) } }
    func field(_ key: StaticString, _ v: inout Double?) throws { v = try optionalDouble(key) }
    func field(_ key: StaticString, _ v: inout String?) throws { v = try optionalString(key) }
    func omittedWhenNil(_ key: StaticString, _ v: inout String?) throws { v = try optionalString(key) }
    func omittedWhenNil(_ key: StaticString, _ v: inout UInt64?) throws { v = try optionalCount(key) }
    func field(_ key: StaticString, commaSeparated v: inout [String]) throws {
        v = try string(key).split(separator: ",").map(String.init)
    }
    func field(_ key: StaticString, integers v: inout [Int64]) throws { v = try integers(key) }
    func linkOrNode(_ target: inout String, isNode: inout Bool) throws {
        isNode = has("node")
        target = try string(isNode ? "node" : "link")
    }
    func schemaVersion() throws {
        let schema = try int("schema")
        guard schema <= TraceRecord.schemaVersion else {
            throw TraceRecord.DecodeError(line: line, message: "trace schema \(schema) is newer than this stoqsim "
                                          + "(\(TraceRecord.schemaVersion)); upgrade stoqsim")
        }
    }
}

// MARK: Listing

/// The `type` and keys one record writes, in order (for the docs check and `TraceRecord.typeNames`).
struct TraceFieldLister: TraceFieldCoder {
    var type: StaticString = ""
    var keys: [String] = []

    mutating func type(_ name: StaticString) { type = name; keys.append("type") }
    private mutating func key(_ k: StaticString) { keys.append(k.description) }
    mutating func field(_ key: StaticString, _ v: inout String) { self.key(key) }
    mutating func field(_ key: StaticString, _ v: inout Int64) { self.key(key) }
    mutating func field(_ key: StaticString, _ v: inout Int) { self.key(key) }
    mutating func field(_ key: StaticString, _ v: inout UInt64) { self.key(key) }
    mutating func field(_ key: StaticString, _ v: inout Bool) { self.key(key) }
    mutating func field(_ key: StaticString, _ v: inout Double, digits: Int) { self.key(key) }
    mutating func field(_ key: StaticString, _ v: inout Int64?) { self.key(key) }
    mutating func field(_ key: StaticString, _ v: inout Int?) { self.key(key) }
    mutating func field(_ key: StaticString, _ v: inout Double?) { self.key(key) }
    mutating func field(_ key: StaticString, _ v: inout String?) { self.key(key) }
    mutating func omittedWhenNil(_ key: StaticString, _ v: inout String?) { self.key(key) }
    mutating func omittedWhenNil(_ key: StaticString, _ v: inout UInt64?) { self.key(key) }
    mutating func field(_ key: StaticString, commaSeparated v: inout [String]) { self.key(key) }
    mutating func field(_ key: StaticString, integers v: inout [Int64]) { self.key(key) }
    mutating func linkOrNode(_ target: inout String, isNode: inout Bool) { key(isNode ? "node" : "link") }
    mutating func schemaVersion() { key("schema") }
}

extension TraceRecord {
    /// One placeholder record of every shape a line can have, the most
    /// frequent kinds first (`typeNames` is scanned in this order).
    static let shapes: [TraceRecord] = {
        var nodeState = LinkStateChange(), nodeReconverged = Reconvergence()
        nodeState.isNode = true
        nodeReconverged.isNode = true
        return [
            .probe(.init()), .transfer(.init()), .content(.init()), .fetch(.init()), .certificate(.init()),
            .linkState(.init()), .linkState(nodeState), .reconverged(.init()), .reconverged(nodeReconverged),
            .route(.init()), .linkStats(.init()), .linkDedup(.init()), .cache(.init()), .publish(.init()), .exec(.init()),
            .realtime(.init()), .link(.init()), .node(.init()), .run(.init()), .end(.init()),
            .heldConnection(.init()), .connectionsPeak(.init()), .linkSeries(.init()), .transferSeries(.init()),
        ]
    }()

    /// The `type` and keys of this record's line.
    var fieldList: TraceFieldLister {
        var lister = TraceFieldLister()
        write(to: &lister)
        return lister
    }

    /// Each `type` name and its kind, the most frequent first.
    static let typeNames: [(name: StaticString, kind: Kinds)] = {
        var seen = Set<String>()
        return shapes.compactMap { r in
            let type = r.fieldList.type
            return seen.insert(type.description).inserted ? (type, r.kind) : nil
        }
    }()
}
