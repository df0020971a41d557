import Crypto

/// The chunk hasher everything uses by default: SHA-256 from swift-crypto
/// (BoringSSL's assembly, SHA-NI where the CPU has it), several times faster
/// than the portable `SHA256` in this module, which stays as the reference
/// the tests compare against. Both give the same ids.
public enum ChunkHash {
    public static func sha256(_ data: UnsafeRawBufferPointer) -> ChunkID {
        Crypto.SHA256.hash(data: data).withUnsafeBytes { ChunkID(bytes: $0)! }
    }

    public static func sha256(_ bytes: [UInt8]) -> ChunkID { bytes.withUnsafeBytes { sha256($0) } }
}
