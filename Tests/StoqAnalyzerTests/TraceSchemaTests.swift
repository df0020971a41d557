import Foundation
@testable import StoqAnalyzer
import XCTest

/// The schema each record states once in `fields(_:)` against what the docs say and what readers rely on.
final class TraceSchemaTests: XCTestCase {
    /// docs/trace-format.md's table: each row's `type` and the `backticked` words of its fields column.
    func documentedFields() throws -> [String: Set<String>] {
        let docs = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../docs/trace-format.md")
        var rows: [String: Set<String>] = [:]
        for line in try String(contentsOf: docs, encoding: .utf8).split(separator: "\n") where line.hasPrefix("| `") {
            let cells = line.split(separator: "|", omittingEmptySubsequences: false)
            guard cells.count >= 4 else { continue }
            let type = cells[1].trimmingCharacters(in: .whitespaces).trimmingCharacters(in: CharacterSet(charactersIn: "`"))
            let quoted = cells[3].split(separator: "`", omittingEmptySubsequences: false).enumerated()
                .filter { $0.offset % 2 == 1 }.map { String($0.element) }
            rows[type] = Set(quoted)
        }
        return rows
    }

    func testTheDocsListEveryFieldTheWriterWrites() throws {
        let rows = try documentedFields()
        var written = Set<String>()
        for shape in TraceRecord.shapes {
            let list = shape.fieldList
            let type = list.type.description
            written.insert(type)
            guard let documented = rows[type] else {
                XCTFail("docs/trace-format.md has no row for type `\(type)`")
                continue
            }
            for key in list.keys where key != "type" {
                XCTAssert(documented.contains(key), "docs/trace-format.md: the `\(type)` row does not list `\(key)`")
            }
        }
        XCTAssertEqual(Set(rows.keys), written, "docs/trace-format.md lists a type the code does not write")
    }

    func testEveryKindHasATypeNameAndEveryLineStartsAsTheQuickCheckExpects() {
        XCTAssertEqual(TraceRecord.typeNames.reduce(into: TraceRecord.Kinds()) { $0.insert($1.kind) }.rawValue,
                       (1 << 22) - 1, "a record kind without a shape in TraceRecord.shapes (22 kinds: raise this with a new one)")
        for shape in TraceRecord.shapes {
            let line = Array(shape.jsonLine.utf8)
            let kind = line.withUnsafeBufferPointer { TraceRecord.quickKind($0) }
            XCTAssertEqual(kind, shape.kind, shape.jsonLine)
            XCTAssertEqual(try TraceRecord.decode(Substring(shape.jsonLine), lineNumber: 1), shape, shape.jsonLine)
        }
    }

    func testAMissingFieldIsNamed() {
        let line = #"{"t":1,"type":"transfer","workload":"w","from":"a","to":"b","bytes":1,"streams":1}"#
        XCTAssertThrowsError(try TraceRecord.decode(Substring(line), lineNumber: 7)) { error in
            XCTAssertEqual("\(error)", "trace line 7: missing field 'bytes_received'")
        }
    }
}
