import Foundation
import StoqEngine
import StoqScenario
import StoqTopology
import XCTest

/// A seeded mutation fuzz of everything `validate` runs: the bundled
/// topologies and the malformed-file suite, cut, spliced and sprinkled with
/// hostile tokens. Every variant must either load or be refused with located
/// errors; a crash fails the whole test run, which is the point. Fixed seed
/// and count, so CI sees the same variants every time; raise
/// STOQ_FUZZ_VARIANTS locally for a longer search.
final class TopologyFuzzTests: XCTestCase {
    /// Tokens that broke or could break a parser: structure, aliases, numbers
    /// at the edges of their types, special addresses, bad bytes.
    static let tokens: [[UInt8]] = [
        "[", "]", "{", "}", ": ", "- ", ", ", "&a ", "*a", "<<: *a", "!!binary ", "!!python/object ", "'", "\"", "\t", "? ",
        "|", ">", "~", "null", "#", "%YAML 1.1\n", "---\n", "...\n", "\n  ", "99999999999999999999", "1e400", "-1", "-0", "nan",
        ".inf", "0", "0x10", "1_000_000_000", "::", "::1", "ff02::1", "fe80::1", "::/0", "/129", "1000000d", "1ns", "0s", "1e-12/s",
        "all", "role:client", "site:", "count: 1000000000", "µs", "ü", "😀", "../", "name: x\n", "kind: exec\n",
    ].map { Array($0.utf8) } + [[0x00], [0xff], [0xc3], [0xe2, 0x82], [0x01]]

    func seeds() throws -> [(name: String, bytes: [UInt8])] {
        let root = URL(fileURLWithPath: repositoryRoot)
        var files = ["quickstart", "tiers", "dedup-versions", "trustchain-week"].map {
            root.appendingPathComponent("topologies/\($0).yaml")
        }
        let malformed = root.appendingPathComponent("Tests/StoqsimCLITests/Malformed")
        files += try FileManager.default.contentsOfDirectory(at: malformed, includingPropertiesForKeys: nil)
            .filter { $0.pathExtension == "yaml" }.sorted { $0.path < $1.path }
        return try files.map { ($0.lastPathComponent, Array(try Data(contentsOf: $0))) }
            + [("two-sites.yaml", Array(twoSiteYAML.utf8))]
    }

    static func mutate(_ input: [UInt8], using random: inout RandomStream) -> [UInt8] {
        var bytes = input
        func position() -> Int { bytes.isEmpty ? 0 : Int(random.next() % UInt64(bytes.count + 1)) }
        func lineRanges() -> [Range<Int>] {
            var ranges: [Range<Int>] = [], start = 0
            for (i, b) in bytes.enumerated() where b == UInt8(ascii: "\n") { ranges.append(start..<i + 1); start = i + 1 }
            if start < bytes.count { ranges.append(start..<bytes.count) }
            return ranges
        }
        for _ in 0..<(1 + random.next() % 4) {
            switch random.next() % 8 {
            case 0:     // overwrite a byte
                if !bytes.isEmpty { bytes[Int(random.next() % UInt64(bytes.count))] = UInt8(truncatingIfNeeded: random.next()) }
            case 1:     // delete a short span
                let at = position(), length = Int(random.next() % 20)
                bytes.removeSubrange(at..<min(at + length, bytes.count))
            case 2, 3:  // insert a hostile token
                let token = tokens[Int(random.next() % UInt64(tokens.count))]
                bytes.insert(contentsOf: token, at: position())
            case 4:     // duplicate a line (duplicate keys, nodes, links)
                let lines = lineRanges()
                if let r = lines.isEmpty ? nil : lines[Int(random.next() % UInt64(lines.count))] {
                    bytes.insert(contentsOf: bytes[r], at: r.upperBound)
                }
            case 5:     // delete a line
                let lines = lineRanges()
                if !lines.isEmpty { bytes.removeSubrange(lines[Int(random.next() % UInt64(lines.count))]) }
            case 6:     // move a line elsewhere (sections out of order, wrong indentation)
                let lines = lineRanges()
                if lines.count > 1 {
                    let r = lines[Int(random.next() % UInt64(lines.count))]
                    let line = Array(bytes[r])
                    bytes.removeSubrange(r)
                    bytes.insert(contentsOf: line, at: position())
                }
            default:    // truncate
                bytes.removeSubrange(position()...)
            }
        }
        return bytes
    }

    func testMutatedTopologiesLoadOrFailWithLocatedErrors() throws {
        let variants = ProcessInfo.processInfo.environment["STOQ_FUZZ_VARIANTS"].flatMap(Int.init) ?? 3000
        let seeds = try seeds()
        var random = RandomStream(seed: 0x5704_F022)
        var loaded = 0, refused = 0
        for n in 0..<variants {
            let seed = seeds[n % seeds.count]
            let bytes = Self.mutate(seed.bytes, using: &random)
            let file = "fuzz-\(n)-\(seed.name)"
            let backend = n % 5 == 0 ? "netns" : "sim"
            let parsed = TopologyParser.parse(bytes: bytes, file: file)
            var errors = parsed.errors
            if let topology = parsed.topology {
                do {
                    _ = try Scenario(topology: topology, backend: backend, earlierErrors: parsed.errors)
                } catch let e as TopologyErrors {
                    errors = e.diagnostics
                }
            }
            if errors.isEmpty {
                XCTAssertNotNil(parsed.topology, "\(file): no topology and no error")
                loaded += 1
                continue
            }
            refused += 1
            // YAML breaks lines at \r too (and at NEL, LS, PS: three-byte sequences ending in 0x85, 0xA8, 0xA9).
            let lines = bytes.reduce(1) { [0x0A, 0x0D, 0x85, 0xA8, 0xA9].contains($1) ? $0 + 1 : $0 }
            for d in errors {
                // Each error names this file and a real place in it (the end of the stream may be one line on), with a message.
                guard d.location.file == file, (1...lines + 1).contains(d.location.line), d.location.column >= 1,
                      !d.message.isEmpty else {
                    let text = String(decoding: bytes, as: UTF8.self)
                    return XCTFail("\(file): unlocated error \(d) for:\n\(text.prefix(3000))")
                }
            }
        }
        XCTAssertGreaterThan(refused, variants / 2, "most mutations break the file")
        XCTAssertGreaterThan(loaded, 0, "some mutations leave a valid file (comments, harmless values)")
    }
}
