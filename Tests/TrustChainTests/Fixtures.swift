import Foundation
import XCTest
import StoqEngine
import StoqTopology
import X509
@testable import TrustChain

/// A CA that certifies two nodes, a stake authority it trusts, and helpers
/// that build valid requests which a test then spoils one field at a time.
final class Fixture {
    static let node = NodeIdentity(nodeID: "edge-1", dnsName: "edge-1.stoq", addresses: [try! IPv6Address.parse("fd00:5354:4f00::1")])
    static let other = NodeIdentity(nodeID: "edge-2", dnsName: "edge-2.stoq", addresses: [try! IPv6Address.parse("fd00:5354:4f00::2")])
    /// Low enough that solving takes a few hundred hashes in a debug build.
    static let difficulty = 8

    let stake: StakeAuthority
    let requirements: ConsensusRequirements
    let configuration: CAConfiguration
    let ca: CertificateAuthority
    lazy var api = TrustChainAPI(ca: ca)

    init(epoch: WallEpoch = .default2026, validity: SimDuration = .seconds(24 * 3600), stateDirectory: URL? = nil,
         caAlgorithm: KeyAlgorithm = .ed25519) throws {
        var random = RandomStream(seed: 42, stream: "stake")
        stake = StakeAuthority(key: .generate(.ed25519, using: &random))
        requirements = ConsensusRequirements(workDifficulty: Self.difficulty, timeWindow: .seconds(300),
                                             stakeAuthorities: [stake.key.publicKey], minimumStake: 1000, minimumSpaceBytes: 1 << 30)
        configuration = CAConfiguration(epoch: epoch, validity: validity, keyAlgorithm: caAlgorithm)
        let policies = standardEnrollmentPolicies(directory: NodeDirectory([Self.node, Self.other]), consensus: requirements, epoch: epoch)
        if let dir = stateDirectory {
            ca = try CertificateAuthority.create(stateDirectory: dir, configuration: configuration, policies: policies)
        } else {
            ca = try CertificateAuthority(configuration: configuration, policies: policies)
        }
    }

    var policies: [any EnrollmentPolicy] { ca.policies }

    func key(_ seed: UInt64 = 1, _ algorithm: KeyAlgorithm = .ed25519) -> SigningKey {
        var random = RandomStream(seed: seed, stream: "node-key")
        return .generate(algorithm, using: &random)
    }

    func prover(_ node: NodeIdentity = Fixture.node, key: SigningKey, amount: UInt64 = 5000, capacity: UInt64 = 2 << 30) throws -> ConsensusProver {
        ConsensusProver(nodeID: node.nodeID, key: key,
                        stake: try stake.attest(nodeID: node.nodeID, nodeKey: key.publicKey, amount: amount, timestamp: configuration.epoch.unixMilliseconds),
                        capacityBytes: capacity, difficulty: Self.difficulty, seed: 7)
    }

    func manager(_ node: NodeIdentity = Fixture.node, key: SigningKey, mode: CertificateMode) -> CertificateManager {
        CertificateManager(mode: mode, identity: node, key: key, epoch: configuration.epoch)
    }

    var trust: TrustChainTrust { TrustChainTrust(root: ca.certificate, logKey: ca.log.publicKey) }

    /// A fully valid request from `node` at `now`.
    func request(_ node: NodeIdentity = Fixture.node, key: SigningKey? = nil, now: SimTime = .zero) throws -> EnrollmentRequest {
        let key = key ?? self.key()
        let csr = try manager(node, key: key, mode: .localhostTesting).makeCSR()
        return EnrollmentRequest(commonName: node.dnsName, nodeID: node.nodeID, ipv6Addresses: node.addresses.map(\.description),
                                 csrDER: csr, consensusProof: try prover(node, key: key).prove(csrDER: csr, timestamp: configuration.epoch.milliseconds(at: now)))
    }

    func rejection(_ request: EnrollmentRequest, now: SimTime = .zero, file: StaticString = #filePath, line: UInt = #line) -> Rejection? {
        let before = ca.log.size
        let result = ca.enroll(request, now: now)
        guard case let .failure(r) = result else { XCTFail("request accepted", file: file, line: line); return nil }
        XCTAssertEqual(ca.log.size, before, "a rejected request changed the log", file: file, line: line)
        return r
    }
}

func temporaryDirectory() -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("trustchain-\(UUID().uuidString)")
    try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

extension SimTime {
    /// Instants read better as "60 s into the run" in these tests.
    static func seconds(_ s: Int64) -> SimTime { SimTime(nanosecondsSinceStart: s * 1_000_000_000) }
}
