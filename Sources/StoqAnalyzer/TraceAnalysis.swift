import Foundation

/// One pass of accumulators over a trace file. Each line goes only to the
/// accumulators that read its kind; probe and transfer lines, the bulk of a
/// big trace, go straight from their bytes into `ProbeAccumulator` and
/// `TransferAccumulator` without a `TraceRecord` or `String` per line.
///
/// Large traces are read in parallel: after the static description at the
/// top (run, links, nodes), the file is split at line boundaries into one
/// segment per thread; each thread folds the probe and transfer lines of its
/// segment into its own accumulators and keeps a copy of every other line
/// (few: they are the events that are not per packet). After the join those
/// lines go, in file order, to the other accumulators, and the segments'
/// accumulators merge in file order (first-seen group order, HDR histograms
/// bucket by bucket), so the summary is exactly the one a single pass gives.
/// (A third thread that read the whole file again for the other lines
/// competed with the segments for the cores.)
struct TraceAnalysis {
    static var defaultThreads: Int { ProcessInfo.processInfo.activeProcessorCount }
    /// Below this, threads cost more than they save.
    static let parallelFromBytes = 32 << 20

    /// The fast paths, when the accumulator is the only one reading its kind.
    let probes: ProbeAccumulator?
    let transfers: TransferAccumulator?
    /// Everything else, each with the kinds it reads.
    let others: [(kinds: TraceRecord.Kinds, accumulator: TraceAccumulator)]
    /// Bounds the memory each segment's copies of the other lines take.
    var otherBytesLimit = 16 << 20

    init(_ accumulators: [TraceAccumulator]) {
        func only<A>(_ kind: TraceRecord.Kinds, _: A.Type) -> A? {
            let readers = accumulators.filter { $0.recordKinds.contains(kind) }
            return readers.count == 1 ? readers[0] as? A : nil
        }
        let probes = only(.probe, ProbeAccumulator.self), transfers = only(.transfer, TransferAccumulator.self)
        self.probes = probes
        self.transfers = transfers
        others = accumulators.filter { $0 !== probes && $0 !== transfers }.map { ($0.recordKinds, $0) }
    }

    /// Runs the pass; returns the context (header, end, nodes, record count)
    /// and whether segments were read in parallel.
    func run(path: String, threads: Int, parallelFromBytes: Int) throws -> (context: AnalysisContext, parallel: Bool) {
        let file = try TraceFile(path: path)
        let context = AnalysisContext()
        let parallel = threads > 1 && file.size != Int.max && file.size >= parallelFromBytes && (probes != nil || transfers != nil)
            && !others.contains { !$0.kinds.isDisjoint(with: [.probe, .transfer]) }
        if parallel {
            try runParallel(file, context: context, threads: threads)
        } else {
            var parser = FlatJSONObject()
            _ = try file.forEachLine(in: 0..<file.size) { line, index in
                try handle(line, lineNumber: index + 1, parser: &parser, context: context)
                return true
            }
        }
        return (context, parallel)
    }

    /// One line of a single pass: every kind, fast paths included.
    @inline(__always)
    private func handle(_ line: UnsafeBufferPointer<UInt8>, lineNumber: Int, parser: inout FlatJSONObject,
                        context: AnalysisContext) throws {
        if Self.consumeWritten(line, probes: probes, transfers: transfers, context: context) {
            context.count(records: 1)
            return
        }
        guard parser.parse(line) else { throw TraceRecord.DecodeError(line: lineNumber, message: "not a JSON object") }
        let fields = TraceRecord.Fields(json: parser, line: lineNumber)
        switch TraceRecord.kind(of: parser) {
        case .probe? where probes != nil:
            try probes!.consume(parsed: fields, context: context)
            context.count(records: 1)
        case .transfer? where transfers != nil:
            try transfers!.consume(parsed: fields)
            context.count(records: 1)
        default:
            try decodeForOthers(fields, context: context)
        }
    }

    /// A probe or transfer line in the writer's form, read without parsing it
    /// (see `WrittenForm`: the form includes the `type`, so no kind is looked
    /// up first); false when it is not one (then find its kind and parse it).
    @inline(__always)
    private static func consumeWritten(_ line: UnsafeBufferPointer<UInt8>, probes: ProbeAccumulator?,
                                       transfers: TransferAccumulator?, context: AnalysisContext) -> Bool {
        if let probes, probes.consume(written: line, context: context) { return true }
        if let transfers, transfers.consume(written: line) { return true }
        return false
    }

