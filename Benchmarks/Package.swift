// swift-tools-version:6.1
// Benchmarks of STOQ Sim on ordo-one `benchmark`: run with `swift package benchmark`
// from this directory. A package of its own so that the main package's
// `swift build` and `swift test` (and CI) never build it. The benchmark bodies
// live in the main package's modules (`*Benchmarks` enums), which the
// `stoqsim bench …` commands call too; this package only wraps them.
import PackageDescription

let package = Package(
    name: "StoqSimBenchmarks",
    platforms: [.macOS(.v14)],
    dependencies: [
        // The trait list replaces the default one, which would also pull in a runtime interposer not mirrored here.
        .package(url: "https://github.com/ordo-one/benchmark", exact: "1.38.1", traits: ["MallocInterposer"]),
        .package(name: "stoqsim", path: ".."),
    ],
    targets: [
        .executableTarget(
            name: "StoqSimBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "StoqSimModules", package: "stoqsim"),
            ],
            path: "Benchmarks/StoqSimBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
    ]
)
