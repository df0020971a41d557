import ArgumentParser
import Foundation
import StoqDedup

struct ChunkFile: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chunk",
        abstract: "Split a file with FastCDC and print its chunk boundaries and IDs (SHA-256; --no-ids skips them).",
        discussion: """
        Sizes take an optional unit: 4096, 4K/4KiB, 1M/1MiB (powers of 1024). \
        --min/--avg/--max override the preset's values; avg must be a power of two.
        Presets: \(ChunkerParameters.presets.map { "\($0.name) (\($0.parameters))" }.joined(separator: "; ")).
        """)

    enum Format: String, ExpressibleByArgument, CaseIterable { case table, json }

    @Argument(help: "File to chunk.") var file: String
    @Option(help: "Preset: \(ChunkerParameters.presets.map(\.name).joined(separator: ", ")).") var preset: String = "default"
    @Option(help: "Minimum chunk size.") var min: String?
    @Option(help: "Target (normal) chunk size, a power of two.") var avg: String?
    @Option(help: "Maximum chunk size.") var max: String?
    @Option(help: "Normalization level 0...3.") var normalization: Int?
    @Option(help: "table or json.") var format: Format = .table
    @Flag(name: .customLong("no-ids"), help: "Boundaries only: no SHA-256 per chunk, so no ids and no dedup figures (what chunking alone costs).")
    var noIDs = false

    func parameters() throws -> ChunkerParameters {
        guard var p = ChunkerParameters.preset(named: preset) else {
            throw ValidationError("unknown preset '\(preset)'; available: \(ChunkerParameters.presets.map(\.name).joined(separator: ", "))")
        }
        if let min { p.minSize = try Self.parseSize(min, flag: "--min") }
        if let avg { p.avgSize = try Self.parseSize(avg, flag: "--avg") }
        if let max { p.maxSize = try Self.parseSize(max, flag: "--max") }
        if let normalization { p.normalization = normalization }
        do { try p.validate() } catch { throw ValidationError("bad chunk sizes: \(error)") }
        return p
    }

    static func parseSize(_ text: String, flag: String) throws -> Int {
        let units: [(String, Int)] = [("KiB", 1 << 10), ("MiB", 1 << 20), ("GiB", 1 << 30), ("K", 1 << 10), ("M", 1 << 20), ("G", 1 << 30)]
        var number = text, scale = 1
        for (suffix, s) in units where text.uppercased().hasSuffix(suffix.uppercased()) {
            number = String(text.dropLast(suffix.count)); scale = s; break
        }
        guard let n = Int(number), n > 0, n <= Int.max / scale else {
            throw ValidationError("\(flag) '\(text)' is not a size (examples: 4096, 64K, 1MiB)")
        }
        return n * scale
    }

    func run() throws {
        let params = try parameters()
        guard let handle = FileHandle(forReadingAtPath: file) else {
            printError("\(file): cannot open for reading (missing file or no permission)")
            throw ExitCode(badInputExitCode)
        }
        defer { try? handle.close() }
        var chunks: [Chunk] = []
        var boundaries: [ChunkBoundary] = []
        do {
            if let mapped = try? Data(contentsOf: URL(fileURLWithPath: file), options: .alwaysMapped) {
                // A regular file: mapped, chunked and hashed on all cores (same chunks as one core gives).
                mapped.withUnsafeBytes { bytes in
                    if noIDs { boundaries = FastCDC(params).boundaries(bytes) } else { chunks = FastCDC(params).chunks(bytes) }
                }
            } else {
                // A pipe or device: streamed in 4 MiB reads so it never has to fit in memory twice.
                // Without ids the hasher is a no-op and only the boundaries are kept.
                var chunker = StreamingChunker(params, hash: noIDs ? { _ in ChunkID(words: (0, 0, 0, 0)) } : ChunkHash.sha256)
                func keep(_ c: Chunk) {
                    if noIDs { boundaries.append(ChunkBoundary(offset: c.offset, length: c.length)) } else { chunks.append(c) }
                }
                while let data = try handle.read(upToCount: 4 << 20), !data.isEmpty {
                    data.withUnsafeBytes { chunker.feed($0) { c, _ in keep(c) } }
                }
                chunker.finish { c, _ in keep(c) }
            }
        } catch {
            printError("\(file): read failed: \(error.localizedDescription)")
            throw ExitCode.failure
        }

        let report = noIDs ? ChunkReport(file: file, parameters: params, boundaries: boundaries)
                           : ChunkReport(file: file, parameters: params, chunks: chunks)
        switch format {
        case .json:
            var json = try report.json()
            json.append(0x0A)
            FileHandle.standardOutput.write(json)
        case .table:
            let summary = report.summary
            var out = "\(file): FastCDC \(params)\n" + pad("offset", 12) + (noIDs ? "length\n" : pad("length", 10) + "id\n")
            out.reserveCapacity(out.utf8.count + report.chunks.count * 90)
            for r in report.chunks {
                out += pad(String(r.offset), 12) + (r.id.map { pad(String(r.length), 10) + $0 } ?? String(r.length)) + "\n"
            }
            let mean = (summary.meanSize * 10).rounded() / 10
            out += "\(summary.chunks) chunks, \(summary.bytes) bytes; size mean \(mean), min \(summary.minSize), max \(summary.maxSize)"
            if let unique = summary.uniqueChunks, let uniqueBytes = summary.uniqueBytes, let dedup = summary.dedupRatio {
                out += "; \(unique) unique (\(uniqueBytes) bytes); dedup within file \((dedup * 1000).rounded() / 10)%"
            }
            out += "\n"
            FileHandle.standardOutput.write(Data(out.utf8))
        }
    }

    private func pad(_ s: String, _ width: Int) -> String {
        s.count >= width ? s + " " : s + String(repeating: " ", count: width - s.count)
    }
}
