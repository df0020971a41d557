import XCTest
@testable import StoqAnalyzer

/// The statistics behind sweep verdicts, against values computed elsewhere
/// (scipy.stats 1.17 for the t quantiles and the Welch test; by hand for the interval).
final class SweepStatisticsTests: XCTestCase {
    func testStudentTQuantilesMatchPublishedValues() {
        let known: [(df: Double, t: Double)] = [
            (1, 12.706204736174694), (2, 4.302652729749462), (5, 2.5705818356363146), (9, 2.262157162798205),
            (29, 2.045229642132703), (1000, 1.9623390808264083), (27.3, 2.050776009386825),
        ]
        for (df, t) in known {
            XCTAssertEqual(StudentT.quantile(0.975, degreesOfFreedom: df), t, accuracy: 1e-9, "df \(df)")
            XCTAssertEqual(StudentT.quantile(0.025, degreesOfFreedom: df), -t, accuracy: 1e-9, "df \(df)")
        }
        XCTAssertEqual(StudentT.cdf(2.0, degreesOfFreedom: 3), 0.9303370157205785, accuracy: 1e-12)
        XCTAssertEqual(StudentT.cdf(-1.5, degreesOfFreedom: 7.5), 0.08724028529323204, accuracy: 1e-12)
        XCTAssertEqual(StudentT.cdf(0, degreesOfFreedom: 4), 0.5, accuracy: 1e-15)
    }

    /// 12.1, 11.8, 12.6, 12.4, 11.9: mean 12.16; squared deviations
    /// 0.0036 + 0.1296 + 0.1936 + 0.0576 + 0.0676 = 0.452, variance 0.452 / 4 = 0.113,
    /// sd 0.336155; t(0.975, 4) = 2.776445, so the half-width is 2.776445 · 0.336155 / √5 = 0.417391.
    func testConfidenceIntervalOfAHandComputedSample() throws {
        let s = try XCTUnwrap(SampleStatistics([12.1, 11.8, 12.6, 12.4, 11.9]))
        XCTAssertEqual(s.n, 5)
        XCTAssertEqual(s.mean, 12.16, accuracy: 1e-12)
        XCTAssertEqual(try XCTUnwrap(s.sd), 0.113.squareRoot(), accuracy: 1e-12)
        XCTAssertEqual(try XCTUnwrap(s.ci95), 0.4173912214472114, accuracy: 1e-9)
        let one = try XCTUnwrap(SampleStatistics([3]))
        XCTAssertNil(one.sd)
        XCTAssertNil(one.ci95)
        XCTAssertNil(SampleStatistics([]))
    }

    /// The two samples of Wikipedia's Welch's t-test example 1 (n = 15 each):
    /// scipy.stats.ttest_ind(A2, A1, equal_var=False) gives t = 2.455356398286006,
    /// df = 24.988529290231416, p = 0.021378001462866992.
    func testWelchTestOfAKnownCase() throws {
        let a1 = [27.5, 21.0, 19.0, 23.6, 17.0, 17.9, 16.9, 20.1, 21.9, 22.6, 23.1, 19.6, 19.0, 21.7, 21.4]
        let a2 = [27.1, 22.0, 20.8, 23.4, 23.4, 23.5, 25.8, 22.0, 24.8, 20.2, 21.9, 22.1, 22.9, 20.5, 24.4]
        let w = try XCTUnwrap(WelchTest(try XCTUnwrap(SampleStatistics(a1)), try XCTUnwrap(SampleStatistics(a2))))
        XCTAssertEqual(try XCTUnwrap(w.t), 2.455356398286006, accuracy: 1e-9)
        XCTAssertEqual(w.degreesOfFreedom, 24.988529290231416, accuracy: 1e-9)
        XCTAssertEqual(w.p, 0.021378001462866992, accuracy: 1e-9)
        XCTAssertTrue(w.significant)
        XCTAssertEqual(w.difference, a2.reduce(0, +) / 15 - a1.reduce(0, +) / 15, accuracy: 1e-12)
    }

    func testConstantSamplesAreExactlyDifferentOrEqual() throws {
        let a = try XCTUnwrap(SampleStatistics([5, 5, 5])), b = try XCTUnwrap(SampleStatistics([6, 6, 6]))
        let differ = try XCTUnwrap(WelchTest(a, b))
        XCTAssertEqual(differ.p, 0)
        XCTAssertNil(differ.t)
        XCTAssertTrue(differ.significant)
        XCTAssertFalse(try XCTUnwrap(WelchTest(a, a)).significant)
        XCTAssertNil(WelchTest(a, try XCTUnwrap(SampleStatistics([1]))))
    }

