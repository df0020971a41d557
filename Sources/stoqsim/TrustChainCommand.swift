import ArgumentParser
import Foundation
import StoqEngine
import TrustChain

/// `stoqsim trustchain …`: set up a CA state directory, audit its log, print proofs.
struct TrustChainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "trustchain",
        abstract: "TrustChain CA and transparency log tools.",
        subcommands: [CA.self, Log.self, Proof.self])

    struct CA: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "ca", abstract: "Certificate authority: state, serving it on a real socket, enrolling at it.",
                                                        subcommands: [Init.self, Serve.self, Enroll.self, Verify.self])

        struct Init: ParsableCommand {
            static let configuration = CommandConfiguration(
                commandName: "init",
                abstract: "Create a CA state directory: keys (mode 0600), self-signed root, configuration, empty log, stake authority key.")

            @Option(help: "State directory (created; must not already hold a CA).") var state: String
            @Option(help: "Root CA common name.") var commonName = "STOQ TrustChain Root CA"
            @Option(help: "Wall-clock Unix time in milliseconds of simulated time zero (default 2026-01-01T00:00:00Z).")
            var epochUnixMs: Int64 = WallEpoch.default2026.unixMilliseconds
            @Option(help: "Validity of issued certificates in seconds.") var validity: Int64 = 24 * 3600
            @Option(help: "CA key algorithm: ed25519 or ecdsa-p256.") var algorithm = "ed25519"
            @Option(help: "Log key algorithm: ecdsa-p256 (RFC 6962 §2.1.4; what openssl and CT tools read) or ed25519 (RFC 9162; deterministic signatures).")
            var logAlgorithm = "ecdsa-p256"

            func run() throws {
                guard let alg = KeyAlgorithm(rawValue: algorithm) else {
                    throw ValidationError("--algorithm '\(algorithm)' is not one of \(KeyAlgorithm.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                guard let logAlg = KeyAlgorithm(rawValue: logAlgorithm) else {
                    throw ValidationError("--log-algorithm '\(logAlgorithm)' is not one of \(KeyAlgorithm.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                if let problem = CAConfiguration.rangeProblem(epochUnixMs: epochUnixMs, validitySeconds: validity) {
                    throw ValidationError(problem.replacingOccurrences(of: "epoch_unix_ms", with: "--epoch-unix-ms")
                        .replacingOccurrences(of: "validity_seconds", with: "--validity"))
                }
                let config = CAConfiguration(commonName: commonName, epoch: WallEpoch(unixMilliseconds: epochUnixMs),
                                             validity: .seconds(validity), keyAlgorithm: alg)
                let ca = try CertificateAuthority.create(stateDirectory: URL(fileURLWithPath: state), configuration: config,
                                                         logKeyAlgorithm: logAlg, policies: [])
                // The stake authority `ca serve` trusts (and `ca enroll --state` signs with, as a testing shortcut).
                _ = try StakeAuthority.loadOrCreate(stateDirectory: URL(fileURLWithPath: state))
                print("created CA '\(commonName)' (\(alg.rawValue), log \(logAlg.rawValue)) in \(state)")
                print("log id \(ca.log.logID.map { String(format: "%02x", $0) }.joined())")
            }
        }
    }

    struct Log: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "log", abstract: "Transparency log audits.", subcommands: [Verify.self])

        struct Verify: ParsableCommand {
            static let configuration = CommandConfiguration(
                commandName: "verify",
                abstract: "Recompute the Merkle root from the entries and check every signed tree head (signature, root, consistency).",
                discussion: """
                A line cut short at the end of log.jsonl, sth.jsonl or revocations.jsonl (a crash in mid-write; such a line \
                was never answered) is reported with the exact repair, and the rest is checked without it. With --repair \
                the torn lines are truncated, a tree head is signed for entries no head covers, and the log is checked \
                again. Exit 0 when the log is sound (after the repair), 1 otherwise.
                """)

            @Argument(help: "CA state directory.") var directory: String
            @Flag(help: "Truncate torn last lines and sign a tree head for uncovered entries, then verify.") var repair = false

            func run() throws {
                let url = URL(fileURLWithPath: directory)
                let audit: LogAudit
                do {
                    if repair {
                        let repaired = try CertificateAuthority.repair(stateDirectory: url)
                        for a in repaired.actions { print("repaired: \(a)") }
                        if repaired.actions.isEmpty { print("repaired: nothing to repair") }
                        audit = repaired.audit
                    } else {
                        audit = try CertificateAuthority.audit(stateDirectory: url)
                    }
                } catch let error as TrustChainError {
                    printError("log verify: \(error)")
                    throw ExitCode(1)
                }
                for t in audit.tornTails { printError("log verify: \(t)") }
                for p in audit.problems { printError("log verify: \(p)") }
                let count = audit.tornTails.count + audit.problems.count
                print("\(audit.entries) entries, \(audit.treeHeads) tree heads, root \(hex(audit.rootHash)): \(count == 0 ? "OK" : "\(count) problem(s)")")
                if count > 0 { throw ExitCode(1) }
            }
        }
    }

    struct Proof: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "proof", abstract: "Print (and check) the inclusion proof of a logged certificate.")

        @Argument(help: "SHA-256 fingerprint of the certificate (hex).") var fingerprint: String
        @Option(help: "CA state directory.") var state: String

        func run() throws {
            let ca = try CertificateAuthority.open(stateDirectory: URL(fileURLWithPath: state), policies: [])
            guard let index = ca.log.index(ofFingerprint: fingerprint), let proof = ca.log.inclusionProof(fingerprint: fingerprint) else {
                printError("no logged certificate has fingerprint \(fingerprint) in \(state)")
                throw ExitCode(1)
            }
            let sth = proof.treeHead
            print("leaf index   \(proof.leafIndex)")
            print("tree size    \(proof.treeSize)")
            print("root hash    \(hex(sth.rootHash))")
            print("sth          timestamp \(sth.timestamp), signature \(sth.verify(logKey: ca.log.publicKey) ? "valid" : "INVALID")")
            print("audit path   \(proof.auditPath.count) hashes")
            for h in proof.auditPath { print("  \(hex(h))") }
            do {
                try MerkleVerifier.verifyInclusion(leafHash: ca.log.entries[index].leafHash, leafIndex: proof.leafIndex, treeSize: proof.treeSize,
                                                   proof: proof.auditPath, rootHash: sth.rootHash)
                print("verified     OK")
            } catch {
                printError("verification failed: \(error)")
                throw ExitCode(1)
            }
        }
    }
}

private func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }
