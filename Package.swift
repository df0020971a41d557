// swift-tools-version:6.0
// STOQ Sim: a Swift edge-network simulator. Module boundaries follow
// ../shared/ARCHITECTURE.md; each target has one job and a test target beside it.
import PackageDescription

// Hot paths (event queue, packet path, QUIC glue, chunker, trace analysis) skip Swift's
// run-time exclusivity checks in release builds: they cost a measurable share
// per event and per packet, and debug builds and tests keep them on.
let hotPath: [SwiftSetting] = [.unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release))]

let package = Package(
    name: "stoqsim",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "stoqsim", targets: ["stoqsim"]),
        // C reference for `stoqsim bench transport`: ngtcp2 + GnuTLS driven directly, same settings.
        .executable(name: "transport-baseline-c", targets: ["transport-baseline-c"]),
        // The modules the Benchmarks/ package (ordo-one `benchmark`, built only from there) measures.
        .library(name: "StoqSimModules", targets: ["StoqAnalyzer", "StoqBenchmarks", "StoqDedup", "StoqNetwork", "StoqRouting", "StoqScenario", "StoqTopology"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "5.0.1"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.1.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/apple/swift-certificates", from: "1.21.1"),
    ],
    targets: [
        // ngtcp2, ngtcp2_crypto_gnutls, GnuTLS and nghttp3 from Debian's -dev packages.
        .systemLibrary(
            name: "CStoqSystem",
            pkgConfig: "libngtcp2_crypto_gnutls",
            providers: [.apt(["libngtcp2-dev", "libngtcp2-crypto-gnutls-dev", "libgnutls28-dev", "libnghttp3-dev"])]
        ),
        // Thin C shim for what Swift cannot import (macros, variadic calls).
        // The modulemap's `link` lines reach only Swift importers, so the shim names the libraries too.
        .target(name: "CStoq", dependencies: ["CStoqSystem"],
                linkerSettings: ["ngtcp2", "ngtcp2_crypto_gnutls", "gnutls", "nghttp3"].map { .linkedLibrary($0) }),

        // The leaf every layer shares: time, seeded randomness, IPv6 and socket
        // addresses, and the DatagramIO seam between node code and its carrier.
        .target(name: "StoqCore", swiftSettings: hotPath),
        // epoll and timerfd for the real-time driver (Glibc's module lacks them).
        .target(name: "CStoqLinux"),
        .target(name: "StoqEngine", dependencies: ["StoqCore", .target(name: "CStoqLinux", condition: .when(platforms: [.linux]))],
                swiftSettings: hotPath),
        .target(name: "StoqTopology", dependencies: ["StoqCore", "StoqEngine", .product(name: "Yams", package: "Yams")],
                resources: [.copy("Resources/cities.csv")]),
        .target(name: "StoqRouting", dependencies: ["StoqTopology"]),
        .target(name: "StoqNetwork", dependencies: ["StoqCore", "StoqEngine", "StoqTopology", "StoqRouting"], swiftSettings: hotPath),
        // QUIC over ngtcp2 + GnuTLS, sans-IO, and the EndpointDriver that joins an
        // endpoint to any DatagramIO; StoqEngine only for the driver's Scheduler.
        .target(name: "StoqTransport", dependencies: ["CStoq", "StoqCore", "StoqEngine"],
                swiftSettings: hotPath),
        // Pair harness (StoqBenchmarks' EndpointPair as InMemoryPair) and other helpers shared by test targets.
        .target(name: "StoqTestSupport", dependencies: ["StoqEngine", "StoqTransport", "StoqBenchmarks"], path: "Tests/StoqTestSupport"),
        // The netns backend: namespaces, TUN devices and real UDP sockets around the network model.
        .target(name: "CStoqEmulation"),
        .target(name: "StoqEmulation", dependencies: ["StoqEngine", "StoqTopology", "StoqNetwork",
                                                      .target(name: "CStoqEmulation", condition: .when(platforms: [.linux]))]),
        // The gear hash's step as one LEA (a C shim, inlined: Swift cannot keep the table load apart).
        .target(name: "CStoqGear"),
        .target(name: "StoqDedup", dependencies: ["StoqEngine", "CStoqGear", .product(name: "Crypto", package: "swift-crypto")],
                swiftSettings: hotPath),
        // The TrustChain CA, its transparency log, consensus proofs and the nodes' certificate manager.
        .target(name: "TrustChain", dependencies: [
            "StoqEngine", "StoqTransport", "StoqTopology",
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "X509", package: "swift-certificates"),
        ]),
        .target(name: "StoqAnalyzer", dependencies: ["StoqEngine", .product(name: "Histogram", package: "hdrhistogram-swift")],
                swiftSettings: hotPath),
        // A node's STOQ endpoint and the services its streams reach, its certificates, and the
        // real-socket node (`stoqsim node`, `trustchain ca serve|enroll|verify`): what a node runs, on any carrier.
        .target(name: "StoqNodeRuntime", dependencies: ["StoqEngine", "StoqTopology", "StoqNetwork", "StoqTransport", "TrustChain"]),
        // Workloads and the runner that wires a topology onto a backend.
        .target(name: "StoqScenario", dependencies: ["StoqEngine", "StoqTopology", "StoqRouting", "StoqNetwork", "StoqAnalyzer", "StoqTransport",
                                                     "StoqDedup", "StoqEmulation", "TrustChain", "StoqNodeRuntime"]),
        // What `stoqsim bench transport|tiers` measure: the transport over the path runs take (EndpointPair)
        // and a run's bulk transfer. Benchmarks of one module's internals stay in that module (docs/architecture.md).
        .target(name: "StoqBenchmarks", dependencies: ["CStoq", "StoqEngine", "StoqTopology", "StoqNetwork", "StoqTransport", "StoqAnalyzer",
                                                       "StoqScenario"]),
        // Plain C11, no Swift: the figures the C libraries reach with our transport's settings (issue #3).
        // Like CStoq, it names the libraries itself (the modulemap's `link` lines reach only Swift importers).
        .executableTarget(name: "transport-baseline-c", dependencies: ["CStoqSystem"], path: "Benchmarks/TransportBaselineC",
                          cSettings: [.unsafeFlags(["-std=c11"])],
                          linkerSettings: ["ngtcp2", "ngtcp2_crypto_gnutls", "gnutls"].map { .linkedLibrary($0) }),
        .executableTarget(name: "stoqsim", dependencies: [
            "StoqScenario", "StoqNodeRuntime", "StoqBenchmarks", "StoqEngine", "StoqTopology", "StoqRouting", "StoqAnalyzer", "StoqTransport",
            "StoqDedup", "StoqEmulation", "TrustChain",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),

        .testTarget(name: "CStoqTests", dependencies: ["CStoq"]),
        .testTarget(name: "StoqEngineTests", dependencies: ["StoqEngine"]),
        .testTarget(name: "StoqTopologyTests", dependencies: ["StoqTopology"], resources: [.copy("Fixtures")]),
        // Counts the test binary's heap allocations (interposed malloc) for the allocation test.
        .target(name: "CStoqAllocationCounter", path: "Tests/CStoqAllocationCounter"),
        .testTarget(name: "StoqTransportTests", dependencies: ["StoqTransport", "StoqTestSupport", "StoqEngine", "StoqNetwork", "StoqTopology",
                                                               "StoqBenchmarks", "CStoqAllocationCounter"]),
        .testTarget(name: "TrustChainTests", dependencies: ["TrustChain", "StoqTransport", "StoqTestSupport", "StoqEngine", "StoqTopology",
                                                            .product(name: "Crypto", package: "swift-crypto"),
                                                            .product(name: "X509", package: "swift-certificates")]),
        .testTarget(name: "StoqDedupTests", dependencies: ["StoqDedup", "StoqEngine"]),
        // Headless Chromium's layout of a report (what reaches past the window).
        .target(name: "StoqBrowserLayout", path: "Tests/StoqBrowserLayout"),
        .testTarget(name: "StoqAnalyzerTests", dependencies: ["StoqAnalyzer", "StoqBrowserLayout"]),
        .testTarget(name: "StoqRoutingTests", dependencies: ["StoqRouting", "StoqTopology"]),
        .testTarget(name: "StoqNetworkTests", dependencies: ["StoqNetwork", "StoqEngine", "StoqTopology", "StoqRouting"]),
        .testTarget(name: "StoqEmulationTests", dependencies: ["StoqEmulation", "StoqScenario", "StoqNetwork", "StoqEngine", "StoqTopology", "StoqAnalyzer"]),
        .testTarget(name: "StoqScenarioTests", dependencies: ["StoqScenario", "StoqNodeRuntime", "StoqBenchmarks", "StoqTopology", "StoqEngine",
                                                               "StoqAnalyzer", "StoqNetwork", "StoqTransport", "StoqBrowserLayout"]),
        // Runs the built binary: depending on the executable makes `swift test` build it.
        .testTarget(name: "StoqsimCLITests", dependencies: ["stoqsim"]),
    ],
    swiftLanguageModes: [.v5]
)
