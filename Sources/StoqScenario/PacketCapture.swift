import Foundation
import StoqAnalyzer
import StoqEmulation
import StoqEngine
import StoqNetwork

/// Writes every packet a node sends or receives to `DIR/<node>.pcapng`
/// (`stoqsim run --pcap DIR`), framed by `IPv6Packet` (UDP with its checksum;
/// packets the netns backend carries, e.g. ICMPv6, as they were), with
/// nanosecond timestamps of simulated time (the capture starts at the Unix epoch).
final class PacketCapture: NetworkObserver {
    private let files: PcapNGFileSet
    private let nodeNames: [String]

    init(network: Network, directory: String) throws {
        files = try PcapNGFileSet(directory: directory)
        nodeNames = (0..<network.graph.nodeCount).map { network.graph.name(ofNode: Int32($0)) }
    }

    func packetSent(_ packet: Packet, time: SimTime) {
        capture(packet, at: packet.sourceNode, time: time)
    }

    func packetDelivered(_ packet: Packet, time: SimTime) {
        capture(packet, at: packet.destinationNode, time: time)
    }

    private func capture(_ packet: Packet, at node: Int32, time: SimTime) {
        guard node >= 0 else { return }
        files.write(nodeNames[Int(node)], packet: IPv6Packet.build(packet.datagram),
                    timestampNs: UInt64(max(time.nanosecondsSinceStart, 0)))
    }

    /// Flushes the buffers; returns the files written.
    func close() throws -> [String] { try files.close() }
}

/// The network has one observer slot; this passes every call on to several.
/// Every `NetworkObserver` method must be forwarded here (the protocol's empty
/// defaults would otherwise swallow a new one silently).
final class ObserverFanOut: NetworkObserver {
    let observers: [NetworkObserver]

    init(_ observers: [NetworkObserver]) { self.observers = observers }

    func packetSent(_ packet: Packet, time: SimTime) { for o in observers { o.packetSent(packet, time: time) } }
    func packetHop(_ packet: Packet, edge: Int32, time: SimTime) { for o in observers { o.packetHop(packet, edge: edge, time: time) } }
    func packetDelivered(_ packet: Packet, time: SimTime) { for o in observers { o.packetDelivered(packet, time: time) } }
    func packetDropped(_ packet: Packet, reason: DropReason, location: DropLocation, time: SimTime) {
        for o in observers { o.packetDropped(packet, reason: reason, location: location, time: time) }
    }
    func linkStateChanged(link: Int, up: Bool, time: SimTime) { for o in observers { o.linkStateChanged(link: link, up: up, time: time) } }
    func nodeStateChanged(node: Int32, up: Bool, time: SimTime) { for o in observers { o.nodeStateChanged(node: node, up: up, time: time) } }
    func routesRecomputed(time: SimTime) { for o in observers { o.routesRecomputed(time: time) } }
    func routesReconverged(_ outage: OutageReport) { for o in observers { o.routesReconverged(outage) } }
}
