import Foundation

/// A real city from the bundled catalog (`Resources/cities.csv`), used for
/// `city:` in site definitions and by the generator.
public struct City: Sendable, Hashable {
    public var name: String
    public var country: String
    public var region: String
    public var latitude: Double
    public var longitude: Double
    public var population: Int

    public init(name: String, country: String, region: String, latitude: Double, longitude: Double, population: Int) {
        self.name = name
        self.country = country
        self.region = region
        self.latitude = latitude
        self.longitude = longitude
        self.population = population
    }
}

public enum CityCatalog {
    public enum LoadError: Error, CustomStringConvertible {
        case missingResource
        case badRow(line: Int, text: String)

        public var description: String {
            switch self {
            case .missingResource: return "cities.csv is missing from the StoqTopology resource bundle"
            case .badRow(let line, let text): return "cities.csv:\(line): cannot read row '\(text)'"
            }
        }
    }

    /// The regions the catalog uses; sites may use others, with a warning.
    public static let regions = ["europe", "north-america", "south-america", "asia", "africa", "oceania", "middle-east"]

    /// Loaded once: the catalog is immutable and read by every parse.
    private static let loaded: Result<[City], Error> = Result(catching: {
        guard let url = Bundle.module.url(forResource: "cities", withExtension: "csv") else { throw LoadError.missingResource }
        return try parse(csv: String(contentsOf: url, encoding: .utf8))
    })

    private static let byKey: [String: City] = {
        var index: [String: City] = [:]
        for city in (try? loaded.get()) ?? [] { index[key(city.name)] = index[key(city.name)] ?? city }
        return index
    }()

    /// Every city, in file order (largest population first).
    public static func all() throws -> [City] { try loaded.get() }

    /// Case- and accent-insensitive lookup: `sao paulo` finds São Paulo.
    public static func named(_ name: String) -> City? { byKey[key(name)] }

    static func key(_ name: String) -> String {
        name.folding(options: [.caseInsensitive, .diacriticInsensitive], locale: nil)
            .replacingOccurrences(of: "-", with: " ").trimmingCharacters(in: .whitespaces)
    }

    /// `name,country,region,latitude,longitude,population`; no field contains a comma.
    static func parse(csv: String) throws -> [City] {
        var cities: [City] = []
        for (i, raw) in csv.split(separator: "\n", omittingEmptySubsequences: false).enumerated() where i > 0 {
            let line = raw.trimmingCharacters(in: .whitespacesAndNewlines)
            if line.isEmpty { continue }
            let f = line.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            guard f.count == 6, let lat = Double(f[3]), let lon = Double(f[4]), let pop = Int(f[5]) else {
                throw LoadError.badRow(line: i + 1, text: line)
            }
            cities.append(City(name: f[0], country: f[1], region: f[2], latitude: lat, longitude: lon, population: pop))
        }
        return cities
    }
}
