import StoqEngine

/// Seeded synthetic content for dedup workloads: the same seed always gives
/// the same bytes, on every platform.
public enum ContentGenerator {
    public enum EditKind: CaseIterable, Sendable { case insert, delete, replace }

    public struct EditSpec: Sendable {
        /// Edits applied to make each next version.
        public var editsPerVersion: Int
        /// Each edit touches 1...maxEditSize bytes.
        public var maxEditSize: Int
        public var kinds: [EditKind]
        public init(editsPerVersion: Int = 4, maxEditSize: Int = 256, kinds: [EditKind] = EditKind.allCases) {
            precondition(editsPerVersion >= 0 && maxEditSize >= 1 && !kinds.isEmpty)
            self.editsPerVersion = editsPerVersion; self.maxEditSize = maxEditSize; self.kinds = kinds
        }
    }

    /// Uniformly random bytes, eight per draw.
    public static func randomBytes(_ count: Int, using rng: inout RandomStream) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        out.withUnsafeMutableBytes { raw in
            var i = 0
            while i + 8 <= count { raw.storeBytes(of: rng.next(), toByteOffset: i, as: UInt64.self); i += 8 }
            if i < count {
                var last = rng.next()
                for j in i..<count { raw[j] = UInt8(truncatingIfNeeded: last); last >>= 8 }
            }
        }
        return out
    }

    public static func randomBytes(_ count: Int, seed: UInt64) -> [UInt8] {
        var rng = RandomStream(seed: seed, stream: "content")
        return randomBytes(count, using: &rng)
    }

    /// `count` versions of a file: version 0 is `baseSize` random bytes, each
    /// later one the previous with `edits.editsPerVersion` random inserts,
    /// deletes or replacements at random places.
    public static func versions(seed: UInt64, baseSize: Int, count: Int, edits: EditSpec = EditSpec()) -> [[UInt8]] {
        precondition(baseSize >= 0 && count >= 1)
        var v = EditedVersions(seed: seed, baseSize: baseSize, edits: edits)
        var out = [v.current]
        for _ in 1..<count {
            v.advance()
            out.append(v.current)
        }
        return out
    }

    static func applyEdit(to data: inout [UInt8], edits: EditSpec, rng: inout RandomStream) {
        let kind = edits.kinds[Int(rng.next() % UInt64(edits.kinds.count))]
        let size = 1 + Int(rng.next() % UInt64(edits.maxEditSize))
        let at = data.isEmpty ? 0 : Int(rng.next() % UInt64(data.count))
        switch kind {
        case .insert:
            data.insert(contentsOf: randomBytes(size, using: &rng), at: at)
        case .delete:
            data.removeSubrange(at..<min(data.count, at + size))
        case .replace:
            let end = min(data.count, at + size)
            data.replaceSubrange(at..<end, with: randomBytes(end - at, using: &rng))
        }
    }

    /// `files` files, each `blocksPerFile` blocks of `blockSize` bytes drawn
    /// (with repetition) from a pool of `distinctBlocks` random blocks: a
    /// corpus whose files share content at block granularity.
    public static func sharedBlockFiles(seed: UInt64, files: Int, blocksPerFile: Int, blockSize: Int,
                                        distinctBlocks: Int) -> [[UInt8]] {
        precondition(files >= 0 && blocksPerFile >= 0 && blockSize > 0 && distinctBlocks > 0)
        var rng = RandomStream(seed: seed, stream: "shared-blocks")
        let pool = (0..<distinctBlocks).map { _ in randomBytes(blockSize, using: &rng) }
        return (0..<files).map { _ in
            var file: [UInt8] = []
            file.reserveCapacity(blocksPerFile * blockSize)
            for _ in 0..<blocksPerFile { file += pool[Int(rng.next() % UInt64(distinctBlocks))] }
            return file
        }
    }
}

/// A file that gets a new version on demand: the previous one with seeded
/// random edits. Keeps only the current version, so a long series of large
/// versions costs the memory of one.
public struct EditedVersions: Sendable {
    public private(set) var current: [UInt8]
    public private(set) var version: UInt64 = 0
    public let edits: ContentGenerator.EditSpec
    private var rng: RandomStream

    /// Version 0 is `baseSize` random bytes.
    public init(seed: UInt64, baseSize: Int, edits: ContentGenerator.EditSpec) {
        rng = RandomStream(seed: seed, stream: "versions")
        current = ContentGenerator.randomBytes(baseSize, using: &rng)
        self.edits = edits
    }

    /// Version 0 is `base` (a file from disk, a corpus file).
    public init(base: [UInt8], seed: UInt64, edits: ContentGenerator.EditSpec) {
        rng = RandomStream(seed: seed, stream: "versions")
        current = base
        self.edits = edits
    }

    public mutating func advance() {
        for _ in 0..<edits.editsPerVersion { ContentGenerator.applyEdit(to: &current, edits: edits, rng: &rng) }
        version += 1
    }
}
