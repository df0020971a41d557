import Foundation
import XCTest
import StoqEngine
import StoqTopology
import X509
@testable import TrustChain

/// The library side of `stoqsim trustchain ca serve/enroll/verify`: the CA's
/// own serving certificate, the stake authority in the state directory, and
/// the trust checks a node makes on a PEM file.
final class StandaloneCATests: XCTestCase {
    static let own = NodeIdentity(nodeID: "ca", dnsName: "ca.stoq", addresses: [try! IPv6Address.parse("::1")])

    func open(_ dir: URL, stake: StakeAuthority, requirements: ConsensusRequirements) throws -> (CertificateAuthority, TrustChainAPI) {
        let ca = try CertificateAuthority.open(stateDirectory: dir, policies: [])
        ca.policies = standardEnrollmentPolicies(directory: NodeDirectory([Self.own, Fixture.node]), consensus: requirements, epoch: ca.epoch)
        return (ca, TrustChainAPI(ca: ca))
    }

    func testServingCertificateIsEnrolledLoggedAndReusedAfterARestart() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        _ = try CertificateAuthority.create(stateDirectory: dir, configuration: CAConfiguration(validity: .seconds(24 * 3600)), policies: [])
        let stake = try StakeAuthority.loadOrCreate(stateDirectory: dir)
        let requirements = ConsensusRequirements.standard(stakeAuthority: stake.key.publicKey, difficulty: 4)
        var now = SimTime.seconds(100)

        let (ca, api) = try open(dir, stake: stake, requirements: requirements)
        let first = try ca.servingCertificate(identity: Self.own, api: api, stake: stake, requirements: requirements,
                                              stateDirectory: dir, now: { now })
        XCTAssertFalse(first.reused)
        XCTAssertEqual(ca.log.size, 1)
        XCTAssertNotNil(ca.log.index(ofFingerprint: first.fingerprint))
        let keyMode = try FileManager.default.attributesOfItem(atPath: dir.appendingPathComponent("serve-key.pem").path)[.posixPermissions] as? NSNumber
        XCTAssertEqual(keyMode?.intValue, 0o600)
        // The chain presented is signed by the root.
        XCTAssertNoThrow(try TrustChainTrust(root: ca.certificate, logKey: ca.log.publicKey).leafIssuedByRoot(pem: first.bundle.certificateChainPEM))

        // Restarted: the same certificate, the log unchanged.
        now = .seconds(3600)
        let (reopened, api2) = try open(dir, stake: stake, requirements: requirements)
        let again = try reopened.servingCertificate(identity: Self.own, api: api2, stake: stake, requirements: requirements,
                                                    stateDirectory: dir, now: { now })
        XCTAssertTrue(again.reused)
        XCTAssertEqual(again.fingerprint, first.fingerprint)
        XCTAssertEqual(reopened.log.size, 1)

        // Another listen address is another identity: a new certificate.
        let moved = NodeIdentity(nodeID: "ca", dnsName: "ca.stoq", addresses: [try IPv6Address.parse("fd00::53")])
        reopened.policies = standardEnrollmentPolicies(directory: NodeDirectory([moved]), consensus: requirements, epoch: reopened.epoch)
        let other = try reopened.servingCertificate(identity: moved, api: api2, stake: stake, requirements: requirements,
                                                    stateDirectory: dir, now: { now })
        XCTAssertFalse(other.reused)
        XCTAssertEqual(reopened.log.size, 2)

        // Less than the minimum remaining validity: renewed.
        now = .seconds(3600 + 24 * 3600 - 1800)   // half an hour left of the one issued at 3600 s
        let renewed = try reopened.servingCertificate(identity: moved, api: api2, stake: stake, requirements: requirements,
                                                      stateDirectory: dir, now: { now })
        XCTAssertFalse(renewed.reused)
        XCTAssertEqual(reopened.log.size, 3)
    }

    func testStakeAuthorityKeyPersistsInTheStateDirectory() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        XCTAssertThrowsError(try StakeAuthority.load(stateDirectory: dir)) { error in
            XCTAssertTrue("\(error)".contains(StakeAuthority.stateFileName), "\(error)")
        }
        let made = try StakeAuthority.loadOrCreate(stateDirectory: dir)
        XCTAssertEqual(try StakeAuthority.loadOrCreate(stateDirectory: dir).id, made.id)
        XCTAssertEqual(try StakeAuthority.load(stateDirectory: dir).id, made.id)
        let mode = try FileManager.default.attributesOfItem(atPath: dir.appendingPathComponent(StakeAuthority.stateFileName).path)[.posixPermissions] as? NSNumber
        XCTAssertEqual(mode?.intValue, 0o600)
    }

    func testProverMeetingTheStandardRequirementsIsAccepted() throws {
        let f = try Fixture()
        let key = f.key(3)
        let prover = try ConsensusProver.meeting(f.requirements, nodeID: Fixture.node.nodeID, key: key, stake: f.stake,
                                                 stakeTimestamp: f.configuration.epoch.unixMilliseconds, difficulty: Fixture.difficulty, seed: 1)
        let manager = f.manager(key: key, mode: .trustchain(client: LocalTrustChainClient(api: f.api, clock: { .zero }), trust: f.trust, prover: prover))
        var outcome: Result<NodeCertificate, Rejection>?
        manager.refresh(now: .zero) { outcome = $0 }
        guard case let .success(c)? = outcome else { return XCTFail("\(String(describing: outcome))") }
        // The chain file a node writes: leaf then root, and the leaf checks out against the root.
        XCTAssertEqual(c.chainPEM.components(separatedBy: "BEGIN CERTIFICATE").count - 1, 2)
        XCTAssertEqual(try f.trust.leafIssuedByRoot(pem: c.chainPEM), c.der)
        // Another CA's root does not vouch for it.
        let stranger = try Fixture()
        XCTAssertThrowsError(try stranger.trust.leafIssuedByRoot(pem: c.chainPEM)) { error in
            XCTAssertTrue("\(error)".contains("not signed by the trusted root"), "\(error)")
        }
        XCTAssertThrowsError(try f.trust.leafIssuedByRoot(pem: "hello")) { error in
            XCTAssertTrue("\(error)".contains("CERTIFICATE") || "\(error)".contains("PEM"), "\(error)")
        }
    }
}
