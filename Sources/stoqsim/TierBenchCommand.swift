import ArgumentParser
import StoqBenchmarks
import StoqTopology

struct TierBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tiers",
        abstract: "One QUIC connection's bulk transfer across one link of each tier (20 ms RTT) in virtual time: goodput with and after slow start.",
        discussion: """
            Goodput counts QUIC stream payload bits (no QUIC, UDP or IPv6 headers), received, over \
            virtual time; it is compared with the tier's nominal bit rate, which the model spends on \
            whole packets. 'After slow start' is the rate from the moment the receiver had half of it \
            to the last byte, counted as packets arrived (not when a lost packet's gap released the \
            data behind it). The check: that figure is at least 90 % \
            of the link. Same seed, same figures; only the wall time varies.
            """)

    @Option(help: "Payload per transfer, in seconds of the link's rate (4: 50 MB on 100mbps, 1250 MB on 2.5gbps).")
    var seconds: Double = 4
    @Option(help: "A tier to run (100mbps, 1gbps, 2.5gbps); repeat for several. Default: all.")
    var tier: [String] = []
    @Option(help: "The run's seed.") var seed: UInt64 = 1
    @Option(name: .customLong("repeat"), help: "Repetitions; the figures repeat exactly, the median wall time is reported.")
    var repetitions: Int = 1
    @Flag(inversion: .prefixedNo, help: "Also time the 2.5 Gbps transfer against `bench transport`'s bulk path with as many bytes and print the ratio.")
    var compareTransport = true

    func run() throws {
        guard seconds > 0, repetitions > 0 else { throw ValidationError("--seconds and --repeat must be positive") }
        let tiers = try tier.isEmpty ? LinkTier.allCases : tier.map {
            guard let t = LinkTier(rawValue: $0) else { throw ValidationError("unknown tier '\($0)'; known: 100mbps, 1gbps, 2.5gbps") }
            return t
        }
        #if DEBUG
        printError("warning: this is a debug build; measure with 'swift run -c release stoqsim bench tiers'")
        #endif
        print("goodput: QUIC stream payload bits received (no QUIC, UDP or IPv6 headers) per second of virtual time, "
              + "and as % of the tier's nominal bit rate; after slow start: from the moment half the payload had arrived to the last byte")
        try reportMedians(tiers.map { t in
            { try TierBenchmarks.run(tier: t, bytes: TierBenchmarks.bytes(for: t, seconds: seconds), seed: seed) }
        }, repetitions: repetitions, rank: \.wallSeconds, verified: \.verified)
        guard compareTransport else { return }
        // The same 2.5 Gbps transfer again, then the bare transport path with as many bytes, back to back.
        try reportMedians([{ try TierBenchmarks.compareWithTransport(bytes: TierBenchmarks.bytes(for: .gbps2_5, seconds: seconds), seed: seed) }],
                          repetitions: repetitions, rank: \.ratio, verified: \.verified)
    }
}