    func testVerdictSentenceStatesChangeIntervalAndSignificance() throws {
        let metric = SweepSummary.Metric(key: "transfer bulk/completion mean", section: "transfer bulk", name: "completion mean",
                                         unit: .ns, lowerIsBetter: true)
        let a = try XCTUnwrap(SampleStatistics([100, 102, 98, 101, 99])), b = try XCTUnwrap(SampleStatistics([90, 92, 88, 91, 89]))
        let c = SweepSummary.compare(metric: 0, metric, a: 0, a, b: 1, b, labels: ["latency", "weighted"])
        // Difference −10 on a mean of 100; sd 1.5811 each, so se = 1, df = 8, t(0.975, 8) = 2.306004.
        XCTAssertEqual(c.sentence, "weighted vs latency: transfer bulk completion mean −10.0 % ± 2.3 % (significant over 5 seeds)")
        XCTAssertEqual(c.bBetter, true)
        let same = SweepSummary.compare(metric: 0, metric, a: 0, a, b: 1, try XCTUnwrap(SampleStatistics([101, 99, 100, 102, 98, 100])),
                                        labels: ["latency", "hops"])
        XCTAssertTrue(same.sentence.hasPrefix("hops vs latency: transfer bulk completion mean +0.0 % ± "), same.sentence)
        XCTAssertTrue(same.sentence.hasSuffix("(not significant, p = 1.00, over 6 and 5 seeds)"), same.sentence)
        XCTAssertEqual(same.bBetter, false)
    }
}

/// A sweep summary built from analyzed sample runs: cells, CSV and report.
final class SweepSummaryTests: XCTestCase {
    func testSummaryCSVAndReportOfTwoConfigurationsOverTwoSeeds() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // "near" RTTs of 5.3, 5.4, 6.3 and 6.5 ms at p50: configuration 1 is slower.
        var runs: [SweepSummary.RunInput] = []
        for (i, base) in [5_000_000, 5_100_000, 6_000_000, 6_200_000].enumerated() {
            try writeSampleTrace(to: dir + "/\(i).jsonl") { Int64(base) + Int64($0 % 7) * 100_000 }
            var s = try TraceAnalyzer.summarize(tracePath: dir + "/\(i).jsonl")
            s.seed = UInt64(i % 2 + 1)
            runs.append(.init(configuration: i / 2, seed: s.seed, directory: "runs/c\(i / 2)/seed-\(s.seed)", summary: s, failure: nil))
        }
        let summary = SweepSummary(experiment: "t", topology: "sample.yaml", seeds: [1, 2],
                                   factors: [.init(name: "links[*].loss", label: "loss", values: ["1%", "3%"], numericValues: [0.01, 0.03])],
                                   configurations: [("1%", "runs/c0", [0]), ("3%", "runs/c1", [1])], runs: runs)
        let p50 = try XCTUnwrap(summary.metrics.firstIndex { $0.key == "probe near/rtt p50" })
        XCTAssertEqual(summary.stats(metric: p50, configuration: 0)?.mean, 5_350_000)
        XCTAssertEqual(summary.stats(metric: p50, configuration: 1)?.n, 2)
        XCTAssertEqual(summary.ranking(metric: p50), [0, 1])
        let finding = try XCTUnwrap(summary.finding(metric: p50))
        XCTAssertTrue(finding.hasPrefix("probe near rtt p50: 1% is best (5.350ms ± "), finding)
        XCTAssertTrue(finding.hasSuffix("significantly better than 3%"), finding)
        XCTAssertEqual(summary.cdfs.filter { $0.workload == "near" }.count, 2)

        let csv = summary.csv().split(separator: "\n")
        XCTAssertEqual(csv[0], "configuration,loss,metric,section,name,unit,n,mean,sd,ci95_low,ci95_high")
        XCTAssertTrue(csv.contains { $0.hasPrefix("1%,1%,probe near/rtt p50,probe near,rtt p50,ns,2,5350000,") }, "\(csv)")

        let html = SweepReport.html(summary)
        _ = parseXML(html)
        XCTAssertTrue(html.contains("probe near rtt p50 against loss"), "a line chart for the numeric factor")
        XCTAssertTrue(html.contains("stroke=\"#222\""), "error bars on the bar charts")
        XCTAssertTrue(html.contains("RTT CDF near"))
        // The same inputs in another order give the same bytes (runs finish in any order).
        let shuffled = SweepSummary(experiment: "t", topology: "sample.yaml", seeds: [1, 2], factors: summary.factors,
                                    configurations: [("1%", "runs/c0", [0]), ("3%", "runs/c1", [1])], runs: runs.reversed())
        XCTAssertEqual(shuffled, summary)
    }
}
