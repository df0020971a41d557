import Foundation

/// Routes as JSON objects or CSV rows, written straight as bytes:
/// `stoqsim route` writes all n·(n−1) pairs (10^6 for 1,000 nodes, ~350 MB
/// of JSON), so nothing here builds a `String` per pair.
public struct RouteRowWriter: Sendable {
    public enum Format: Sendable { case json, csv }

    public static let csvHeader = "from,to,path,latency_us,hops,bottleneck_bps,stretch\n"

    public let graph: RoutingGraph
    public let format: Format
    /// Each node's name as it goes into a row: quoted and escaped for JSON, as is for CSV.
    private let names: [[UInt8]]

    public init(graph: RoutingGraph, format: Format) {
        self.graph = graph
        self.format = format
        names = (0..<Int32(graph.nodeCount)).map { i in
            let name = graph.name(ofNode: i)
            return format == .json ? JSONText.quoted(name) : Array(name.utf8)
        }
    }

    /// Appends one pair's row (JSON: no separator or newline; CSV: with its newline).
    public func append(from s: Int32, to d: Int32, route r: Route?, to out: inout [UInt8]) {
        switch format {
        case .json:
            out.append(contentsOf: #"{"from":"#.utf8); out.append(contentsOf: names[Int(s)])
            out.append(contentsOf: #","to":"#.utf8); out.append(contentsOf: names[Int(d)])
            guard let r else {
                out.append(contentsOf: #","path":null,"latency_us":null,"hops":null,"bottleneck_bps":null,"stretch":null}"#.utf8)
                return
            }
            out.append(contentsOf: #","path":["#.utf8)
            for (i, n) in r.nodes.enumerated() {
                if i > 0 { out.append(0x2c) }
                out.append(contentsOf: names[Int(n)])
            }
            out.append(contentsOf: #"],"latency_us":"#.utf8); Decimal3.appendMicroseconds(r.latency, to: &out)
            out.append(contentsOf: #","hops":"#.utf8); Decimal3.appendInteger(UInt64(r.hops), to: &out)
            out.append(contentsOf: #","bottleneck_bps":"#.utf8)
            if r.hops == 0 { out.append(contentsOf: "null".utf8) } else { Decimal3.appendInteger(r.bottleneck, to: &out) }
            out.append(contentsOf: #","stretch":"#.utf8)
            if let st = r.stretch { Decimal3.appendFixed4(st, to: &out) } else { out.append(contentsOf: "null".utf8) }
            out.append(0x7d)
        case .csv:
            out.append(contentsOf: names[Int(s)]); out.append(0x2c)
            out.append(contentsOf: names[Int(d)]); out.append(0x2c)
            guard let r else { out.append(contentsOf: ",,,,\n".utf8); return }
            for (i, n) in r.nodes.enumerated() {
                if i > 0 { out.append(0x20) }
                out.append(contentsOf: names[Int(n)])
            }
            out.append(0x2c); Decimal3.appendMicroseconds(r.latency, to: &out)
            out.append(0x2c); Decimal3.appendInteger(UInt64(r.hops), to: &out)
            out.append(0x2c); if r.hops > 0 { Decimal3.appendInteger(r.bottleneck, to: &out) }
            out.append(0x2c); if let st = r.stretch { Decimal3.appendFixed4(st, to: &out) }
            out.append(0x0a)
        }
    }
}

/// The whole matrix, every ordered pair of distinct nodes, source-major: a
/// JSON array (one object per line) or CSV with a header. Rows are formatted
/// on all cores, a batch of sources at a time, and handed to the sink in order.
public struct RoutingMatrixOutput {
    public let tables: ForwardingTables
    public let writer: RouteRowWriter

    public init(tables: ForwardingTables, format: RouteRowWriter.Format) {
        self.tables = tables
        writer = RouteRowWriter(graph: tables.graph, format: format)
    }

    public var pairs: Int { tables.rowLength * max(tables.rowLength - 1, 0) }

    /// Calls `sink` with consecutive pieces of the output, and `progress`
    /// with the pairs written so far after each piece.
    public func write(threads: Int = ProcessInfo.processInfo.activeProcessorCount,
                      to sink: (UnsafeRawBufferPointer) throws -> Void,
                      progress: (Int) -> Void = { _ in }) throws {
        let n = tables.rowLength
        let json = writer.format == .json
        try Self.emit(Array((json ? "[\n" : RouteRowWriter.csvHeader).utf8), sink)
        // About 4 MiB of rows per block (JSON rows run ~350 bytes), several blocks per batch.
        let sourcesPerBlock = max(1, (4 << 20) / max(1, 350 * n))
        let blocksPerBatch = max(1, threads) * 2
        var blocks = [[UInt8]](repeating: [], count: blocksPerBatch)
        var source = 0
        var done = 0
        while source < n {
            let batchStart = source
            let tables = self.tables, writer = self.writer
            blocks.withUnsafeMutableBufferPointer { out in
                DispatchQueue.concurrentPerform(iterations: blocksPerBatch) { b in
                    let lo = batchStart + b * sourcesPerBlock, hi = min(n, lo + sourcesPerBlock)
                    out[b].removeAll(keepingCapacity: true)
                    guard lo < hi else { return }
                    for s in Int32(lo)..<Int32(hi) {
                        for d in 0..<Int32(n) where d != s {
                            // Every row but the very first (0 → 1) follows a separator.
                            if json, s != 0 || d != 1 { out[b].append(0x2c); out[b].append(0x0a) }
                            writer.append(from: s, to: d, route: tables.route(from: s, to: d), to: &out[b])
                        }
                    }
                }
            }
            source = min(n, batchStart + blocksPerBatch * sourcesPerBlock)
            for block in blocks where !block.isEmpty { try Self.emit(block, sink) }
            done = source * max(n - 1, 0)
            progress(done)
        }
        if json { try Self.emit(Array("\n]\n".utf8), sink) }
    }

    private static func emit(_ bytes: [UInt8], _ sink: (UnsafeRawBufferPointer) throws -> Void) throws {
        try bytes.withUnsafeBytes { try sink($0) }
    }
}

/// JSON string literals as bytes.
enum JSONText {
    static func quoted(_ s: String) -> [UInt8] {
        var out: [UInt8] = [0x22]
        for b in s.utf8 {
            switch b {
            case 0x22: out += [0x5c, 0x22]
            case 0x5c: out += [0x5c, 0x5c]
            case 0x0a: out += [0x5c, 0x6e]
            case 0x0d: out += [0x5c, 0x72]
            case 0x09: out += [0x5c, 0x74]
            case ..<0x20: out += Array(String(format: "\\u%04x", b).utf8)
            default: out.append(b)
            }
        }
        out.append(0x22)
        return out
    }
}

/// Numbers as decimal text without going through `String`.
enum Decimal3 {
    static func appendInteger(_ v: UInt64, to out: inout [UInt8]) {
        if v < 10 { out.append(0x30 + UInt8(v)); return }
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 20) { buf in
            var i = 20, x = v
            while x > 0 { i -= 1; buf[i] = 0x30 + UInt8(x % 10); x /= 10 }
            out.append(contentsOf: UnsafeBufferPointer(rebasing: buf[i..<20]))
        }
    }

    /// Nanoseconds as microseconds with three decimals, exactly ("12.345").
    static func appendMicroseconds(_ ns: Int64, to out: inout [UInt8]) {
        if ns < 0 { out.append(0x2d) }
        let m = ns.magnitude
        appendInteger(m / 1000, to: &out)
        let frac = m % 1000
        out.append(0x2e)
        out.append(0x30 + UInt8(frac / 100)); out.append(0x30 + UInt8(frac / 10 % 10)); out.append(0x30 + UInt8(frac % 10))
    }

    /// `x` with four decimals, the text `String(format: "%.4f", x)` gives.
    /// Scaling by 10^4 and rounding agrees with printf's exact rounding
    /// except within a hair of a tie; there, and for large or odd values,
    /// printf itself decides.
    static func appendFixed4(_ x: Double, to out: inout [UInt8]) {
        let scaled = x * 10_000
        let rounded = scaled.rounded(.toNearestOrEven)
        if x.isFinite, x >= 0, scaled < 1e15, abs(abs(scaled - rounded) - 0.5) > 1e-6 {
            let v = UInt64(rounded)
            appendInteger(v / 10_000, to: &out)
            out.append(0x2e)
            var frac = v % 10_000, div: UInt64 = 1000
            for _ in 0..<4 { out.append(0x30 + UInt8(frac / div)); frac %= div; div /= 10 }
            return
        }
        out.append(contentsOf: String(format: "%.4f", x).utf8)
    }
}
