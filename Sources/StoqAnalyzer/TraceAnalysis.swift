import Foundation

/// One pass of accumulators over a trace file. Each line goes only to the
/// accumulators that read its kind; probe and transfer lines, the bulk of a
/// big trace, go straight from their bytes into `ProbeAccumulator` and
/// `TransferAccumulator` without a `TraceRecord` or `String` per line.
///
/// Large traces are read in parallel: after the static description at the
/// top (run, links, nodes), the file is split at line boundaries into one
/// segment per thread; each thread folds the probe and transfer lines of its
/// segment into its own accumulators, and one more thread takes every other
/// line, in order, to the other accumulators. The segments' accumulators then
/// merge in file order (first-seen group order, HDR histograms bucket by
/// bucket), so the summary is exactly the one a single pass gives.
struct TraceAnalysis {
    static var defaultThreads: Int { ProcessInfo.processInfo.activeProcessorCount }
    /// Below this, threads cost more than they save.
    static let parallelFromBytes = 32 << 20

    /// The fast paths, when the accumulator is the only one reading its kind.
    let probes: ProbeAccumulator?
    let transfers: TransferAccumulator?
    /// Everything else, each with the kinds it reads.
    let others: [(kinds: TraceRecord.Kinds, accumulator: TraceAccumulator)]

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

        // Every other line, in order, on its own thread; it also counts the
        // probe and transfer lines as records and notices a description
        // record among the events (the segments could not have seen it).
        var restFailure: Error?
        var lateDescription = false, outOfOrder = false
        let group = DispatchGroup()
        Self.spawn(group) {
            var parser = FlatJSONObject()
            do {
                _ = try file.forEachLine(in: eventsStart..<file.size) { line, index in
                    let lineNumber = prefixLines + index + 1
                    var kind = TraceRecord.quickKind(line)
                    if kind == nil {
                        guard parser.parse(line) else {
                            throw TraceRecord.DecodeError(line: lineNumber, message: "not a JSON object")
                        }
                        kind = TraceRecord.kind(of: parser)
                    } else if kind != .probe, kind != .transfer, !parser.parse(line) {
                        throw TraceRecord.DecodeError(line: lineNumber, message: "not a JSON object")
                    }
                    if kind == .probe || kind == .transfer {
                        context.count(records: 1)
                        return true
                    }
                    if let kind, TraceRecord.Kinds.description.contains(kind) { lateDescription = true }
                    guard let record = try TraceRecord.decode(fields: TraceRecord.Fields(json: parser, line: lineNumber)) else {
                        return true
                    }
                    context.observe(record)
                    let decoded = record.kind
                    if decoded == .probe || decoded == .transfer {
                        // Its type is escaped, so the segments skipped it: fold in order instead.
                        outOfOrder = true
                        return true
                    }
                    for o in others where o.kinds.contains(decoded) { o.accumulator.consume(record, context: context) }
                    return true
                }
            } catch {
                restFailure = error
            }
        }
        for segment in segments {
            Self.spawn(group) { Self.fold(segment, of: file, context: snapshot.copyForSegment()) }
        }
        group.wait()

        if let failure = try firstFailure(segments, prefixLines: prefixLines, rest: restFailure) { throw failure }
        if lateDescription || outOfOrder {
            // Nodes or links listed after the first event (segments resolved
            // pairs without them), or a probe the segments could not see:
            // take probes and transfers again in one ordered pass.
            try refoldInOrder(file)
            return
        }
        for segment in segments {
            if let p = segment.probes { probes!.absorb(p, context: snapshot) }
            if let t = segment.transfers { transfers!.absorb(t) }
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

    /// One segment's probe and transfer lines into its own accumulators.
    private static func fold(_ segment: Segment, of file: TraceFile, context: AnalysisContext) {
        var parser = FlatJSONObject()
        var current = 0
        do {
            segment.lines = try file.forEachLine(in: segment.range) { line, index in
                current = index
                let kind = TraceRecord.quickKind(line) ?? (parser.parse(line) ? TraceRecord.kind(of: parser) : nil)
                guard kind == .probe || kind == .transfer else { return true }
                guard parser.parse(line) else { throw TraceRecord.DecodeError(line: index + 1, message: "not a JSON object") }
                let fields = TraceRecord.Fields(json: parser, line: index + 1)
                if kind == .probe, let p = segment.probes { try p.consume(parsed: fields, context: context) }
                if kind == .transfer, let t = segment.transfers { try t.consume(parsed: fields) }
                return true
            }.lines
        } catch {
            segment.failure = (error, current)
        }
    }

    /// The error a single pass would have stopped at: the one on the earliest line.
    private func firstFailure(_ segments: [Segment], prefixLines: Int, rest: Error?) throws -> Error? {
        var linesBefore = prefixLines
        var first: Error?
        for s in segments {
            if let f = s.failure {
                if var d = f.error as? TraceRecord.DecodeError {
                    d.line = linesBefore + f.lineIndex + 1
                    first = d
                } else {
                    first = f.error
                }
                break
            }
            linesBefore += s.lines
        }
        guard let rest else { return first }
        guard let segmentError = first as? TraceRecord.DecodeError, let restError = rest as? TraceRecord.DecodeError else {
            return first ?? rest
        }
        return segmentError.line < restError.line ? segmentError : restError
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