    /// Decodes a line the fast paths do not take and hands it to the accumulators
    /// reading its kind. Returns the record's kind (nil for unknown types).
    @inline(__always) @discardableResult
    private func decodeForOthers(_ fields: TraceRecord.Fields, context: AnalysisContext) throws -> TraceRecord.Kinds? {
        guard let record = try TraceRecord.decode(fields: fields) else { return nil }
        context.observe(record)
        let kind = record.kind
        for o in others where o.kinds.contains(kind) { o.accumulator.consume(record, context: context) }
        // A probe or transfer whose type the fast check missed (written with escapes).
        if kind == .probe { probes?.consume(record, context: context) }
        if kind == .transfer { transfers?.consume(record, context: context) }
        return kind
    }

    // MARK: Parallel

    /// What one segment's thread produced.
    private final class Segment {
        let range: Range<Int>
        let probes: ProbeAccumulator?
        let transfers: TransferAccumulator?
        var lines = 0
        /// Probe and transfer lines folded.
        var records: UInt64 = 0
        /// Every other line (and any that does not parse), copied in order for
        /// the ordered pass after the join: its bytes, and each line's index
        /// in the segment and end in `otherBytes`. Past `otherBytesLimit` the
        /// copies stop and that pass reads the segment again instead.
        var otherBytes: [UInt8] = []
        var otherLines: [(index: Int, end: Int)] = []
        var othersOverflowed = false
        /// The first error, with the index of its line within the segment.
        var failure: (error: Error, lineIndex: Int)?
        init(range: Range<Int>, probes: Bool, transfers: Bool) {
            self.range = range
            self.probes = probes ? ProbeAccumulator() : nil
            self.transfers = transfers ? TransferAccumulator() : nil
        }
    }


    private func runParallel(_ file: TraceFile, context: AnalysisContext, threads: Int) throws {
        // The description at the top, in this thread: the segments need the nodes.
        var parser = FlatJSONObject()
        let (prefixLines, eventsStart) = try file.forEachLine(in: 0..<file.size) { line, index in
            let kind = TraceRecord.quickKind(line) ?? (parser.parse(line) ? TraceRecord.kind(of: parser) : nil)
            guard let kind, TraceRecord.Kinds.description.contains(kind) else { return false }
            try handle(line, lineNumber: index + 1, parser: &parser, context: context)
            return true
        }
        var bounds = [eventsStart]
        for i in 1..<threads {
            bounds.append(max(bounds.last!, try file.lineStart(atOrAfter: eventsStart + (file.size - eventsStart) * i / threads)))
        }
        bounds.append(file.size)
        let segments = (0..<threads).map {
            Segment(range: bounds[$0]..<bounds[$0 + 1], probes: probes != nil, transfers: transfers != nil)
        }
        let snapshot = context.copyForSegment()
        let group = DispatchGroup()
        for segment in segments {
            Self.spawn(group) { [otherBytesLimit] in
                Self.fold(segment, of: file, context: snapshot.copyForSegment(), otherBytesLimit: otherBytesLimit)
            }
        }
        group.wait()

        // Every other line, in file order, in this thread; it also notices a
        // description record among the events (the segments resolved pairs
        // without it) and a probe or transfer whose type is escaped (the
        // segments could not see it).
        var ordered = OrderedPass(others: others, context: context)
        var linesBefore = prefixLines
        for segment in segments {
            do {
                try ordered.run(segment, of: file, linesBefore: linesBefore)
            } catch let error as TraceRecord.DecodeError {
                // An error on an earlier line of the segment's own wins.
                if let f = segment.failure, f.lineIndex + linesBefore + 1 < error.line { throw renumbered(f, linesBefore) }
                throw error
            }
            if let f = segment.failure { throw renumbered(f, linesBefore) }
            context.count(records: segment.records)
            linesBefore += segment.lines
        }
        if ordered.lateDescription || ordered.outOfOrder {
            // Take probes and transfers again in one ordered pass.
            try refoldInOrder(file)
            return
        }
        for segment in segments {
            if let p = segment.probes { probes!.absorb(p, context: snapshot) }
            if let t = segment.transfers { transfers!.absorb(t) }
        }
    }

    /// A segment's error with its line numbered in the whole file.
    private func renumbered(_ f: (error: Error, lineIndex: Int), _ linesBefore: Int) -> Error {
        guard var d = f.error as? TraceRecord.DecodeError else { return f.error }
        d.line = linesBefore + f.lineIndex + 1
        return d
    }

    /// The lines the segments left, to the other accumulators in file order.
    private struct OrderedPass {
        let others: [(kinds: TraceRecord.Kinds, accumulator: TraceAccumulator)]
        let context: AnalysisContext
        var parser = FlatJSONObject()
        var lateDescription = false, outOfOrder = false

        init(others: [(kinds: TraceRecord.Kinds, accumulator: TraceAccumulator)], context: AnalysisContext) {
            self.others = others
            self.context = context
        }

