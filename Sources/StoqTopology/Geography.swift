import Foundation
import StoqEngine

/// Distances on the Earth and the delay light needs through fiber over them.
public enum Geography {
    /// IUGG mean Earth radius.
    public static let earthRadiusKilometers = 6371.0088
    /// Light in fiber (refractive index ≈ 1.47) covers a kilometre in about 5 µs.
    public static let fiberNanosecondsPerKilometer = 5_000.0

    /// Haversine distance between two points given in degrees. Haversine stays
    /// accurate for short distances, where the spherical law of cosines loses digits.
    public static func greatCircleKilometers(lat1: Double, lon1: Double, lat2: Double, lon2: Double) -> Double {
        let rad = Double.pi / 180
        let dLat = (lat2 - lat1) * rad, dLon = (lon2 - lon1) * rad
        let a = sin(dLat / 2) * sin(dLat / 2) + cos(lat1 * rad) * cos(lat2 * rad) * sin(dLon / 2) * sin(dLon / 2)
        return 2 * earthRadiusKilometers * asin(min(1, sqrt(a)))
    }

    /// One-way propagation delay over `kilometers` of great circle; `inflation`
    /// accounts for fiber routes being longer than the great circle.
    public static func fiberDelay(kilometers: Double, inflation: Double) -> SimDuration {
        .nanoseconds(Int64((kilometers * fiberNanosecondsPerKilometer * inflation).rounded()))
    }

    /// Great-circle distance between two sites.
    public static func kilometers(_ a: Site, _ b: Site) -> Double {
        greatCircleKilometers(lat1: a.latitude, lon1: a.longitude, lat2: b.latitude, lon2: b.longitude)
    }
}
