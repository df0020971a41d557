import XCTest
import StoqEngine
@testable import StoqTopology

final class GeographyTests: XCTestCase {
    func testKnownDistances() {
        let fraParis = Geography.greatCircleKilometers(lat1: 50.1109, lon1: 8.6821, lat2: 48.8566, lon2: 2.3522)
        XCTAssertEqual(fraParis, 479, accuracy: 479 * 0.01)
        let fraSingapore = Geography.greatCircleKilometers(lat1: 50.1109, lon1: 8.6821, lat2: 1.3521, lon2: 103.8198)
        XCTAssertEqual(fraSingapore, 10_260, accuracy: 10_260 * 0.01)
        // Antipodes: half the circumference.
        XCTAssertEqual(Geography.greatCircleKilometers(lat1: 0, lon1: 0, lat2: 0, lon2: 180), .pi * 6371.0088, accuracy: 0.001)
        XCTAssertEqual(Geography.greatCircleKilometers(lat1: 10, lon1: 20, lat2: 10, lon2: 20), 0)
    }

    func testFiberDelay() {
        XCTAssertEqual(Geography.fiberDelay(kilometers: 1000, inflation: 1), .milliseconds(5))
        XCTAssertEqual(Geography.fiberDelay(kilometers: 1000, inflation: 1.5), .microseconds(7500))
    }
}

final class CityCatalogTests: XCTestCase {
    func testCatalogIsLargeAndValid() throws {
        let cities = try CityCatalog.all()
        XCTAssertGreaterThanOrEqual(cities.count, 250)
        XCTAssertEqual(Set(cities.map { CityCatalog.key($0.name) }).count, cities.count, "names must be unique")
        XCTAssertEqual(Set(cities.map(\.region)), Set(CityCatalog.regions), "every region is used, no others")
        for c in cities {
            XCTAssertTrue((-90...90).contains(c.latitude) && (-180...180).contains(c.longitude), c.name)
            XCTAssertGreaterThan(c.population, 0, c.name)
            XCTAssertEqual(c.country.count, 2, c.name)
        }
    }

    func testLookupIgnoresCaseAndAccents() {
        XCTAssertEqual(CityCatalog.named("frankfurt")?.country, "DE")
        XCTAssertEqual(CityCatalog.named("Sao Paulo")?.name, "São Paulo")
        XCTAssertEqual(CityCatalog.named("new-york")?.region, "north-america")
        XCTAssertNil(CityCatalog.named("Atlantis"))
    }

    func testBadRowIsReported() {
        XCTAssertThrowsError(try CityCatalog.parse(csv: "name,country,region,latitude,longitude,population\nX,YY,europe,north,1,2\n")) {
            XCTAssertTrue("\($0)".contains("cities.csv:2"))
        }
    }
}
