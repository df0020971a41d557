import ArgumentParser

/// Runs each benchmark `repetitions` times and prints the median run by
/// `rank`. Exits with a failure when any run's own check failed, because a
/// figure from a run that did the wrong work is no figure at all.
func reportMedians<Result: CustomStringConvertible>(
    _ benches: [() throws -> Result], repetitions: Int,
    rank: (Result) -> Double, verified: (Result) -> Bool,
    extra: [(description: String, verified: Bool)] = []
) throws {
    var failed = false
    for bench in benches {
        let runs = try (0..<repetitions).map { _ in try bench() }.sorted { rank($0) < rank($1) }
        failed = failed || runs.contains { !verified($0) }
        print(runs.count > 1 ? "\(runs[runs.count / 2])  (median of \(runs.count))" : "\(runs[0])")
    }
    for e in extra {
        print(e.description)
        failed = failed || !e.verified
    }
    if failed {
        printError("a benchmark's own check failed: the figures above are not valid")
        throw ExitCode.failure
    }
}