        mutating func run(_ segment: Segment, of file: TraceFile, linesBefore: Int) throws {
            if !segment.othersOverflowed {
                var start = 0
                try segment.otherBytes.withUnsafeBufferPointer { bytes in
                    for (index, end) in segment.otherLines {
                        try handle(UnsafeBufferPointer(rebasing: bytes[start..<end]), lineNumber: linesBefore + index + 1)
                        start = end
                    }
                }
                return
            }
            // The copies overflowed: read the segment again, up to where its thread stopped.
            let stop = segment.failure?.lineIndex ?? Int.max
            _ = try file.forEachLine(in: segment.range) { line, index in
                guard index < stop else { return false }
                if let kind = TraceRecord.quickKind(line), kind == .probe || kind == .transfer { return true }
                if parser.parse(line), let kind = TraceRecord.kind(of: parser), kind == .probe || kind == .transfer { return true }
                try handle(line, lineNumber: linesBefore + index + 1)
                return true
            }
        }

        private mutating func handle(_ line: UnsafeBufferPointer<UInt8>, lineNumber: Int) throws {
            guard parser.parse(line) else { throw TraceRecord.DecodeError(line: lineNumber, message: "not a JSON object") }
            if let kind = TraceRecord.kind(of: parser), TraceRecord.Kinds.description.contains(kind) { lateDescription = true }
            guard let record = try TraceRecord.decode(fields: TraceRecord.Fields(json: parser, line: lineNumber)) else { return }
            context.observe(record)
            let kind = record.kind
            if kind == .probe || kind == .transfer {
                outOfOrder = true
                return
            }
            for o in others where o.kinds.contains(kind) { o.accumulator.consume(record, context: context) }
        }
    }

    private static func spawn(_ group: DispatchGroup, _ body: @escaping () -> Void) {
        group.enter()
        let thread = Thread {
            body()
            group.leave()
        }
        thread.stackSize = 1 << 20
        thread.start()
    }

    /// One segment's probe and transfer lines into its own accumulators; the
    /// other lines are kept for the ordered pass.
    private static func fold(_ segment: Segment, of file: TraceFile, context: AnalysisContext, otherBytesLimit: Int) {
        var parser = FlatJSONObject()
        var current = 0
        do {
            segment.lines = try file.forEachLine(in: segment.range) { line, index in
                current = index
                if consumeWritten(line, probes: segment.probes, transfers: segment.transfers, context: context) {
                    segment.records += 1
                    return true
                }
                let kind = TraceRecord.quickKind(line) ?? (parser.parse(line) ? TraceRecord.kind(of: parser) : nil)
                guard kind == .probe || kind == .transfer else {
                    keepOther(line, index: index, in: segment, limit: otherBytesLimit)
                    return true
                }
                guard parser.parse(line) else { throw TraceRecord.DecodeError(line: index + 1, message: "not a JSON object") }
                let fields = TraceRecord.Fields(json: parser, line: index + 1)
                if kind == .probe, let p = segment.probes { try p.consume(parsed: fields, context: context) }
                if kind == .transfer, let t = segment.transfers { try t.consume(parsed: fields) }
                segment.records += 1
                return true
            }.lines
        } catch {
            segment.failure = (error, current)
        }
    }

    private static func keepOther(_ line: UnsafeBufferPointer<UInt8>, index: Int, in segment: Segment, limit: Int) {
        guard !segment.othersOverflowed else { return }
        guard segment.otherBytes.count + line.count <= limit else {
            segment.othersOverflowed = true
            segment.otherBytes = []
            segment.otherLines = []
            return
        }
        segment.otherBytes.append(contentsOf: line)
        segment.otherLines.append((index, segment.otherBytes.count))
    }

    /// Probes and transfers in one ordered pass, with the description as it
    /// comes (the fallback for traces that list nodes after events).
    private func refoldInOrder(_ file: TraceFile) throws {
        let context = AnalysisContext()
        var parser = FlatJSONObject()
        _ = try file.forEachLine(in: 0..<file.size) { line, index in
            guard parser.parse(line) else { return true }
            let fields = TraceRecord.Fields(json: parser, line: index + 1)
            let kind = TraceRecord.kind(of: parser)
            if kind == .probe {
                try probes?.consume(parsed: fields, context: context)
            } else if kind == .transfer {
                try transfers?.consume(parsed: fields)
            } else if kind == nil || TraceRecord.Kinds.description.contains(kind!), let record = try TraceRecord.decode(fields: fields) {
                context.observe(record)
                if case .probe = record { probes?.consume(record, context: context) }
                if case .transfer = record { transfers?.consume(record, context: context) }
            }
            return true
        }
    }
}
