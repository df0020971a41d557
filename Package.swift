// swift-tools-version:6.0
// STOQ Sim: a Swift edge-network simulator. Module boundaries follow
// ../shared/ARCHITECTURE.md; each target has one job and a test target beside it.
import PackageDescription

let package = Package(
    name: "stoqsim",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "stoqsim", targets: ["stoqsim"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "5.0.1"),
    ],
    targets: [
        // ngtcp2, ngtcp2_crypto_gnutls, GnuTLS and nghttp3 from Debian's -dev packages.
        .systemLibrary(
            name: "CStoqSystem",
            pkgConfig: "libngtcp2_crypto_gnutls",
            providers: [.apt(["libngtcp2-dev", "libngtcp2-crypto-gnutls-dev", "libgnutls28-dev", "libnghttp3-dev"])]
        ),
        // Thin C shim for what Swift cannot import (macros, variadic calls).
        .target(name: "CStoq", dependencies: ["CStoqSystem"]),

        .target(name: "StoqEngine"),
        .target(name: "StoqTopology", dependencies: ["StoqEngine", .product(name: "Yams", package: "Yams")],
                resources: [.copy("Resources/cities.csv")]),
        .target(name: "StoqRouting", dependencies: ["StoqTopology"]),
        .target(name: "StoqNetwork", dependencies: ["StoqEngine", "StoqTopology", "StoqRouting"]),
        .target(name: "StoqAnalyzer", dependencies: ["StoqEngine"]),
        .target(name: "StoqScenario", dependencies: ["StoqEngine", "StoqTopology", "StoqRouting", "StoqNetwork", "StoqAnalyzer"]),
        .executableTarget(name: "stoqsim", dependencies: [
            "StoqScenario", "StoqEngine", "StoqTopology", "StoqRouting", "StoqAnalyzer",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),

        .testTarget(name: "CStoqTests", dependencies: ["CStoq"]),
        .testTarget(name: "StoqEngineTests", dependencies: ["StoqEngine"]),
        .testTarget(name: "StoqTopologyTests", dependencies: ["StoqTopology"], resources: [.copy("Fixtures")]),
        .testTarget(name: "StoqRoutingTests", dependencies: ["StoqRouting", "StoqTopology"]),
        .testTarget(name: "StoqNetworkTests", dependencies: ["StoqNetwork", "StoqEngine", "StoqTopology", "StoqRouting"]),
        .testTarget(name: "StoqScenarioTests", dependencies: ["StoqScenario", "StoqTopology", "StoqEngine", "StoqAnalyzer", "StoqNetwork"]),
        // Runs the built binary: depending on the executable makes `swift test` build it.
        .testTarget(name: "StoqsimCLITests", dependencies: ["stoqsim"]),
    ],
    swiftLanguageModes: [.v5]
)
